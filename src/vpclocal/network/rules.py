"""Security group rules and network ACL entries compiled to tuples, and their matching.

A flow's traffic is described as a list of *classes* ``(protocol, lo, hi)``: a protocol number
and an inclusive range on that protocol's "port" axis. For TCP and UDP the axis is the port;
for ICMP it is ``type * 256 + code`` (so "type 8, any code" is one range); other protocols
have no ports and use the single point 0. A TCP request to port 443 is ``[(6, 443, 443)]``;
its reply, which goes to the client's ephemeral port, is ``[(6, 1024, 65535)]``; "all
traffic" (protocol -1) is every TCP, UDP and ICMP value plus OTHER, the protocols without
ports, which only an "all traffic" rule matches.

A class list is allowed by a security group when the union of the matching allow rules covers
it (security groups only allow), and by a network ACL when every value meets an allow entry
before any deny entry, entries taken in rule-number order (ACLs are ordered and stateless).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .addr import AddressError, cidr

TCP, UDP, ICMP = 6, 17, 1
ANY = -1  # "all traffic" in rules; in a flow it is expanded to ALL_TRAFFIC
OTHER = -2  # protocols without ports, inside an all-traffic flow
PORTED = (TCP, UDP, ICMP)
FULL = (0, 65535)

ALL_TRAFFIC: tuple[tuple[int, int, int], ...] = (
    (TCP, 0, 65535),
    (UDP, 0, 65535),
    (ICMP, 0, 65535),
    (OTHER, 0, 0),
)

_NAMES = {"tcp": TCP, "udp": UDP, "icmp": ICMP, "icmpv6": 58, "-1": ANY, "all": ANY}
_NUMBER_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ANY: "-1", 58: "icmpv6"}

# ICMP requests and their replies (echo, timestamp, information, address mask).
ICMP_REPLY_TYPE = {8: 0, 13: 14, 15: 16, 17: 18}


def proto_number(value: object) -> int:
    """'tcp' / '6' / 6 -> 6; '-1' / 'all' -> -1. Raises ValueError."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().lower()
        if text in _NAMES:
            return _NAMES[text]
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"unknown protocol {value!r}") from None
    if number != ANY and not 0 <= number <= 255:
        raise ValueError(f"unknown protocol {value!r}")
    return number


def proto_name(number: int) -> str:
    return _NUMBER_NAMES.get(number, str(number))


def icmp_value(icmp_type: int, icmp_code: int) -> int:
    return icmp_type * 256 + icmp_code


def icmp_range(icmp_type: int | None, icmp_code: int | None) -> tuple[int, int]:
    """The ICMP axis range of a rule: type -1 is every type, code -1 every code of a type."""
    if icmp_type is None or icmp_type < 0:
        return FULL
    if icmp_code is None or icmp_code < 0:
        return icmp_type * 256, icmp_type * 256 + 255
    return icmp_type * 256 + icmp_code, icmp_type * 256 + icmp_code


def flow_classes(proto: int, lo: int, hi: int) -> tuple[tuple[int, int, int], ...]:
    if proto == ANY:
        return ALL_TRAFFIC
    if proto not in PORTED:
        return ((proto, 0, 0),)
    return ((proto, lo, hi),)


# --------------------------------------------------------------------------------------------
# Security groups

SG_CIDR, SG_GROUP, SG_PREFIX_LIST = 0, 1, 2


class SgRule(tuple):
    """(proto, lo, hi, kind, a, b, group_id, egress, permission, peer) as a tuple subclass.

    kind SG_CIDR: a = network, b = mask; SG_GROUP: a = referenced group id;
    SG_PREFIX_LIST: a = prefix list id. permission and peer are the records it came from.
    """

    __slots__ = ()

    proto = property(lambda self: self[0])
    lo = property(lambda self: self[1])
    hi = property(lambda self: self[2])
    kind = property(lambda self: self[3])
    group_id = property(lambda self: self[6])
    egress = property(lambda self: self[7])

    def describe(self) -> dict:
        """The rule in the shape of EC2's AnalysisSecurityGroupRule (plus the group it names)."""
        proto, lo, hi, kind, a, _b, group_id, egress, perm, peer = self
        out: dict = {
            "Direction": "egress" if egress else "ingress",
            "SecurityGroupId": group_id,
            "Protocol": proto_name(proto),
        }
        if proto in (TCP, UDP):
            out["PortRange"] = {"From": lo, "To": hi}
        elif proto == ICMP and (lo, hi) != FULL:
            out["PortRange"] = {"From": perm.get("FromPort", -1), "To": perm.get("ToPort", -1)}
        if kind == SG_CIDR:
            out["Cidr"] = peer.get("CidrIp")
        elif kind == SG_PREFIX_LIST:
            out["PrefixListId"] = a
        else:
            out["ReferencedGroupId"] = a
        return out


