"""MariaDB (Debian's mariadb-server): the server behind RDS mysql and mariadb instances.

Layout under `root`: data/ (the datadir), server.pid, server.log; the socket in a short
run directory of its own (base.socket_dir; 0700: admin access is the server
user over the socket, by unix_socket authentication).

Every server writes a binary log from its first statement on (GTIDs, and what it applies as
a replica too): a Multi-AZ standby is a fresh server that replays its primary's binary log
from the start, and semi-synchronous replication makes a commit wait until the standby has
received it, so a failover loses no committed transaction.
"""

from __future__ import annotations

import getpass
import hashlib
import random
import signal
import socket
import time
from pathlib import Path

from vpclocal.engines import base
from vpclocal.engines.base import EngineError, Placement

FAMILY = "MYSQL"
DEFAULT_PORT = 3306
# Semi-synchronous replication, either role: a commit waits for a connected standby's
# acknowledgement (2 s at most: then it goes on without), and waits for none when no standby
# is connected (a Single-AZ instance, or a standby that is gone)
SEMI_SYNC = ("--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-master-wait-no-slave=OFF",
             "--rpl-semi-sync-master-timeout=2000", "--rpl-semi-sync-slave-enabled=ON")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class MariaDB:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.user = base.server_user("mysql")
        self.os_user = self.user.pw_name if self.user else getpass.getuser()
        self.data, self.run_dir = root / "data", base.socket_dir(root)
        self.sock, self.pidfile, self.log = self.run_dir / "mysqld.sock", root / "server.pid", \
            root / "server.log"

    def initialized(self) -> bool:
        return (self.data / "mysql").is_dir()

    def init(self) -> None:
        base.own_dir(self.root, self.user)
        base.own_dir(self.data, self.user)
        base.own_dir(self.run_dir, self.user)
        base.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}",
                  f"--user={self.os_user}", "--skip-test-db", "--skip-name-resolve"], self.user)
        (self.root / "server-id").write_text(str(random.randrange(2, 2**31)))

    def start(self, where: Placement) -> int:
        if base.answering(self.running, self._accepting):
            return base.read_pid(self.pidfile)
        self.sock.unlink(missing_ok=True)
        proc = base.spawn([
            "mariadbd", "--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}",
            f"--bind-address={where.bind}", f"--port={where.port}",
            f"--pid-file={self.run_dir / 'mariadbd.pid'}", "--skip-name-resolve",
            "--log-bin=mysql-bin", "--relay-log=relay-bin", "--log-slave-updates",
            f"--server-id={self.server_id}", *SEMI_SYNC, "--innodb-buffer-pool-size=32M",
            "--max-connections=151",
            "--log-error=" + str(self.run_dir / "error.log")], self.user, self.log)
        self.pidfile.write_text(str(proc.pid))
        base.wait_for(self._accepting, proc, self.run_dir / "error.log", output=self.log)
        return proc.pid

    @property
    def server_id(self) -> int:
        """Chosen when the data directory is made: distinct between a primary and its standby,
        and between a standby and the server it replaced (a replica skips the events of its
        own server ID, and the history it replays holds the replaced one's)."""
        try:
            return int((self.root / "server-id").read_text())
        except (OSError, ValueError):  # a data directory of before Multi-AZ
            return int(hashlib.sha1(str(self.root).encode()).hexdigest()[:7], 16) + 1

    def _accepting(self) -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.sock))
            except OSError:
                return False
            return True

    def sql(self, statements: str) -> str:
        return base.run(["mariadb", "--no-defaults", f"--socket={self.sock}", "-u", self.os_user,
                         "--batch", "--skip-column-names"], self.user, stdin=statements)

    def bootstrap(self, master_user: str, password: str, db_name: str | None) -> None:
        stmts = (f"CREATE USER '{master_user}'@'%' IDENTIFIED BY {_literal(password)};"
                 f"GRANT ALL PRIVILEGES ON *.* TO '{master_user}'@'%' WITH GRANT OPTION;")
        if db_name:
            stmts += f"CREATE DATABASE IF NOT EXISTS `{db_name}`;"
        self.sql(stmts)

    def status(self, statement: str) -> dict[str, str]:
        """The first row of a SHOW statement, by column name ({} when it has no row)."""
        out = base.run(["mariadb", "--no-defaults", f"--socket={self.sock}", "-u", self.os_user,
                        "--batch"], self.user, stdin=statement)
        lines = out.splitlines()
        return dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=False)) \
            if len(lines) > 1 else {}

    # ---- Multi-AZ: this server as a primary, or as its standby ---------------------------

    def serve_standby(self, user: str, password: str) -> None:
        """Accept a standby: its replication account, in the binary log so that a promoted
        standby has it too."""
        self.sql(f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY "
                 f"{_literal(password)}; GRANT REPLICATION SLAVE ON *.* TO '{user}'@'127.0.0.1';")

    def standby_gone(self) -> None:
        """(A commit waits for no standby once none is connected: SEMI_SYNC.)"""

    def follow(self, port: int, user: str, password: str) -> None:
        """Replicate the primary listening on loopback at `port`, from its first GTID."""
        self.sql(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={port}, "
                 f"MASTER_USER='{user}', MASTER_PASSWORD={_literal(password)}, "
                 "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;")

    def wait_followed(self, primary: MariaDB, timeout: float = 30) -> None:
        """Until the standby is the primary's semi-synchronous client (its commits wait for
        it from then on)."""
        deadline = time.monotonic() + timeout
        while int(primary.status("SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'")
                  .get("Value", 0) or 0) < 1:
            state = self.status("SHOW SLAVE STATUS")
            # a thread that stopped on an error is for good; one still connecting retries
            for thread in ("IO", "SQL"):
                if state.get(f"Slave_{thread}_Running") == "No" and state.get(
                        f"Last_{thread}_Error"):
                    raise EngineError(f"replication failed: {state[f'Last_{thread}_Error']}")
            if time.monotonic() > deadline:
                raise EngineError("the standby did not connect to its primary")
            time.sleep(0.02)

    def catch_up(self, primary: MariaDB, timeout: float = 10) -> None:
        """Until the standby has applied all the (still running) primary has logged: a
        planned failover loses nothing, whether commits waited for the standby or not."""
        position = primary.sql("SELECT @@gtid_binlog_pos;").strip()
        self.sql(f"SELECT MASTER_GTID_WAIT({_literal(position)}, {timeout});")

    def promote(self) -> None:
        """Apply everything received from the (gone) primary, then stop being a replica."""
        self.sql("STOP SLAVE IO_THREAD;")
        received = self.status("SHOW SLAVE STATUS").get("Gtid_IO_Pos", "")
        self.sql(f"SELECT MASTER_GTID_WAIT({_literal(received)}, 30);"
                 "STOP SLAVE; RESET SLAVE ALL;")

    def kill(self) -> None:
        """Stop at once, as a failed host does: every connection breaks."""
        base.stop(base.read_pid(self.pidfile), str(self.data), sig=signal.SIGKILL)

    def set_password(self, user: str, password: str) -> None:
        self.sql(f"ALTER USER '{user}'@'%' IDENTIFIED BY {_literal(password)};")

    def version(self) -> str:
        return self.sql("SELECT VERSION();").strip()

    def max_connections(self) -> int:
        return int(self.sql("SELECT @@max_connections;").strip())

    def running(self) -> bool:
        return base.running(base.read_pid(self.pidfile), str(self.data))

    def stop(self) -> None:
        base.stop(base.read_pid(self.pidfile), str(self.data))

    def destroy(self) -> None:
        self.stop()
        base.remove_dir(self.root)
        base.remove_dir(self.run_dir)


def check_installed() -> None:
    import shutil

    if not shutil.which("mariadbd"):
        raise EngineError("mariadbd is not installed (Debian package mariadb-server)")
