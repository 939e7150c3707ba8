"""pgbouncer (Debian's pgbouncer): the pooler behind RDS Proxy for PostgreSQL.

Transaction pooling multiplexes client transactions onto at most `pool_size` server
connections (RDS Proxy's MaxConnectionsPercent of the target's max_connections). Clients
authenticate with the target's own passwords: pgbouncer looks them up on the target
(auth_query over the target's unix socket), so a password change applies at once.
"""

from __future__ import annotations

import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from vpclocal.engines import base
from vpclocal.engines.base import EngineError, Placement


@dataclass(frozen=True)
class Target:
    socket_dir: str  # the PostgreSQL server's unix socket directory
    port: int
    auth_user: str  # the master user: runs auth_query


@dataclass(frozen=True)
class Pool:
    size: int  # server connections at most
    idle: int  # of which kept open while idle (min_pool_size keeps none; reserve as a cap)
    borrow_timeout: int  # seconds a client waits for a server connection


class PgBouncer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.user = base.server_user("postgres")
        self.run_dir = base.socket_dir(root)
        self.ini, self.pidfile, self.log = root / "pgbouncer.ini", root / "server.pid", \
            root / "server.log"

    def configure(self, where: Placement, target: Target, pool: Pool) -> None:
        base.own_dir(self.root, self.user)
        base.own_dir(self.run_dir, self.user)
        base.write_private(self.root / "userlist.txt", "", self.user)
        text = f"""[databases]
* = host={target.socket_dir} port={target.port} auth_user={target.auth_user}

[pgbouncer]
listen_addr = {where.bind}
listen_port = {where.port}
unix_socket_dir = {self.run_dir}
auth_type = scram-sha-256
auth_file = {self.root / 'userlist.txt'}
auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1
pool_mode = transaction
default_pool_size = {pool.size}
max_db_connections = {pool.size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 10000
query_wait_timeout = {pool.borrow_timeout}
server_idle_timeout = 60
ignore_startup_parameters = extra_float_digits,options,search_path
"""
        base.write_private(self.ini, text, self.user)

    def start(self, where: Placement) -> int:
        if not shutil.which("pgbouncer"):
            raise EngineError("pgbouncer is not installed (Debian package pgbouncer)")
        if self.running():
            return base.read_pid(self.pidfile)
        proc = base.spawn(["pgbouncer", str(self.ini)], self.user, self.log)
        self.pidfile.write_text(str(proc.pid))
        base.wait_for(lambda: _listening(where.bind, where.port), proc, self.log)
        return proc.pid

    def running(self) -> bool:
        return base.running(base.read_pid(self.pidfile), str(self.ini))

    def stop(self) -> None:
        base.stop(base.read_pid(self.pidfile), str(self.ini), sig=signal.SIGINT)

    def destroy(self) -> None:
        self.stop()
        base.remove_dir(self.root)
        base.remove_dir(self.run_dir)


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True
