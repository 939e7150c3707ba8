"""MariaDB (Debian's mariadb-server): the server behind RDS mysql and mariadb instances.

Layout under `root`: data/ (the datadir), server.pid, server.log; the socket in a short
run directory of its own (base.socket_dir; 0700: admin access is the server
user over the socket, by unix_socket authentication).
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path

from vpclocal.engines import base
from vpclocal.engines.base import EngineError, Placement

FAMILY = "MYSQL"
DEFAULT_PORT = 3306


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

    def start(self, where: Placement) -> int:
        if base.answering(self.running, self._accepting):
            return base.read_pid(self.pidfile)
        self.sock.unlink(missing_ok=True)
        proc = base.spawn([
            "mariadbd", "--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}",
            f"--bind-address={where.bind}", f"--port={where.port}",
            f"--pid-file={self.run_dir / 'mariadbd.pid'}", "--skip-name-resolve",
            "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--max-connections=151",
            "--log-error=" + str(self.run_dir / "error.log")], self.user, self.log)
        self.pidfile.write_text(str(proc.pid))
        base.wait_for(self._accepting, proc, self.run_dir / "error.log", output=self.log)
        return proc.pid

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
