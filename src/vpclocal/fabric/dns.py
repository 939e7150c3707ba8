"""The VPC resolver (AmazonProvidedDNS): what a VPC's base + 2 and 169.254.169.253 answer.

Two halves:

- the names: network/zone.py (a Zone per VPC, from a store view; re-exported here).
- the server: serve(udp_sock, tcp_sock, lookup) answers queries on sockets that the fabric's
  agent bound inside a namespace (the service's event loop serves them: no process per VPC).
  `lookup(name)` returns an Answer, None (NXDOMAIN) or IGNORE (no reply at all: what a
  client of a VPC whose enableDnsSupport is false sees; it times out).

Answers carry a short TTL: 60 seconds, what AWS gives RDS endpoint records (their address
moves in a failover; the figure is unconfirmed against a live resolver here), for every
name: nothing here is meant to be cached longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from vpclocal.network.zone import (
    ENDPOINT_KINDS,
    IGNORE,
    VPCE_SUFFIX,
    Answer,
    Lookup,
    Result,
    Zone,
    declared_hosts,
    internal_domain,
    public_lookup,
    zone,
)

from .compiler import RESOLVER_PORT as PORT
from .compiler import resolver_addresses

log = logging.getLogger("vpclocal.fabric.dns")

__all__ = ["ENDPOINT_KINDS", "IGNORE", "PORT", "VPCE_SUFFIX", "Answer", "Lookup", "Responder",
           "Result", "Served", "Zone", "declared_hosts", "internal_domain", "public_lookup",
           "resolver_addresses", "respond", "serve", "zone"]

TTL = 60  # seconds: AWS's for RDS endpoint records (unconfirmed here), used for every name
TCP_IDLE = 10.0  # seconds a TCP client may keep an idle connection open


# ---- the wire -------------------------------------------------------------------------------


def respond(wire: bytes, lookup: Lookup, udp: bool = False) -> bytes | None:
    """The reply to one query message, or None for no reply."""
    return _respond(wire, lookup, udp)[0]


def _respond(wire: bytes, lookup: Lookup, udp: bool) -> tuple[bytes | None, str | None, Result]:
    """(reply, the name asked, the lookup's result): what Responder caches."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return _formerr(wire), None, None
    if query.flags & dns.flags.QR:
        return None, None, None  # a response: never answer those
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
        response.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY
                           else dns.rcode.FORMERR)
        return response.to_wire(), None, None
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True)
    result = lookup(name)
    if result is IGNORE:
        return None, name, result
    if result is None or question.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.NXDOMAIN)
    else:
        assert isinstance(result, Answer)
        rdtype = question.rdtype
        if result.addresses and rdtype in (dns.rdatatype.A, dns.rdatatype.ANY):
            response.answer.append(dns.rrset.from_text_list(
                question.name, TTL, dns.rdataclass.IN, dns.rdatatype.A, list(result.addresses)))
        elif result.ptr and rdtype in (dns.rdatatype.PTR, dns.rdatatype.ANY):
            response.answer.append(dns.rrset.from_text(
                question.name, TTL, dns.rdataclass.IN, dns.rdatatype.PTR, result.ptr + "."))
        # any other type of a known name (AAAA: the fabric is IPv4 only): NOERROR, no answer
    # UDP: 512 bytes, or the EDNS payload size the query offers
    limit = (max(512, query.payload) if query.edns >= 0 else 512) if udp else 65535
    try:
        return response.to_wire(max_size=limit), name, result
    except dns.exception.TooBig:
        response.answer.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(), name, result


class Responder:
    """respond() with its replies remembered: clients ask the same few names over and over
    (glibc caches nothing), and dnspython takes about 130 us to parse, answer and render one
    query. A query's bytes after its ID, asked again, get the same reply bytes (with the new
    ID) as long as the lookup still gives the same result."""

    SIZE = 4096

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.cache: dict[tuple[bytes, bool], tuple[str, Result, bytes | None]] = {}

    def __call__(self, wire: bytes, udp: bool = False) -> bytes | None:
        key = (wire[2:], udp)
        hit = self.cache.get(key)
        if hit is not None and len(wire) >= 12:
            name, result, tail = hit
            if self.lookup(name) == result:
                return None if tail is None else wire[:2] + tail
        reply, name, result = _respond(wire, self.lookup, udp)
        if name is not None:
            if len(self.cache) >= self.SIZE:
                self.cache.clear()
            self.cache[key] = (name, result, None if reply is None else reply[2:])
        return reply


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR for a message with a readable header; nothing for noise."""
    if len(wire) < 12:
        return None
    (ident, flags) = struct.unpack("!HH", wire[:4])
    if flags & 0x8000:
        return None
    flags = 0x8000 | (flags & 0x7900) | 0x0080 | dns.rcode.FORMERR  # QR, opcode+RD, RA
    return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)


# ---- the server -----------------------------------------------------------------------------


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            reply = self.responder(data, udp=True)
        except Exception:  # a bad query or a lookup bug must not stop the resolver
            log.exception("DNS query from %s failed", addr)
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc) -> None:  # e.g. ICMP unreachable for a reply: ignore
        pass


@dataclass
class Served:
    """Sockets being served; close() (on the serving loop's thread) stops and closes them."""

    transports: list = field(default_factory=list)
    servers: list = field(default_factory=list)

    def close(self) -> None:
        for transport in self.transports:
            transport.close()
        for server in self.servers:
            server.close()


async def serve(udp_sock, tcp_sock, lookup: Lookup) -> Served:
    """Answer DNS on a bound UDP socket and a listening TCP socket (either may be None)."""
    loop = asyncio.get_running_loop()
    served = Served()
    responder = Responder(lookup)
    if udp_sock is not None:
        udp_sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(responder),
                                                           sock=udp_sock)
        served.transports.append(transport)
    if tcp_sock is not None:
        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _tcp_client(reader, writer, responder)
        served.servers.append(await asyncio.start_server(client, sock=tcp_sock))
    return served


async def _tcp_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      responder: Responder) -> None:
    """Length-prefixed messages (RFC 1035 4.2.2) until the client closes or idles."""
    try:
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
            wire = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]),
                                          TCP_IDLE)
            reply = responder(wire)
            if reply is None:
                continue
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, TimeoutError, OSError):
        pass
    except Exception:
        log.exception("DNS over TCP failed")
    finally:
        with contextlib.suppress(Exception):
            writer.close()
