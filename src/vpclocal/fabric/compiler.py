"""Compile a Topology into the kernel state the fabric should have: a plan (plan.py).

Pure functions, no kernel access. The layout (one router namespace per VPC):

    ENI namespace                      VPC router namespace
    eth0 10.0.1.5/24 (the ENI's MAC)   port e…  10.0.1.1/32 (the subnet's base + 1)
    default via 10.0.1.1 ──── veth ──── route 10.0.1.5/32 dev e…, group = the subnet

Every ENI's traffic, even to its own subnet, goes through its VPC's router (the ENI has no
on-link subnet route), so the router's nftables table sees every packet with the ports it
came in and goes out by. A port's interface group is its subnet's network address: unique in
a VPC and stable. The router's table, in hook order:

- `routing` (prerouting, before conntrack) jumps to `classify`: DNS to the VPC resolver (its
  addresses are on the router's lo) is accepted first, as AWS exempts it from security groups
  and ACLs (_resolver_rules); then the source/destination check (an ENI sends only from its
  addresses) leads to the source subnet's chain: traffic within the subnet passes (no ACL, no
  route table, as in the engine); anything else meets the subnet's outbound ACL, then its
  route table, flattened to longest-prefix-match intervals by the engine's own RouteTable: a
  local route's addresses lead to their subnet's inbound ACL; addresses in no subnet and
  blackholes are dropped; a gateway target (internet gateway, NAT gateway, peering
  connection, gateway endpoint) leads to its chain, which marks the packet for a routing
  table of its own (gateways.py). What comes from outside the VPC (`from_internet`, a
  peering link, a gateway endpoint's reply) meets the destination subnet's inbound ACL.
  Traffic that stays in the fabric returns to `routing`, which marks TCP `notrack`.
- `filter` (forward): security groups: a new connection needs an egress rule of one of the
  source ENI's groups (which goes on to `ingress`) and an ingress rule of one of the
  destination ENI's groups. A group reference stands for its members' primary addresses, a
  prefix list for its CIDRs.

Rules become regions: a security group's rules (all allows) are their union, a network
ACL's ordered entries the region their first matches allow (paint()); a region is checked by
a few compares, or one concatenated-interval set lookup when it has more than INLINE rows.
The default ACL, which allows everything, costs nothing.

State: UDP, ICMP and the rest are tracked by conntrack (replies and related errors pass).
TCP is not (`notrack`): its state is in its flags. A SYN without ACK opens a connection and
is checked; every other TCP packet belongs to a connection a SYN opened and passes the
security groups (not the ACLs, which are stateless), as a tracked connection's packets do,
even after a rule that let it open is removed. Conntrack for TCP alone cost as much as all
the rules together on the connect path (about 4 µs over a bare veth's 16 µs on the
reference machine), and it took a new SYN on reused ports for part of an old entry when an
ACL had dropped that entry's reply.

The internet gateway's 1:1 NAT has two forms, one per kernel capability (variant.py,
`nat`): `rewrite` rewrites the destination in `from_internet` and the source in `egress`
(stateless, TCP untracked); `conntrack`, for kernels that refuse header rewriting in a user
namespace, checks the inbound ACL by the public address (`arrive_public`), leaves the
internet gateway's traffic tracked (`routing`) and translates it in nat hooks
(`public_dnat`, `public_snat`) by the same maps. Everything else is the same in both.

Rule matching is compiled from the engine's own rule compilation (network/rules.py), so the
kernel and the engine read the records the same way.

Flow logs: in the router of a VPC with a flow log, the drops above are deferred until the
flow log table has counted them (flowlogs.defer_drops). Other VPCs keep plain drops.
"""

from __future__ import annotations

import bisect
import itertools
import re

from vpclocal.network.addr import cidr, cidr_str, ip, ip_str
from vpclocal.network.index import Index
from vpclocal.network.routing import LOCAL, Route, RouteTable
from vpclocal.network.rules import ANY, ICMP, SG_CIDR, SG_GROUP, TCP, UDP, cut
from vpclocal.network.topology import Topology

