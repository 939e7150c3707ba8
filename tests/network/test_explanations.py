"""Each explanation code the engine emits, with the component and rule/route it names."""

from __future__ import annotations

import json

import pytest

from vpclocal.network import Engine, UnknownComponentError, analyze

from .builder import Net

HOST = "198.51.100.7"


def two_subnets():
    n = Net()
    vpc = n.vpc("10.0.0.0/16")
    a = n.subnet(vpc, "10.0.1.0/24")
    b = n.subnet(vpc, "10.0.2.0/24")
    sg = n.sg(vpc, "app")
    n.allow(sg, "ingress", "tcp", (0, 65535), cidr="10.0.0.0/16")
    x = n.eni(a, [sg])
    y = n.eni(b, [sg])
    return n, vpc, a, b, sg, x, y


def test_eni_sg_rules_mismatch_names_the_group_and_direction():
    n, _vpc, _a, _b, sg, x, y = two_subnets()
    n.clear_egress(sg)
    res = analyze(n.t, x, y, "tcp", 80)
    e = res.explanations[0]
    assert (e.code, e.component_id, e.direction, e.path) == (
        "ENI_SG_RULES_MISMATCH", sg, "egress", "forward")
    assert e.context["network_interface_id"] == x
    assert e.context["security_groups"] == [sg]
    assert "has no egress rules" in e.message
    assert res.forward[1].component_type == "security-group" and not res.forward[1].allowed


def test_subnet_acl_restriction_outbound_with_the_deny_rule():
    n, vpc, a, _b, _sg, x, y = two_subnets()
    acl = n.acl(vpc, [a])
    n.acl_entry(acl, 100, True, "deny", "6", "10.0.2.0/24", (80, 80))
    n.acl_entry(acl, 200, True, "allow", "-1")
    n.acl_entry(acl, 100, False, "allow", "-1")
    res = analyze(n.t, x, y, "tcp", 80)
    e = res.explanations[0]
    assert (e.code, e.component_id, e.direction) == ("SUBNET_ACL_RESTRICTION", acl, "egress")
    assert e.rule["RuleNumber"] == 100 and e.rule["RuleAction"] == "deny"
    # the allow-all at 200 comes later: rules are evaluated lowest number first
    assert analyze(n.t, x, y, "tcp", 81).reachable
    # the verified fix is either a lower-numbered allow or deleting the deny
    assert res.fixes_verified
    assert "--rule-number" in res.fixes[0].commands[0]


def test_subnet_acl_restriction_on_the_reply_ephemeral_ports():
    n, vpc, _a, b, _sg, x, y = two_subnets()
    acl = n.acl(vpc, [b])
    n.acl_entry(acl, 100, False, "allow", "6", "10.0.1.0/24", (80, 80))  # inbound request only
    res = analyze(n.t, x, y, "tcp", 80)
    assert not res.reachable
    e = res.explanations[0]
    assert (e.code, e.component_id, e.direction, e.path) == (
        "SUBNET_ACL_RESTRICTION", acl, "egress", "return")
    assert e.rule["RuleNumber"] == 32767
    assert "stateless" in e.message
    assert res.fixes_verified
    fix = res.fixes[0]
    assert "--egress" in fix.commands[0] and "--port-range From=1024,To=65535" in fix.commands[0]
    assert fix.change["entry"]["CidrBlock"] == "10.0.1.0/24"


def test_ephemeral_range_must_be_fully_allowed_unless_a_source_port_is_given():
    n, vpc, _a, b, _sg, x, y = two_subnets()
    acl = n.acl(vpc, [b])
    n.acl_entry(acl, 100, False, "allow", "-1")
    n.acl_entry(acl, 100, True, "allow", "6", "10.0.1.0/24", (32768, 65535))
    e = Engine(n.t)
    assert not e.analyze(x, y, "tcp", 80, fixes=False).reachable
    assert e.analyze(x, y, "tcp", 80, source_port=40000).reachable
    assert not e.analyze(x, y, "tcp", 80, source_port=2000, fixes=False).reachable


