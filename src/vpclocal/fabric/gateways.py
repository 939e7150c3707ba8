"""Gateway targets: where a router sends what a route to a gateway carries.

A route table's gateway target (compiler.flatten_routes gives it as a token "<kind> <id>")
leads to a chain of the router's, which checks what the target may carry and marks the packet
for a policy routing table of its own (RouterPlan.tables). The checks are the engine's
(engine.py via_igw, via_nat, via_peering, via_endpoint); what a target cannot carry is
dropped, like a blackhole. Targets makes each chain when a route table first uses it:

- internet gateway (attached, public destinations): only from an address with a public IP
  or Elastic IP; out by the uplink to the internet namespace, the source rewritten to the
  public address in postrouting (the compiler's `egress`). In from the internet,
  `from_internet` rewrites a public destination to its private address, then the subnet's
  inbound ACL applies. The 1:1 NAT is stateless, as the IGW is: TCP stays untracked.
- NAT gateway: through its subnet's inbound ACL (from another subnet) to its interface's
  namespace, which masquerades (NAT_RULESET) and sends the packet back from its own
  address: the router then treats it as from the NAT gateway's interface (its subnet's
  outbound ACL and route table; to the internet only by an IGW route, from its EIP). The
  reply comes back the same way; the NAT gateway's conntrack, not the router's, holds it.
- peering connection (active, the peer's CIDRs): over the link to the peer router
  (peering_links), where `classify` sends what arrives on a peering link to the destination
  subnet's inbound ACL.
- gateway endpoint: to the internet namespace (the service's addresses), masqueraded to the
  router's uplink address: tracked, the one TCP traffic the router tracks; the reply, once
  conntrack has translated it back, meets the subnet's inbound ACL (`endpoint_in`).
- network interface (a middlebox: a firewall or NAT instance): through its subnet's inbound
  ACL (from another subnet) to its namespace, which forwards (ENI namespaces have
  ip_forward on) back to the router: there it comes in from the middlebox's port, with a
  source that is not the middlebox's own, so only an interface whose source/destination
  check is off passes the router's check; then the middlebox's subnet's outbound ACL and
  route table apply (engine.via_middlebox). Its security groups are the port's, as for any
  ENI: ingress on the way in, egress on the way out, for new connections.

Targets vpclocal does not model drop (compiler._route_verdict).
"""

from __future__ import annotations

import zlib

from vpclocal.network.addr import cidr_range, cidr_str, non_internet_blocks
from vpclocal.network.index import Index
from vpclocal.network.routing import ENI, IGW, NAT, PCX, VPCE
from vpclocal.network.topology import Topology

from .plan import ALL, EniPlan, NftChain, RouterPlan, merge, nft_name, port_name

GATEWAYS = (IGW, NAT, PCX, VPCE, ENI)  # the route target kinds Targets turns into verdicts
# Interfaces that are not plain endpoints: a NAT gateway's is a namespace that forwards and
# masquerades (NAT_RULESET), planned only for a NAT gateway in the topology.
NAT_ENI = "nat_gateway"
NOT_ENDPOINTS = {NAT_ENI}
NAT_STATES = {"pending", "available"}  # a NAT gateway's namespace exists in these states

# The fabric's own addresses are link-local (169.254/16): no VPC CIDR may contain them, so
# they never clash with an address of any VPC, however VPCs overlap.
UPLINK = "inet"  # a router's link to the internet namespace
INTERNET_GATEWAY = "169.254.0.1"  # the internet namespace's side of every router's uplink
MARK_INTERNET = 0x1  # packets for the internet gateway (stateless 1:1 NAT)
MARK_ENDPOINT = 0x2  # packets for a gateway endpoint (masqueraded to the router's uplink)
# A NAT gateway's namespace: it forwards what its VPC's routes send it, masquerading it to its
# own address with a port from 1024-65535 (as AWS documents), and lets in only replies and new
# connections that start with a SYN (so a reply routed to it that it never saw is dropped).
NAT_RULESET = """table ip nat {
  chain postrouting { type nat hook postrouting priority 100; policy accept;
    oifname "eth0" meta l4proto { tcp, udp } masquerade to :1024-65535;
    oifname "eth0" masquerade; }
  chain forward { type filter hook forward priority 0; policy drop;
    ct state established,related accept;
    ct state new tcp flags & (syn | ack) == syn accept;
    ct state new meta l4proto != tcp accept; }
  chain input { type filter hook input priority 0; policy drop;
    ct state established,related accept; }
}
"""