from .flowlogs import defer_drops, flow_logged_vpcs
from .gateways import (
    GATEWAYS,
    MARK_ENDPOINT,
    MARK_INTERNET,
    NOT_ENDPOINTS,
    UPLINK,
    Targets,
    nat_interfaces,
    peering_links,
)
from .plan import ALL, EniPlan, NftChain, NftSet, Plan, RouterPlan, merge, nft_name, port_name

RESOLVER_LINK_LOCAL = "169.254.169.253"  # AmazonProvidedDNS's other address (dns.py)
RESOLVER_PORT = 53
DISRUPTED = "disrupted"  # the chain a disrupted subnet's ACL becomes: drop
# what is disrupted, per subnet: the CIDRs whose traffic to and from the subnet is dropped,
# or None for all of it (FIS aws:network:disrupt-connectivity; see _router_plan)
Disrupted = dict[str, frozenset[str] | None]


# ---- helpers --------------------------------------------------------------------------------


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

    Local routes deliver inside the VPC (`return`). A gateway target (internet gateway, NAT
    gateway, peering connection, gateway endpoint, middlebox interface) is a token
    "<kind> <id>", which the router's gateways.Targets turns into a verdict (it depends on
    records beyond the route table: an attachment, a state). Targets vpclocal does not model
    drop, like blackhole routes."""
    if route is None:
        return None
    if route.state == "blackhole":
        return "drop"
    if route.kind == LOCAL:
        return "return"
    if route.kind in GATEWAYS:
        return f"{route.kind} {route.target}"
    return "drop"


def flatten_routes(table: RouteTable) -> list[tuple[int, int, str]]:
    """A route table as disjoint (lo, hi, verdict) intervals, by longest prefix match."""
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
    return [(lo, hi, v) for lo, hi, v in spans]


# ---- regions: rules as sets --------------------------------------------------------------------


Row = tuple[int, int, tuple[tuple[int, int], ...]]  # addresses lo-hi, their port spans
FULL = ((0, 65535),)
# Rows (or intervals) up to which compares beat a set lookup: a concatenated-interval lookup
# cost about as much as a dozen compares on the reference machine.
DEFAULT_INLINE = INLINE = 4


def paint(entries: list[tuple[int, int, int, int, bool]], full: tuple[int, int] = (0, 65535)
          ) -> list[Row]:
    """The region that ordered, first-match entries (addr lo, addr hi, lo, hi, allow) allow,
    as rows of disjoint address ranges, each with its disjoint port spans: one set lookup,
    or a few compares, instead of walking the entries. (Security group rules are all allows,
    so for them this is their union.)"""
    bounds = sorted({0, 1 << 32, *(e[0] for e in entries), *(e[1] + 1 for e in entries)})
    starts = sorted(range(len(entries)), key=lambda i: entries[i][0])
    active: list[int] = []  # entries covering the current addresses, in rule order
    nxt = 0
    rows: list[list] = []
    for a, b in itertools.pairwise(bounds):
        while nxt < len(starts) and entries[starts[nxt]][0] <= a:
            bisect.insort(active, starts[nxt])
            nxt += 1
        active = [i for i in active if entries[i][1] >= a]
        allowed, free = [], [full]
        for i in active:
            _alo, _ahi, lo, hi, allow = entries[i]
            free, decided = cut(free, lo, hi)
            if allow:
                allowed += decided
            if not free:
                break
        spans = merge(allowed)
        if rows and rows[-1][2] == spans and rows[-1][1] == a - 1:
            rows[-1][1] = b - 1
        elif spans:
            rows.append([a, b - 1, spans])
    return [(a, b, tuple(spans)) for a, b, spans in rows]


def _range(lo: int, hi: int, text) -> str:
    return text(lo) if lo == hi else f"{text(lo)}-{text(hi)}"


def region_rules(rows: list[Row], peer: str, proto: str, verdict: str, set_name: str
                 ) -> tuple[list[NftSet], list[str]]:
    """Rules matching a painted region: compares for a few rows, else one set lookup."""
    if len(rows) > INLINE:
        elements = tuple(f"{_range(a, b, ip_str)} . {_range(lo, hi, str)}"
                         for a, b, spans in rows for lo, hi in spans)
        return ([NftSet(set_name, "type ipv4_addr . inet_service; flags interval;", elements)],
                [f"ip {peer} . {proto} dport @{set_name} {verdict}"])
    rules = []
    for a, b, spans in rows:
        where = "" if (a, b) == (0, ALL) else f"ip {peer} {_range(a, b, ip_str)}"
        if spans == FULL:
            ports = f"meta l4proto {proto}"
        elif len(spans) == 1:
            ports = f"{proto} dport {_range(*spans[0], str)}"
        else:
            ports = f"{proto} dport {{ {', '.join(_range(lo, hi, str) for lo, hi in spans)} }}"
        rules.append(_join(where, ports, verdict))
    return [], rules


def _span(net: int, mask: int) -> tuple[int, int]:
    return net, net | (~mask & 0xFFFFFFFF)


_memo: dict = {}


def _memoized(key, make):
    """Compiled pieces, keyed by the content of the records they come from: a change
    recompiles only what it touches."""
    value = _memo.get(key)
    if value is None:
        if len(_memo) > 50_000:
            _memo.clear()
        value = _memo[key] = make()
    return value


# ---- the compiler ----------------------------------------------------------------------------


def compile_plan(topology: Topology, nat: str = "rewrite",
                 disrupted: Disrupted | frozenset[str] = frozenset()) -> Plan:
    """The plan of a topology; `nat` is the internet gateway's 1:1 NAT form (variant.py);
    `disrupted`: subnets whose traffic in and out is dropped, each with the CIDRs it loses
    the traffic to and from, None for all of it (FIS aws:network:disrupt-connectivity: see
    _router_plan); a set of subnets stands for {subnet: None}."""
    if not isinstance(disrupted, dict):
        disrupted = dict.fromkeys(disrupted)
    ix = Index(topology)
    plan = Plan()
    nat_enis = nat_interfaces(topology)
    by_vpc: dict[str, list[EniPlan]] = {v: [] for v in topology.vpcs}
    for eni_id, eni in topology.network_interfaces.items():
        p = _eni_plan(ix, eni_id, eni, eni_id in nat_enis)
        if p is not None:
            plan.enis[eni_id] = p
            by_vpc[p.vpc].append(p)
    plan.peerings = peering_links(ix)
    logged = flow_logged_vpcs(topology)
    for vpc_id in topology.vpcs:
        router = plan.routers[vpc_id] = _router_plan(ix, vpc_id, by_vpc[vpc_id], nat_enis,
                                                     plan.peerings, nat, disrupted)
        if vpc_id in logged:
            defer_drops(router)
    # the internet namespace routes a public address to the router that owns it, when the
    # owner's VPC has an internet gateway (the only way in from the internet)
    for public, (vpc, private) in ix.public_owner.items():
        if vpc in ix.vpc_igw and _planned(plan, ix, vpc, private):
            plan.internet[ip_str(public)] = vpc
    return plan


def _planned(plan: Plan, ix: Index, vpc: str, address: int) -> bool:
    """Is this private address an interface's in the plan (an ENI's, a NAT gateway's)?"""
    e = plan.enis.get(ix.eni_by_ip.get((vpc, address), ""))
    return e is not None and any(a.split("/")[0] == ip_str(address) for a in e.addresses)


