"""Rule matching, routing and endpoint semantics, and the API around analyze."""

from __future__ import annotations

import json

import botocore.session
import pytest

from vpclocal.network import Engine, analyze, analyze_any
from vpclocal.network.addr import ip
from vpclocal.network.routing import IGW, LOCAL, NAT, VPCE, RouteTable
from vpclocal.network.rules import (
    ALL_TRAFFIC,
    acl_allows,
    compile_entries,
    compile_permissions,
    flow_classes,
    sg_allows,
)

from .builder import Net

HOST = "198.51.100.7"


# ---- pure rule functions ----------------------------------------------------------------------


def _sg(perms):
    return [compile_permissions("sg-1", perms, False)]


def _perm(proto, lo=None, hi=None, cidr="0.0.0.0/0"):
    p = {"IpProtocol": proto, "IpRanges": [{"CidrIp": cidr}], "UserIdGroupPairs": [],
         "PrefixListIds": []}
    if lo is not None:
        p["FromPort"], p["ToPort"] = lo, hi
    return p


def _no_pl(pl, address):
    return False


def test_sg_ports_protocols_and_icmp():
    rules = _sg([_perm("tcp", 80, 90), _perm("icmp", 8, -1), _perm("udp", 53, 53, "10.0.0.0/8")])
    peer = ip("10.1.2.3")
    assert sg_allows(rules, peer, set(), _no_pl, flow_classes(6, 85, 85))[0]
    assert not sg_allows(rules, peer, set(), _no_pl, flow_classes(6, 91, 91))[0]
    assert sg_allows(rules, peer, set(), _no_pl, flow_classes(1, 8 * 256 + 0, 8 * 256))[0]
    assert not sg_allows(rules, peer, set(), _no_pl, flow_classes(1, 0, 0))[0]
    assert sg_allows(rules, peer, set(), _no_pl, flow_classes(17, 53, 53))[0]
    assert not sg_allows(rules, ip(HOST), set(), _no_pl, flow_classes(17, 53, 53))[0]
    # all traffic needs an all-traffic rule: port rules never cover the portless protocols
    assert not sg_allows(rules, peer, set(), _no_pl, ALL_TRAFFIC)[0]
    assert sg_allows(_sg([_perm("-1")]), peer, set(), _no_pl, ALL_TRAFFIC)[0]


def test_sg_union_of_rules_covers_a_range():
    rules = _sg([_perm("tcp", 0, 1000), _perm("tcp", 1001, 65535)])
    assert sg_allows(rules, 1, set(), _no_pl, [(6, 0, 65535)])[0]
    rules = _sg([_perm("tcp", 0, 1000), _perm("tcp", 1002, 65535)])
    assert not sg_allows(rules, 1, set(), _no_pl, [(6, 0, 65535)])[0]


def test_sg_group_reference_matches_members_only():
    perms = [{"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
              "UserIdGroupPairs": [{"GroupId": "sg-app"}]}]
    rules = [compile_permissions("sg-db", perms, False)]
    cls = flow_classes(6, 3306, 3306)
    assert sg_allows(rules, 5, {"sg-app", "sg-x"}, _no_pl, cls)[0]
    assert not sg_allows(rules, 5, {"sg-x"}, _no_pl, cls)[0]


def _acl(*entries):
    return compile_entries(
        [dict(e, Egress=False, CidrBlock=e.get("CidrBlock", "0.0.0.0/0")) for e in entries], False)