def target_mark(ident: str) -> int:
    """The mark (and routing table) of a route target: a hash of its id, with the low bits
    clear (never 0-255: the kernel's own tables and the fixed marks above) and the flow log's
    reject bits (flowlogs.REJECTED) clear."""
    return (zlib.crc32(ident.encode()) & 0x0FFFFF00) | 0x100


def nat_interfaces(t: Topology) -> dict[str, str]:
    """NAT gateways' interfaces (eni -> nat) whose namespaces exist."""
    out = {}
    for nat_id, nat in t.nat_gateways.items():
        if nat.get("State", "available") in NAT_STATES:
            for a in nat.get("NatGatewayAddresses") or ():
                if a.get("NetworkInterfaceId"):
                    out[a["NetworkInterfaceId"]] = nat_id
    return out


def peering_links(ix: Index) -> dict[str, tuple[str, str, str]]:
    """Active peering connections between two VPCs of the topology: a link between their
    routers, the port named after the connection on both sides."""
    out = {}
    for pcx_id, pcx in ix.topo.vpc_peering_connections.items():
        a, b = ix.pcx_vpcs.get(pcx_id, ("", ""))
        status = (pcx.get("Status") or {}).get("Code", "active")
        if status == "active" and a != b and a in ix.topo.vpcs and b in ix.topo.vpcs:
            out[pcx_id] = ("p" + port_name(pcx_id)[1:], a, b)
    return out


