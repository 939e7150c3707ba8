"""All-pairs reachability between network interfaces, without a million walks.

The verdict of a flow between two interfaces of the same (or peered) VPC is a conjunction of
checks, each of which depends on one side's configuration and the other side's address:

    source SG egress (source groups; destination address and groups)
    source subnet ACL outbound, route table, ACL inbound of the replies (source subnet; dest address)
    destination SG ingress (destination groups; source address and groups)
    destination subnet ACL inbound, ACL outbound and route of the replies (dest subnet; source address)

so each check is computed once per security group / ACL / route table as a *bitset* over all
interfaces (Python ints; interfaces sorted by address, so a CIDR block is a contiguous run of
bits), the per-source checks are ANDed into a row, the per-destination checks into a column,
and the matrix is rows AND transposed columns. ACLs and route tables are evaluated once per
*atom* (the address intervals their own CIDR blocks cut the space into), with the engine's own
rule functions, so the bitsets agree with the engine by construction.

Pairs whose path leaves the VPCs (a destination reached at its public address over the
internet) are the conjunction of a source half (source -> "an internet host at the
destination's public address") and a destination half ("the internet at the source's public
address" -> destination), each memoized per interface and global address atom. Anything
unusual (routes through middleboxes, overlapping addresses, security group rules that only
cover the flow together) is decided by the engine itself, pair by pair.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .addr import ALL_ONES, cidr, ip_str, non_internet_blocks
from .flows import Endpoint, Flow, make_flow, resolve
from .routing import LOCAL, PCX
from .rules import ANY, FULL, OTHER, PORTED, SG_CIDR, SG_GROUP, acl_allows


@dataclass
class Matrix:
    """Which interfaces reach which. Pairs of an interface with itself are not analyzed."""

    enis: list[str]
    protocol: str
    port: int | None
    rows: list[int]  # rows[i] bit j: enis[i] reaches enis[j]
    stats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pos = {e: i for i, e in enumerate(self.enis)}

    def reachable(self, source: str, destination: str) -> bool:
        return bool(self.rows[self._pos[source]] >> self._pos[destination] & 1)

    def destinations(self, source: str) -> list[str]:
        row = self.rows[self._pos[source]]
        return [e for j, e in enumerate(self.enis) if row >> j & 1]

    def count(self) -> int:
        return sum((r).bit_count() for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enis": list(self.enis),
            "protocol": self.protocol,
            "port": self.port,
            "reachable": {e: self.destinations(e) for e in self.enis},
            "pairs_reachable": self.count(),
        }


def _transpose(rows: list[int], n: int) -> list[int]:
    if n == 0:
        return []
    texts = [format(r, f"0{n}b")[::-1] for r in rows]  # char j = bit j
    return [int("".join(col)[::-1], 2) for col in zip(*texts)]


class _Space:
    """The interfaces sorted by address; address ranges -> bitsets."""

    def __init__(self, ips: list[int]) -> None:
        self.order = sorted(range(len(ips)), key=lambda i: ips[i])
        self.sorted_ips = [ips[i] for i in self.order]
        self.n = len(ips)
        # bitsets are indexed by the caller's positions, not sorted positions: build a
        # permutation table so a sorted run maps to caller bits
        self._prefix: list[int] = [0]
        acc = 0
        for i in self.order:
            acc |= 1 << i
            self._prefix.append(acc)

    def range_bits(self, lo: int, hi: int) -> int:
        a = bisect_left(self.sorted_ips, lo)
        b = bisect_right(self.sorted_ips, hi)
        if a >= b:
            return 0
        return self._prefix[b] & ~self._prefix[a]

    def block_bits(self, net: int, mask: int) -> int:
        return self.range_bits(net, net | (~mask & ALL_ONES))


def _atoms(blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intervals a set of CIDR blocks (as (net, mask)) cut the address space into."""
    points = {0}
    for net, mask in blocks:
        points.add(net)
        end = (net | (~mask & ALL_ONES)) + 1
        if end <= ALL_ONES:
            points.add(end)
    cuts = sorted(points)
    return [(cuts[i], (cuts[i + 1] - 1) if i + 1 < len(cuts) else ALL_ONES)
            for i in range(len(cuts))]


