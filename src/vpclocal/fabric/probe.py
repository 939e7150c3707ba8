"""A traffic probe that runs inside the sandbox (spawned by the agent; stdlib only).

It opens sockets in any of the sandbox's network namespaces (a socket stays in the namespace
it was created in, so one process can listen in many ENIs and connect from many others) and
answers JSON lines on stdin/stdout:

    {"op": "listen", "ns": 7, "ports": [80, 443], "udp": false}   -> {}
        (udp: datagram sockets that echo what they get, while a `connect` runs)
    {"op": "reset"}                    (close listeners, forget namespaces) -> {}
    {"op": "connect", "timeout": 0.3,
     "flows": [[src_ns, src_port, "10.0.2.4", 80], ...],
     "protos": ["tcp", ...]}                                      -> {"ok": [true, ...]}
        (a flow may name its source address too: [src_ns, src_port, ip, port, src_ip]; a
        protocol per flow, tcp by default: tcp opens a connection, udp gets its datagram
        echoed, icmp gets an echo reply to an echo request whose identifier is src_port)
    {"op": "latency", "ns": 7, "ip": "10.0.2.4", "port": 80, "count": 2000, "source": null}
                                                                  -> {"us": [...]}
    {"op": "throughput", "ns": 7, "sink_ns": 8, "ip": "10.0.2.4", "port": 5001,
     "bytes": 1000000000}                                         -> {"bits_per_second": ...}

Namespaces are the agent's descriptors (the agent is PID 1: /proc/1/fd/N). Probe (below) is
the server-side handle: `with Probe(sandbox) as p: p.call("listen", ns=..., ports=[80])`.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import socket
import struct
import sys
import time
from typing import Self

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_root = -1  # the probe's own namespace (opened in main)
_spaces: dict[int, int] = {}
_listeners: list[socket.socket] = []
_echoes: list[socket.socket] = []  # UDP listeners: they echo each datagram back
_NO_LINGER = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT, ports reusable at once


def _enter(ns: int | None) -> None:
    fd = _root
    if ns is not None:
        if ns not in _spaces:
            _spaces[ns] = os.open(f"/proc/1/fd/{ns}", os.O_RDONLY)
        fd = _spaces[ns]
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def socket_in(ns: int | None, kind=socket.SOCK_STREAM) -> socket.socket:
    _enter(ns)
    try:
        return socket.socket(socket.AF_INET, kind)
    finally:
        _enter(None)


def op_listen(ns: int, ports: list[int], udp: bool = False) -> dict:
    for port in ports:
        s = socket_in(ns, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.setblocking(False)
        if udp:  # answers from the address it was sent to (the internet namespace has many)
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            _echoes.append(s)
        else:
            s.listen(1024)
            _listeners.append(s)
    return {}


def op_reset() -> dict:
    """Close every listener and forget every namespace (the agent reuses descriptor numbers:
    after the fabric changes, a number may name another namespace)."""
    for s in [*_listeners, *_echoes]:
        s.close()
    _listeners.clear()
    _echoes.clear()
    for fd in _spaces.values():
        os.close(fd)
    _spaces.clear()
    return {}


def _drain() -> None:
    for s in _listeners:
        while True:
            try:
                conn, _ = s.accept()
            except (BlockingIOError, InterruptedError):
                break
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
            conn.close()


ICMP_ECHO, ICMP_ECHO_REPLY = 8, 0
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _echo_request(ident: int, seq: int) -> bytes:
    body = b"vpclocal-probe"
    head = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, _checksum(head + body), ident, seq) + body


def _is_reply(packet: bytes, ident: int, ip: str) -> bool:
    """An echo reply (after its IP header, as a raw socket reads it) from ip to ident."""
    start = (packet[0] & 0x0F) * 4
    kind, _code, _sum, got = struct.unpack("!BBHH", packet[start:start + 6])
    return kind == ICMP_ECHO_REPLY and got == ident and socket.inet_ntoa(packet[12:16]) == ip


def _datagram(i: int, ns, sport: int, ip: str, port: int, source: list, proto: str
              ) -> socket.socket:
    """A UDP datagram or an ICMP echo request on its way; its socket reads the answer."""
    if proto == "udp":
        s = socket_in(ns, socket.SOCK_DGRAM)
    else:
        _enter(ns)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        finally:
            _enter(None)
    try:
        if proto == "udp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((source[0] if source else "0.0.0.0", sport))
            s.connect((ip, port))  # only the destination's answer is read
            s.setblocking(False)
            s.send(b"probe %d" % i)
        else:
            if source:
                s.bind((source[0], 0))
            s.setblocking(False)
            s.sendto(_echo_request(sport & 0xFFFF, i & 0xFFFF), (ip, 0))
    except OSError:
        s.close()
        raise
    return s


def op_connect(flows: list, timeout: float = 0.3, protos: list | None = None) -> dict:
    """Try every flow at once; ok when, within the timeout, the TCP handshake completes, the
    UDP datagram comes back echoed, or the ICMP echo is answered."""
    sel = selectors.DefaultSelector()
    socks = []
    ok = [False] * len(flows)
    protos = protos or ["tcp"] * len(flows)
    for s in _echoes:
        sel.register(s, selectors.EVENT_READ, None)
    waiting = 0
    for i, (ns, sport, ip, port, *source) in enumerate(flows):
        if protos[i] != "tcp":
            try:
                s = _datagram(i, ns, sport, ip, port, source, protos[i])
            except OSError:  # refused on the way out (e.g. EPERM: dropped where it was sent)
                continue
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, (i, protos[i], ip, sport & 0xFFFF))
            waiting += 1
            continue
        s = socket_in(ns)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        if sport or source:
            s.bind((source[0] if source else "0.0.0.0", sport))
        s.setblocking(False)
        err = s.connect_ex((ip, port))
        socks.append(s)
        if err == 0:
            ok[i] = True
        elif err == 115:  # EINPROGRESS
            sel.register(s, selectors.EVENT_WRITE, (i, "tcp", ip, 0))
            waiting += 1
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(left):
            sock = key.fileobj
            if key.data is None:  # a UDP listener: echo what came, from where it went
                try:
                    data, ancillary, _flags, peer = sock.recvmsg(2048, socket.CMSG_SPACE(12))
                    sock.sendmsg([data], [(level, kind, info) for level, kind, info in ancillary
                                          if kind == IP_PKTINFO], 0, peer)
                except OSError:
                    pass
                continue
            i, proto, ip, ident = key.data
            if proto == "tcp":
                ok[i] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            else:
                try:
                    data = sock.recv(2048)
                except OSError:  # e.g. an ICMP error for the datagram: no answer
                    data = None
                if data is not None and proto == "icmp" and not _is_reply(data, ident, ip):
                    continue  # another flow's ICMP (raw sockets see every one)
                ok[i] = data is not None
            sel.unregister(sock)
            waiting -= 1
    sel.close()
    for s in socks:
        s.close()
    _drain()
    return {"ok": ok}


def op_latency(ns: int, ip: str, port: int, count: int = 1000, source: str | None = None
               ) -> dict:
    """Blocking connect() times in microseconds (the listener must be in this process),
    from `source` when given (an internet host's address)."""
    times = []
    for _ in range(count):
        s = socket_in(ns)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        if source:
            s.bind((source, 0))
        t = time.perf_counter()
        s.connect((ip, port))
        times.append((time.perf_counter() - t) * 1e6)
        s.close()
        _drain()
    return {"us": times}


def op_throughput(ns: int, sink_ns: int, ip: str, port: int, bytes: int = 1 << 30,
                  source: str | None = None) -> dict:
    """Bulk TCP from ns to a sink process in sink_ns; time until the sink has it all."""
    lsock = socket_in(sink_ns)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(1)
    pid = os.fork()
    if pid == 0:  # the sink: read everything, then answer one byte
        try:
            conn, _ = lsock.accept()
            buf = bytearray(1 << 20)
            while conn.recv_into(buf):
                pass
            conn.sendall(b"k")
        finally:
            os._exit(0)
    lsock.close()
    s = socket_in(ns)
    if source:
        s.bind((source, 0))
    s.connect((ip, port))
    chunk = b"\0" * (1 << 20)
    t = time.perf_counter()
    sent = 0
    while sent < bytes:
        s.sendall(chunk)
        sent += len(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    seconds = time.perf_counter() - t
    s.close()
    os.waitpid(pid, 0)
    return {"bits_per_second": sent * 8 / seconds, "seconds": seconds}


def main() -> None:
    global _root
    _root = os.open("/proc/self/ns/net", os.O_RDONLY)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = globals()["op_" + req.pop("op")](**req)
        except Exception as exc:  # noqa: BLE001 - the caller sees the error, the probe lives on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()


class Probe:
    """Runs this file inside a sandbox and talks to it."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.pid: int | None = None

    def __enter__(self) -> Self:
        to_probe, self._w = os.pipe()
        self._r, from_probe = os.pipe()
        try:
            self.pid = self.sandbox.spawn([sys.executable, "-I", os.path.abspath(__file__)],
                                          stdin=to_probe, stdout=from_probe)
        finally:
            os.close(to_probe)
            os.close(from_probe)
        self._out = os.fdopen(self._w, "w")
        self._in = os.fdopen(self._r)
        return self

    def call(self, op: str, **args) -> dict:
        self._out.write(json.dumps(dict(args, op=op)) + "\n")
        self._out.flush()
        line = self._in.readline()
        if not line:
            raise RuntimeError("the probe exited")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"probe {op}: {reply['error']}")
        return reply

    def __exit__(self, *exc) -> None:
        self._out.close()
        self._in.close()
        if self.pid is not None:
            try:
                self.sandbox.kill(self.pid)
                self.sandbox.wait(self.pid)
            except Exception:  # noqa: BLE001,S110 - the sandbox may already be gone
                pass