def _eni_plan(ix: Index, eni_id: str, eni: dict, nat: bool = False) -> EniPlan | None:
    subnet = eni.get("SubnetId", "")
    block = ix.subnet_block.get(subnet)
    primary = ix.eni_ip.get(eni_id)
    vpc = eni.get("VpcId", "")
    if (block is None or primary is None or vpc not in ix.topo.vpcs
            or (eni.get("InterfaceType") in NOT_ENDPOINTS and not nat)):
        return None
    net, _mask, plen = block
    addresses = [primary]
    for extra in eni.get("PrivateIpAddresses") or ():
        addr = extra.get("PrivateIpAddress")
        value = ix.eni_by_ip.get((vpc, ip(addr))) == eni_id and ip(addr) if addr else None
        if value and value not in addresses:
            addresses.append(value)
    return EniPlan(eni_id, vpc, port_name(eni_id), net, ip_str(net + 1),
                   tuple(f"{ip_str(a)}/{plen}" for a in addresses), _mac(eni.get("MacAddress")),
                   "nat" if nat else "eni")


def _router_plan(ix: Index, vpc_id: str, enis: list[EniPlan], nat_enis: dict[str, str],
                 peerings: dict[str, tuple[str, str, str]], nat: str = "rewrite",
                 disrupted: Disrupted | None = None) -> RouterPlan:
    t = ix.topo
    disrupted = disrupted or {}
    r = RouterPlan(vpc_id, resolver=resolver_addresses(t.vpcs[vpc_id]))
    sets, chains = r.sets, r.chains

    def add_set(name: str, spec: str, elements=()) -> None:
        sets[name] = NftSet(name, spec, tuple(elements))

    def add_chain(name: str, rules, hook: str | None = None) -> None:
        chains[name] = NftChain(name, tuple(rules), hook)

    def add(compiled) -> None:
        more_sets, more_chains = compiled
        sets.update((x.name, x) for x in more_sets)
        chains.update((c.name, c) for c in more_chains)

    subnets = {s: b for s, b in ix.subnet_block.items() if t.subnets[s].get("VpcId") == vpc_id}

    # -- source/destination check and route tables (prerouting) --
    checked = [e for e in enis if e.kind == "eni"
               and t.network_interfaces[e.id].get("SourceDestCheck", True)]
    add_set("checked", "type ifname;", sorted(f'"{e.port}"' for e in checked))
    add_set("from_eni", "type ifname . ipv4_addr : verdict;", sorted(
        f'"{e.port}" . {a.split("/")[0]} : goto {nft_name(_subnet_of(ix, e))}'
        for e in checked for a in e.addresses))
    # -- network ACLs, compiled once per ACL and direction (None: it allows everything) --
    acl_chain: dict[tuple[str, bool], str | None] = {}
    acl_keys: dict[str, str] = {}  # many subnets share an ACL: read its entries once
    for subnet_id in subnets:
        acl_id = ix.acl_id_for_subnet(subnet_id)
        if acl_id is not None and acl_id not in acl_keys:
            acl_keys[acl_id] = repr((t.network_acls.get(acl_id) or {}).get("Entries"))
        for egress in (True, False):
            acl_chain[(subnet_id, egress)] = None
            if acl_id is None:
                continue
            more_sets, more_chains, everything = _memoized(
                ("acl", acl_id, egress, acl_keys[acl_id]),
                lambda a=acl_id, e=egress: _acl_chain(ix, a, e))
            if not everything:
                add((more_sets, more_chains))
                acl_chain[(subnet_id, egress)] = more_chains[0].name
    # -- disrupted subnets (FIS disrupt-connectivity): as AWS does it, by the subnet's
    # network ACL. Scope `all` (None): both directions deny everything, so all traffic
    # entering or leaving the subnet is dropped, whatever it belongs to (ACLs are stateless:
    # established connections break too). The other scopes (availability-zone, prefix-list,
    # s3, dynamodb: the CIDRs the FIS provider resolved) deny those CIDRs in both directions
    # ahead of the subnet's own ACL, which decides the rest. Traffic within the subnet and
    # DNS to the VPC resolver pass --
    for subnet_id in sorted(disrupted.keys() & subnets.keys()):
        denied = disrupted[subnet_id]
        if denied is None:
            add_chain(DISRUPTED, ["drop"])
            acl_chain[(subnet_id, True)] = acl_chain[(subnet_id, False)] = DISRUPTED
            continue
        spans = merge([_span(*cidr(c)[:2]) for c in denied])
        if not spans:
            continue
        for egress in (True, False):
            peer = "daddr" if egress else "saddr"
            name = f"dis_{nft_name(subnet_id)}_{'o' if egress else 'i'}"
            if len(spans) > INLINE:
                add_set(f"{name}s", "type ipv4_addr; flags interval;",
                        [_range(lo, hi, ip_str) for lo, hi in spans])
                rules = [f"ip {peer} @{name}s drop"]
            else:
                rules = [f"ip {peer} {_range(lo, hi, ip_str)} drop" for lo, hi in spans]
            after = acl_chain[(subnet_id, egress)]
            add_chain(name, [*rules, *([f"goto {after}"] if after else [])])
            acl_chain[(subnet_id, egress)] = name

    # -- per source subnet: its outbound ACL, then its route table, whose local routes lead
    # to the destination subnet's inbound ACL --
    blocks = sorted((net, net | (~mask & ALL), acl_chain[(s_id, False)])
                    for s_id, (net, mask, _plen) in subnets.items())
    targets = Targets(ix, vpc_id, r, {nat_enis[e.id]: e for e in enis if e.kind == "nat"},
                      acl_chain, peerings, {e.id: e for e in enis})
    route_map, destinations = [], {}
    for subnet_id, (net, _mask, plen) in sorted(subnets.items()):
        rules = [f"ip daddr {cidr_str(net, plen)} return"]  # same subnet: no ACL, no routes
        if acl_chain[(subnet_id, True)]:
            rules.append(f"jump {acl_chain[(subnet_id, True)]}")
        rtb_id = ix.rtb_id_for_subnet(subnet_id)
        if rtb_id is not None and ix.route_table(rtb_id) is not None:
            if rtb_id not in destinations:  # once per route table: many subnets share one
                spans = _destinations(_route_spans(ix, rtb_id), blocks, targets.pieces)
                if len(spans) > INLINE:
                    name = "to_" + nft_name(rtb_id)
                    add_set(name, "type ipv4_addr : verdict; flags interval;",
                            [f"{ip_str(lo)}-{ip_str(hi)} : {v}" for lo, hi, v in spans])
                    destinations[rtb_id] = [f"ip daddr vmap @{name}"]
                else:
                    destinations[rtb_id] = [f"ip daddr {_range(lo, hi, ip_str)} {v}"
                                            for lo, hi, v in spans]
            rules += destinations[rtb_id]
        add_chain(nft_name(subnet_id), [*rules, "drop"])  # no route: drop
        route_map.append(f"{net} : goto {nft_name(subnet_id)}")
    add_set("route", "type devgroup : verdict;", route_map)

    # -- security groups --
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
    members: dict[str, tuple[int, ...]] = {}
    for g in sorted(used):
        record = t.security_groups.get(g) or {}
        for egress in (True, False):
            perms = record.get("IpPermissionsEgress" if egress else "IpPermissions") or ()
            refs = sorted({p.get("GroupId") for perm in perms
                           for p in perm.get("UserIdGroupPairs") or () if p.get("GroupId")})
            for ref in refs:
                if ref not in members:
                    members[ref] = tuple(sorted(
                        ix.eni_ip[m] for m in ix.group_members.get(ref, ())
                        if m in ix.eni_ip and _related(ix, vpc_id,
                                                       t.network_interfaces[m].get("VpcId"))))
            pls = sorted({p.get("PrefixListId") for perm in perms
                          for p in perm.get("PrefixListIds") or () if p.get("PrefixListId")})
            peers = (tuple((ref, members[ref]) for ref in refs),
                     tuple((pl, tuple(ix.pl_cidrs.get(pl, ()))) for pl in pls))
            add(_memoized(("sg", g, egress, repr(perms), peers),
                          lambda g=g, e=egress, p=peers: _sg_chain(ix, g, e, p)))

    # -- what arrives from outside the VPC: from the internet (a public address, translated
    # to its private one, or a reply to a masqueraded endpoint connection), or over a
    # peering connection: the destination subnet's inbound ACL --
    add_set("arrive", "type ipv4_addr : verdict; flags interval;",
            [f"{ip_str(lo)}-{ip_str(hi)} : {v}" for lo, hi, v
             in _destinations([(0, ALL, "return")], blocks)])
    public_out, public_in = [], []
    for (vpc, private), public in sorted(ix.public_of.items()):
        if vpc == vpc_id and _planned_in(enis, private):
            public_out.append((private, public))
            if vpc in ix.vpc_igw:
                public_in.append((public, private))
    add_set("public_src", "type ipv4_addr;", [ip_str(a) for a, _b in public_out])
    add_set("public_out", "type ipv4_addr : ipv4_addr;",
            [f"{ip_str(a)} : {ip_str(b)}" for a, b in public_out])
    add_set("public_in", "type ipv4_addr : ipv4_addr;",
            [f"{ip_str(a)} : {ip_str(b)}" for a, b in public_in])
    add_set("peers", "type ifname;", sorted(f'"{port}"' for port, a, b in peerings.values()
                                            if vpc_id in (a, b)))
    if nat == "rewrite":  # (no public address: nothing to rewrite, no rewriting statement)
        rewrite = (["ip daddr set ip daddr map @public_in ip daddr vmap @arrive"]
                   if public_in else [])
        add_chain("from_internet", [*rewrite,
                                    "fib daddr type local accept",  # tracked: a masqueraded reply
                                    "drop"])
    else:  # conntrack: the inbound ACL of the private address a public one stands for
        arrive = {(lo, hi): v for lo, hi, v in _destinations([(0, ALL, "return")], blocks)}
        add_set("arrive_public", "type ipv4_addr : verdict;", [
            f"{ip_str(public)} : {v}" for public, private in public_in
            for (lo, hi), v in arrive.items() if lo <= private <= hi])
        add_chain("from_internet", ["ip daddr vmap @arrive_public",
                                    "fib daddr type local accept",  # tracked: a masqueraded reply
                                    "drop"])

    # -- base chains --
    # TCP inside the fabric is not tracked (its state is kept statelessly, below): classify
    # returns for traffic that stays in the fabric, and accepts (tracked) what a gateway
    # endpoint masquerades
    # (conntrack variant: the internet gateway's traffic, both ways, is tracked: its 1:1 NAT
    # lives in conntrack)
    tracked = ([f"meta mark {MARK_INTERNET} accept", f'iifname "{UPLINK}" accept']
               if nat == "conntrack" else [])
    add_chain("routing", ["jump classify", *tracked, "meta l4proto tcp notrack"],
              "type filter hook prerouting priority -300; policy accept;")
    add_chain("classify", [*_resolver_rules(r.resolver),
                           "iifname . ip saddr vmap @from_eni",
                           "iifname @checked drop",  # from an ENI, not from its addresses
                           f'iifname "{UPLINK}" goto from_internet',
                           "iifname @peers ip daddr vmap @arrive",
                           "iifname @peers drop",
                           "iifgroup vmap @route"])
    add_chain("filter", ["tcp flags & (syn | ack) != syn accept",
                         "meta l4proto != tcp ct state established,related accept",
                         "iifname vmap @eni_out",
                         "goto ingress"],
              "type filter hook forward priority 0; policy accept;")
    add_chain("ingress", ["oifname vmap @eni_in", "accept"])
    if MARK_INTERNET in r.tables and nat == "rewrite" and public_out:  # the internet
        # gateway's 1:1 NAT, outbound (after conntrack, which saw the private address: a UDP
        # reply, translated back before it, matches)
        add_chain("egress", [f"meta mark {MARK_INTERNET} ip saddr set ip saddr map @public_out"],
                  "type filter hook postrouting priority 0; policy accept;")
    elif nat == "conntrack":  # the same mapping, by conntrack: a connection's first packet
        # picks it (later ones and replies follow the entry)
        add_chain("public_dnat", [f'iifname "{UPLINK}" dnat to ip daddr map @public_in'],
                  "type nat hook prerouting priority -100; policy accept;")
        if MARK_INTERNET in r.tables:
            add_chain("public_snat", [f"meta mark {MARK_INTERNET} snat to ip saddr map @public_out"],
                      "type nat hook postrouting priority 100; policy accept;")
            # a packet conntrack calls invalid is not translated: it must not leave with its
            # private address
            add_chain("egress", [f"meta mark {MARK_INTERNET} ct state invalid drop"],
                      "type filter hook postrouting priority 0; policy accept;")
    if MARK_ENDPOINT in r.tables:
        # A gateway endpoint's traffic reaches the service from the router's uplink address
        # (unique per router): VPCs whose CIDRs overlap get their replies back. The reply,
        # translated back by conntrack, then meets the destination subnet's inbound ACL.
        add_chain("endpoint_out", [f"meta mark {MARK_ENDPOINT} masquerade"],
                  "type nat hook postrouting priority 100; policy accept;")
        reply = f'iifname "{UPLINK}" ct direction reply ct status snat'
        add_chain("endpoint_in", [f"{reply} ip daddr vmap @arrive", f"{reply} drop"],
                  "type filter hook prerouting priority -90; policy accept;")
    return r