class Targets:
    """One router's gateway targets: the verdict a route to each leads to, and the chain and
    routing table behind it, made when a route table first uses it (see the module
    docstring). A method per kind gives (chain, the destinations it carries), or None: the
    target carries nothing (dropped, like a blackhole)."""

    def __init__(self, ix: Index, vpc: str, r: RouterPlan, nats: dict[str, EniPlan],
                 acl_chain: dict[tuple[str, bool], str | None],
                 peerings: dict[str, tuple[str, str, str]],
                 enis: dict[str, EniPlan] | None = None) -> None:
        self.ix, self.t, self.vpc, self.r = ix, ix.topo, vpc, r
        self.nats = nats
        self.enis = enis or {}  # the VPC's interfaces in the plan (middlebox targets)
        self.acl_chain = acl_chain
        self.peerings = peerings
        self.own = ", ".join(cidr_str(net, plen) for net, _m, plen in ix.vpc_blocks.get(vpc, ()))

    def pieces(self, lo: int, hi: int, token: str) -> list[tuple[int, int, str]]:
        kind, target = token.split(" ", 1)
        verdict = {IGW: self.igw, NAT: self.nat, PCX: self.pcx, VPCE: self.endpoint,
                   ENI: self.middlebox}[kind](target)
        if verdict is None:
            return []
        name, within = verdict
        return [(a, b, f"goto {name}") for a, b in _clip(lo, hi, within)]

    def _chain(self, name: str, rules: list[str]) -> None:
        self.r.chains[name] = NftChain(name, tuple(rules))

    def _from_vpc(self, then: str) -> str:
        """Only the VPC's own addresses may use a gateway (not a reply a NAT gateway
        forwards)."""
        return f"ip saddr {{ {self.own} }} {then}" if self.own else then

    def igw(self, igw_id: str):
        """Public destinations, for a source with a public address (1:1 NAT on the way out)."""
        if self.vpc not in self.ix.igw_vpcs.get(igw_id, ()):
            return None  # not attached to this VPC
        self.r.tables[MARK_INTERNET] = ("internet",)
        self._chain("igw", [f"ip saddr @public_src meta mark set {MARK_INTERNET} return", "drop"])
        return "igw", _complement(non_internet_blocks())

    def nat(self, nat_id: str):
        """On to the NAT gateway's namespace, through its subnet's inbound ACL (unless the
        packet comes from that subnet); it comes back as from the NAT gateway's interface."""
        nat = self.t.nat_gateways.get(nat_id) or {}
        e = self.nats.get(nat_id)
        if e is None or nat.get("State", "available") != "available" or nat.get("VpcId") != self.vpc:
            return None
        mark = target_mark(nat_id)
        self.r.tables[mark] = ("eni", e.port, e.addresses[0].split("/")[0])
        acl = self.acl_chain.get((nat.get("SubnetId", ""), False))
        name = "nat_" + nft_name(nat_id)
        address = e.addresses[0].split("/")[0]
        self._chain(name, [f'iifname "{e.port}" drop',  # from the NAT gateway itself: a loop
                           # a reply routed to it: it did not carry the request (asymmetric
                           # routing), even when that reply is for its own address
                           f"ip daddr {address} drop",
                           *([f"iifgroup != {e.group} jump {acl}"] if acl else []),
                           self._from_vpc(f"meta mark set {mark} return"), "drop"])
        return name, [(0, ALL)]

    def middlebox(self, eni_id: str):
        """On to the interface's namespace, through its subnet's inbound ACL (unless the
        packet comes from that subnet); it comes back forwarded, from the middlebox's port."""
        e = self.enis.get(eni_id)
        if e is None or e.kind != "eni" or e.vpc != self.vpc:
            return None
        mark = target_mark(eni_id)
        self.r.tables[mark] = ("eni", e.port, e.addresses[0].split("/")[0])
        subnet = self.t.network_interfaces[eni_id].get("SubnetId", "")
        acl = self.acl_chain.get((subnet, False))
        name = "mb_" + nft_name(eni_id)
        self._chain(name, [f'iifname "{e.port}" drop',  # back to itself: a routing loop
                           *([f"iifgroup != {e.group} jump {acl}"] if acl else []),
                           f"meta mark set {mark} return"])
        return name, [(0, ALL)]

    def pcx(self, pcx_id: str):
        """The peer VPC's addresses, to the peer's router (whose inbound ACLs apply there)."""
        link = self.peerings.get(pcx_id)
        if link is None or self.vpc not in link[1:]:
            return None
        port, a, b = link
        peer = b if self.vpc == a else a
        blocks = self.ix.vpc_blocks.get(peer) or ()
        mark = target_mark(pcx_id)
        self.r.tables[mark] = ("peer", port, peer)
        name = "pcx_" + nft_name(pcx_id)
        self._chain(name, [self._from_vpc(f"meta mark set {mark} return"), "drop"])
        return name, merge([cidr_range(blk) for blk in blocks])

    def endpoint(self, vpce_id: str):
        """To the service's addresses in the internet namespace, without a gateway."""
        ep = self.t.vpc_endpoints.get(vpce_id)
        if ep is None or str(ep.get("State", "available")).lower() != "available":
            return None
        self.r.tables[MARK_ENDPOINT] = ("internet",)
        self._chain("endpoint", [self._from_vpc(f"meta mark set {MARK_ENDPOINT} accept"), "drop"])
        return "endpoint", [(0, ALL)]


def _complement(blocks) -> list[tuple[int, int]]:
    out, at = [], 0
    for lo, hi in merge([cidr_range(b) for b in blocks]):
        if lo > at:
            out.append((at, lo - 1))
        at = hi + 1
    if at <= ALL:
        out.append((at, ALL))
    return out


def _clip(lo: int, hi: int, within: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(max(lo, a), min(hi, b)) for a, b in within if a <= hi and lo <= b]

