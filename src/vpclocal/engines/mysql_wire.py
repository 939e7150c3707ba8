"""The MySQL client/server protocol, as much of it as a pooling proxy needs.

Both ends of the proxy speak it: to clients it is the server (handshake, authentication, OK and
ERR packets), to the database it is a client (`ServerConnection`: log in, COM_CHANGE_USER,
simple text queries). Everything else is relayed as opaque packets.

Passwords never pass through the proxy in clear: with mysql_native_password the client proves
SHA1(password) against a per-connection scramble, the database stores SHA1(SHA1(password)), and
the proof recovers SHA1(password), which is exactly what logging in to the database needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass

NATIVE = "mysql_native_password"
MAX_PAYLOAD = 0xFFFFFF

# capability flags (include/mysql_com.h)
LONG_PASSWORD, FOUND_ROWS, LONG_FLAG, CONNECT_WITH_DB = 1, 2, 4, 8
COMPRESS, LOCAL_FILES, PROTOCOL_41, INTERACTIVE, SSL = 0x20, 0x80, 0x200, 0x400, 0x800
TRANSACTIONS, SECURE_CONNECTION = 0x2000, 0x8000
MULTI_STATEMENTS, MULTI_RESULTS, PS_MULTI_RESULTS = 1 << 16, 1 << 17, 1 << 18
PLUGIN_AUTH, CONNECT_ATTRS, PLUGIN_AUTH_LENENC = 1 << 19, 1 << 20, 1 << 21
SESSION_TRACK, DEPRECATE_EOF = 1 << 23, 1 << 24
# what only the handshake uses: it never changes how commands and results look afterwards
HANDSHAKE_ONLY = (CONNECT_WITH_DB | COMPRESS | SSL | SECURE_CONNECTION | PLUGIN_AUTH
                  | CONNECT_ATTRS | PLUGIN_AUTH_LENENC | (1 << 22) | (1 << 25) | (1 << 30)
                  | (1 << 31))

# commands
COM_QUIT, COM_INIT_DB, COM_QUERY, COM_PING = 0x01, 0x02, 0x03, 0x0E
COM_CHANGE_USER, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE = 0x11, 0x18, 0x19
NO_RESPONSE = {COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE}  # commands the server never answers

SERVER_STATUS_AUTOCOMMIT = 0x0002


class MySQLError(Exception):
    """An ERR packet (from the database or for a client), or a broken conversation (code 0)."""

    def __init__(self, code: int, state: str, message: str) -> None:
        super().__init__(f"{code} ({state}): {message}")
        self.code, self.state, self.message = code, state, message

    def payload(self) -> bytes:
        return err_payload(self.code, self.state, self.message)


class Broken(Exception):
    """The conversation with the database is not in a state we can use."""


# ---- framing and encodings ------------------------------------------------------------------

def frame(seq: int, payload: bytes) -> bytes:
    """One or more packets carrying `payload` (split at 16 MB as the protocol requires)."""
    out, offset = bytearray(), 0
    while True:
        chunk = payload[offset:offset + MAX_PAYLOAD]
        out += len(chunk).to_bytes(3, "little") + bytes([seq & 0xFF]) + chunk
        offset, seq = offset + len(chunk), seq + 1
        if len(chunk) < MAX_PAYLOAD:
            return bytes(out)


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(sequence id of the last part, payload) of one logical packet."""
    payload = b""
    while True:
        header = await reader.readexactly(4)
        length = int.from_bytes(header[:3], "little")
        payload += await reader.readexactly(length)
        if length < MAX_PAYLOAD:
            return header[3], payload


def lenenc_int(data: bytes, pos: int) -> tuple[int | None, int]:
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1  # NULL in a text row
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def lenenc_bytes(data: bytes, pos: int) -> tuple[bytes | None, int]:
    size, pos = lenenc_int(data, pos)
    if size is None:
        return None, pos
    return data[pos:pos + size], pos + size