def resolver_addresses(vpc: dict) -> tuple[str, ...]:
    """Where the VPC resolver (AmazonProvidedDNS) answers: the primary CIDR's base + 2, and
    169.254.169.253 in every VPC."""
    block = vpc.get("CidrBlock")
    if not block:
        return ()
    return (ip_str(cidr(block)[0] + 2), RESOLVER_LINK_LOCAL)


def _resolver_rules(addresses: tuple[str, ...]) -> list[str]:
    """As on AWS, DNS queries to the VPC resolver are not subject to security groups or
    network ACLs (not even base + 2, which lies in the VPC's first subnet): they are accepted
    before the source/destination check and the ACLs, and go to the router's own sockets (the
    input path: the forward hook's security groups never see them; replies leave by the
    output path, which has no rules). enableDnsSupport=false is the resolver's business: it
    stops answering (dns.py)."""
    if not addresses:
        return []
    targets = ", ".join(addresses)
    return [f"ip daddr {{ {targets} }} meta l4proto {{ tcp, udp }} th dport {RESOLVER_PORT} accept"]


def _planned_in(enis: list[EniPlan], address: int) -> bool:
    text = ip_str(address)
    return any(a.split("/")[0] == text for e in enis for a in e.addresses)


def _subnet_of(ix: Index, e: EniPlan) -> str:
    return ix.topo.network_interfaces[e.id].get("SubnetId", "")


