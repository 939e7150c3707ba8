"""The compiler's pure parts against brute force (no kernel needed)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.network.builder import Net
from vpclocal.fabric.compiler import compile_plan, flatten_routes, paint
from vpclocal.network.routing import RouteTable

# a small universe: addresses 0..63, ports 0..15, so brute force can visit every point
spans = st.tuples(st.integers(0, 63), st.integers(0, 63)).map(sorted)
ports = st.tuples(st.integers(0, 15), st.integers(0, 15)).map(sorted)
entries = st.lists(st.tuples(spans, ports, st.booleans()), max_size=8)


def first_match(rules, address, port):
    for (a_lo, a_hi), (lo, hi), allow in rules:
        if a_lo <= address <= a_hi and lo <= port <= hi:
            return allow
    return False


@settings(max_examples=300, deadline=None)
@given(entries)
def test_paint_is_first_match(rules):
    rows = paint([(a[0], a[1], p[0], p[1], allow) for a, p, allow in rules], full=(0, 15))
    for a_lo, a_hi, spans_ in rows:  # disjoint rows, disjoint spans
        assert a_lo <= a_hi and all(lo <= hi for lo, hi in spans_)
    for address in range(64):
        for port in range(16):
            inside = any(a_lo <= address <= a_hi and any(lo <= port <= hi for lo, hi in s)
                         for a_lo, a_hi, s in rows)
            assert inside == first_match(rules, address, port), (address, port)


CIDRS = ["10.0.0.0/16", "10.0.1.0/24", "10.0.1.128/25", "10.0.0.0/8", "0.0.0.0/0",
         "10.0.2.0/23", "192.0.2.0/24"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(CIDRS), st.sampled_from(["local", "igw", "dead"])),
                max_size=6, unique_by=lambda r: r[0]),
       st.lists(st.integers(0, (1 << 32) - 1), min_size=20, max_size=20))
def test_flattened_routes_are_the_longest_prefix_match(routes, probes):
    table = RouteTable({"RouteTableId": "rtb-1", "Routes": [
        {"DestinationCidrBlock": c, "GatewayId": "local" if t == "local" else "igw-1",
         "State": "blackhole" if t == "dead" else "active"} for c, t in routes]}, lambda _: ())
    spans_ = flatten_routes(table)
    interesting = [int(ipaddress.ip_network(c).network_address) + d for c, _t in routes
                   for d in (0, 1, 255, 256)]
    for address in probes + interesting:
        route = table.lookup(address)
        want = (None if route is None else "drop" if route.state == "blackhole"
                else "return" if route.kind == "local" else "internet-gateway igw-1")
        got = next((v for lo, hi, v in spans_ if lo <= address <= hi), None)
        assert got == want, (ipaddress.ip_address(address), routes)


def test_plan_shape():
    n = Net()
    vpc = n.vpc()
    subnet = n.subnet(vpc, "10.0.1.0/24")
    eni = n.eni(subnet)
    n.eni(subnet, itype="nat_gateway", groups=())  # no NAT gateway's: not realized
    plan = compile_plan(n.t)
    assert list(plan.enis) == [eni]
    e = plan.enis[eni]
    assert (e.addresses, e.gateway, e.group) == (("10.0.1.4/24",), "10.0.1.1", 0x0A000100)
    assert len(e.port) <= 15
    router = plan.routers[vpc]
    assert {"routing", "filter", "ingress"} <= set(router.chains)
    assert router.chains["routing"].hook.startswith("type filter hook prerouting")


def test_only_routers_of_vpcs_with_a_flow_log_defer_their_drops():
    n = Net()
    logged, other = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    subnets = {v: n.subnet(v, cidr) for v, cidr in ((logged, "10.0.1.0/24"),
                                                      (other, "10.1.1.0/24"))}
    for v, subnet in subnets.items():
        acl = n.acl(v, [subnet])
        n.acl_entry(acl, 10, False, "deny", "6", "192.0.2.0/24", (22, 22))
        n.eni(subnet, [n.sg(v)])
    before = compile_plan(n.t)
    n.t.flow_logs["fl-1"] = {"FlowLogId": "fl-1", "ResourceId": subnets[logged],
                             "LogDestinationType": "cloud-watch-logs"}
    n.t.flow_logs["fl-2"] = {"FlowLogId": "fl-2", "ResourceId": other,
                             "LogDestinationType": "s3"}  # not delivered: not counted
    plan = compile_plan(n.t)
    assert plan.routers[other] == before.routers[other] and not plan.routers[other].flow_logs
    router = plan.routers[logged]
    rules = [r for c in router.chains.values() for r in c.rules]
    assert router.flow_logs
    assert [r for r in rules if r.endswith(" drop") or r == "drop"] == [
        "meta mark & 0x30000000 != 0 drop"] * 2  # the deferred drops, and nothing else
    for name, side in (("ei_", "dst"), ("eo_", "src"), ("acl_", "dst"), ("subnet_", "src")):
        chain = next(c for c in router.chains.values() if c.name.startswith(name)
                     and not (name == "acl_" and c.name.endswith("_out")))
        assert chain.rules[-1] == f"goto reject_{side}", chain


def test_ipv6_configuration_compiles_to_the_ipv4_plan():
    """The fabric carries IPv4 only (issue 12): IPv6 blocks, ::/0 rules, IPv6 ACL entries,
    IPv6 routes (local and to an egress-only gateway) and interface IPv6 addresses, in the
    shapes the EC2 service stores them, change nothing in the plan and crash nothing."""
    n = Net()
    vpc = n.vpc()
    subnet = n.subnet(vpc, "10.0.1.0/24")
    sg = n.sg(vpc)
    n.allow(sg, port=443, cidr="10.0.0.0/16")
    eni = n.eni(subnet, [sg])
    acl = n.acl(vpc, [subnet])
    n.acl_entry(acl, 100, False, "allow", "6", "10.0.0.0/16", (443, 443))
    before = compile_plan(n.t)

    block = "2600:1f18:abcd:ef00::/56"
    n.t.vpcs[vpc]["Ipv6CidrBlockAssociationSet"] = [{
        "AssociationId": "vpc-cidr-assoc-1", "Ipv6CidrBlock": block,
        "Ipv6CidrBlockState": {"State": "associated"}, "Ipv6Pool": "Amazon"}]
    n.t.subnets[subnet]["Ipv6CidrBlockAssociationSet"] = [{
        "AssociationId": "subnet-cidr-assoc-1", "Ipv6CidrBlock": "2600:1f18:abcd:ef00::/64",
        "Ipv6CidrBlockState": {"State": "associated"}}]
    for rtb in n.t.route_tables.values():
        rtb["Routes"] += [
            {"DestinationIpv6CidrBlock": block, "GatewayId": "local", "State": "active"},
            {"DestinationIpv6CidrBlock": "::/0", "EgressOnlyInternetGatewayId": "eigw-1",
             "State": "active"}]
    for key in ("IpPermissions", "IpPermissionsEgress"):
        n.t.security_groups[sg][key].append(
            {"IpProtocol": "-1", "IpRanges": [], "UserIdGroupPairs": [], "PrefixListIds": [],
             "Ipv6Ranges": [{"CidrIpv6": "::/0"}]})
    n.t.network_acls[acl]["Entries"].append(
        {"RuleNumber": 50, "Protocol": "-1", "RuleAction": "deny", "Egress": False,
         "Ipv6CidrBlock": "::/0"})
    n.t.network_interfaces[eni]["Ipv6Addresses"] = [
        {"Ipv6Address": "2600:1f18:abcd:ef00::1234", "IsPrimaryIpv6": False}]
    after = compile_plan(n.t)
    assert after.enis == before.enis
    assert after.routers == before.routers


def test_disrupted_subnets_deny_their_cidrs_both_ways_ahead_of_their_acl():
    """FIS disrupt-connectivity: scope `all` makes both ACL directions `disrupted` (drop);
    the other scopes' CIDRs (merged: touching and overlapping ones join) are dropped both ways
    ahead of the subnet's own ACL, which still decides the rest (or nothing, the default
    ACL); a subnet not disrupted, and the other VPC, are unchanged."""
    from vpclocal.fabric.service import disruptions

    n = Net()
    vpc, other = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    a, b, c = (n.subnet(vpc, f"10.0.{i}.0/24") for i in (1, 2, 3))
    d = n.subnet(other, "10.1.1.0/24")
    acl = n.acl(vpc, [b])
    n.acl_entry(acl, 10, True, "deny", "6", "192.0.2.0/24", (22, 22))
    for s in (a, b, c, d):
        n.eni(s, [n.sg(n.t.subnets[s]["VpcId"])])
    before = compile_plan(n.t)
    many = [f"198.51.100.{i * 16}/28" for i in range(0, 16, 2)]  # 8 disjoint: a set
    plan = compile_plan(n.t, disrupted=disruptions([
        {"SubnetId": a, "Scope": "s3", "Cidrs": ["203.0.113.192/28", "203.0.113.200/29"]},
        {"SubnetId": a, "Scope": "dynamodb", "Cidrs": ["203.0.113.208/28"]},
        {"SubnetId": b, "Scope": "prefix-list", "Cidrs": many},
        {"SubnetId": c, "Scope": "availability-zone", "Cidrs": []},  # nothing to deny
        {"SubnetId": d, "Scope": "all"}]))
    r, old = plan.routers[vpc], before.routers[vpc]
    name = {s: "dis_" + s.replace("-", "_") for s in (a, b)}
    assert r.chains[name[a] + "_o"].rules == ("ip daddr 203.0.113.192-203.0.113.223 drop",)
    assert r.chains[name[a] + "_i"].rules == ("ip saddr 203.0.113.192-203.0.113.223 drop",)
    acl_out = f"{acl.replace('-', '_')}_out"
    assert r.chains[name[b] + "_o"].rules == (f"ip daddr @{name[b]}_os drop", f"goto {acl_out}")
    assert r.chains[name[b] + "_i"].rules == (f"ip saddr @{name[b]}_is drop",
                                              f"goto {acl_out[:-4]}_in")  # (denies all)
    assert len(r.sets[name[b] + "_os"].elements) == 8
    subnet_chain = {s: r.chains[s.replace("-", "_")].rules for s in (a, b, c)}
    assert f"jump {name[a]}_o" in subnet_chain[a] and f"jump {name[b]}_o" in subnet_chain[b]
    # c denies nothing (no chain of its own); its traffic to a meets a's inbound disruption
    assert not any(ch.startswith("dis_" + c.replace("-", "_")) for ch in r.chains)
    assert tuple(rule.replace(f"goto {name[a]}_i", "return").replace(
        f"goto {name[b]}_i", f"goto {acl_out[:-4]}_in") for rule in subnet_chain[c]) == (
        old.chains[c.replace("-", "_")].rules)
    assert any(e.endswith(f"goto {name[a]}_i") for e in r.sets["arrive"].elements)
    assert "disrupted" not in r.chains
    assert plan.routers[other].chains["disrupted"].rules == ("drop",)
    assert "jump disrupted" in plan.routers[other].chains[d.replace("-", "_")].rules
    # the records gone: the plan is what it was
    assert compile_plan(n.t, disrupted=disruptions([])).routers == before.routers


def test_disruption_records_combine_per_subnet_and_fail_closed():
    from vpclocal.fabric.service import disruptions

    assert disruptions([
        {"SubnetId": "s1", "Scope": "s3", "Cidrs": ["203.0.113.192/28"]},
        {"SubnetId": "s1", "Scope": "prefix-list", "Cidrs": ["192.0.2.0/24"]},
        {"SubnetId": "s2", "Scope": "s3", "Cidrs": ["203.0.113.192/28"]},
        {"SubnetId": "s2", "Scope": "all"},
        {"SubnetId": "s2", "Scope": "dynamodb", "Cidrs": ["203.0.113.208/28"]},
        {"SubnetId": "s3", "Scope": "availability-zone"},  # unresolved: everything
    ]) == {"s1": frozenset({"203.0.113.192/28", "192.0.2.0/24"}), "s2": None, "s3": None}