def _perm_range(proto: int, perm: dict) -> tuple[int, int]:
    if proto in (TCP, UDP):
        lo = perm.get("FromPort")
        hi = perm.get("ToPort")
        if lo is None or lo < 0:
            return FULL
        return int(lo), int(hi if hi is not None and hi >= 0 else lo)
    if proto == ICMP:
        return icmp_range(perm.get("FromPort"), perm.get("ToPort"))
    return FULL


def compile_permissions(group_id: str, permissions: Iterable[dict], egress: bool) -> list[SgRule]:
    rules: list[SgRule] = []
    for perm in permissions or ():
        try:
            proto = proto_number(perm.get("IpProtocol", "-1"))
        except ValueError:
            continue
        if proto == 58:  # ICMPv6 never matches IPv4 traffic
            continue
        lo, hi = _perm_range(proto, perm)
        for peer in perm.get("IpRanges") or ():
            try:
                net, m, _ = cidr(peer["CidrIp"])
            except (AddressError, KeyError):
                continue
            rules.append(SgRule((proto, lo, hi, SG_CIDR, net, m, group_id, egress, perm, peer)))
        for peer in perm.get("UserIdGroupPairs") or ():
            ref = peer.get("GroupId")
            if ref:
                rules.append(SgRule((proto, lo, hi, SG_GROUP, ref, 0, group_id, egress, perm, peer)))
        for peer in perm.get("PrefixListIds") or ():
            ref = peer.get("PrefixListId")
            if ref:
                rules.append(
                    SgRule((proto, lo, hi, SG_PREFIX_LIST, ref, 0, group_id, egress, perm, peer))
                )
    return rules


def _rule_range_for(rule_proto: int, rlo: int, rhi: int, cls_proto: int) -> tuple[int, int] | None:
    """The part of a class's axis a rule can match, or None if the protocols differ."""
    if rule_proto == ANY:
        return FULL
    if cls_proto == OTHER or rule_proto != cls_proto:
        return None
    if rule_proto in PORTED:
        return rlo, rhi
    return FULL


def sg_allows(
    rule_lists: Iterable[Sequence[SgRule]],
    peer_ip: int,
    peer_groups: frozenset[str] | set[str],
    in_prefix_list: Callable[[str, int], bool],
    classes: Sequence[tuple[int, int, int]],
) -> tuple[bool, SgRule | None]:
    """Do the rules (of every group of an interface) allow traffic to/from peer_ip?

    peer_groups are the groups of the peer interface when it is addressed by its private IP in
    the same or a peered VPC (group references match nothing else). Returns the first rule that
    matched, for the path report.
    """
    matching: list[SgRule] = []
    for rules in rule_lists:
        for rule in rules:
            kind = rule[3]
            if kind == SG_CIDR:
                if peer_ip & rule[5] != rule[4]:
                    continue
            elif kind == SG_GROUP:
                if rule[4] not in peer_groups:
                    continue
            elif not in_prefix_list(rule[4], peer_ip):
                continue
            matching.append(rule)
    if not matching:
        return False, None
    first: SgRule | None = None
    for cls_proto, lo, hi in classes:
        if lo == hi:
            hit = None
            for rule in matching:
                rng = _rule_range_for(rule[0], rule[1], rule[2], cls_proto)
                if rng is not None and rng[0] <= lo <= rng[1]:
                    hit = rule
                    break
            if hit is None:
                return False, None
            first = first or hit
            continue
        ranges = []
        for rule in matching:
            rng = _rule_range_for(rule[0], rule[1], rule[2], cls_proto)
            if rng is not None:
                ranges.append((rng, rule))
        ranges.sort(key=lambda item: item[0])
        reach = lo
        for (rlo, rhi), rule in ranges:
            if rlo > reach:
                break
            if rhi >= reach:
                first = first or rule
                reach = rhi + 1
                if reach > hi:
                    break
        if reach <= hi:
            return False, None
    return True, first