def test_same_subnet_traffic_skips_network_acls():
    n, vpc, a, _b, sg, x, _y = two_subnets()
    n.acl(vpc, [a])  # denies everything
    z = n.eni(a, [sg])
    res = analyze(n.t, x, z, "tcp", 22)
    assert res.reachable
    assert not any(h.component_type == "network-acl" for h in res.forward + res.return_)


def test_no_route_to_destination():
    n, vpc, _a, _b, _sg, x, _y = two_subnets()
    res = analyze(n.t, x, HOST, "tcp", 443)
    e = res.explanations[0]
    assert e.code == "NO_ROUTE_TO_DESTINATION"
    assert e.component_id == n.main_rtb[vpc]
    assert e.context["address"] == HOST


def test_bad_state_route_blackhole_and_fix():
    n, vpc, a, _b, _sg, x, _y = two_subnets()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.3.0/24", igw)
    nat = n.nat(pub)
    rtb = n.route_table(vpc, [a])
    n.route(rtb, "0.0.0.0/0", "nat-0000000000000dead", state="blackhole")
    res = analyze(n.t, x, HOST, "tcp", 443)
    e = res.explanations[0]
    assert (e.code, e.component_id) == ("BAD_STATE_ROUTE", rtb)
    assert e.route["DestinationCidr"] == "0.0.0.0/0" and e.route["State"] == "blackhole"
    assert res.fixes_verified
    assert res.fixes[0].commands == [
        (f"aws ec2 replace-route --route-table-id {rtb} --destination-cidr-block 0.0.0.0/0 "
        f"--nat-gateway-id {nat}")]


def test_bad_state_for_a_nat_gateway_that_is_not_available():
    n, vpc, a, _b, _sg, x, _y = two_subnets()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.3.0/24", igw)
    nat = n.nat(pub, state="pending")
    rtb = n.route_table(vpc, [a])
    n.route(rtb, "0.0.0.0/0", nat)
    res = analyze(n.t, x, HOST, "tcp", 443)
    e = res.explanations[0]
    assert (e.code, e.component_id, e.context["state"]) == ("BAD_STATE", nat, "pending")
    assert not res.fixes_verified
    assert "wait" in res.fixes[0].description


def test_igw_public_ip_association_for_egress_and_eip_fix():
    n, vpc, a, _b, _sg, x, _y = two_subnets()
    igw = n.igw(vpc)
    rtb = n.route_table(vpc, [a])
    n.route(rtb, "0.0.0.0/0", igw)
    res = analyze(n.t, x, HOST, "tcp", 443)
    e = res.explanations[0]
    assert (e.code, e.component_id) == ("IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", igw)
    assert e.context["network_interface_id"] == x
    assert res.fixes_verified
    assert res.fixes[0].commands[-1] == (
        f"aws ec2 associate-address --allocation-id <allocation-id> --network-interface-id {x}")
    n.eip(x)
    assert analyze(n.t, x, HOST, "tcp", 443).reachable


def test_bad_state_attachment_for_a_detached_igw():
    n, vpc, a, _b, _sg, x, _y = two_subnets()
    igw = n.igw(None)
    rtb = n.route_table(vpc, [a])
    n.route(rtb, "0.0.0.0/0", igw)
    n.eip(x)
    res = analyze(n.t, x, HOST, "tcp", 443)
    assert res.codes == ["BAD_STATE_ATTACHMENT"]
    assert res.fixes_verified
    assert res.fixes[0].commands == [
        f"aws ec2 attach-internet-gateway --internet-gateway-id {igw} --vpc-id {vpc}"]


