"""Compile a Topology into the kernel state the fabric should have: a plain data plan.

Pure functions, no kernel access. The layout (one router namespace per VPC):

    ENI namespace                      VPC router namespace
    eth0 10.0.1.5/24 (the ENI's MAC)   port e…  10.0.1.1/32 (the subnet's base + 1)
    default via 10.0.1.1 ──── veth ──── route 10.0.1.5/32 dev e…, group = the subnet

Every ENI's traffic, even to its own subnet, goes through its VPC's router (the ENI has no
on-link subnet route), so the router's nftables table sees every packet with the ports it
came in and goes out by. A port's interface group is its subnet's network address: unique in
a VPC, stable, and what the stateless rules key on. The table, in hook order:

- `routing` (prerouting): source/destination check (an ENI only sends from its addresses),
  then the source subnet's route table, flattened to longest-prefix-match intervals (the
  engine's own RouteTable does the matching). Local routes continue; every other target drops
  for now (see _route_verdict: the hook for gateways, NAT, endpoints and peering).
- `acl` (forward): network ACLs, stateless, in rule-number order: the source subnet's
  outbound entries, then the destination subnet's inbound ones; none within a subnet.
- `sg_out`, `sg_in` (forward): security groups, stateful: established/related traffic
  passes (but a TCP SYN is always a new connection), a new connection needs an egress rule of one of the source ENI's groups and then an
  ingress rule of one of the destination ENI's groups. Rules that name a group match a set of
  its members' primary addresses; rules that name a prefix list match a set of its CIDRs.

Rule matching is compiled from the engine's own rule compilation (network/rules.py), so the
kernel and the engine read the records the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field

from vpclocal.network.addr import cidr, cidr_str, ip, ip_str
from vpclocal.network.index import Index
from vpclocal.network.routing import LOCAL, Route, RouteTable
from vpclocal.network.rules import ANY, ICMP, SG_CIDR, SG_GROUP, TCP, UDP
from vpclocal.network.topology import Topology

TABLE = "vpc"
# Interfaces that are not plain endpoints get their own realization in later slices.
NOT_ENDPOINTS = {"nat_gateway"}
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
ENI_SYSCTL = {"net.ipv6.conf.default.disable_ipv6": 1}  # eth0: IPv4 only; lo keeps ::1


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

    def ruleset(self) -> str:
        """The whole table as `nft -f` text (declarations first, so references resolve)."""
        out = [f"table ip {TABLE} {{"]
        for s in self.sets.values():
            out.append(f"  {'map' if ' : ' in s.spec else 'set'} {s.name} {{ {s.spec} }}")
        for c in self.chains.values():
            out.append(f"  chain {c.name} {{ {c.hook or ''} }}")
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


def _plen(mask: int) -> int:
    return mask.bit_count()


def _mac(text: str | None) -> str | None:
    return text.lower() if text and re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", text) else None


# ---- matches --------------------------------------------------------------------------------


def _proto_match(proto: int, lo: int, hi: int) -> str:
    """nft match for one protocol and a range on its axis (rules.py: ports, or ICMP
    type * 256 + code)."""
    if proto == ANY:
        return ""
    if proto in (TCP, UDP):
        name = "tcp" if proto == TCP else "udp"
        if (lo, hi) == (0, 65535):
            return f"meta l4proto {name}"
        return f"{name} dport {lo}" if lo == hi else f"{name} dport {lo}-{hi}"
    if proto == ICMP:
        if (lo, hi) == (0, 65535):
            return "meta l4proto icmp"
        if hi - lo == 255 and lo % 256 == 0:
            return f"icmp type {lo // 256}"
        if lo == hi:
            return f"icmp type {lo // 256} icmp code {lo % 256}"
        raise ValueError(f"ICMP range {lo}-{hi} has no nftables match")
    return f"meta l4proto {proto}"


def _peer_cidr(direction: str, net: int, mask: int) -> str:
    plen = _plen(mask)
    return "" if plen == 0 else f"ip {direction} {cidr_str(net, plen)}"


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


# ---- route tables -----------------------------------------------------------------------------


def _route_verdict(route: Route | None) -> str | None:
    """What the router does with a packet a route table sends somewhere.

    Local routes deliver inside the VPC. Every other target (internet gateway, NAT gateway,
    gateway endpoint, peering connection, middlebox interface) is realized by the next slices
    of the fabric, which will mark the packet here for their namespace's routing table; until
    then it is dropped, like a blackhole route."""
    if route is None:
        return None
    if route.state == "blackhole":
        return "drop"
    if route.kind == LOCAL:
        return "return"
    return "drop"


def flatten_routes(table: RouteTable) -> list[str]:
    """A route table as disjoint `lo-hi : verdict` intervals, by longest prefix match."""
    points = {0, 1 << 32}
    for by_net in table.by_plen.values():
        for route in by_net.values():
            net, _mask, plen = cidr(route.destination)
            points.update((net, net + (1 << (32 - plen))))
    bounds = sorted(points)
    spans: list[list] = []
    for lo, end in itertools.pairwise(bounds):
        verdict = _route_verdict(table.lookup(lo))
        if verdict is None:
            continue
        if spans and spans[-1][2] == verdict and spans[-1][1] == lo - 1:
            spans[-1][1] = end - 1
        else:
            spans.append([lo, end - 1, verdict])
    return [f"{ip_str(lo)}-{ip_str(hi)} : {v}" for lo, hi, v in spans]


# ---- the compiler ----------------------------------------------------------------------------


def compile_plan(topology: Topology) -> Plan:
    ix = Index(topology)
    plan = Plan()
    by_vpc: dict[str, list[EniPlan]] = {v: [] for v in topology.vpcs}
    for eni_id, eni in topology.network_interfaces.items():
        p = _eni_plan(ix, eni_id, eni)
        if p is not None:
            plan.enis[eni_id] = p
            by_vpc[p.vpc].append(p)
    for vpc_id in topology.vpcs:
        plan.routers[vpc_id] = _router_plan(ix, vpc_id, by_vpc[vpc_id])
    return plan


def _eni_plan(ix: Index, eni_id: str, eni: dict) -> EniPlan | None:
    subnet = eni.get("SubnetId", "")
    block = ix.subnet_block.get(subnet)
    primary = ix.eni_ip.get(eni_id)
    vpc = eni.get("VpcId", "")
    if (block is None or primary is None or vpc not in ix.topo.vpcs
            or eni.get("InterfaceType") in NOT_ENDPOINTS):
        return None
    net, _mask, plen = block
    addresses = [primary]
    for extra in eni.get("PrivateIpAddresses") or ():
        addr = extra.get("PrivateIpAddress")
        value = ix.eni_by_ip.get((vpc, ip(addr))) == eni_id and ip(addr) if addr else None
        if value and value not in addresses:
            addresses.append(value)
    return EniPlan(eni_id, vpc, port_name(eni_id), net, ip_str(net + 1),
                   tuple(f"{ip_str(a)}/{plen}" for a in addresses), _mac(eni.get("MacAddress")))


def _router_plan(ix: Index, vpc_id: str, enis: list[EniPlan]) -> RouterPlan:
    t = ix.topo
    r = RouterPlan(vpc_id)
    sets, chains = r.sets, r.chains

    def add_set(name: str, spec: str, elements=()) -> None:
        sets[name] = NftSet(name, spec, tuple(elements))

    def add_chain(name: str, rules, hook: str | None = None) -> None:
        chains[name] = NftChain(name, tuple(rules), hook)

    subnets = {s: b for s, b in ix.subnet_block.items() if t.subnets[s].get("VpcId") == vpc_id}

    # -- source/destination check and route tables (prerouting) --
    checked = [e for e in enis if t.network_interfaces[e.id].get("SourceDestCheck", True)]
    add_set("checked", "type ifname;", sorted(f'"{e.port}"' for e in checked))
    add_set("sources", "type ifname . ipv4_addr;",
            sorted(f'"{e.port}" . {a.split("/")[0]}' for e in checked for a in e.addresses))
    route_map, rtbs = [], set()
    for subnet_id, (net, mask, _plen) in sorted(subnets.items()):
        chain = nft_name(subnet_id)
        rtb_id = ix.rtb_id_for_subnet(subnet_id)
        table = ix.route_table(rtb_id) if rtb_id else None
        rules = [f"ip daddr {cidr_str(net, _plen)} return"]  # same subnet: no route table
        if table is not None:
            rtbs.add(rtb_id)
            rules.append(f"ip daddr vmap @{nft_name(rtb_id)}")
        rules.append("drop")  # no route
        add_chain(chain, rules)
        route_map.append(f"{net} : jump {chain}")
    for rtb_id in sorted(rtbs):
        add_set(nft_name(rtb_id), "type ipv4_addr : verdict; flags interval;",
                flatten_routes(ix.route_table(rtb_id)))
    add_set("route", "type devgroup : verdict;", route_map)

    # -- network ACLs (forward, first) --
    acl_out, acl_in, same, acls = [], [], [], set()
    for subnet_id, (net, _mask, _plen) in sorted(subnets.items()):
        same.append(f"{net} . {net}")
        acl_id = ix.acl_id_for_subnet(subnet_id)
        if acl_id is None:
            continue
        acls.add(acl_id)
        acl_out.append(f"{net} : jump {nft_name(acl_id)}_out")
        acl_in.append(f"{net} : jump {nft_name(acl_id)}_in")
    add_set("same_subnet", "type devgroup . devgroup;", same)
    add_set("acl_out", "type devgroup : verdict;", acl_out)
    add_set("acl_in", "type devgroup : verdict;", acl_in)
    for acl_id in sorted(acls):
        for egress, suffix, peer in ((True, "out", "daddr"), (False, "in", "saddr")):
            rules = [_join(_peer_cidr(peer, e[3], e[4]), _proto_match(e[2], e[5], e[6]),
                           "return" if e[1] else "drop")
                     for e in ix.acl_entries(acl_id, egress)]
            add_chain(f"{nft_name(acl_id)}_{suffix}", [*rules, "drop"])

    # -- security groups (forward, after the ACLs) --
    eni_out, eni_in, used = [], [], set()
    for e in sorted(enis, key=lambda e: e.port):
        listed = [g.get("GroupId") for g in t.network_interfaces[e.id].get("Groups") or ()]
        groups = [g for g in dict.fromkeys(listed) if g]
        if not groups:
            continue  # requester-managed interfaces without groups: nothing to check
        used.update(groups)
        for suffix, entries in (("out", eni_out), ("in", eni_in)):
            chain = f"e{suffix[0]}_{e.port}"
            add_chain(chain, [*(f"jump {nft_name(g)}_{suffix}" for g in groups), "drop"])
            entries.append(f'"{e.port}" : jump {chain}')
    add_set("eni_out", "type ifname : verdict;", eni_out)
    add_set("eni_in", "type ifname : verdict;", eni_in)
    members, prefix_lists = set(), set()
    for g in sorted(used):
        for egress, suffix, peer in ((True, "out", "daddr"), (False, "in", "saddr")):
            rules = []
            for rule in ix.sg_rules(g, egress):
                kind, a = rule[3], rule[4]
                if kind == SG_CIDR:
                    match = _peer_cidr(peer, a, rule[5])
                elif kind == SG_GROUP:
                    members.add(a)
                    match = f"ip {peer} @m_{nft_name(a)}"
                else:
                    prefix_lists.add(a)
                    match = f"ip {peer} @{nft_name(a)}"
                rules.append(_join(match, _proto_match(rule[0], rule[1], rule[2]), "accept"))
            add_chain(f"{nft_name(g)}_{suffix}", rules)
    for g in sorted(members):
        add_set(f"m_{nft_name(g)}", "type ipv4_addr;", sorted(
            ip_str(ix.eni_ip[m]) for m in ix.group_members.get(g, ())
            if m in ix.eni_ip and _related(ix, vpc_id, t.network_interfaces[m].get("VpcId"))))
    for pl in sorted(prefix_lists):
        add_set(nft_name(pl), "type ipv4_addr; flags interval; auto-merge;",
                sorted(ix.pl_cidrs.get(pl, ())))

    # -- base chains --
    add_chain("routing", ["iifname @checked iifname . ip saddr != @sources drop",
                          "iifgroup vmap @route"],
              "type filter hook prerouting priority -150; policy accept;")
    add_chain("acl", ["iifgroup . oifgroup @same_subnet accept", "iifgroup vmap @acl_out",
                      "oifgroup vmap @acl_in"],
              "type filter hook forward priority 0; policy accept;")
    # A TCP SYN opens a new connection: always checked, even when conntrack files it under an
    # old entry (the same ports reused after a reply that conntrack saw but an ACL dropped).
    stateful = ["meta l4proto != tcp ct state established,related accept",
                "tcp flags & (syn | ack) != syn ct state established,related accept"]
    add_chain("sg_out", [*stateful, "iifname vmap @eni_out"],
              "type filter hook forward priority 10; policy accept;")
    add_chain("sg_in", [*stateful, "oifname vmap @eni_in"],
              "type filter hook forward priority 20; policy accept;")
    return r


def _related(ix: Index, vpc: str, other: str | None) -> bool:
    """Group references see the members in the same VPC or a peered one (as the engine)."""
    return other == vpc or bool(other and ix.pcx_between.get(frozenset((vpc, other))))
