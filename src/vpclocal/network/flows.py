"""Flows: what the caller asks about, resolved to endpoints in the model.

A source or destination may be a resource id (eni-, nat-, igw-, vpce-, pl-), "internet", an
IPv4 address, or a hostname that the caller's resolver hook maps to an address (vpclocal
maps function:/rds:/cache: names to interfaces before calling the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import types as T
from .addr import DEFAULT_INTERNET_HOST, cidr, ip, ip_str, is_ip, is_private
from .index import Index
from .rules import (
    ANY,
    ICMP,
    ICMP_REPLY_TYPE,
    PORTED,
    flow_classes,
    icmp_value,
    proto_name,
    proto_number,
)

Resolver = Callable[[str], "str | None"]

EPHEMERAL = (1024, 65535)  # the client port range AWS documents for Lambda and NAT gateways


class UnknownComponentError(ValueError):
    """A source or destination that names nothing in the topology."""


@dataclass(slots=True)
class Endpoint:
    kind: str  # eni | nat | internet | service | dns | address
    id: str
    ip: int | None  # for an ENI/NAT destination: None until the address is chosen
    vpc: str | None = None
    subnet: str | None = None
    groups: frozenset[str] = frozenset()
    public: int | None = None  # an ENI's public IPv4 address / EIP
    fixed: bool = False  # the caller named the address (do not choose private/public)
    igw: str | None = None  # internet endpoints: the internet gateway named by the caller
    via: str | None = None  # a gateway endpoint the caller named as destination
    candidates: list[str] = field(default_factory=list)  # interface endpoint ENIs

    @property
    def component_type(self) -> str:
        return {
            "eni": T.NETWORK_INTERFACE,
            "nat": T.NAT_GATEWAY,
            "internet": T.INTERNET_GATEWAY if self.igw else T.INTERNET,
            "service": T.VPC_ENDPOINT if self.via else T.AWS_SERVICE,
            "dns": T.AMAZON_DNS,
            "address": T.ADDRESS,
        }[self.kind]

    def describe(self) -> dict:
        out = {"id": self.id, "type": self.component_type}
        if self.ip is not None:
            out["address"] = ip_str(self.ip)
        if self.vpc:
            out["vpc_id"] = self.vpc
        if self.subnet:
            out["subnet_id"] = self.subnet
        return out


@dataclass(slots=True)
class Flow:
    """The traffic of one analysis, as rule-matching classes (see rules.py)."""

    protocol: int
    port: int | None
    classes: tuple[tuple[int, int, int], ...]
    reply_classes: tuple[tuple[int, int, int], ...]
    source_ports: tuple[int, int]
    destination_ports: tuple[int, int]

    @property
    def protocol_name(self) -> str:
        return proto_name(self.protocol)


def make_flow(
    protocol: str | int,
    port: int | None,
    source_port: int | tuple[int, int] | None = None,
    icmp_type: int = 8,
    icmp_code: int = 0,
) -> Flow:
    proto = proto_number(protocol)
    if source_port is None:
        sports = EPHEMERAL
    elif isinstance(source_port, tuple):
        sports = (int(source_port[0]), int(source_port[1]))
    else:
        sports = (int(source_port), int(source_port))
    if proto in (6, 17):
        if port is None:
            raise ValueError("a destination port is required for tcp and udp")
        port = int(port)
        if not 0 <= port <= 65535:
            raise ValueError(f"invalid port {port}")
        classes = flow_classes(proto, port, port)
        reply = flow_classes(proto, *sports)
        dports = (port, port)
    elif proto == ICMP:
        value = icmp_value(icmp_type, icmp_code)
        answer = icmp_value(ICMP_REPLY_TYPE.get(icmp_type, icmp_type), icmp_code)
        classes = flow_classes(proto, value, value)
        reply = flow_classes(proto, answer, answer)
        dports = (value, value)
        sports = (answer, answer)
        port = None
    else:
        classes = reply = flow_classes(proto, 0, 0)
        dports = (0, 65535) if proto == ANY else (0, 0)
        port = None
    if proto not in PORTED:
        sports = dports
    return Flow(proto, port, classes, reply, sports, dports)


def _lookup_id(index: Index, spec: str, as_destination: bool) -> Endpoint | None:
    t = index.topo
    if spec in t.network_interfaces:
        eni = t.network_interfaces[spec]
        owner = index.owner_in_vpc(eni.get("VpcId", ""), index.eni_ip.get(spec, -1))
        if owner is not None and owner[0] == "nat":
            return _lookup_id(index, owner[1], as_destination)  # a NAT gateway's interface
        return Endpoint(
            "eni",
            spec,
            index.eni_ip.get(spec),
            eni.get("VpcId"),
            eni.get("SubnetId"),
            index.eni_groups.get(spec, frozenset()),
            index.public_of.get((eni.get("VpcId", ""), index.eni_ip.get(spec, -1))),
        )
    if spec in t.nat_gateways:
        nat = t.nat_gateways[spec]
        private = index.nat_ip.get(spec)
        return Endpoint(
            "nat",
            spec,
            private,
            nat.get("VpcId"),
            nat.get("SubnetId"),
            public=index.public_of.get((nat.get("VpcId", ""), private if private else -1)),
        )
    if spec in t.internet_gateways:
        return Endpoint("internet", spec, ip(DEFAULT_INTERNET_HOST), igw=spec, fixed=True)
    if spec in t.vpc_endpoints and as_destination:
        ep = t.vpc_endpoints[spec]
        if str(ep.get("VpcEndpointType", "Gateway")).lower() == "gateway":
            pl = index.pl_by_name.get(ep.get("ServiceName", ""))
            blocks = index.pl_blocks.get(pl or "", [])
            if not blocks:
                raise UnknownComponentError(
                    f"no prefix list for the service {ep.get('ServiceName')!r} of {spec}"
                )
            net, _m, plen = blocks[0]
            host = net + 1 if plen < 31 else net
            return Endpoint("service", spec, host, ep.get("VpcId"), via=spec, fixed=True)
        enis = [e for e in ep.get("NetworkInterfaceIds") or () if e in t.network_interfaces]
        if not enis:
            raise UnknownComponentError(f"{spec} has no network interfaces")
        found = _lookup_id(index, enis[0], True)
        assert found is not None
        found.candidates = enis
        return found
    if spec in t.prefix_lists and as_destination:
        blocks = index.pl_blocks.get(spec, [])
        if not blocks:
            raise UnknownComponentError(f"prefix list {spec} has no entries")
        net, _m, plen = blocks[0]
        return Endpoint("service", spec, net + 1 if plen < 31 else net, fixed=True)
    return None


def _from_address(index: Index, address: int, near_vpc: str | None) -> Endpoint:
    owner = index.public_owner.get(address)
    if owner is not None:
        vpc, private = owner
        kind_id = index.owner_in_vpc(vpc, private)
        if kind_id and kind_id[0] in ("eni", "nat"):
            ep = _lookup_id(index, kind_id[1], True)
            assert ep is not None
            ep.ip, ep.fixed = address, True
            return ep
    if is_private(address):
        vpcs = index.vpc_of_address(address)
        if near_vpc in vpcs:
            vpcs.remove(near_vpc)
            vpcs.insert(0, near_vpc)
        for vpc in vpcs:
            kind_id = index.owner_in_vpc(vpc, address)
            if kind_id is None:
                continue
            kind, ident = kind_id
            if kind == "dns":
                return Endpoint("dns", f"amazon-dns ({vpc})", address, vpc, fixed=True)
            ep = _lookup_id(index, ident, True)
            assert ep is not None
            ep.ip, ep.fixed = address, True
            return ep
        vpc = vpcs[0] if vpcs else None
        subnet = index.subnet_for(vpc, address) if vpc else None
        return Endpoint("address", ip_str(address), address, vpc, subnet, fixed=True)
    pl = index.service_prefix_list(address)
    if pl is not None:
        return Endpoint("service", ip_str(address), address, fixed=True)
    return Endpoint("internet", ip_str(address), address, fixed=True)


def resolve(
    index: Index,
    spec: str,
    *,
    as_destination: bool,
    resolver: Resolver | None = None,
    near_vpc: str | None = None,
) -> Endpoint:
    """Turn a caller's source/destination into an Endpoint. Raises UnknownComponentError."""
    spec = spec.strip()
    if spec.lower() == "internet":
        return Endpoint("internet", "internet", ip(DEFAULT_INTERNET_HOST), fixed=True)
    found = _lookup_id(index, spec, as_destination)
    if found is not None:
        return found
    if is_ip(spec):
        return _from_address(index, ip(spec), near_vpc)
    if "/" in spec:
        try:
            net, _m, _p = cidr(spec)
        except ValueError:
            pass
        else:
            return _from_address(index, net, near_vpc)
    prefix = spec.split("-", 1)[0]
    if prefix in ("eni", "nat", "igw", "vpce", "pl", "subnet", "vpc", "sg", "rtb", "acl", "pcx"):
        raise UnknownComponentError(f"unknown or unsupported component {spec!r}")
    if resolver is not None:
        address = resolver(spec)
        if address:
            return _from_address(index, ip(address), near_vpc)
    raise UnknownComponentError(f"cannot resolve {spec!r}")