def peered():
    n = Net()
    va = n.vpc("10.0.0.0/16")
    vb = n.vpc("10.1.0.0/16")
    vc = n.vpc("10.2.0.0/16")
    sa = n.subnet(va, "10.0.1.0/24")
    sb = n.subnet(vb, "10.1.1.0/24")
    sc = n.subnet(vc, "10.2.1.0/24")
    ga, gb, gc = n.sg(va), n.sg(vb), n.sg(vc)
    n.allow(gb, "ingress", "tcp", 5432, cidr="10.0.0.0/8")
    n.allow(gc, "ingress", "tcp", 5432, cidr="10.0.0.0/8")
    x, y, z = n.eni(sa, [ga]), n.eni(sb, [gb]), n.eni(sc, [gc])
    pcx = n.peering(va, vb)
    return n, (va, vb, vc), (sa, sb, sc), (ga, gb, gc), (x, y, z), pcx


def test_peering_reachable_with_routes_both_ways():
    n, vpcs, _subs, _groups, (x, y, _z), pcx = peered()
    n.route(n.main_rtb[vpcs[0]], "10.1.0.0/16", pcx)
    n.route(n.main_rtb[vpcs[1]], "10.0.0.0/16", pcx)
    res = analyze(n.t, x, y, "tcp", 5432)
    assert res.reachable, res.summary()
    assert pcx in [h.component_id for h in res.forward]
    assert pcx in [h.component_id for h in res.return_]


def test_peering_needs_the_return_route():
    n, vpcs, _subs, _groups, (x, y, _z), pcx = peered()
    n.route(n.main_rtb[vpcs[0]], "10.1.0.0/16", pcx)
    res = analyze(n.t, x, y, "tcp", 5432)
    e = res.explanations[0]
    assert (e.code, e.path, e.component_id) == (
        "NO_ROUTE_TO_DESTINATION", "return", n.main_rtb[vpcs[1]])
    assert res.fixes_verified
    assert res.fixes[0].commands == [
        (f"aws ec2 create-route --route-table-id {n.main_rtb[vpcs[1]]} "
        f"--destination-cidr-block 10.0.0.0/16 --vpc-peering-connection-id {pcx}")]


def test_pcx_requires_address_in_vpc_cidr():
    n, vpcs, _subs, _groups, (x, _y, _z), pcx = peered()
    # a route for VPC C's range over the peering with B: peering is not transitive
    n.route(n.main_rtb[vpcs[0]], "10.2.0.0/16", pcx)
    res = analyze(n.t, x, "10.2.1.4", "tcp", 5432)
    e = res.explanations[0]
    assert (e.code, e.component_id) == ("PCX_REQUIRES_ADDRESS_IN_VPC_CIDR", pcx)
    assert e.context["address"] == "10.2.1.4"
    assert not res.fixes_verified


def test_pending_peering_is_bad_state_and_accepting_fixes_it():
    n = Net()
    va, vb = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    sa, sb = n.subnet(va, "10.0.1.0/24"), n.subnet(vb, "10.1.1.0/24")
    gb = n.sg(vb)
    n.allow(gb, "ingress", "-1", cidr="10.0.0.0/16")
    x, y = n.eni(sa), n.eni(sb, [gb])
    pcx = n.peering(va, vb, status="pending-acceptance")
    n.route(n.main_rtb[va], "10.1.0.0/16", pcx)
    n.route(n.main_rtb[vb], "10.0.0.0/16", pcx)
    res = analyze(n.t, x, y, "tcp", 80)
    assert res.codes[0] == "BAD_STATE" and res.explanations[0].component_id == pcx
    assert res.fixes_verified
    assert res.fixes[0].commands == [
        f"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id {pcx}"]


def test_disconnected_vpcs():
    n, vpcs, _subs, _groups, (x, _y, z), _pcx = peered()
    res = analyze(n.t, x, z, "tcp", 5432)
    assert res.codes == ["DISCONNECTED_VPCS"]
    assert res.explanations[0].component_id == vpcs[2]
    assert not res.fixes_verified
    assert "create-vpc-peering-connection" in res.fixes[0].commands[0]


