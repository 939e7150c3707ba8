"""Redis, the engine behind an ElastiCache cluster: one `redis-server` per cache node.

The server is told where to listen (`bind`, `port`) and, through `prefix`, how to enter the
place it runs in: today loopback with no prefix; once the fabric is wired, its ENI's private
IP with a prefix that enters the ENI's network namespace. Everything else stays the same.

Access is configured through the server's standard input (`redis-server -`: AUTH tokens stay
off command lines and off disk): the default user's passwords (an AUTH token, or the old and
the new one while a rotation lasts) and, for in-transit encryption, TLS on the node's port
with a certificate of vpclocal's local CA (tls.pem in the node's directory, the server's
user's only). Tokens change on a running server through ACL SETUSER; the caller keeps them
for its next start.

Only processes this module started are ever signalled: a PID file in the node's directory
names the server, and a PID left by an earlier run is only stopped when /proc shows it is a
redis-server working in that very directory.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from vpclocal.engines.base import EngineError

BINARY = "redis-server"
USER = "redis"  # the Debian package's user; used when vpclocal runs as root
PID_FILE = "redis.pid"
LOG_FILE = "redis.log"
TLS_FILE = "tls.pem"  # the node's key and certificate chain (both read from one PEM)


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
    passwords: tuple[str, ...] = field(default=(), repr=False)  # none: no AUTH needed
    open_access: bool = False  # with passwords: AUTH optional still (a rotation's first step)
    tls: bytes | None = field(default=None, repr=False)  # PEM: key + certificate chain
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def command(self) -> list[str]:
        # "--dir ." because the process starts inside its directory (cwd is entered before
        # dropping to the redis user, so parents it cannot search do not matter).
        # AOF with fsync every second: what ElastiCache's durable mode keeps; RDB off.
        ports = (["--port", "0", "--tls-port", str(self.port)] if self.tls
                 else ["--port", str(self.port)])
        return [*self.prefix, BINARY, "-", "--bind", self.bind, *ports,
                "--dir", ".", "--daemonize", "no", "--appendonly", "yes",
                "--appendfsync", "everysec", "--save", "", "--protected-mode", "no",
                "--logfile", ""]

    def _acl(self) -> list[str]:
        """The default user's ACL rules for these passwords (a user without a password takes
        any AUTH, so open access accepts the new token as well)."""
        if not self.passwords or self.open_access:
            return ["on", "resetpass", "nopass", "~*", "&*", "+@all"]
        return ["on", "resetpass", *(f">{p}" for p in self.passwords), "~*", "&*", "+@all"]

    def config(self) -> bytes:
        """What the server reads on its standard input."""
        # each rule double-quoted (Redis's config syntax), a backslash escaped
        quoted = ['"' + rule.replace("\\", "\\\\") + '"' for rule in self._acl()]
        lines = ["user default " + " ".join(quoted)]
        if self.tls:
            lines += [f"tls-cert-file {TLS_FILE}", f"tls-key-file {TLS_FILE}",
                      "tls-auth-clients no"]
        return ("\n".join(lines) + "\n").encode()

    def _write_tls(self) -> None:
        path = self.directory / TLS_FILE
        path.unlink(missing_ok=True)
        if self.tls is None:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.tls)

    async def _connect(self):
        context = None
        if self.tls:  # our own server on loopback: the certificate is not what is checked here
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return await asyncio.open_connection(self.bind, self.port, ssl=context)

    async def set_passwords(self, passwords: tuple[str, ...], open_access: bool) -> None:
        """New AUTH tokens for the running server (ACL SETUSER)."""
        current = self.passwords[-1] if self.passwords else None
        self.passwords, self.open_access = passwords, open_access
        reader, writer = await self._connect()
        try:
            if current is not None:
                await _call(reader, writer, "AUTH", current)
            reply = await _call(reader, writer, "ACL", "SETUSER", "default", *self._acl())
        finally:
            writer.close()
        if not reply.startswith(b"+OK"):
            raise EngineError(f"{BINARY} refused the new AUTH token: {reply.decode().strip()}")

    def start(self) -> None:
        """Spawn the server (returns at once; see `ready`)."""
        self.stop_stale()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_tls()
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
                    self.command(), cwd=self.directory, stdin=subprocess.PIPE, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
                with self.proc.stdin as stdin:
                    stdin.write(self.config())
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
                reader, writer = await self._connect()
                try:
                    reply = await asyncio.wait_for(_call(reader, writer, "PING"), 1.0)
                finally:
                    writer.close()
                if reply.startswith((b"+PONG", b"-NOAUTH")):  # up (and asking for a token)
                    return
            except (TimeoutError, OSError, ssl.SSLError):
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


async def _call(reader, writer, *args: str) -> bytes:
    """One command in RESP, its reply's first line."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    writer.write(b"".join(parts))
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), 5.0)