class _Builder:
    def __init__(self, engine, enis: Sequence[str], flow: Flow) -> None:
        self.engine = engine
        self.ix = engine.index
        self.topo = engine.topology
        self.flow = flow
        self.enis = list(enis)
        self.n = len(self.enis)
        self.stats = {"fast_pairs": 0, "internet_pairs": 0, "engine_pairs": 0}

    # ---- per-interface facts ------------------------------------------------------------------

    def prepare(self) -> None:
        ix, topo = self.ix, self.topo
        n = self.n
        self.ep: list[Endpoint] = []
        self.eligible = 0
        ips = []
        for i, eni in enumerate(self.enis):
            ep = resolve(ix, eni, as_destination=True)
            self.ep.append(ep)
            ok = (ep.kind == "eni" and ep.ip is not None and ep.subnet in topo.subnets
                  and ep.vpc is not None and ix.in_vpc(ep.vpc, ep.ip)
                  and ix.owner_in_vpc(ep.vpc, ep.ip) == ("eni", eni)
                  and ix.subnet_for(ep.vpc, ep.ip) == ep.subnet)
            if ok:
                self.eligible |= 1 << i
            ips.append(ep.ip if ep.ip is not None else 0)
        self.space = _Space(ips)
        self.all = (1 << n) - 1
        self.vpc_bits: dict[str, int] = {}
        self.subnet_bits: dict[str, int] = {}
        self.group_bits: dict[str, int] = {}
        for i, ep in enumerate(self.ep):
            bit = 1 << i
            if ep.vpc:
                self.vpc_bits[ep.vpc] = self.vpc_bits.get(ep.vpc, 0) | bit
            if ep.subnet:
                self.subnet_bits[ep.subnet] = self.subnet_bits.get(ep.subnet, 0) | bit
            for g in ep.groups:
                self.group_bits[g] = self.group_bits.get(g, 0) | bit
        # VPC pairs joined by a peering connection (in any state: that makes the engine address
        # the destination privately) and the active ones, by (vpc, peer)
        self.peered: dict[str, set[str]] = {}
        for pair in ix.pcx_between:
            a, b = tuple(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
            self.peered.setdefault(a, set()).add(b)
            self.peered.setdefault(b, set()).add(a)

    # ---- security groups ------------------------------------------------------------------------

    def _peer_bits(self, rule) -> int:
        kind = rule[3]
        if kind == SG_CIDR:
            return self.space.block_bits(rule[4], rule[5])
        if kind == SG_GROUP:
            return self.group_bits.get(rule[4], 0)
        bits = 0
        for net, mask, _ in self.ix.pl_blocks.get(rule[4], ()):
            bits |= self.space.block_bits(net, mask)
        return bits

    def _group_class_bits(self, group: str, egress: bool, cache: dict) -> list[tuple[int, int]]:
        """Per flow class: (peers fully allowed by one rule, peers touched by any rule)."""
        key = (group, egress)
        hit = cache.get(key)
        if hit is not None:
            return hit
        out = []
        rules = self.ix.sg_rules(group, egress)
        for cls_proto, lo, hi in self.flow.classes:
            full = touched = 0
            for rule in rules:
                r_proto = rule[0]
                if r_proto == ANY:
                    rlo, rhi = FULL
                elif cls_proto == OTHER or r_proto != cls_proto:
                    continue
                elif r_proto in PORTED:
                    rlo, rhi = rule[1], rule[2]
                else:
                    rlo, rhi = FULL
                if rhi < lo or rlo > hi:
                    continue
                bits = self._peer_bits(rule)
                touched |= bits
                if rlo <= lo and hi <= rhi:
                    full |= bits
            out.append((full, touched))
        cache[key] = out
        return out

    def sg_sets(self, egress: bool) -> tuple[list[int], list[int]]:
        """For each interface: peers its groups allow (egress: destinations; ingress: sources),
        and peers that need the engine (only several rules together could cover the flow)."""
        cache: dict = {}
        allowed, unsure = [], []
        for ep in self.ep:
            if not ep.groups:
                allowed.append(self.all)
                unsure.append(0)
                continue
            full_all = touched_all = self.all
            per = [self._group_class_bits(g, egress, cache) for g in ep.groups]
            for c in range(len(self.flow.classes)):
                full = touched = 0
                for group_cls in per:
                    full |= group_cls[c][0]
                    touched |= group_cls[c][1]
                full_all &= full
                touched_all &= touched
            allowed.append(full_all)
            unsure.append(touched_all & ~full_all)
        return allowed, unsure

    # ---- ACLs and routes, per atom ------------------------------------------------------------

    def acl_bits(self, acl_id: str | None, egress: bool, reply: bool, cache: dict) -> int:
        if acl_id is None:
            return self.all
        key = (acl_id, egress, reply)
        hit = cache.get(key)
        if hit is not None:
            return hit
        entries = self.ix.acl_entries(acl_id, egress)
        classes = self.flow.reply_classes if reply else self.flow.classes
        bits = 0
        for lo, hi in _atoms([(e[3], e[4]) for e in entries]):
            run = self.space.range_bits(lo, hi)
            if run and acl_allows(entries, lo, classes)[0]:
                bits |= run
        cache[key] = bits
        return bits

    def route_bits(self, rtb_id: str | None, vpc: str, cache: dict) -> tuple[int, int]:
        """(peers delivered privately from a subnet using rtb_id in vpc, peers for the engine)."""
        key = (rtb_id, vpc)
        hit = cache.get(key)
        if hit is not None:
            return hit
        table = self.ix.route_table(rtb_id) if rtb_id else None
        ok = odd = 0
        if table is not None:
            blocks = [cidr(r.destination)[:2] for r in table.routes]
            for lo, hi in _atoms(blocks):
                run = self.space.range_bits(lo, hi)
                if not run:
                    continue
                route = table.lookup(lo)
                if route is None or route.state == "blackhole":
                    continue
                if route.kind == LOCAL:
                    ok |= run & self.vpc_bits.get(vpc, 0)
                    odd |= run & ~self.vpc_bits.get(vpc, 0)
                elif route.kind == PCX:
                    pcx = self.topo.vpc_peering_connections.get(route.target)
                    ends = self.ix.pcx_vpcs.get(route.target)
                    if pcx is None or ends is None or vpc not in ends:
                        continue
                    if (pcx.get("Status") or {}).get("Code", "active") != "active":
                        continue
                    peer = ends[1] if ends[0] == vpc else ends[0]
                    ok |= run & self.vpc_bits.get(peer, 0)
                    odd |= run & ~self.vpc_bits.get(peer, 0)
                else:
                    odd |= run
        cache[key] = (ok, odd)
        return ok, odd

    # ---- the private part -------------------------------------------------------------------------

    def private_part(self) -> tuple[list[int], list[int]]:
        ix = self.ix
        n = self.n
        eg_ok, eg_unsure = self.sg_sets(True)
        in_ok, in_unsure = self.sg_sets(False)
        acl_cache: dict = {}
        rt_cache: dict = {}
        rows, cols, row_engine, col_engine = [], [], [], []
        self.private_peers: list[int] = []
        for i, ep in enumerate(self.ep):
            if not (self.eligible >> i & 1):
                rows.append(0)
                cols.append(0)
                row_engine.append(self.all)
                col_engine.append(0)
                self.private_peers.append(0)
                continue
            peers = self.vpc_bits.get(ep.vpc, 0)
            for other in self.peered.get(ep.vpc, ()):
                peers |= self.vpc_bits.get(other, 0)
            self.private_peers.append(peers)
            acl = ix.acl_id_for_subnet(ep.subnet)
            rtb = ix.rtb_id_for_subnet(ep.subnet)
            same = self.subnet_bits.get(ep.subnet, 0)
            route_ok, route_odd = self.route_bits(rtb, ep.vpc, rt_cache)
            crossing = (self.acl_bits(acl, True, False, acl_cache) & route_ok
                        & self.acl_bits(acl, False, True, acl_cache))
            # as a source: row over destinations
            rows.append(eg_ok[i] & (same | crossing) & peers)
            row_engine.append((eg_unsure[i] | (route_odd & ~same)) & peers)
            # as a destination: column over sources
            back = (self.acl_bits(acl, False, False, acl_cache) & route_ok
                    & self.acl_bits(acl, True, True, acl_cache))
            cols.append(in_ok[i] & (same | back) & peers)
            col_engine.append((in_unsure[i] | (route_odd & ~same)) & peers)
        cols_t = _transpose(cols, n)
        engine_t = _transpose(col_engine, n)
        out = []
        need = []
        for i in range(n):
            not_self = self.all & ~(1 << i)
            if self.eligible >> i & 1:
                engine_pairs = ((row_engine[i] | engine_t[i]) & self.private_peers[i]
                                | ~self.eligible) & not_self
            else:
                engine_pairs = not_self
            out.append(rows[i] & cols_t[i] & not_self & ~engine_pairs & self.eligible)
            need.append(engine_pairs)
        return out, need

    # ---- pairs over the internet --------------------------------------------------------------------

    def global_atoms(self) -> list[int]:
        ix, topo = self.ix, self.topo
        blocks: list[tuple[int, int]] = []
        for sg in topo.security_groups:
            for egress in (True, False):
                blocks += [(r[4], r[5]) for r in ix.sg_rules(sg, egress) if r[3] == SG_CIDR]
        for acl in topo.network_acls:
            for egress in (True, False):
                blocks += [(e[3], e[4]) for e in ix.acl_entries(acl, egress)]
        for rtb in topo.route_tables:
            table = ix.route_table(rtb)
            if table:
                blocks += [cidr(r.destination)[:2] for r in table.routes]
        for pl_blocks in ix.pl_blocks.values():
            blocks += [b[:2] for b in pl_blocks]
        for vpc_blocks in ix.vpc_blocks.values():
            blocks += [b[:2] for b in vpc_blocks]
        blocks += [b[:2] for b in ix.subnet_block.values()]
        blocks += [b[:2] for b in non_internet_blocks()]
        return sorted({lo for lo, _hi in _atoms(blocks)})

    def internet_part(self, rows: list[int], need: list[int]) -> None:
        from .engine import _Walk

        cuts = self.global_atoms()

        def atom(address: int) -> int:
            return bisect_right(cuts, address)

        half_src: dict[tuple[int, int], int | None] = {}  # (i, atom(X)) -> public source or None
        half_dst: dict[tuple[int, int], bool] = {}  # (j, atom(E)) -> ok
        flow = self.flow
        publics = [(j, ep.public) for j, ep in enumerate(self.ep)
                   if ep.public is not None and ep.kind == "eni"]
        for i, ep in enumerate(self.ep):
            if ep.kind != "eni" or ep.ip is None:
                continue
            peers = self.private_peers[i] if self.eligible >> i & 1 else None
            if peers is None:
                continue  # the engine decides every pair of this interface
            for j, public in publics:
                if j == i or peers >> j & 1 or need[i] >> j & 1:
                    continue
                self.stats["internet_pairs"] += 1
                key = (i, atom(public))
                if key not in half_src:
                    target = Endpoint("internet", ip_str(public), public, fixed=True)
                    walk = _Walk(self.engine, self.ep[i], target, flow, trace=False)
                    half_src[key] = walk.internet_source if walk.run() else None
                source_public = half_src[key]
                if source_public is None:
                    continue
                key2 = (j, atom(source_public))
                ok = half_dst.get(key2)
                if ok is None:
                    origin = Endpoint("internet", ip_str(source_public), source_public, fixed=True)
                    dest = Endpoint("eni", self.enis[j], public, self.ep[j].vpc,
                                    self.ep[j].subnet, self.ep[j].groups, public, fixed=True)
                    ok = half_dst[key2] = _Walk(self.engine, origin, dest, flow,
                                                trace=False).run()
                if ok:
                    rows[i] |= 1 << j

    def engine_pairs(self, rows: list[int], need: list[int]) -> None:
        for i, pairs in enumerate(need):
            bits = pairs & ~(1 << i)
            while bits:
                low = bits & -bits
                j = low.bit_length() - 1
                bits ^= low
                src = resolve(self.ix, self.enis[i], as_destination=False)
                dst = resolve(self.ix, self.enis[j], as_destination=True)
                self.engine.choose_address(src, dst)
                self.stats["engine_pairs"] += 1
                if self.engine.reachable_endpoints(src, dst, self.flow):
                    rows[i] |= low


def reachability_matrix(engine, enis: Sequence[str], protocol: str | int = "tcp",
                        port: int | None = None, *, source_port=None, icmp_type: int = 8,
                        icmp_code: int = 0) -> Matrix:
    flow = make_flow(protocol, port, source_port, icmp_type, icmp_code)
    b = _Builder(engine, enis, flow)
    b.prepare()
    rows, need = b.private_part()
    b.stats["fast_pairs"] = sum((r).bit_count() for r in rows)
    b.internet_part(rows, need)
    b.engine_pairs(rows, need)
    return Matrix(list(enis), flow.protocol_name, flow.port, rows, b.stats)
