"""Properties of the engine on random topologies (hypothesis)."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vpclocal.network import Engine
from vpclocal.network.addr import cidr
from vpclocal.network.fixes import apply_changes

from .randnet import HOSTS, PORTS, PROTOCOLS, flows, networks

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def sample_flows(data, enis, k=6):
    return [data.draw(flows(enis)) for _ in range(k)]


def verdicts(topology, queries):
    e = Engine(topology)
    return [e.reachable(s, d, p, port) for s, d, p, port in queries]


@SETTINGS
@given(networks(), st.data())
def test_adding_an_allow_rule_never_removes_a_path(net, data):
    n, enis = net
    assume(enis)
    queries = sample_flows(data, enis)
    before = verdicts(n.t, queries)
    what = data.draw(st.sampled_from(["sg", "acl"]))
    proto = data.draw(st.sampled_from(["tcp", "udp", "icmp", "-1"]))
    port = data.draw(st.sampled_from(PORTS)) if proto in ("tcp", "udp") else None
    block = data.draw(st.sampled_from(["0.0.0.0/0", "10.0.0.0/16", "10.1.0.0/16",
                                       "198.51.100.0/24", "10.0.0.4/32"]))
    if what == "sg":
        g = data.draw(st.sampled_from(sorted(n.t.security_groups)))
        n.allow(g, data.draw(st.sampled_from(["ingress", "egress"])), proto, port, cidr=block)
    else:
        acl = data.draw(st.sampled_from(sorted(n.t.network_acls)))
        egress = data.draw(st.booleans())
        used = {x["RuleNumber"] for x in n.t.network_acls[acl]["Entries"] if x["Egress"] == egress}
        number = data.draw(st.integers(1, 32766).filter(lambda x: x not in used))
        num = {"tcp": "6", "udp": "17", "icmp": "1", "-1": "-1"}[proto]
        n.acl_entry(acl, number, egress, "allow", num, block,
                    (port, port) if port is not None else None)
    after = verdicts(n.t, queries)
    for q, b, a in zip(queries, before, after):
        assert a or not b, q


def _overlaps(a: str, b: str) -> bool:
    na, ma, _ = cidr(a)
    nb, mb, _ = cidr(b)
    return (na & mb) == nb or (nb & ma) == na


@SETTINGS
@given(networks(), st.data())
def test_removing_a_route_never_adds_a_path(net, data):
    """...as long as no other route of the table overlaps it (see the next test for why)."""
    n, enis = net
    assume(enis)
    candidates = []
    for rtb_id, rtb in n.t.route_tables.items():
        for i, r in enumerate(rtb["Routes"]):
            if r.get("GatewayId") == "local" or "DestinationCidrBlock" not in r:
                continue
            others = [o["DestinationCidrBlock"] for j, o in enumerate(rtb["Routes"])
                      if j != i and "DestinationCidrBlock" in o]
            others += [c["Cidr"] for o in rtb["Routes"] if "DestinationPrefixListId" in o
                       for c in n.t.prefix_lists[o["DestinationPrefixListId"]]["Entries"]]
            if not any(_overlaps(r["DestinationCidrBlock"], o) for o in others):
                candidates.append((rtb_id, i))
    assume(candidates)
    queries = sample_flows(data, enis)
    before = verdicts(n.t, queries)
    rtb_id, i = data.draw(st.sampled_from(candidates))
    del n.t.route_tables[rtb_id]["Routes"][i]
    after = verdicts(n.t, queries)
    for q, b, a in zip(queries, before, after):
        assert b or not a, q


def test_removing_an_overlapping_blackhole_route_can_add_a_path():
    """Why the property above needs its precondition: longest prefix match falls back."""
    from .builder import Net

    n = Net()
    vpc = n.vpc()
    igw = n.igw(vpc)
    s = n.subnet(vpc, "10.0.1.0/24")
    rtb = n.route_table(vpc, [s])
    n.route(rtb, "0.0.0.0/0", igw)
    n.route(rtb, "198.51.100.0/24", "nat-00000000000000bad", state="blackhole")
    x = n.eni(s, public=True)
    assert not Engine(n.t).reachable(x, "198.51.100.7", "tcp", 443)
    n.t.route_tables[rtb]["Routes"].pop()
    assert Engine(n.t).reachable(x, "198.51.100.7", "tcp", 443)


@SETTINGS
@given(networks(), st.data())
def test_a_path_found_has_every_hop_allowed(net, data):
    n, enis = net
    assume(enis)
    e = Engine(n.t)
    for src, dst, proto, port in sample_flows(data, enis, 4):
        a = e.analyze(src, dst, proto, port, fixes=False)
        assert a.reachable == e.reachable(src, dst, proto, port)
        if not a.reachable:
            assert a.explanations
            continue
        assert not a.explanations
        assert all(h.allowed for h in a.forward + a.return_)
        assert a.forward[0].component_id == src
        assert a.return_[-1].component_id == src
        for h in a.forward + a.return_:
            if h.component_type in ("security-group", "network-acl"):
                assert h.rule is not None
                assert h.rule.get("RuleAction", "allow") == "allow"
            if h.component_type == "route-table":
                assert h.route is not None and h.route["State"] == "active"
        if dst in HOSTS:
            assert a.forward[-1].component_id == dst
        else:
            assert dst in [h.component_id for h in a.forward]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks(), st.data())
def test_proposed_fixes_really_open_the_path(net, data):
    n, enis = net
    assume(enis)
    snapshot = copy.deepcopy(n.t)
    e = Engine(n.t)
    src, dst, proto, port = data.draw(flows(enis))
    a = e.analyze(src, dst, proto, port)
    assert n.t == snapshot  # the engine and the fix search never modify the records
    if a.reachable:
        return
    assert a.fixes, a.summary()
    if a.fixes_verified:
        assert all(f.verified for f in a.fixes)
        fixed = apply_changes(n.t, a.fixes)
        assert n.t == snapshot
        again = Engine(fixed).analyze(src, dst, proto, port, fixes=False)
        assert again.reachable, (a.summary(), [f.description for f in a.fixes], again.summary())
    else:
        assert any(not f.verified for f in a.fixes)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks(), st.sampled_from(PROTOCOLS), st.sampled_from(PORTS))
def test_matrix_agrees_with_the_engine_pair_by_pair(net, proto, port):
    n, enis = net
    assume(len(enis) >= 2)
    e = Engine(n.t)
    port = port if proto in ("tcp", "udp") else None
    m = e.matrix(enis, proto, port)
    for s in enis:
        for d in enis:
            if s != d:
                assert m.reachable(s, d) == e.reachable(s, d, proto, port), (s, d)
