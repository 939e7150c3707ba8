"""PostgreSQL (Debian's postgresql-15): the server behind RDS postgres instances.

Layout under `root`: data/ (the cluster), server.pid, server.log; the unix socket in a short
run directory of its own (base.socket_dir; 0700: admin access is the master user over the
socket with trust authentication; TCP needs SCRAM passwords).

A Multi-AZ standby is a physical copy of its primary (pg_basebackup over the primary's socket)
that streams its WAL; the primary's synchronous_standby_names makes a commit wait until the
standby has flushed it, so a failover (pg_promote) loses no committed transaction.
"""

from __future__ import annotations

import glob
import signal
import time
from pathlib import Path

from vpclocal.engines import base
from vpclocal.engines.base import EngineError, Placement

FAMILY = "POSTGRESQL"
DEFAULT_PORT = 5432
ADMIN = "rdsadmin"


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise EngineError("PostgreSQL is not installed (Debian package postgresql)")
    return Path(found[-1]).parent


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Postgres:
    def __init__(self, root: Path, master_user: str = "postgres") -> None:
        self.root, self.master = root, master_user
        self.user = base.server_user("postgres")
        self.data, self.run_dir = root / "data", base.socket_dir(root)
        self.pidfile, self.log = root / "server.pid", root / "server.log"
        self.port = 0

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def init(self, password: str) -> None:
        base.own_dir(self.root, self.user)
        base.own_dir(self.run_dir, self.user)
        pwfile = base.write_private(self.run_dir / "pw", password + "\n", self.user)
        try:
            base.run([str(bindir() / "initdb"), "-D", str(self.data), "-U", self.master,
                      f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                      "-E", "UTF8", "--no-sync", "--no-instructions"], self.user)
        finally:
            pwfile.unlink(missing_ok=True)
        # RDS accepts connections from anywhere its security groups allow
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")

    def start(self, where: Placement) -> int:
        self.port = where.port
        if base.answering(self.running, self._ready):
            return base.read_pid(self.pidfile)
        (self.data / "postmaster.pid").unlink(missing_ok=True)  # stale after a SIGKILL
        proc = base.spawn([str(bindir() / "postgres"), "-D", str(self.data),
                           "-c", f"listen_addresses={where.bind}", "-p", str(where.port),
                           "-c", f"unix_socket_directories={self.run_dir}"],
                          self.user, self.log)
        self.pidfile.write_text(str(proc.pid))
        base.wait_for(self._ready, proc, self.log)
        return proc.pid

    def _ready(self) -> bool:
        try:  # line 8 of postmaster.pid turns "ready" once connections are accepted
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        # ("standby": a hot standby's, accepting read-only connections)
        return len(lines) >= 8 and lines[7].strip() in ("ready", "standby")

    def sql(self, statement: str, db: str = "postgres") -> str:
        return base.run([str(bindir() / "psql"), "-h", str(self.run_dir), "-p", str(self.port),
                         "-U", self.master, "-d", db, "-X", "-At", "-v", "ON_ERROR_STOP=1",
                         "-c", statement], self.user)

    def bootstrap(self, master_user: str, password: str, db_name: str | None) -> None:
        # rdsadmin (as on RDS): no password, so it logs in only over the private socket;
        # RDS Proxy's pooler looks passwords up as this user
        self.sql(f'CREATE ROLE "{ADMIN}" LOGIN SUPERUSER')
        if db_name and db_name != "postgres":
            self.sql(f'CREATE DATABASE "{db_name}"')

    # ---- Multi-AZ: this server as a primary, or as its standby ---------------------------

    def clone_from(self, primary: Postgres) -> None:
        """This server's data: a base backup of the running `primary`, set up to stream
        from it once started (standby.signal, primary_conninfo)."""
        base.own_dir(self.root, self.user)
        base.own_dir(self.run_dir, self.user)
        base.run([str(bindir() / "pg_basebackup"), "-h", str(primary.run_dir),
                  "-p", str(primary.port), "-U", self.master, "-D", str(self.data),
                  "-X", "stream", "-R", "-c", "fast", "--no-sync"], self.user)

    def wait_standby(self, timeout: float = 30) -> None:
        """Until a standby streams from this primary; then commits wait for it."""
        deadline = time.monotonic() + timeout
        while self.sql("SELECT count(*) FROM pg_stat_replication "
                       "WHERE state = 'streaming'").strip() == "0":
            if time.monotonic() > deadline:
                raise EngineError("the standby did not connect to its primary")
            time.sleep(0.02)
        self._synchronous("'*'")

    def wait_followed(self, primary: Postgres, timeout: float = 30) -> None:
        """(As MariaDB's: until this standby streams from `primary`.)"""
        primary.wait_standby(timeout)

    def catch_up(self, primary: Postgres) -> None:
        """(Nothing to wait for: a commit returned only once this standby had flushed it.)"""

    def standby_gone(self) -> None:
        """No standby to wait for: commits would wait for ever."""
        self._synchronous(None)

    def _synchronous(self, names: str | None) -> None:
        self.sql("ALTER SYSTEM RESET synchronous_standby_names" if names is None else
                 f"ALTER SYSTEM SET synchronous_standby_names = {names}")
        self.sql("SELECT pg_reload_conf()")

    def promote(self) -> None:
        """Stop following the (gone) primary and take writes, waiting for no standby."""
        if self.sql("SELECT pg_promote(true, 30)").strip() != "t":
            raise EngineError("the standby was not promoted")
        self.standby_gone()  # (its settings are its old primary's copy)

    def kill(self) -> None:
        """Stop at once, as a failed host does (immediate shutdown: every connection
        breaks)."""
        base.stop(base.read_pid(self.pidfile), str(self.data), sig=signal.SIGQUIT)

    def set_password(self, user: str, password: str) -> None:
        self.sql(f'ALTER ROLE "{user}" PASSWORD {_literal(password)}')

    def version(self) -> str:
        return self.sql("SHOW server_version").strip().split()[0]

    def max_connections(self) -> int:
        return int(self.sql("SHOW max_connections").strip())

    def running(self) -> bool:
        return base.running(base.read_pid(self.pidfile), str(self.data))

    def stop(self) -> None:
        import signal

        # SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for clients to leave)
        base.stop(base.read_pid(self.pidfile), str(self.data), sig=signal.SIGINT)

    def destroy(self) -> None:
        self.stop()
        base.remove_dir(self.root)
        base.remove_dir(self.run_dir)
