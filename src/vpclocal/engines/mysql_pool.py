"""RDS Proxy for the MySQL family: a MySQL-protocol proxy with a real connection pool.

It runs on the server's asyncio loop, not as a process of its own: it only moves bytes (I/O
bound, uvloop), a ModifyDBProxyTargetGroup reaches the live pool by a method call instead of a
config reload, and DescribeDBProxyTargets reads the pool's real state. No MySQL pooler in
Debian does what RDS Proxy does (ProxySQL is not packaged), and a small one is clearer here.

- Clients log in to the proxy itself with the target's own accounts (as pgbouncer's auth_query
  does for PostgreSQL; vpclocal has no Secrets Manager): the proxy reads the account's stored
  hash over the target's admin socket and checks the client's mysql_native_password proof. A
  client that starts with another plugin (caching_sha2_password of MySQL 8 clients) is switched
  to mysql_native_password, which every MySQL and MariaDB client supports.
- Each client session borrows one logged-in database connection and keeps it to the end
  (session pinning); the pool opens at most `size` of them (MaxConnectionsPercent of the
  target's max_connections), keeps at most `idle` idle, and a client that finds none free
  waits up to `borrow_timeout` seconds, then gets RDS Proxy's ERROR 9501.
- A connection goes back to the pool only when it is known idle (the client's last command was
  answered) and after a reset: COM_CHANGE_USER to its own user and database, which does what
  COM_RESET_CONNECTION does (transactions rolled back, locks released, temporary tables,
  variables and prepared statements dropped) and also undoes USE and SET NAMES. A session for
  another user or database gets COM_CHANGE_USER too. Anything doubtful is closed, not reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import time
from collections import deque
from dataclasses import dataclass

from vpclocal.engines.base import EngineError, Placement
from vpclocal.engines.mysql_wire import (
    COM_CHANGE_USER,
    COM_QUIT,
    COMPRESS,
    HANDSHAKE_ONLY,
    NATIVE,
    NO_RESPONSE,
    SSL,
    Broken,
    Credentials,
    Hello,
    MySQLError,
    ServerConnection,
    auth_switch,
    build_hello,
    frame,
    native_check,
    ok_payload,
    parse_change_user,
    parse_err,
    parse_hello,
    parse_login,
    read_packet,
)

log = logging.getLogger("vpclocal.rds.proxy")

# RDS Proxy's own errors for MySQL clients (Amazon RDS User Guide, "Troubleshooting for RDS
# Proxy": "ERROR 9501 (HY000): Timed-out waiting to acquire database connection", "ERROR 1045
# (28000): Access denied for user 'DB_USER'@'%' (using password: YES)", "ERROR 1105 (HY000):
# Unknown error"). The proxy names the account '%', not the client's address.
BORROW_TIMEOUT = (9501, "HY000", "Timed-out waiting to acquire database connection")
UNKNOWN = (1105, "HY000", "Unknown error")


def access_denied(user: str, with_password: bool) -> MySQLError:
    return MySQLError(1045, "28000", f"Access denied for user '{user}'@'%' (using password: "
                                     f"{'YES' if with_password else 'NO'})")


@dataclass(frozen=True)
class Target:
    address: tuple[str, int]  # where the pool's connections go (the instance's server)
    admin_socket: str  # the server's unix socket: account look-ups as the server's admin


@dataclass(frozen=True)
class Limits:
    size: int  # database connections at most
    idle: int  # of which kept open while idle
    borrow_timeout: float  # seconds a client waits for one
    idle_client_timeout: float = 1800  # a client silent this long is disconnected


@dataclass(frozen=True)
class Want:
    """What a client session needs from a pooled connection."""
    creds: Credentials
    db: str | None
    caps: int  # the client's capabilities that shape commands and results
    charset: int
    max_packet: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.caps, self.charset


_SLOT = object()  # handed to a waiter: open a connection in the slot just freed


class Pool:
    """At most `limits.size` database connections, shared by client sessions one at a time."""

    def __init__(self, target: Target, limits: Limits) -> None:
        self.target, self.limits = target, limits
        self.idle: list[ServerConnection] = []
        self.slots = 0  # connections open, being opened, or lent out
        self.waiters: deque[asyncio.Future] = deque()
        self.last_error: str | None = None
        self.closed = False

    # ---- borrowing ----------------------------------------------------------------------------

    async def borrow(self, want: Want) -> ServerConnection:
        deadline = time.monotonic() + self.limits.borrow_timeout
        while True:
            got = self._take(want) if not self.waiters else None
            if got is None and not self.waiters and self.slots < self.limits.size:
                self.slots += 1
                got = _SLOT
            if got is None:
                got = await self._wait(deadline)
            if got is _SLOT:
                return await self._open_in_slot(want, deadline)
            try:
                return await self._fit(got, want)
            except MySQLError:
                self._discard(got)
                raise
            except (OSError, Broken, asyncio.IncompleteReadError):
                self._discard(got)  # it died while idle: try again

    def _take(self, want: Want) -> ServerConnection | None:
        """The best idle connection for `want`, or None."""
        for conn in [c for c in self.idle if not c.alive()]:  # the database closed them
            self.idle.remove(conn)
            self._discard(conn)
        if not self.idle:
            return None
        ranked = sorted(self.idle, key=lambda c: (
            (c.caps & ~HANDSHAKE_ONLY, c.charset) != want.shape,
            (c.creds, c.db) != (want.creds, want.db)))
        best = ranked[0]
        self.idle.remove(best)
        return best

    async def _wait(self, deadline: float):
        future = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        try:
            return await asyncio.wait_for(future, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise MySQLError(*BORROW_TIMEOUT) from None
        finally:
            with contextlib.suppress(ValueError):
                self.waiters.remove(future)

    async def _fit(self, conn: ServerConnection, want: Want) -> ServerConnection:
        if (conn.caps & ~HANDSHAKE_ONLY, conn.charset) != want.shape:
            self._close_quietly(conn)  # another client's protocol options: a new one, same slot
            return await self._open(want)
        if (conn.creds, conn.db) != (want.creds, want.db):
            await conn.change_user(want.creds, want.db, want.charset)
        return conn

    async def _open_in_slot(self, want: Want, deadline: float) -> ServerConnection:
        """Open a connection in a slot we hold; retry while the database is unreachable (it may
        be restarting) until the borrow deadline."""
        while True:
            try:
                conn = await self._open(want)
                self.last_error = None
                return conn
            except MySQLError:
                self._free_slot()
                raise
            except (OSError, Broken, asyncio.IncompleteReadError) as exc:
                self.last_error = str(exc) or type(exc).__name__
                if time.monotonic() + 0.1 > deadline or self.closed:
                    self._free_slot()
                    raise MySQLError(*BORROW_TIMEOUT) from exc
                await asyncio.sleep(0.1)
            except BaseException:
                self._free_slot()
                raise

    async def _open(self, want: Want) -> ServerConnection:
        caps = want.caps & ~(SSL | COMPRESS)
        return await ServerConnection.open(self.target.address, want.creds, want.db, caps,
                                           want.charset, want.max_packet)

    # ---- returning ----------------------------------------------------------------------------

    def give_back(self, conn: ServerConnection) -> None:
        """A reset, idle connection comes back: to the first waiter, the idle list, or closed."""
        if self.closed or self.slots > self.limits.size or not conn.alive():
            self._discard(conn)
            return
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(conn)
                return
        if len(self.idle) < self.limits.idle:
            self.idle.append(conn)
        else:
            self._discard(conn)

    def _discard(self, conn: ServerConnection) -> None:
        self._close_quietly(conn)
        self._free_slot()

    def _free_slot(self) -> None:
        if not self.closed and self.slots <= self.limits.size:
            while self.waiters:
                future = self.waiters.popleft()
                if not future.done():
                    future.set_result(_SLOT)  # the slot passes to the waiter
                    return
        self.slots -= 1

    @staticmethod
    def _close_quietly(conn: ServerConnection) -> None:
        conn.close()

    # ---- live changes -------------------------------------------------------------------------

    def configure(self, target: Target, limits: Limits) -> None:
        if target != self.target:  # another server: nothing pooled for the old one is reused
            for conn in self.idle:
                self._discard(conn)
            self.idle = []
        self.target, self.limits = target, limits
        while len(self.idle) > limits.idle or (self.idle and self.slots > limits.size):
            self._discard(self.idle.pop(0))
        while self.waiters and self.slots < limits.size:  # a raised cap serves waiters now
            future = self.waiters.popleft()
            if not future.done():
                self.slots += 1
                future.set_result(_SLOT)

    def close(self) -> None:
        self.closed = True
        for conn in self.idle:
            self._close_quietly(conn)
        self.slots -= len(self.idle)
        self.idle = []

    @property
    def in_use(self) -> int:
        return self.slots - len(self.idle)


class Accounts:
    """The target's accounts, read over its admin socket (unix_socket authentication as the
    user running the server): a password change applies to the next login at once."""

    def __init__(self) -> None:
        self.conn: ServerConnection | None = None
        self.lock = asyncio.Lock()

    async def stored_hash(self, socket_path: str, user: str, client: str) -> str | None:
        """The mysql_native_password hash of the best matching account, None if none."""
        sql = ("SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = "
               + _literal(user))
        async with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or not self.conn.alive():
                        self.conn = await ServerConnection.open(socket_path, None, None, 0)
                    rows = await self.conn.query(sql)
                    break
                except (OSError, Broken, asyncio.IncompleteReadError):
                    self.close()
                    if attempt == 2:
                        raise
        matching = sorted((r for r in rows if _host_matches(r[0], client)),
                          key=lambda r: _specificity(r[0]))
        if not matching or (matching[0][1] or NATIVE) not in (NATIVE, ""):
            return None
        return matching[0][2] or ""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _host_matches(pattern: str, address: str) -> bool:
    if pattern == "localhost":  # MySQL: the unix socket only
        return False
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, address, re.IGNORECASE) is not None


def _specificity(pattern: str) -> tuple[int, int]:
    """MySQL sorts accounts by host: literal hosts first, then by where the first wildcard is."""
    wild = min((pattern.index(c) for c in "%_" if c in pattern), default=None)
    return (0, 0) if wild is None else (1, -wild)


class MySQLProxy:
    """One proxy endpoint: the listener, its client sessions and its pool."""

    _ids = itertools.count(1)

    def __init__(self, name: str, target: Target, limits: Limits) -> None:
        self.name = name
        self.pool = Pool(target, limits)
        self.accounts = Accounts()
        self.listener: asyncio.Server | None = None
        self.sessions: set[asyncio.Task] = set()
        self.hello: Hello | None = None  # the target's handshake, shown to clients

    def configure(self, target: Target, limits: Limits) -> None:
        if target != self.pool.target:
            self.hello = None
        self.pool.configure(target, limits)

    async def start(self, where: Placement) -> None:
        if self.listener is not None:
            return
        try:
            self.listener = await asyncio.start_server(
                self._client, where.bind, where.port, reuse_address=True, backlog=1024)
        except OSError as exc:
            raise EngineError(f"the proxy cannot listen on {where.bind}:{where.port}: "
                              f"{exc.strerror}") from exc

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for task in list(self.sessions):
            task.cancel()
        if self.sessions:
            await asyncio.gather(*self.sessions, return_exceptions=True)
        self.pool.close()
        self.accounts.close()

    # ---- health -------------------------------------------------------------------------------

    async def health(self) -> tuple[str, str] | None:
        """None when the proxy can reach and log in to its target, else (Reason, Description)."""
        if self.listener is None:
            return "UNREACHABLE", "The proxy is not running."
        try:
            async with asyncio.timeout(5):
                self.hello = await self._probe()
                conn = await ServerConnection.open(self.pool.target.admin_socket, None, None, 0)
                conn.close()
        except MySQLError as exc:
            return "CONNECTION_FAILED", f"The database refused the proxy: {exc.message}"
        except (OSError, Broken, asyncio.IncompleteReadError, TimeoutError) as exc:
            return "CONNECTION_FAILED", ("The proxy could not connect to the database: "
                                         f"{getattr(exc, 'strerror', None) or exc or 'timeout'}")
        return None

    async def _target_hello(self) -> Hello:
        """The target's handshake (its version and capabilities), read once per proxy."""
        if self.hello is None:
            self.hello = await self._probe()
        return self.hello

    async def _probe(self) -> Hello:
        reader, writer = await asyncio.open_connection(*self.pool.target.address)
        try:
            _, payload = await read_packet(reader)
        finally:
            writer.close()
        if payload[:1] == b"\xff":
            raise parse_err(payload)
        return parse_hello(payload)

    # ---- a client session ---------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.sessions.add(task)
        try:
            await Session(self, reader, writer).run()
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError, Broken):
            pass
        except Exception:  # one client's failure must not reach the loop
            log.exception("proxy %s: client session failed", self.name)
        finally:
            self.sessions.discard(task)
            writer.close()