def _destinations(spans, blocks, gateway=None) -> list[tuple[int, int, str]]:
    """Route spans resolved to what the router does: a local route's addresses in a subnet go
    on to that subnet's inbound ACL (`return` when it allows everything); its addresses in no
    subnet have no destination (dropped); a gateway's token becomes what `gateway` says.
    Drops are left out: they are what falls through."""
    out: list[list] = []
    for lo, hi, verdict in spans:
        if verdict == "drop":
            continue
        if verdict != "return":
            pieces = gateway(lo, hi, verdict) if gateway else []
        else:
            pieces = [(max(lo, b_lo), min(hi, b_hi), f"goto {acl}" if acl else "return")
                      for b_lo, b_hi, acl in blocks if b_lo <= hi and lo <= b_hi]
        for p_lo, p_hi, v in pieces:
            if v == "drop":
                continue
            if out and out[-1][2] == v and out[-1][1] == p_lo - 1:
                out[-1][1] = p_hi
            else:
                out.append([p_lo, p_hi, v])
    return [(lo, hi, v) for lo, hi, v in out]


def _route_spans(ix: Index, rtb_id: str) -> tuple[tuple[int, int, str], ...]:
    record = ix.topo.route_tables[rtb_id]
    pls = sorted({r.get("DestinationPrefixListId") for r in record.get("Routes") or ()
                  if r.get("DestinationPrefixListId")})
    key = ("rtb", rtb_id, repr(record.get("Routes")),
           tuple((pl, tuple(ix.pl_cidrs.get(pl, ()))) for pl in pls))
    return _memoized(key, lambda: tuple(flatten_routes(ix.route_table(rtb_id))))


