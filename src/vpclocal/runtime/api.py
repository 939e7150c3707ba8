"""The Lambda Runtime API that one execution environment's runtime client talks to.

One listener per environment: the environment is known by the socket its client connects to,
so the address can be anything the environment reaches (loopback today, an address inside its
network namespace later). HTTP/1.1 with keep-alive, parsed by httptools. Every response goes
out in one write on a TCP_NODELAY socket: a header/body split or Nagle's algorithm stalls each
invoke ~40 ms on delayed ACKs.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from typing import Protocol

import httptools

PREFIX = "/2018-06-01/runtime"
_INVOCATION = re.compile(rf"{PREFIX}/invocation/([^/]+)/(response|error)$")
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 413: "Request Entity Too Large", 500: "Internal Server Error"}


class Handler(Protocol):
    """What the environment behind a listener answers (see Environment)."""

    def on_next(self, conn: Connection) -> None: ...
    def on_result(self, request_id: str, body: bytes, error_type: str | None) -> bool: ...
    def on_init_error(self, error_type: str | None, body: bytes) -> bool: ...


class Connection(asyncio.Protocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # ---- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send(400, b'{"errorMessage":"Bad request","errorType":"InvalidRequest"}')
            self.close()

    def connection_lost(self, exc) -> None:
        self.transport = None

    # ---- httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self._headers.get("expect", "").lower() == "100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        path = httptools.parse_url(self._url).path.decode("latin-1")
        body = b"".join(self._body)
        self._route(method, path, body)

    # ---- routing
    def _route(self, method: bytes, path: str, body: bytes) -> None:
        if method == b"GET" and path == f"{PREFIX}/invocation/next":
            self.handler.on_next(self)  # answered later, by deliver()
            return
        if method == b"POST":
            found = _INVOCATION.match(path)
            if found:
                error_type = None
                if found[2] == "error":
                    error_type = self._headers.get("lambda-runtime-function-error-type") or ""
                if self.handler.on_result(found[1], body, error_type):
                    self.send(202, b'{"status":"OK"}')
                else:
                    self.send(400, _error("InvalidRequestID", "Invalid request ID"))
                return
            if path == f"{PREFIX}/init/error":
                error_type = self._headers.get("lambda-runtime-function-error-type")
                if self.handler.on_init_error(error_type, body):
                    self.send(202, b'{"status":"OK"}')
                else:
                    self.send(403, _error("InvalidStateTransition",
                                          "State transition from Ready to InitError failed"))
                return
        self.send(404, _error("InvalidRequest", f"No route for {method.decode()} {path}"))

    # ---- responses
    def deliver(self, headers: dict[str, str], body: bytes) -> bool:
        """Answer a parked /invocation/next; False when the client is gone."""
        return self.send(200, body, headers)

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        # the native client crashes without a Content-Type on /next: always send one
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
                 "Content-Type: application/json", f"Content-Length: {len(body)}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if not self.parser.should_keep_alive():
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.transport.write(head + body)  # one write: see the module docstring
        if not self.parser.should_keep_alive():
            self.transport.close()
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class RuntimeApi:
    """A listener serving one environment's Runtime API."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.server: asyncio.base_events.Server | None = None
        self.connections: list[Connection] = []

    async def listen(self, host: str = "127.0.0.1", port: int = 0,
                     sock: socket.socket | None = None) -> tuple[str, int]:
        """Listen on host:port, or on a listening socket made elsewhere (e.g. inside a network
        namespace)."""
        loop = asyncio.get_running_loop()

        def factory() -> Connection:
            conn = Connection(self.handler)
            self.connections.append(conn)
            if len(self.connections) > 8:  # forget closed ones; a client keeps one or two
                self.connections = [c for c in self.connections if c.transport is not None]
            return conn

        if sock is not None:
            self.server = await loop.create_server(factory, sock=sock)
        else:
            self.server = await loop.create_server(factory, host, port, backlog=16)
        bound = self.server.sockets[0].getsockname()
        return bound[0], bound[1]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in self.connections:
            conn.close()
        self.connections = []