def to_lenenc(value: int) -> bytes:
    if value < 0xFB:
        return bytes([value])
    if value < 1 << 16:
        return b"\xfc" + value.to_bytes(2, "little")
    if value < 1 << 24:
        return b"\xfd" + value.to_bytes(3, "little")
    return b"\xfe" + value.to_bytes(8, "little")


def cstring(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos) if b"\0" in data[pos:] else len(data)
    return data[pos:end], end + 1


def err_payload(code: int, state: str, message: str) -> bytes:
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode()


def parse_err(payload: bytes) -> MySQLError:
    code = struct.unpack_from("<H", payload, 1)[0]
    if payload[3:4] == b"#":
        return MySQLError(code, payload[4:9].decode(), payload[9:].decode(errors="replace"))
    return MySQLError(code, "HY000", payload[3:].decode(errors="replace"))


def ok_payload(status: int, caps: int) -> bytes:
    out = b"\x00\x00\x00" + struct.pack("<HH", status, 0)
    return out + (b"\x00" if caps & SESSION_TRACK else b"")  # empty info


def ok_status(payload: bytes) -> int:
    _, pos = lenenc_int(payload, 1)
    _, pos = lenenc_int(payload, pos)
    return struct.unpack_from("<H", payload, pos)[0]


# ---- mysql_native_password ------------------------------------------------------------------

def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def native_proof(stage1: bytes | None, scramble: bytes) -> bytes:
    """What a client sends: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); empty password: b""."""
    if stage1 is None:
        return b""
    mask = _sha1(scramble[:20], _sha1(stage1))
    return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))


def native_check(proof: bytes, scramble: bytes, stored: str) -> bytes | None | bool:
    """Check a client's proof against the stored hash ('*' + hex SHA1(SHA1(pw)), '' for no
    password). SHA1(pw) when it matches (None for the empty password), False otherwise."""
    if not stored:
        return None if not proof else False
    if len(proof) != 20 or len(stored) != 41 or not stored.startswith("*"):
        return False
    stage2 = bytes.fromhex(stored[1:])
    mask = _sha1(scramble[:20], stage2)
    stage1 = bytes(a ^ b for a, b in zip(proof, mask, strict=True))
    return stage1 if _sha1(stage1) == stage2 else False


# ---- handshakes -----------------------------------------------------------------------------

@dataclass
class Hello:
    """A server's initial handshake (protocol 10)."""
    version: str
    thread_id: int
    scramble: bytes
    caps: int
    charset: int
    status: int
    plugin: str


def parse_hello(payload: bytes) -> Hello:
    if payload[0] != 10:
        raise Broken(f"unsupported protocol version {payload[0]}")
    version, pos = cstring(payload, 1)
    thread_id = struct.unpack_from("<I", payload, pos)[0]
    scramble = payload[pos + 4:pos + 12]
    pos += 13
    caps = struct.unpack_from("<H", payload, pos)[0]
    charset, status, upper = struct.unpack_from("<BHH", payload, pos + 2)
    caps |= upper << 16
    data_len = payload[pos + 7]
    pos += 18  # + 10 reserved (MariaDB keeps its extended capabilities there)
    if caps & SECURE_CONNECTION:
        more = max(13, data_len - 8)
        scramble += payload[pos:pos + more].rstrip(b"\0")
        pos += more
    plugin = cstring(payload, pos)[0].decode() if caps & PLUGIN_AUTH else NATIVE
    return Hello(version.decode(), thread_id, scramble, caps, charset, status, plugin)


def build_hello(hello: Hello) -> bytes:
    scramble = hello.scramble
    return (b"\x0a" + hello.version.encode() + b"\0" + struct.pack("<I", hello.thread_id)
            + scramble[:8] + b"\0" + struct.pack("<HBHH", hello.caps & 0xFFFF, hello.charset,
                                                 hello.status, hello.caps >> 16)
            + bytes([len(scramble) + 1]) + bytes(10) + scramble[8:] + b"\0"
            + hello.plugin.encode() + b"\0")


