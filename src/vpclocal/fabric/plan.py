"""The plan: the kernel state the fabric should have, as plain data.

The compiler (compiler.py) makes it from a Topology and the reconciler (reconciler.py)
converges the kernel to it: one router namespace per VPC with its nftables table and policy
routing (RouterPlan), one namespace per ENI and the veth pair to its router (EniPlan), the
internet namespace's routes to public addresses, and the links of peering connections.
Nothing here reads records or touches the kernel. Beside the data: the names that resources
take in the kernel (nftables identifiers, interface names), and address spans, the unit the
compiler's parts share (route intervals, rule regions, a gateway's destinations).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

TABLE = "vpc"
# sysctls of each kind of namespace (written by the agent when it creates one)
ROUTER_SYSCTL = {
    "net.ipv4.ip_forward": 1,
    "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.default.send_redirects": 0,
    "net.ipv4.conf.all.rp_filter": 0,  # nftables checks sources (IPv4 conf is inherited
    "net.ipv4.conf.default.rp_filter": 0,  # from the host's, whatever it is)
    "net.ipv6.conf.all.disable_ipv6": 1,
    "net.ipv6.conf.default.disable_ipv6": 1,
}
# eth0: IPv4 only (lo keeps ::1); an ENI forwards what a route sends it (a middlebox: the
# router decides whether it may, by its source/destination check), without redirects
ENI_SYSCTL = {"net.ipv6.conf.default.disable_ipv6": 1, "net.ipv4.ip_forward": 1,
              "net.ipv4.conf.all.send_redirects": 0, "net.ipv4.conf.default.send_redirects": 0}


@dataclass(frozen=True)
class EniPlan:
    """One ENI: its namespace, and the veth pair to its VPC's router."""

    id: str
    vpc: str
    port: str  # the router-side interface (eth0 on the ENI side)
    group: int  # the port's interface group: its subnet's network address
    gateway: str  # the router on the subnet: base + 1
    addresses: tuple[str, ...]  # "10.0.1.5/24", primary first
    mac: str | None = None
    kind: str = "eni"  # or "nat": a NAT gateway's interface (forwards, masquerades)


@dataclass(frozen=True)
class NftSet:
    name: str
    spec: str  # "type ipv4_addr; flags interval;" or "type ifname : verdict;"
    elements: tuple[str, ...] = ()


@dataclass(frozen=True)
class NftChain:
    name: str
    rules: tuple[str, ...] = ()
    hook: str | None = None  # "type filter hook forward priority 0; policy accept;"


@dataclass
class RouterPlan:
    """One VPC router: its nftables table (links and routes follow from the ENIs)."""

    vpc: str
    sets: dict[str, NftSet] = field(default_factory=dict)
    chains: dict[str, NftChain] = field(default_factory=dict)
    flow_logs: bool = False  # the router also has the flow log table (flowlogs.py)
    resolver: tuple[str, ...] = ()  # the VPC resolver's addresses, on the router's lo (dns.py)
    # policy routing: a mark (also the routing table's number) -> where that table sends
    # everything: ("internet",) the uplink; ("eni", port, address) a NAT gateway's
    # namespace; ("peer", port, vpc) the peer router over a peering connection's link
    tables: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def ruleset(self) -> str:
        """The whole table as `nft -f` text (declarations first, so references resolve)."""
        out = [f"table ip {TABLE} {{"]
        for c in self.chains.values():  # chains first: interval maps may name them
            out.append(f"  chain {c.name} {{ {c.hook or ''} }}")
        for s in self.sets.values():
            out.append(f"  {'map' if ' : ' in s.spec else 'set'} {s.name} {{ {s.spec} }}")
        out.append("}")
        for s in self.sets.values():
            if s.elements:
                out.append(element_text(s))
        for c in self.chains.values():
            out.extend(f"add rule ip {TABLE} {c.name} {r}" for r in c.rules)
        return "\n".join(out) + "\n"


@dataclass
class Plan:
    routers: dict[str, RouterPlan] = field(default_factory=dict)
    enis: dict[str, EniPlan] = field(default_factory=dict)
    internet: dict[str, str] = field(default_factory=dict)  # public address -> its router
    peerings: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # pcx -> port, a, b

    def update(self, other: Plan) -> None:
        """Add another region's plan (VPC, ENI, peering ids and public addresses are unique
        across regions)."""
        self.routers.update(other.routers)
        self.enis.update(other.enis)
        self.internet.update(other.internet)
        self.peerings.update(other.peerings)


def element_text(s: NftSet) -> str:
    return f"add element ip {TABLE} {s.name} {{ {', '.join(s.elements)} }}"



# ---- names ----------------------------------------------------------------------------------


def nft_name(ident: str) -> str:
    """An nftables identifier for a resource id (sg-0ab… -> sg_0ab…)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", ident)


def port_name(eni_id: str) -> str:
    """The router-side interface of an ENI: 15 characters at most (IFNAMSIZ)."""
    tail = eni_id.split("-", 1)[-1]
    if not tail.isalnum():
        tail = hashlib.sha1(eni_id.encode()).hexdigest()
    return "e" + tail[-14:]


# ---- address spans ---------------------------------------------------------------------------


ALL = 0xFFFFFFFF  # the last address: a span (lo, hi) is inclusive


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans as the fewest disjoint ones, in order (touching spans join)."""
    out: list[list[int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]