def test_ngw_requires_source_in_vpc_direct():
    # a middlebox in VPC A forwards the peer's traffic into A's NAT gateway
    n = Net()
    va, vb = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    igw = n.igw(va)
    pub = n.public_subnet(va, "10.0.1.0/24", igw)
    nat = n.nat(pub)
    sa = n.subnet(va, "10.0.2.0/24")
    sb = n.subnet(vb, "10.1.1.0/24")
    pcx = n.peering(va, vb)
    y = n.eni(sb)
    n.route(n.main_rtb[vb], "10.0.0.0/16", pcx)
    rtb = n.route_table(va, [sa])
    n.route(rtb, "0.0.0.0/0", nat)
    # AWS drops such traffic at the peering already (edge-to-edge routing), so drive the
    # walker's NAT step directly with a packet from B arriving at A's NAT gateway.
    e = Engine(n.t)
    src, dst = e.endpoints(y, HOST)
    from vpclocal.network.engine import _Packet, _Walk
    from vpclocal.network.flows import make_flow
    from vpclocal.network.routing import Route

    walk = _Walk(e, src, dst, make_flow("tcp", 443), trace=True)
    route = Route(("nat-gateway", nat, "active", {"NatGatewayId": nat}, "0.0.0.0/0", 1, None, 0))
    pkt = _Packet(src.ip, dst.ip, ((6, 443, 443),), (1024, 65535), (443, 443))
    walk.via_nat(va, sa, rtb, route, pkt)
    assert next(x.code for x in walk.explanations) == "NGW_REQUIRES_SOURCE_IN_VPC"
    assert walk.explanations[0].component_id == nat


def test_igw_private_ip_association_for_ingress():
    n, vpc, _a, _b, _sg, x, _y = two_subnets()
    igw = n.igw(vpc)
    res = analyze(n.t, igw, x, "tcp", 22)
    assert res.codes == ["IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS"]
    assert res.explanations[0].component_id == igw
    assert res.explanations[0].context["network_interface_id"] == x
    # an Elastic IP, a route to the IGW for the replies, and an inbound rule: all verified
    assert res.fixes_verified
    assert res.fixes[0].commands[-1].startswith("aws ec2 associate-address")
    assert [f.resolves for f in res.fixes] == [
        "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", "ENI_SG_RULES_MISMATCH",
        "NO_ROUTE_TO_DESTINATION"]


def test_internet_to_public_instance_and_back():
    n, vpc, _a, _b, _sg, _x, _y = two_subnets()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.5.0/24", igw)
    web_sg = n.sg(vpc, "web")
    n.allow(web_sg, "ingress", "tcp", 443, cidr="0.0.0.0/0")
    web = n.eni(pub, [web_sg], public=True)
    res = analyze(n.t, igw, web, "tcp", 443)
    assert res.reachable, res.summary()
    assert res.forward[1].component_id == igw
    assert analyze(n.t, "internet", web, "tcp", 443).reachable
    closed = analyze(n.t, igw, web, "tcp", 22)
    assert closed.codes == ["ENI_SG_RULES_MISMATCH"]
    assert "IpRanges=[{CidrIp=0.0.0.0/0}]" in closed.fixes[0].commands[0]


def test_public_ip_in_a_private_subnet_replies_asymmetrically():
    n, vpc, a, _b, sg, x, _y = two_subnets()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.5.0/24", igw)
    nat = n.nat(pub)
    rtb = n.route_table(vpc, [a])
    n.route(rtb, "0.0.0.0/0", nat)
    n.eip(x)
    n.allow(sg, "ingress", "tcp", 80, cidr="0.0.0.0/0")
    res = analyze(n.t, HOST, x, "tcp", 80)
    assert not res.reachable
    e = res.explanations[0]
    assert (e.code, e.path, e.component_id) == ("NO_PATH", "return", nat)
    assert res.fixes_verified
    assert f"--destination-cidr-block {HOST}/32 --gateway-id {igw}" in res.fixes[0].commands[0]


def test_igw_does_not_carry_private_destinations():
    n, vpc, a, _b, _sg, x, _y = two_subnets()
    igw = n.igw(vpc)
    rtb = n.route_table(vpc, [a])
    n.route(rtb, "0.0.0.0/0", igw)
    n.eip(x)
    res = analyze(n.t, x, "192.168.1.1", "tcp", 80)
    assert res.codes == ["IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS"]
    assert res.explanations[0].component_id == igw