def _acl_chain(ix: Index, acl_id: str, egress: bool):
    """One direction of a network ACL: TCP and UDP by the region their ordered entries allow,
    the other protocols by walking the entries in order. Also says whether it allows
    everything (the default ACL does): then it needs no checking at all."""
    name = f"{nft_name(acl_id)}_{'out' if egress else 'in'}"
    peer = "daddr" if egress else "saddr"
    entries = ix.acl_entries(acl_id, egress)
    made_sets, rules, everything = [], [], True
    for proto, word in ((TCP, "tcp"), (UDP, "udp")):
        rows = paint([(*_span(e[3], e[4]), *((e[5], e[6]) if e[2] == proto else (0, 65535)),
                       bool(e[1])) for e in entries if e[2] in (ANY, proto)])
        everything = everything and rows == [(0, ALL, FULL)]
        more, matches = region_rules(rows, peer, word, "return", f"{name}_{word}")
        made_sets += more
        rules += [*matches, f"meta l4proto {word} drop"]
    rest = [e for e in entries if e[2] not in (TCP, UDP)]
    everything = everything and bool(rest) and rest[0][1] and rest[0][2] == ANY and rest[0][4] == 0
    rules += [_join(_peer_cidr(peer, e[3], e[4]), _proto_match(e[2], e[5], e[6]),
                    "return" if e[1] else "drop") for e in rest]
    return made_sets, [NftChain(name, (*rules, "drop"))], everything