@dataclass
class Login:
    """A client's handshake response."""
    caps: int
    max_packet: int
    charset: int
    user: str
    proof: bytes
    db: str | None
    plugin: str


def parse_login(payload: bytes) -> Login:
    caps, max_packet, charset = struct.unpack_from("<IIB", payload, 0)
    if not caps & PROTOCOL_41:
        raise MySQLError(1043, "08S01", "Bad handshake")
    user, pos = cstring(payload, 32)
    if caps & PLUGIN_AUTH_LENENC:
        proof, pos = lenenc_bytes(payload, pos)
    elif caps & SECURE_CONNECTION:
        proof, pos = payload[pos + 1:pos + 1 + payload[pos]], pos + 1 + payload[pos]
    else:
        proof, pos = cstring(payload, pos)
    db = None
    if caps & CONNECT_WITH_DB and pos < len(payload):
        raw, pos = cstring(payload, pos)
        db = raw.decode() or None
    plugin = NATIVE
    if caps & PLUGIN_AUTH and pos < len(payload):
        plugin = cstring(payload, pos)[0].decode() or NATIVE
    return Login(caps, max_packet, charset, user.decode(), proof or b"", db, plugin)


@dataclass
class ChangeUser:
    user: str
    proof: bytes
    db: str | None
    charset: int | None
    plugin: str


def parse_change_user(payload: bytes, caps: int) -> ChangeUser:
    user, pos = cstring(payload, 1)
    if caps & SECURE_CONNECTION:
        proof, pos = payload[pos + 1:pos + 1 + payload[pos]], pos + 1 + payload[pos]
    else:
        proof, pos = cstring(payload, pos)
    raw, pos = cstring(payload, pos)
    charset = None
    if pos + 2 <= len(payload):
        charset, pos = struct.unpack_from("<H", payload, pos)[0], pos + 2
    plugin = NATIVE
    if caps & PLUGIN_AUTH and pos < len(payload):
        plugin = cstring(payload, pos)[0].decode() or NATIVE
    return ChangeUser(user.decode(), proof, raw.decode() or None, charset, plugin)


def auth_switch(plugin: str, scramble: bytes) -> bytes:
    return b"\xfe" + plugin.encode() + b"\0" + scramble + b"\0"


# ---- the proxy as a client of the database ----------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    user: str
    stage1: bytes | None  # SHA1(password); None for an empty password
    stage2: str  # the stored hash it was checked against: pooled sessions are reused per hash


