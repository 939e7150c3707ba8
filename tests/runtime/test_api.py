"""The Runtime API listener over raw sockets: routes, statuses, headers, keep-alive."""

from __future__ import annotations

import asyncio
import socket

from vpclocal.runtime.api import RuntimeApi


class Stub:
    def __init__(self) -> None:
        self.parked = []
        self.results = []
        self.init_errors = []
        self.ready = False

    def on_next(self, conn) -> None:
        self.parked.append(conn)

    def on_result(self, request_id, body, error_type) -> bool:
        self.results.append((request_id, body, error_type))
        return request_id == "known"

    def on_init_error(self, error_type, body) -> bool:
        if self.ready:
            return False
        self.init_errors.append((error_type, body))
        return True


async def exchange(writer, reader, request: bytes) -> tuple[bytes, dict, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    body = await reader.readexactly(int(headers.get("Content-Length", 0)))
    return status.encode(), headers, body


def run(body):
    async def main():
        stub = Stub()
        api = RuntimeApi(stub)
        host, port = await api.listen()
        reader, writer = await asyncio.open_connection(host, port)
        try:
            return await body(stub, api, reader, writer)
        finally:
            writer.close()
            api.close()
    return asyncio.run(main())


def test_next_is_answered_when_an_invocation_comes():
    async def body(stub, api, reader, writer):
        writer.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(100):
            if stub.parked:
                break
            await asyncio.sleep(0.01)
        conn = stub.parked[0]
        sock = conn.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        conn.deliver({"Lambda-Runtime-Aws-Request-Id": "known",
                      "Lambda-Runtime-Deadline-Ms": "123"}, b'{"a": 1}')
        head = await reader.readuntil(b"\r\n\r\n")
        return head, await reader.readexactly(8)

    head, event = run(body)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: application/json\r\n" in head  # awslambdaric crashes without it
    assert b"Lambda-Runtime-Aws-Request-Id: known\r\n" in head
    assert b"Lambda-Runtime-Deadline-Ms: 123\r\n" in head
    assert event == b'{"a": 1}'


def test_results_errors_and_init_errors_on_one_connection():
    async def body(stub, api, reader, writer):
        answers = [await exchange(writer, reader, request) for request in (
            (b"POST /2018-06-01/runtime/invocation/known/response HTTP/1.1\r\n"
            b"Content-Length: 4\r\n\r\n\"ok\""),
            (b"POST /2018-06-01/runtime/invocation/other/response HTTP/1.1\r\n"
            b"Content-Length: 2\r\n\r\n{}"),
            (b"POST /2018-06-01/runtime/invocation/known/error HTTP/1.1\r\n"
            b"Lambda-Runtime-Function-Error-Type: Custom.Failure\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n"),
            (b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"
            b"Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n"
            b"Content-Length: 2\r\n\r\n{}"),
            b"GET /2018-06-01/runtime/nowhere HTTP/1.1\r\n\r\n",
        )]
        stub.ready = True
        late = await exchange(writer, reader, b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"
                                              b"Content-Length: 0\r\n\r\n")
        return stub, answers + [late]

    stub, answers = run(body)
    statuses = [status for status, _, _ in answers]
    assert statuses == [b"HTTP/1.1 202 Accepted", b"HTTP/1.1 400 Bad Request",
                        b"HTTP/1.1 202 Accepted", b"HTTP/1.1 202 Accepted",
                        b"HTTP/1.1 404 Not Found", b"HTTP/1.1 403 Forbidden"]
    assert answers[0][2] == b'{"status":"OK"}'
    assert b"InvalidRequestID" in answers[1][2]
    assert stub.results == [("known", b'"ok"', None), ("other", b"{}", None),
                            ("known", b'{"a":1}', "Custom.Failure")]
    assert stub.init_errors == [("Runtime.ImportModuleError", b"{}")]


def test_expect_100_continue():
    async def body(stub, api, reader, writer):
        writer.write(b"POST /2018-06-01/runtime/invocation/known/response HTTP/1.1\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        interim = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"{}")
        final = await reader.readuntil(b"\r\n\r\n")
        return interim, final

    interim, final = run(body)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 202 Accepted")


def test_connection_close_is_honoured():
    async def body(stub, api, reader, writer):
        status, headers, _ = await exchange(
            writer, reader, b"POST /2018-06-01/runtime/invocation/known/response HTTP/1.0\r\n"
                            b"Content-Length: 2\r\n\r\n{}")
        return status, headers, await reader.read()

    status, headers, rest = run(body)
    assert status == b"HTTP/1.1 202 Accepted" and headers["Connection"] == "close"
    assert rest == b""