def _sg_chain(ix: Index, group_id: str, egress: bool, peers):
    """One direction of a security group: its TCP, UDP and all-traffic rules by one set
    lookup each (their union; a group reference is its members' addresses, a prefix list
    its CIDRs), ICMP and other protocols rule by rule."""
    suffix = "out" if egress else "in"
    name = f"{nft_name(group_id)}_{suffix}"
    peer = "daddr" if egress else "saddr"
    verdict = "goto ingress" if egress else "accept"  # egress goes on to the ingress rules
    members = dict(peers[0])
    cidrs = dict(peers[1])

    def spans(rule) -> list[tuple[int, int]]:
        kind, a = rule[3], rule[4]
        if kind == SG_CIDR:
            return [_span(a, rule[5])]
        if kind == SG_GROUP:
            return [(m, m) for m in members.get(a, ())]
        return [_span(*cidr(c)[:2]) for c in cidrs.get(a, ())]

    rules_ = ix.sg_rules(group_id, egress)
    made_sets, rules = [], []
    everything = merge([s for r in rules_ if r[0] == ANY for s in spans(r)])
    if len(everything) > INLINE:
        made_sets.append(NftSet(f"{name}_all", "type ipv4_addr; flags interval;",
                                tuple(_range(lo, hi, ip_str) for lo, hi in everything)))
        rules.append(f"ip {peer} @{name}_all {verdict}")
    else:
        rules += [_join("" if (lo, hi) == (0, ALL) else f"ip {peer} {_range(lo, hi, ip_str)}",
                        verdict) for lo, hi in everything]
    for proto, word in ((TCP, "tcp"), (UDP, "udp")):
        rows = paint([(lo, hi, r[1], r[2], True) for r in rules_ if r[0] == proto
                      for lo, hi in spans(r)])
        more, matches = region_rules(rows, peer, word, verdict, f"{name}_{word}")
        made_sets += more
        rules += matches
    for r in rules_:
        if r[0] in (TCP, UDP, ANY):
            continue
        for lo, hi in spans(r):
            rules.append(_join(f"ip {peer} {_range(lo, hi, ip_str)}" if (lo, hi) != (0, ALL)
                               else "", _proto_match(r[0], r[1], r[2]), verdict))
    return made_sets, [NftChain(name, tuple(rules))]


def _related(ix: Index, vpc: str, other: str | None) -> bool:
    """Group references see the members in the same VPC or a peered one (as the engine)."""
    return other == vpc or bool(other and ix.pcx_between.get(frozenset((vpc, other))))