class ServerConnection:
    """One logged-in connection to the database."""

    def __init__(self, reader, writer, hello: Hello, caps: int) -> None:
        self.reader, self.writer, self.hello, self.caps = reader, writer, hello, caps
        self.scramble = hello.scramble
        self.status = hello.status
        self.creds: Credentials | None = None  # None: the admin, by unix_socket
        self.db: str | None = None
        self.charset = hello.charset

    @classmethod
    async def open(cls, address, creds: Credentials | None, db: str | None, caps: int,
                   charset: int | None = None, max_packet: int = 1 << 24) -> ServerConnection:
        """Connect (address: (host, port) or a unix socket path) and log in; `creds` None logs
        in by unix_socket authentication as the user running us."""
        if isinstance(address, str):
            reader, writer = await asyncio.open_unix_connection(address)
        else:
            reader, writer = await asyncio.open_connection(*address)
        try:
            _, payload = await read_packet(reader)
            if payload[:1] == b"\xff":
                raise parse_err(payload)
            hello = parse_hello(payload)
            conn = cls(reader, writer, hello, caps | PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH)
            await conn._login(creds, db, charset or hello.charset, max_packet)
            return conn
        except BaseException:
            writer.close()
            raise

    async def _login(self, creds, db, charset, max_packet) -> None:
        import getpass

        caps = self.caps | (CONNECT_WITH_DB if db else 0)
        caps &= ~CONNECT_ATTRS & ~PLUGIN_AUTH_LENENC & ~SSL & ~COMPRESS
        user = creds.user if creds else getpass.getuser()
        proof = native_proof(creds.stage1, self.scramble) if creds else b""
        plugin = NATIVE if creds else "unix_socket"
        payload = (struct.pack("<IIB", caps, max_packet, charset) + bytes(23)
                   + user.encode() + b"\0" + bytes([len(proof)]) + proof
                   + ((db.encode() + b"\0") if db else b"") + plugin.encode() + b"\0")
        self.writer.write(frame(1, payload))
        await self._authenticated(creds)
        self.caps, self.charset, self.db = caps & ~CONNECT_WITH_DB, charset, db
        self.creds = creds

    async def _authenticated(self, creds: Credentials | None) -> None:
        """Follow the server's answers (auth switches) to OK, or raise its ERR."""
        while True:
            seq, payload = await read_packet(self.reader)
            kind = payload[:1]
            if kind == b"\x00":
                self.status = ok_status(payload)
                return
            if kind == b"\xff":
                raise parse_err(payload)
            if kind != b"\xfe":
                raise Broken(f"unexpected authentication packet {payload[:1].hex()}")
            plugin, pos = cstring(payload, 1)
            data = payload[pos:].rstrip(b"\0")
            if plugin.decode() == NATIVE and creds is not None:
                self.scramble = data
                answer = native_proof(creds.stage1, data)
            elif creds is None:  # unix_socket, possibly after the account's other methods
                answer = b""
            else:
                raise Broken(f"the database asks for {plugin.decode()} authentication")
            self.writer.write(frame(seq + 1, answer))

    async def change_user(self, creds: Credentials, db: str | None, charset: int) -> None:
        """COM_CHANGE_USER: another user and database, and a fresh session (MariaDB resets
        variables, temporary tables, transactions and locks as COM_RESET_CONNECTION does)."""
        proof = native_proof(creds.stage1, self.scramble)
        payload = (bytes([COM_CHANGE_USER]) + creds.user.encode() + b"\0" + bytes([len(proof)])
                   + proof + (db or "").encode() + b"\0" + struct.pack("<H", charset)
                   + NATIVE.encode() + b"\0")
        self.writer.write(frame(0, payload))
        await self._authenticated(creds)
        self.creds, self.db, self.charset = creds, db, charset

    async def reset(self) -> None:
        """A fresh session for the same user, database and character set: COM_CHANGE_USER
        rolls back, unlocks, drops temporary tables, variables and prepared statements as
        COM_RESET_CONNECTION does, and also undoes a USE and a SET NAMES, in one round trip."""
        await self.change_user(self.creds, self.db, self.charset)
        if self.reader._buffer:  # bytes after the OK: it was not idle after all
            raise Broken("the connection had unread results")

    async def query(self, sql: str) -> list[tuple[str | None, ...]]:
        """A text query's rows (for the proxy's own look-ups; no DEPRECATE_EOF on that link)."""
        self.writer.write(frame(0, bytes([COM_QUERY]) + sql.encode()))
        _, payload = await read_packet(self.reader)
        if payload[:1] == b"\xff":
            raise parse_err(payload)
        if payload[:1] == b"\x00":
            return []
        columns, _ = lenenc_int(payload, 0)
        for _ in range(columns + 1):  # definitions, then EOF
            await read_packet(self.reader)
        rows = []
        while True:
            _, payload = await read_packet(self.reader)
            if payload[:1] == b"\xfe" and len(payload) < 9:
                return rows
            if payload[:1] == b"\xff":
                raise parse_err(payload)
            row, pos = [], 0
            for _ in range(columns):
                value, pos = lenenc_bytes(payload, pos)
                row.append(None if value is None else value.decode())
            rows.append(tuple(row))

    def alive(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        if not self.writer.is_closing():
            try:
                self.writer.write(frame(0, bytes([COM_QUIT])))
            except (OSError, RuntimeError):
                pass
            self.writer.close()
