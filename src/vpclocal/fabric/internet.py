"""What answers on the simulated internet: echo hosts, and the AWS public service endpoints.

    internet = Internet(data_dir, endpoint=("127.0.0.1", 4566)).start(sandbox, space)
    ...
    internet.stop()

`space` is the internet namespace, in which every address of 198.51.100.0/24 and
203.0.113.0/24 is local (AnyIP: `ip route add local 198.51.100.0/24 dev lo`). The agent binds
one listener on 0.0.0.0:80 and one on 0.0.0.0:443 *inside* it and passes them here (a socket
stays in the namespace it was made in); an event loop on a thread of its own serves them, so
TLS handshakes never hold up the server's loop. A connection's local address
(`getsockname()`) tells which public host it came to:

- the AWS public service addresses (network/names.AWS_ADDRESSES: every service the server
  serves, and one for those it does not) are relayed to the vpclocal server's own endpoint,
  decrypted: on 443 TLS ends here with a certificate for the name the client asked for
  (`sts.us-east-1.amazonaws.com`, or the `*.s3.us-east-1.amazonaws.com` wildcard for a
  virtual-hosted bucket), on 80 the bytes go as they came. The server routes by the SigV4
  credential scope, so a function's unchanged boto3 code (no endpoint configured: the
  resolver answers AWS's public names) reaches the server through the fabric;
- every other address is a public host that answers every HTTP request with a JSON echo of
  it: method, path, query, headers, body, the Host and SNI names, the server address the
  client reached and the client's address as the host sees it (what a NAT gateway or an
  internet gateway made of it).

HTTPS certificates come from the local CA (ca.py); `trust_env()` gives the variables that
make a function trust it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from vpclocal.network.names import AWS_ADDRESSES

from .ca import CertificateAuthority, trust_env
from .relay import Origin, connect, splice
from .sandbox import Sandbox, Space

log = logging.getLogger("vpclocal.internet")

HTTP_PORT, HTTPS_PORT = 80, 443
RELAYED = AWS_ADDRESSES
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0  # an echo connection with no request for this long is closed
MAX_HEADERS = 100
MAX_BODY = 16 << 20
SERVER = "vpclocal-internet"


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(values) if values else None

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass(frozen=True)
class Conn:
    """What the host knows of a connection."""

    scheme: str
    server: tuple[str, int]
    client: tuple[str, int]
    sni: str | None = None


class Internet:
    def __init__(self, data_dir: str | Path, endpoint: tuple[str, int] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.ca = CertificateAuthority(self.data_dir / "ca")
        self.endpoint = endpoint  # the vpclocal server's listener, where AWS traffic goes
        self.space: Space | None = None
        self.figures = {"connections": 0, "requests": 0, "relayed": 0, "tls_failures": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, sandbox: Sandbox, space: Space) -> Self:
        """Listen on :80 and :443 in the internet namespace and serve them."""
        if self._thread is not None:
            self.stop()
        socks = []
        try:
            for port in (HTTP_PORT, HTTPS_PORT):
                socks.append(sandbox.listen(space, "0.0.0.0", port))
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        self.space = space
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(socks, ready, failure),
                                        name="vpclocal-internet", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self.stop()
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        self.space = None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, coroutine, timeout: float):
        """Run a coroutine on the internet's event loop (others' listeners live there too:
        interface_endpoints.py) and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def run_soon(self, callback) -> None:
        """Call `callback` on the internet's event loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback)

    def env(self) -> dict[str, str]:
        """The variables that make a function's clients trust the local CA."""
        return trust_env(self.data_dir)

    def _run(self, socks, ready: threading.Event, failure: list) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        servers = []
        try:
            for sock, tls in zip(socks, (False, True), strict=True):
                handler = self._https if tls else self._http
                servers.append(loop.run_until_complete(
                    asyncio.start_server(handler, sock=sock, limit=1 << 16)))
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            failure.append(exc)
            for sock in socks:
                sock.close()
        ready.set()
        try:
            if not failure:
                loop.run_forever()
        finally:
            for server in servers:
                server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    # ---- connections ---------------------------------------------------------------------

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, Conn("http", _addr(writer, "sockname"),
                                               _addr(writer, "peername")))

    async def _https(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = _addr(writer, "sockname")
        try:
            await writer.start_tls(self.ca.server_context(server[0]),
                                   ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            self.figures["tls_failures"] += 1
            log.debug("TLS handshake on %s failed: %s", server, exc)
            writer.close()
            return
        sni = getattr(writer.get_extra_info("ssl_object"), "sni", None)
        await self._serve(reader, writer, Conn("https", server, _addr(writer, "peername"), sni))

    async def _serve(self, reader, writer, conn: Conn) -> None:
        self.figures["connections"] += 1
        try:
            if conn.server[0] in RELAYED:
                await self._relay(reader, writer, conn)
            else:
                await self._echo(reader, writer, conn)
        except (OSError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _relay(self, reader, writer, conn: Conn) -> None:
        """The AWS public endpoints: the connection's bytes to and from the server's own,
        which learns the client's address here (IAM's aws:SourceIp, or the router uplink of a
        gateway endpoint)."""
        if self.endpoint is None:
            return
        up_reader, up_writer, local = await connect(*self.endpoint,
                                                     came_from=Origin(conn.client[0]))
        self.figures["relayed"] += 1
        await splice(reader, writer, up_reader, up_writer, local)

    async def _echo(self, reader, writer, conn: Conn) -> None:
        """Answer every request on the connection with its echo until either side closes."""
        while True:
            try:
                request = await asyncio.wait_for(read_request(reader, writer), IDLE_TIMEOUT)
            except BadRequest as exc:
                writer.write(response(exc.status, exc.reason, {"error": exc.reason}, False))
                await writer.drain()
                return
            if request is None:
                return
            self.figures["requests"] += 1
            keep = request.keep_alive
            document = echo(request, conn)
            writer.write(response(200, "OK", document, keep, head=request.method == "HEAD"))
            await writer.drain()
            if not keep:
                return


# ---- HTTP ------------------------------------------------------------------------------------


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                       ) -> Request | None:
    """The next HTTP/1.x request on a connection, None at its clean end."""
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):  # stray line breaks between requests (RFC 9112 2.2)
        line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "Bad Request")
    headers: list[tuple[str, str]] = []
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise BadRequest(400, "Bad Request")
        headers.append((name, value.strip()))
        if len(headers) > MAX_HEADERS:
            raise BadRequest(431, "Request Header Fields Too Large")
    request = Request(parts[0], parts[1], parts[2], headers)
    if (request.header("expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in (request.header("transfer-encoding") or "").lower():
        request.body = await _chunked(reader)
    elif (length := request.header("content-length")) is not None:
        if not length.isdigit():
            raise BadRequest(400, "Bad Request")
        if int(length) > MAX_BODY:
            raise BadRequest(413, "Content Too Large")
        request.body = await reader.readexactly(int(length))
    return request


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = (await reader.readline()).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise BadRequest(400, "Bad Request") from None
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise BadRequest(413, "Content Too Large")
        body += await reader.readexactly(size)
        await reader.readline()


def echo(request: Request, conn: Conn) -> dict:
    """What the host saw."""
    split = urlsplit(request.target)
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    host = headers.get("host", "")
    try:
        body, encoding = request.body.decode(), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(request.body).decode(), "base64"
    return {
        "method": request.method,
        "path": split.path or request.target,
        "query": parse_qs(split.query, keep_blank_values=True),
        "version": request.version,
        "headers": headers,
        "body": body,
        "bodyEncoding": encoding,
        "host": host.rsplit(":", 1)[0] if host.count(":") == 1 else host,
        "sni": conn.sni,
        "scheme": conn.scheme,
        "server": {"address": conn.server[0], "port": conn.server[1]},
        "client": {"address": conn.client[0], "port": conn.client[1]},
    }


def response(status: int, reason: str, document: dict, keep_alive: bool,
             head: bool = False) -> bytes:
    body = json.dumps(document, indent=2).encode() + b"\n"
    lines = [f"HTTP/1.1 {status} {reason}", f"Server: {SERVER}",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)


# ---- helpers ---------------------------------------------------------------------------------


def _addr(writer: asyncio.StreamWriter, which: str) -> tuple[str, int]:
    address = writer.get_extra_info(which) or ("", 0)
    return address[0], address[1]