class Session:
    """One client connection: log in to the proxy, borrow, relay, give back."""

    def __init__(self, proxy: MySQLProxy, reader, writer) -> None:
        self.proxy, self.pool = proxy, proxy.pool
        self.reader, self.writer = reader, writer
        self.scramble = os.urandom(20).replace(b"\0", b"\1")
        self.caps = 0
        self.want: Want | None = None
        self.server: ServerConnection | None = None
        self.awaiting = False  # the client's last command is not answered yet
        self.last_command = 0.0  # loop time of the client's last command
        self.idle_timer: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self.idle_timer is not None:
                self.idle_timer.cancel()
            if self.server is not None:  # the session broke off: its connection is not reused
                self.pool._discard(self.server)
                self.server = None

    async def _run(self) -> None:
        try:
            hello = await self.proxy._target_hello()
        except (OSError, MySQLError, Broken, asyncio.IncompleteReadError):
            await self._fail(0, MySQLError(*UNKNOWN))
            return
        offer = hello.caps & ~(SSL | COMPRESS)
        thread_id = next(MySQLProxy._ids) & 0xFFFFFFFF
        self.writer.write(frame(0, build_hello(Hello(
            hello.version, thread_id, self.scramble, offer, hello.charset,
            hello.status, NATIVE))))
        seq, payload = await read_packet(self.reader)
        try:
            login = parse_login(payload)
        except (MySQLError, IndexError, ValueError, KeyError):
            await self._fail(seq + 1, MySQLError(1043, "08S01", "Bad handshake"))
            return
        self.caps = login.caps & offer
        seq, proof = await self._proof(seq, login.plugin, login.proof)
        try:
            creds = await self._check(login.user, proof)
            self.want = Want(creds, login.db, self.caps & ~HANDSHAKE_ONLY, login.charset,
                             login.max_packet)
            self.server = await self.pool.borrow(self.want)
        except MySQLError as exc:
            await self._fail(seq + 1, exc)
            return
        self.writer.write(frame(seq + 1, ok_payload(self.server.status, self.caps)))
        await self.writer.drain()
        await self._relay()

    async def _proof(self, seq: int, plugin: str, proof: bytes) -> tuple[int, bytes]:
        """The client's mysql_native_password proof, switching it to that plugin if needed."""
        if plugin == NATIVE:
            return seq, proof
        self.writer.write(frame(seq + 1, auth_switch(NATIVE, self.scramble)))
        seq, proof = await read_packet(self.reader)
        return seq, proof

    async def _check(self, user: str, proof: bytes) -> Credentials:
        client = self.writer.get_extra_info("peername")[0]
        try:
            stored = await self.proxy.accounts.stored_hash(self.pool.target.admin_socket,
                                                           user, client)
        except (OSError, Broken, asyncio.IncompleteReadError, MySQLError) as exc:
            log.warning("proxy %s: account look-up failed: %s", self.proxy.name, exc)
            raise MySQLError(*UNKNOWN) from exc
        stage1 = False if stored is None else native_check(proof, self.scramble, stored)
        if stage1 is False:
            raise access_denied(user, bool(proof))
        return Credentials(user, stage1, stored)

    async def _fail(self, seq: int, error: MySQLError) -> None:
        self.writer.write(frame(seq, error.payload()))
        with contextlib.suppress(OSError):
            await self.writer.drain()

    async def _relay(self) -> None:
        """Relay until the client leaves; then the connection goes back (reset) or is closed."""
        self.last_command = asyncio.get_running_loop().time()
        self._watch_idle()
        while True:
            up = asyncio.ensure_future(self._client_to_server())
            down = asyncio.ensure_future(self._server_to_client())
            try:
                done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (up, down):
                    task.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
            ended = up.result() if up in done and not up.exception() else None
            if isinstance(ended, bytes):  # COM_CHANGE_USER: the server link is quiet now
                await self._change_user(ended)
                continue
            break
        server, self.server = self.server, None
        if not ended or self.awaiting:
            self.pool._discard(server)
            return
        try:
            async with asyncio.timeout(5):
                await server.reset()
        except (OSError, MySQLError, Broken, asyncio.IncompleteReadError, TimeoutError):
            self.pool._discard(server)
            return
        self.pool.give_back(server)

    async def _client_to_server(self) -> bool | bytes:
        """Relay commands. True when the session ended cleanly (COM_QUIT, or the client hung
        up or idled out between commands), False when it broke off; a COM_CHANGE_USER packet
        is returned for `_relay` to handle."""
        loop, out = asyncio.get_running_loop(), self.server.writer
        while True:
            try:
                header = await self.reader.readexactly(4)
            except asyncio.IncompleteReadError as exc:
                return not exc.partial  # between packets: hung up (or idled out), cleanly
            length, seq = int.from_bytes(header[:3], "little"), header[3]
            payload = await self.reader.readexactly(length)
            command = payload[0] if seq == 0 and payload else None
            if command is not None:
                self.last_command = loop.time()
            if command == COM_QUIT:
                return True
            if command == COM_CHANGE_USER and not self.awaiting:
                return payload
            if command is not None and command not in NO_RESPONSE:
                self.awaiting = True
            out.write(header + payload)
            if out.transport.get_write_buffer_size() > 1 << 16:
                await out.drain()

    def _watch_idle(self) -> None:
        """IdleClientTimeout: a client silent that long (between commands) is disconnected;
        its database connection goes back to the pool."""
        timeout = self.pool.limits.idle_client_timeout
        idle = asyncio.get_running_loop().time() - self.last_command
        if self.awaiting or idle < timeout:
            self.idle_timer = asyncio.get_running_loop().call_later(
                timeout - idle if not self.awaiting else timeout, self._watch_idle)
        else:
            self.writer.close()

    async def _server_to_client(self) -> None:
        while True:
            data = await self.server.reader.read(1 << 16)
            if not data:
                return
            self.awaiting = False
            self.writer.write(data)
            if self.writer.transport.get_write_buffer_size() > 1 << 16:
                await self.writer.drain()

    async def _change_user(self, payload: bytes) -> None:
        """COM_CHANGE_USER from the client: checked by the proxy, done on the pinned
        connection with the proxy's own proof (the client's is for the proxy's scramble)."""
        request = parse_change_user(payload, self.caps)
        seq, proof = await self._proof(0, request.plugin, request.proof)
        try:
            creds = await self._check(request.user, proof)
            await self.server.change_user(creds, request.db,
                                          request.charset or self.want.charset)
        except MySQLError as exc:
            await self._fail(seq + 1, exc)
            raise Broken("COM_CHANGE_USER failed") from exc
        self.writer.write(frame(seq + 1, ok_payload(self.server.status, self.caps)))
        await self.writer.drain()