def test_acl_lowest_rule_number_wins_and_default_deny():
    entries = _acl({"RuleNumber": 200, "Protocol": "-1", "RuleAction": "allow"},
                   {"RuleNumber": 100, "Protocol": "6", "RuleAction": "deny",
                    "PortRange": {"From": 22, "To": 22}},
                   {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny"})
    ok, rule = acl_allows(entries, 1, flow_classes(6, 22, 22))
    assert not ok and rule.rule_number == 100
    ok, rule = acl_allows(entries, 1, flow_classes(6, 80, 80))
    assert ok and rule.rule_number == 200
    only_default = _acl({"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny"})
    ok, rule = acl_allows(only_default, 1, flow_classes(6, 80, 80))
    assert not ok and rule.rule_number == 32767


def test_acl_port_ranges_must_cover_the_whole_reply_range():
    entries = _acl({"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow",
                    "PortRange": {"From": 1024, "To": 40000}},
                   {"RuleNumber": 110, "Protocol": "6", "RuleAction": "allow",
                    "PortRange": {"From": 40001, "To": 65535}},
                   {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny"})
    assert acl_allows(entries, 1, [(6, 1024, 65535)])[0]
    gap = _acl({"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow",
                "PortRange": {"From": 32768, "To": 65535}},
               {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny"})
    assert not acl_allows(gap, 1, [(6, 1024, 65535)])[0]
    assert acl_allows(gap, 1, [(6, 40000, 40000)])[0]


def test_acl_icmp_and_all_traffic():
    entries = _acl({"RuleNumber": 100, "Protocol": "1", "RuleAction": "allow",
                    "IcmpTypeCode": {"Type": 0, "Code": -1}},
                   {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny"})
    assert acl_allows(entries, 1, flow_classes(1, 0, 0))[0]
    assert not acl_allows(entries, 1, flow_classes(1, 8 * 256, 8 * 256))[0]
    deny_esp = _acl({"RuleNumber": 50, "Protocol": "50", "RuleAction": "deny"},
                    {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow"})
    assert acl_allows(deny_esp, 1, flow_classes(6, 80, 80))[0]
    assert not acl_allows(deny_esp, 1, ALL_TRAFFIC)[0]


# ---- routing --------------------------------------------------------------------------------


def test_longest_prefix_match_with_prefix_lists():
    rec = {"RouteTableId": "rtb-1", "Routes": [
        {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
        {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"},
        {"DestinationPrefixListId": "pl-s3", "GatewayId": "vpce-1", "State": "active"},
        {"DestinationCidrBlock": "52.216.0.0/15", "GatewayId": "igw-1", "State": "active"},
    ]}
    table = RouteTable(rec, lambda pl: ["52.216.0.0/15", "3.5.0.0/19"])
    assert table.lookup(ip("10.0.3.4")).kind == LOCAL
    assert table.lookup(ip(HOST)).kind == NAT
    # same prefix: the CIDR route beats the prefix-list route
    assert table.lookup(ip("52.216.1.1")).kind == IGW
    assert table.lookup(ip("3.5.1.1")).kind == VPCE
    assert table.lookup(ip("3.5.1.1")).prefix_list == "pl-s3"


# ---- endpoints and the API ------------------------------------------------------------------


def lambda_in_two_subnets():
    n = Net()
    vpc = n.vpc()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.1.0/24", igw)
    a = n.subnet(vpc, "10.0.10.0/24")
    b = n.subnet(vpc, "10.0.11.0/24", "us-east-1b")
    rtb = n.route_table(vpc, [a, b])
    n.route(rtb, "0.0.0.0/0", n.nat(pub))
    sg = n.sg(vpc, "fn")
    acl = n.acl(vpc, [a])  # subnet a denies everything
    enis = [n.lambda_eni(a, [sg], "Fn"), n.lambda_eni(b, [sg], "Fn")]
    return n, enis, acl


def test_analyze_any_returns_the_first_source_that_gets_through():
    n, enis, _acl = lambda_in_two_subnets()
    res = analyze_any(n.t, enis, HOST, "tcp", 443)
    assert res.reachable
    assert res.analysis.source["id"] == enis[1]
    assert [a.source["id"] for a in res.blocked] == [enis[0]]
    assert res.blocked[0].codes[0] == "SUBNET_ACL_RESTRICTION"
    json.dumps(res.to_dict())


def test_analyze_any_when_every_source_is_blocked():
    n, enis, acl = lambda_in_two_subnets()
    res = analyze_any(n.t, enis, HOST, "tcp", 25, fixes=False)
    assert res.reachable  # the default SG and ACL of subnet b allow port 25 too
    n.acl_associate(acl, n.t.network_interfaces[enis[1]]["SubnetId"])
    res = analyze_any(n.t, enis, HOST, "tcp", 443)
    assert not res.reachable and res.analysis is None
    assert len(res.blocked) == 2 and all(a.fixes_verified for a in res.blocked)


def test_hostname_resolver_hook():
    n, enis, _ = lambda_in_two_subnets()
    names = {"api.example.com": HOST}
    res = Engine(n.t, resolver=names.get).analyze(enis[1], "api.example.com", "tcp", 443)
    assert res.reachable and res.destination["address"] == HOST


def test_hairpin_to_a_public_address_in_another_vpc():
    n = Net()
    va, vb = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    igw_a, igw_b = n.igw(va), n.igw(vb)
    pub_a = n.public_subnet(va, "10.0.1.0/24", igw_a)
    priv_a = n.subnet(va, "10.0.2.0/24")
    rtb = n.route_table(va, [priv_a])
    nat = n.nat(pub_a)
    n.route(rtb, "0.0.0.0/0", nat)
    pub_b = n.public_subnet(vb, "10.1.1.0/24", igw_b)
    web_sg = n.sg(vb, "web")
    web = n.eni(pub_b, [web_sg], public=True)
    client = n.eni(priv_a)
    res = analyze(n.t, client, web, "tcp", 443)
    assert res.destination["address"] == n.t.network_interfaces[web]["Association"]["PublicIp"]
    assert res.codes == ["ENI_SG_RULES_MISMATCH"]
    nat_ip = n.t.nat_gateways[nat]["NatGatewayAddresses"][0]["PublicIp"]
    assert f"IpRanges=[{{CidrIp={nat_ip}/32}}]" in res.fixes[0].commands[0]
    n.allow(web_sg, "ingress", "tcp", 443, cidr=f"{nat_ip}/32")
    res = analyze(n.t, client, web, "tcp", 443)
    assert res.reachable, res.summary()
    ids = [h.component_id for h in res.forward]
    assert ids.index(nat) < ids.index(igw_a) < ids.index(igw_b) < ids.index(web)


def test_interface_endpoint_as_destination():
    n = Net()
    vpc = n.vpc()
    a = n.subnet(vpc, "10.0.1.0/24", "us-east-1a")
    b = n.subnet(vpc, "10.0.2.0/24", "us-east-1b")
    ep_sg = n.sg(vpc, "endpoint")
    n.allow(ep_sg, "ingress", "tcp", 443, cidr="10.0.0.0/16")
    e1 = n.eni(a, [ep_sg], itype="vpc_endpoint")
    e2 = n.eni(b, [ep_sg], itype="vpc_endpoint")
    n.t.vpc_endpoints["vpce-1"] = {"VpcEndpointId": "vpce-1", "VpcEndpointType": "Interface",
                                   "VpcId": vpc, "ServiceName": "com.amazonaws.us-east-1.sqs",
                                   "State": "available", "NetworkInterfaceIds": [e1, e2]}
    client = n.eni(b)
    res = analyze(n.t, client, "vpce-1", "tcp", 443)
    assert res.reachable
    assert res.destination["id"] == e2  # the endpoint's interface in the client's AZ


def test_nat_gateway_as_source():
    n = Net()
    vpc = n.vpc()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.1.0/24", igw)
    nat = n.nat(pub)
    assert analyze(n.t, nat, HOST, "tcp", 443).reachable
    private = n.nat(pub, public=False)
    res = analyze(n.t, private, HOST, "tcp", 443)
    assert res.codes == ["IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"]
    assert res.explanations[0].context["nat_gateway_id"] == private


def test_icmp_echo_and_reply_through_acls():
    n = Net()
    vpc = n.vpc()
    a, b = n.subnet(vpc, "10.0.1.0/24"), n.subnet(vpc, "10.0.2.0/24")
    sg = n.sg(vpc)
    n.allow(sg, "ingress", "icmp", (8, -1), cidr="10.0.0.0/16")
    x, y = n.eni(a, [sg]), n.eni(b, [sg])
    assert analyze(n.t, x, y, "icmp").reachable
    acl = n.acl(vpc, [b])
    n.acl_entry(acl, 100, False, "allow", "1", "10.0.0.0/16", icmp=(8, -1))
    res = analyze(n.t, x, y, "icmp")
    assert res.codes == ["SUBNET_ACL_RESTRICTION"] and res.explanations[0].path == "return"
    assert "--icmp-type-code Type=0,Code=0" in res.fixes[0].commands[0]
    n.acl_entry(acl, 100, True, "allow", "1", "10.0.0.0/16", icmp=(0, -1))
    assert analyze(n.t, x, y, "icmp").reachable


def test_matrix_api():
    n, enis, _acl = lambda_in_two_subnets()
    vpc = next(iter(n.t.vpcs))
    db_sg = n.sg(vpc, "db")
    n.allow(db_sg, "ingress", "tcp", 5432, group=n.t.network_interfaces[enis[0]]["Groups"][0]["GroupId"])
    db = n.eni(n.t.network_interfaces[enis[1]]["SubnetId"], [db_sg])
    m = Engine(n.t).matrix([*enis, db], "tcp", 5432)
    assert m.reachable(enis[1], db)
    assert not m.reachable(enis[0], db)  # its subnet's ACL denies everything
    assert not m.reachable(db, enis[1])
    assert m.destinations(enis[1]) == [db]
    assert m.to_dict()["pairs_reachable"] == 1
    assert not m.reachable(db, db)


def _check_shape(value, shape, where="$"):
    if shape.type_name == "structure":
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert key in shape.members, f"{where}.{key} is not in {shape.name}"
            _check_shape(item, shape.members[key], f"{where}.{key}")
    elif shape.type_name == "list":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _check_shape(item, shape.member, f"{where}[{i}]")
    elif shape.type_name == "integer":
        assert isinstance(value, int), where
    elif shape.type_name == "boolean":
        assert isinstance(value, bool), where
    elif shape.type_name == "string":
        assert isinstance(value, str), where


@pytest.mark.parametrize("case", ["reachable", "acl", "sg", "route", "igw"])
def test_to_aws_matches_the_ec2_network_insights_shapes(case):
    model = botocore.session.get_session().get_service_model("ec2")
    shape = model.shape_for("NetworkInsightsAnalysis")
    n = Net()
    vpc = n.vpc()
    igw = n.igw(vpc)
    a, b = n.subnet(vpc, "10.0.1.0/24"), n.subnet(vpc, "10.0.2.0/24")
    sg = n.sg(vpc)
    n.allow(sg, "ingress", "tcp", 80, group=sg)
    x, y = n.eni(a, [sg]), n.eni(b, [sg])
    dst = y
    if case == "acl":
        n.acl(vpc, [b])
    elif case == "sg":
        n.clear_egress(sg)
    elif case == "route":
        dst = HOST
    elif case == "igw":
        n.route(n.main_rtb[vpc], "0.0.0.0/0", igw)
        dst = HOST
    res = analyze(n.t, x, dst, "tcp", 80)
    assert res.reachable == (case == "reachable")
    out = res.to_aws()
    _check_shape(out, shape)
    assert out["NetworkPathFound"] == res.reachable
    assert [e["ExplanationCode"] for e in out["Explanations"]] == res.codes


def test_no_path_into_a_vpc_without_internet_gateway():
    n = Net()
    va, vb = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    igw = n.igw(va)
    pub = n.public_subnet(va, "10.0.1.0/24", igw)
    client = n.eni(pub, public=True)
    target = n.eni(n.subnet(vb, "10.1.1.0/24"))
    n.eip(target)  # a public address, but its VPC has no internet gateway
    res = analyze(n.t, client, target, "tcp", 443)
    assert res.codes == ["NO_PATH"]
    assert res.explanations[0].component_id == vb
    assert not res.fixes_verified
    assert "create-internet-gateway" in " ".join(res.fixes[0].commands)


def test_nat_gateway_picks_its_own_source_ports():
    n = Net()
    vpc = n.vpc()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.1.0/24", igw)
    priv = n.subnet(vpc, "10.0.2.0/24")
    rtb = n.route_table(vpc, [priv])
    n.route(rtb, "0.0.0.0/0", n.nat(pub))
    client = n.eni(priv)
    client_acl = n.acl(vpc, [priv])
    n.acl_entry(client_acl, 100, True, "allow", "-1")
    n.acl_entry(client_acl, 100, False, "allow", "6", "0.0.0.0/0", (40000, 40000))
    nat_acl = n.acl(vpc, [pub])
    n.acl_entry(nat_acl, 100, True, "allow", "-1")
    n.acl_entry(nat_acl, 90, False, "allow", "-1", "10.0.0.0/16")
    n.acl_entry(nat_acl, 100, False, "allow", "6", "0.0.0.0/0", (32768, 65535))
    e = Engine(n.t)
    res = e.analyze(client, HOST, "tcp", 443, source_port=40000, fixes=False)
    # the NAT gateway translates to any port in 1024-65535: its subnet must let all back in
    assert res.codes == ["SUBNET_ACL_RESTRICTION"]
    assert res.explanations[0].component_id == nat_acl and res.explanations[0].path == "return"
    n.acl_entry(nat_acl, 100, False, "allow", "6", "0.0.0.0/0", (1024, 65535))
    e = Engine(n.t)
    assert e.analyze(client, HOST, "tcp", 443, source_port=40000).reachable
    # ...while the client's own subnet sees the client's port
    assert not e.reachable(client, HOST, "tcp", 443, source_port=40001)


def test_analyze_any_needs_a_port_for_tcp():
    n, enis, _acl = lambda_in_two_subnets()
    with pytest.raises(ValueError, match="port is required"):
        analyze_any(n.t, enis, HOST, "tcp")
    assert analyze_any(n.t, enis, HOST, "icmp").reachable
