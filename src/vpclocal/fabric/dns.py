"""The VPC resolver (AmazonProvidedDNS): what a VPC's base + 2 and 169.254.169.253 answer.

Two halves:

- the names: zone(view, vpc_id) reads one region's records into the Zone that VPC's resolver
  answers from, and Zone.lookup(name) answers one name. Pure functions over a store view:
  the RDS instance / RDS Proxy / ElastiCache endpoints (any record of ENDPOINT_KINDS with
  `_Hostname` and `_Address`: its ENI's private address, from every VPC, as their public
  Route 53 records do on AWS), interface VPC endpoints (their vpce names from every VPC, and,
  with private DNS, the service's own name from their VPC), `ip-a-b-c-d.ec2.internal` (or
  `.<region>.compute.internal`) for the VPC's addresses and their PTR records, and the public
  names of the simulated internet (network/names.py). Anything else is NXDOMAIN: the
  simulated internet has no other names.
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
import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from vpclocal.network.names import ec2_internal_address, public_address

from .compiler import RESOLVER_PORT as PORT
from .compiler import resolver_addresses

log = logging.getLogger("vpclocal.fabric.dns")

__all__ = ["IGNORE", "PORT", "Answer", "Responder", "Served", "Zone", "internal_domain", "public_lookup",
           "resolver_addresses", "respond", "serve", "zone"]

TTL = 60  # seconds: AWS's for RDS endpoint records (unconfirmed here), used for every name
TCP_IDLE = 10.0  # seconds a TCP client may keep an idle connection open
# Store kinds whose records name an endpoint: `_Hostname` -> `_Address` (services/rds,
# services/elasticache).
ENDPOINT_KINDS = ("db_instances", "db_proxies", "cache_clusters")
VPCE_SUFFIX = ".vpce.amazonaws.com"
GLOBAL = "global"  # the store scope of internet_hosts


def internal_domain(region: str) -> str:
    """The domain of private hostnames, and the search domain EC2 writes in resolv.conf."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def _name(text: str) -> str:
    return text.lower().rstrip(".")


# ---- the names -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    addresses: tuple[str, ...] = ()  # A records
    ptr: str | None = None  # a PTR record's target


class _Ignore:
    def __repr__(self) -> str:
        return "IGNORE"


IGNORE = _Ignore()  # lookup result: send no reply
Result = Answer | None | _Ignore
Lookup = Callable[[str], Result]


@dataclass
class Zone:
    """What one VPC's resolver answers (see zone())."""

    enabled: bool = True
    domain: str = "ec2.internal"
    networks: tuple[ipaddress.IPv4Network, ...] = ()  # the VPC's CIDR blocks
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    wildcards: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "*.x": under "x"
    declared: dict[str, str] = field(default_factory=dict)  # internet_hosts

    def lookup(self, name: str) -> Result:
        if not self.enabled:
            return IGNORE
        name = _name(name)
        if name.endswith(".in-addr.arpa"):
            return self._reverse(name)
        found = self.names.get(name)
        if found is None:
            labels = name.split(".")
            for i in range(1, len(labels)):
                found = self.wildcards.get(".".join(labels[i:]))
                if found is not None:
                    break
        if found is not None:
            return Answer(found)
        address = self._internal(name)
        if address is not None:
            return Answer((address,))
        address = public_address(name, self.declared)
        return Answer((address,)) if address is not None else None

    def _in_vpc(self, address: str) -> bool:
        value = ipaddress.IPv4Address(address)
        return any(value in net for net in self.networks)

    def _internal(self, name: str) -> str | None:
        """ip-a-b-c-d.<domain> for an address in the VPC's CIDR blocks (AWS answers these
        names for its VPC's addresses, used or not; not for another region's domain)."""
        if not name.endswith("." + self.domain) or name.count(".") != self.domain.count(".") + 1:
            return None
        address = ec2_internal_address(name)
        return address if address is not None and self._in_vpc(address) else None

    def _reverse(self, name: str) -> Result:
        parts = name[:-len(".in-addr.arpa")].split(".")
        try:
            address = str(ipaddress.IPv4Address(".".join(reversed(parts))))
        except ValueError:
            return None
        if not self._in_vpc(address):
            return None
        return Answer(ptr=f"ip-{address.replace('.', '-')}.{self.domain}")


def declared_hosts(view) -> dict[str, str]:
    """The user's public hosts (store scope "global", kind "internet_hosts")."""
    return {_name(h["Name"]): h["Address"] for h in view.all("internet_hosts", GLOBAL).values()
            if h.get("Name") and h.get("Address")}


def zone(view, vpc_id: str) -> Zone | None:
    """The zone of a VPC's resolver, from a view of the VPC's region (None: no such VPC)."""
    vpc = view.get("vpcs", vpc_id)
    if vpc is None:
        return None
    blocks = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet") or ()
              if (a.get("CidrBlockState") or {}).get("State") in ("associated", "associating")]
    z = Zone(enabled=bool(vpc.get("_EnableDnsSupport", True)),
             domain=internal_domain(view.scope),
             networks=tuple(ipaddress.IPv4Network(c) for c in blocks or [vpc["CidrBlock"]]),
             declared=declared_hosts(view))
    names: dict[str, list[str]] = {}

    def add(name: str, addresses) -> None:
        name = _name(name)
        if name.startswith("*."):
            # a wildcard's own name too (S3's private DNS covers s3.<region>.amazonaws.com)
            z.wildcards[name[2:]] = (*z.wildcards.get(name[2:], ()), *addresses)
            name = name[2:]
        names.setdefault(name, []).extend(a for a in addresses if a not in names.get(name, ()))

    for kind in ENDPOINT_KINDS:
        for record in view.all(kind).values():
            if record.get("_Hostname") and record.get("_Address"):
                add(record["_Hostname"], [record["_Address"]])
    for endpoint in view.all("vpc_endpoints").values():
        if endpoint.get("VpcEndpointType") != "Interface":
            continue
        addresses = []
        for eni_id in endpoint.get("NetworkInterfaceIds") or ():
            eni = view.get("network_interfaces", eni_id)
            if eni is not None and eni.get("PrivateIpAddress"):
                addresses.append(eni["PrivateIpAddress"])
        for entry in endpoint.get("DnsEntries") or ():
            dns_name = _name(entry.get("DnsName") or "")
            # vpce names are public records; the service's own name is private to the VPC
            if dns_name.endswith(VPCE_SUFFIX) or endpoint.get("VpcId") == vpc_id:
                add(dns_name, addresses)
    z.names = {name: tuple(addresses) for name, addresses in names.items() if addresses}
    return z


def public_lookup(declared: Callable[[], dict[str, str]]) -> Lookup:
    """Public names only (a network without a VPC, such as the Lambda service network's):
    `declared()` returns the user's public hosts at the time of each query."""
    def lookup(name: str) -> Result:
        address = public_address(name, declared())
        return Answer((address,)) if address is not None else None
    return lookup


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
