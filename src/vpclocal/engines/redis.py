"""Redis, the engine behind an ElastiCache cluster: one `redis-server` per cache node.

The server is told where to listen (`bind`, `port`) and, through `prefix`, how to enter the
place it runs in: today loopback with no prefix; once the fabric is wired, its ENI's private
IP with a prefix that enters the ENI's network namespace. Everything else stays the same.

Only processes this module started are ever signalled: a PID file in the node's directory
names the server, and a PID left by an earlier run is only stopped when /proc shows it is a
redis-server working in that very directory.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from vpclocal.engines.base import EngineError

BINARY = "redis-server"
USER = "redis"  # the Debian package's user; used when vpclocal runs as root
PID_FILE = "redis.pid"
LOG_FILE = "redis.log"


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


@dataclass
class RedisServer:
    directory: Path  # the node's data: append-only file, PID file, log
    bind: str
    port: int
    prefix: tuple[str, ...] = ()  # e.g. an nsenter command entering the ENI's namespace
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def command(self) -> list[str]:
        # "--dir ." because the process starts inside its directory (cwd is entered before
        # dropping to the redis user, so parents it cannot search do not matter).
        # AOF with fsync every second: what ElastiCache's durable mode keeps; RDB off.
        return [*self.prefix, BINARY, "--bind", self.bind, "--port", str(self.port),
                "--dir", ".", "--daemonize", "no", "--appendonly", "yes",
                "--appendfsync", "everysec", "--save", "", "--protected-mode", "no",
                "--logfile", ""]

    def start(self) -> None:
        """Spawn the server (returns at once; see `ready`)."""
        self.stop_stale()
        self.directory.mkdir(parents=True, exist_ok=True)
        owner = _run_as()
        kwargs: dict = {}
        if owner is not None:
            uid, gid = owner
            for path in [self.directory, *self.directory.rglob("*")]:
                os.chown(path, uid, gid)
            kwargs = {"user": uid, "group": gid, "extra_groups": []}
        with (self.directory / LOG_FILE).open("ab") as log:
            try:
                self.proc = subprocess.Popen(
                    self.command(), cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
            except OSError as exc:
                raise EngineError(f"cannot run {BINARY} (Debian package redis-server): "
                                  f"{exc}") from exc
        (self.directory / PID_FILE).write_text(str(self.proc.pid))

    async def ready(self, timeout: float = 15.0) -> None:
        """Wait until the server answers PING (it says LOADING while replaying its AOF)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise EngineError(f"{BINARY} exited with status {self.proc.returncode}: "
                                  f"{self.log_tail()}")
            try:
                reader, writer = await asyncio.open_connection(self.bind, self.port)
                try:
                    writer.write(b"PING\r\n")
                    await writer.drain()
                    reply = await asyncio.wait_for(reader.readline(), 1.0)
                finally:
                    writer.close()
                if reply.startswith(b"+PONG"):
                    return
            except (TimeoutError, OSError):
                pass
            await asyncio.sleep(0.01)
        self.stop()
        raise EngineError(f"{BINARY} did not answer PING within {timeout:.0f} s: "
                          f"{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes its AOF and exits), SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        (self.directory / PID_FILE).unlink(missing_ok=True)

    def stop_stale(self, timeout: float = 10.0) -> None:
        """Stop a server an earlier vpclocal run left behind (crash, kill -9)."""
        pid = self._stale_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while self._is_ours(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._is_ours(pid):
            os.kill(pid, signal.SIGKILL)
        (self.directory / PID_FILE).unlink(missing_ok=True)

    def _stale_pid(self) -> int | None:
        try:
            pid = int((self.directory / PID_FILE).read_text())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return False  # gone (or a zombie being reaped)
        return BINARY.encode() in cmdline and Path(cwd) == self.directory.resolve()

    def log_tail(self, size: int = 600) -> str:
        try:
            data = (self.directory / LOG_FILE).read_bytes()[-size:]
        except OSError:
            return ""
        return data.decode(errors="replace").strip()