# --------------------------------------------------------------------------------------------
# Network ACLs


class AclEntry(tuple):
    """(rule_number, allow, proto, net, mask, lo, hi, record)."""

    __slots__ = ()

    rule_number = property(lambda self: self[0])
    allow = property(lambda self: self[1])
    proto = property(lambda self: self[2])
    record = property(lambda self: self[7])

    def describe(self) -> dict:
        """The entry in the shape of EC2's AnalysisAclRule."""
        rec = self[7]
        out = {
            "RuleNumber": self[0],
            "RuleAction": "allow" if self[1] else "deny",
            "Egress": bool(rec.get("Egress")),
            "Protocol": str(rec.get("Protocol")),
            "Cidr": rec.get("CidrBlock"),
        }
        if rec.get("PortRange"):
            out["PortRange"] = dict(rec["PortRange"])
        if rec.get("IcmpTypeCode"):
            out["IcmpTypeCode"] = dict(rec["IcmpTypeCode"])
        return out


def compile_entries(entries: Iterable[dict], egress: bool) -> list[AclEntry]:
    out: list[AclEntry] = []
    for rec in entries or ():
        if bool(rec.get("Egress")) != egress or not rec.get("CidrBlock"):
            continue  # IPv6 entries never match IPv4 traffic
        try:
            proto = proto_number(rec.get("Protocol", "-1"))
            net, m, _ = cidr(rec["CidrBlock"])
        except (ValueError, AddressError):
            continue
        if proto in (TCP, UDP) and rec.get("PortRange"):
            lo, hi = int(rec["PortRange"].get("From", 0)), int(rec["PortRange"].get("To", 65535))
        elif proto == ICMP and rec.get("IcmpTypeCode"):
            lo, hi = icmp_range(rec["IcmpTypeCode"].get("Type"), rec["IcmpTypeCode"].get("Code"))
        else:
            lo, hi = FULL
        allow = str(rec.get("RuleAction", "deny")).lower() == "allow"
        out.append(AclEntry((int(rec.get("RuleNumber", 32767)), allow, proto, net, m, lo, hi, rec)))
    out.sort(key=lambda e: e[0])
    return out


def acl_allows(
    entries: Sequence[AclEntry], peer_ip: int, classes: Sequence[tuple[int, int, int]]
) -> tuple[bool, AclEntry | None]:
    """Evaluate ordered ACL entries for traffic whose other end is peer_ip.

    Returns (allowed, entry): the deny entry that blocks (None when nothing matched at all,
    which AWS's implicit final deny covers), or the first allow entry that matched.
    """
    first_allow: AclEntry | None = None
    for cls_proto, lo, hi in classes:
        remaining = [(lo, hi)]
        for entry in entries:
            if peer_ip & entry[4] != entry[3]:
                continue
            e_proto = entry[2]
            partial = False
            if e_proto == ANY:
                elo, ehi = FULL
            elif cls_proto == OTHER:
                if e_proto in PORTED:
                    continue
                partial = True  # one protocol out of "every other protocol"
                elo, ehi = FULL
            elif e_proto != cls_proto:
                continue
            elif e_proto in PORTED:
                elo, ehi = entry[5], entry[6]
            else:
                elo, ehi = FULL
            if not any(r_lo <= ehi and elo <= r_hi for r_lo, r_hi in remaining):
                continue
            if not entry[1]:
                return False, entry
            if partial:
                continue
            first_allow = first_allow or entry
            remaining, _inside = cut(remaining, elo, ehi)
            if not remaining:
                break
        if remaining:
            return False, None
    return True, first_allow


def cut(spans, lo: int, hi: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Disjoint spans split by [lo, hi]: the parts outside it and the parts inside it (what a
    first-match rule leaves to later rules, and what it decides)."""
    outside, inside = [], []
    for s_lo, s_hi in spans:
        if s_hi < lo or s_lo > hi:
            outside.append((s_lo, s_hi))
            continue
        inside.append((max(s_lo, lo), min(s_hi, hi)))
        if s_lo < lo:
            outside.append((s_lo, lo - 1))
        if s_hi > hi:
            outside.append((hi + 1, s_hi))
    return outside, inside