def test_source_dest_check_on_a_middlebox_and_nat_instance():
    n = Net()
    vpc = n.vpc()
    igw = n.igw(vpc)
    pub = n.public_subnet(vpc, "10.0.1.0/24", igw)
    priv = n.subnet(vpc, "10.0.2.0/24")
    nat_sg = n.sg(vpc, "nat-instance")
    n.allow(nat_sg, "ingress", "-1", cidr="10.0.0.0/16")
    box = n.eni(pub, [nat_sg], public=True)
    rtb = n.route_table(vpc, [priv])
    n.route(rtb, "0.0.0.0/0", box)
    app = n.eni(priv)
    res = analyze(n.t, app, HOST, "tcp", 443)
    assert res.codes == ["ENI_SOURCE_DEST_CHECK_RESTRICTION"]
    assert res.fixes_verified
    assert res.fixes[0].commands == [
        (f"aws ec2 modify-network-interface-attribute --network-interface-id {box} "
        f"--no-source-dest-check")]
    n.t.network_interfaces[box]["SourceDestCheck"] = False
    res = analyze(n.t, app, HOST, "tcp", 443)
    assert res.reachable, res.summary()
    assert any("translates" in (h.note or "") and h.component_id == box for h in res.return_)


def test_vpc_dns_resolver_is_not_filtered():
    n, vpc, a, _b, sg, x, _y = two_subnets()
    n.clear_egress(sg)
    n.acl(vpc, [a])
    res = analyze(n.t, x, "10.0.0.2", "udp", 53)
    assert res.reachable
    assert res.destination["type"] == "amazon-dns"
    assert not analyze(n.t, x, "10.0.0.2", "tcp", 80, fixes=False).reachable


def test_address_without_interface_is_no_possible_destination():
    n, _vpc, _a, _b, _sg, x, _y = two_subnets()
    res = analyze(n.t, x, "10.0.2.200", "tcp", 80)
    assert res.codes == ["NO_POSSIBLE_DESTINATION"]
    assert res.forward[-1].component_id == "10.0.2.200"


def test_unknown_components_raise():
    n, *_ = two_subnets()
    with pytest.raises(UnknownComponentError):
        analyze(n.t, "eni-404", "10.0.1.4", "tcp", 80)
    with pytest.raises(UnknownComponentError):
        analyze(n.t, "10.0.1.4", "db.example.internal", "tcp", 80)
    with pytest.raises(ValueError):
        analyze(n.t, "10.0.1.4", "10.0.2.4", "tcp", 70000)
    with pytest.raises(ValueError):
        analyze(n.t, "10.0.1.4", "10.0.2.4", "gre", 1)


def test_a_flow_without_a_port_asks_whether_any_port_gets_through():
    n, vpc, _a, b, sg, x, y = two_subnets()
    n.t.security_groups[sg]["IpPermissions"] = []
    closed = analyze(n.t, x, y, "tcp")
    assert closed.codes == ["ENI_SG_RULES_MISMATCH"]
    n.allow(sg, "ingress", "tcp", 8443, group=sg)
    acl = n.acl(vpc, [b])
    n.acl_entry(acl, 100, False, "allow", "6", "10.0.0.0/16", (8000, 9000))
    n.acl_entry(acl, 100, True, "allow", "6", "10.0.0.0/16", (1024, 65535))
    opened = analyze(n.t, x, y, "tcp")
    assert opened.reachable and opened.port == 8443
    assert Engine(n.t).reachable(x, y, "tcp")
    assert not Engine(n.t).reachable(x, y, "udp")


def test_every_result_is_json_serializable():
    n, vpc, _a, b, _sg, x, y = two_subnets()
    n.acl(vpc, [b])
    res = analyze(n.t, x, y, "tcp", 80)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["reachable"] is False
    assert data["explanations"][0]["code"] == "SUBNET_ACL_RESTRICTION"
    assert data["fixes"][0]["verified"] is True
    json.dumps(res.to_aws())
