"""The Lambda VPC guide's troubleshooting cases (seed/lambda-vpc-networking.md, section 6)."""

from __future__ import annotations

import json

from vpclocal.network import Engine, analyze

from .builder import Net

API = "198.51.100.7"  # api.stripe.com, on the simulated internet


def guide(nat: str | None = None):
    """10.0.0.0/16 with a public subnet (IGW) and two private subnets, a function and a DB."""
    n = Net()
    vpc = n.vpc("10.0.0.0/16")
    igw = n.igw(vpc)
    public = n.public_subnet(vpc, "10.0.1.0/24", igw, "us-east-1a")
    private_a = n.subnet(vpc, "10.0.10.0/24", "us-east-1a")
    private_b = n.subnet(vpc, "10.0.11.0/24", "us-east-1b")
    private_rtb = n.route_table(vpc, [private_a, private_b])
    lambda_sg = n.sg(vpc, "lambda-sg")
    rds_sg = n.sg(vpc, "rds-sg")
    fn = n.lambda_eni(private_a, [lambda_sg])
    db = n.eni(private_b, [rds_sg], description="RDSNetworkInterface")
    nat_id = None
    if nat == "public":
        nat_id = n.nat(public)
    elif nat == "private":
        nat_id = n.nat(private_a)
    if nat_id:
        n.route(private_rtb, "0.0.0.0/0", nat_id)
    return n, {"vpc": vpc, "igw": igw, "public": public, "private_a": private_a, "private_b": private_b,
                   "private_rtb": private_rtb, "lambda_sg": lambda_sg, "rds_sg": rds_sg, "fn": fn, "db": db,
                   "nat": nat_id}


def test_function_to_internet_without_nat_is_blocked_and_fix_proposes_a_nat():
    n, r = guide()
    a = analyze(n.t, r["fn"], API, "tcp", 443)
    assert not a.reachable
    assert a.codes == ["NO_ROUTE_TO_DESTINATION"]
    e = a.explanations[0]
    assert e.component_id == r["private_rtb"]
    # no NAT gateway at all: a suggestion, never claimed verified
    assert not a.fixes_verified
    assert a.fixes and all(not f.verified for f in a.fixes)
    text = " ".join(f.description + " ".join(f.commands) for f in a.fixes)
    assert "create-nat-gateway" in text and r["public"] in text
    assert f"--route-table-id {r['private_rtb']} --destination-cidr-block 0.0.0.0/0" in text
    json.dumps(a.to_dict())


def test_function_to_internet_through_nat_in_public_subnet_is_reachable():
    n, r = guide(nat="public")
    a = analyze(n.t, r["fn"], API, "tcp", 443)
    assert a.reachable, a.summary()
    ids = [h.component_id for h in a.forward]
    assert ids.index(r["private_rtb"]) < ids.index(r["nat"]) < ids.index(r["igw"])
    nat_hop = next(h for h in a.forward if h.component_id == r["nat"])
    assert "translates 10.0.10." in nat_hop.note
    # the reply comes back through the IGW and the NAT, which undoes its translation
    back = [h.component_id for h in a.return_]
    assert back.index(r["igw"]) < back.index(r["nat"])
    assert back[-1] == r["fn"]
    assert all(h.allowed for h in a.forward + a.return_)


def test_function_to_internet_through_nat_in_private_subnet_is_blocked():
    n, r = guide(nat="private")
    a = analyze(n.t, r["fn"], API, "tcp", 443)
    assert not a.reachable
    assert a.codes == ["NO_ROUTE_TO_DESTINATION"]
    assert r["nat"] in a.explanations[0].message and "loop" in a.explanations[0].message
    assert not a.fixes_verified
    assert any("not a public subnet" in f.description for f in a.fixes)


def test_adding_the_suggested_nat_route_opens_the_path():
    n, r = guide()
    nat = n.nat(r["public"])
    a = analyze(n.t, r["fn"], API, "tcp", 443)
    assert a.codes == ["NO_ROUTE_TO_DESTINATION"]
    assert a.fixes_verified
    assert a.fixes[0].verified
    assert a.fixes[0].commands == [
        (f"aws ec2 create-route --route-table-id {r['private_rtb']} "
        f"--destination-cidr-block 0.0.0.0/0 --nat-gateway-id {nat}")]
    assert a.fixes[0].description == f"add a route 0.0.0.0/0 → {nat} to {r['private_rtb']}"


def test_function_to_rds_without_rules_then_with_referenced_group():
    n, r = guide()
    n.clear_egress(r["lambda_sg"])
    e = Engine(n.t)
    a = e.analyze(r["fn"], r["db"], "tcp", 3306)
    assert not a.reachable
    assert a.codes == ["ENI_SG_RULES_MISMATCH", "ENI_SG_RULES_MISMATCH"]
    assert [x.direction for x in a.explanations] == ["egress", "ingress"]
    assert a.explanations[0].component_id == r["lambda_sg"]
    assert a.explanations[1].component_id == r["rds_sg"]
    # the fix is what the guide says: outbound to sg-rds, inbound from sg-lambda, on 3306
    assert a.fixes_verified and len(a.fixes) == 2
    egress, ingress = a.fixes
    assert "authorize-security-group-egress" in egress.commands[0]
    assert f"UserIdGroupPairs=[{{GroupId={r['rds_sg']}}}]" in egress.commands[0]
    assert "FromPort=3306,ToPort=3306" in egress.commands[0]
    assert "authorize-security-group-ingress" in ingress.commands[0]
    assert f"UserIdGroupPairs=[{{GroupId={r['lambda_sg']}}}]" in ingress.commands[0]

    n.allow(r["lambda_sg"], "egress", "tcp", 3306, group=r["rds_sg"])
    n.allow(r["rds_sg"], "ingress", "tcp", 3306, group=r["lambda_sg"])
    a = analyze(n.t, r["fn"], r["db"], "tcp", 3306)
    assert a.reachable, a.summary()
    sg_hops = [h for h in a.forward if h.component_type == "security-group"]
    assert sg_hops[0].rule["ReferencedGroupId"] == r["rds_sg"]
    assert sg_hops[1].rule["ReferencedGroupId"] == r["lambda_sg"]
    # other ports stay closed
    assert analyze(n.t, r["fn"], r["db"], "tcp", 5432).codes == ["ENI_SG_RULES_MISMATCH"] * 2


def test_function_in_public_subnet_still_has_no_internet():
    n, r = guide()
    public_fn = n.lambda_eni(r["public"], [r["lambda_sg"]], function="PublicFn")
    a = analyze(n.t, public_fn, API, "tcp", 443)
    assert not a.reachable
    assert a.codes == ["IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"]
    e = a.explanations[0]
    assert e.component_id == r["igw"]
    assert e.context["network_interface_id"] == public_fn
    assert "never get a public IP" in e.message
    # the blocked path still shows the whole way out to the internet host
    assert a.forward[-1].component_id == API
    assert not a.fixes_verified


def test_function_in_public_subnet_fix_moves_it_to_a_nat_subnet():
    n, r = guide(nat="public")
    public_fn = n.lambda_eni(r["public"], [r["lambda_sg"]], function="PublicFn")
    a = analyze(n.t, public_fn, API, "tcp", 443)
    assert a.codes == ["IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"]
    assert a.fixes_verified
    assert a.fixes[0].commands[0].startswith(
        "aws lambda update-function-configuration --function-name PublicFn --vpc-config SubnetIds=")


def test_s3_through_gateway_endpoint_prefix_list_route():
    n, r = guide()
    vpce = n.gateway_endpoint(r["vpc"], "s3", [r["private_rtb"]])
    s3 = "52.216.10.20"
    a = analyze(n.t, r["fn"], s3, "tcp", 443)
    assert a.reachable, a.summary()
    route_hop = next(h for h in a.forward if h.component_type == "route-table")
    assert route_hop.route["DestinationPrefixListId"] == n.s3_prefix_list()
    assert route_hop.route["GatewayId"] == vpce
    assert any(h.component_id == vpce for h in a.return_)
    # the endpoint itself as the destination
    assert analyze(n.t, r["fn"], vpce, "tcp", 443).reachable
    # the internet is still out of reach
    assert not analyze(n.t, r["fn"], API, "tcp", 443, fixes=False).reachable


def test_s3_endpoint_not_associated_with_the_route_table():
    n, r = guide(nat="public")
    other = n.route_table(r["vpc"])
    vpce = n.gateway_endpoint(r["vpc"], "s3", [other])
    a = analyze(n.t, r["fn"], vpce, "tcp", 443)
    # reaches S3, but through the NAT gateway instead of the endpoint
    assert a.codes == ["NO_ROUTE_TO_DESTINATION"]
    assert a.fixes_verified
    assert a.fixes[0].commands == [
        (f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {vpce} "
        f"--add-route-table-ids {r['private_rtb']}")]


def test_security_group_prefix_list_rule_for_s3():
    n, r = guide()
    n.gateway_endpoint(r["vpc"], "s3", [r["private_rtb"]])
    pl = n.s3_prefix_list()
    n.clear_egress(r["lambda_sg"])
    a = analyze(n.t, r["fn"], "52.216.10.20", "tcp", 443)
    assert a.codes == ["ENI_SG_RULES_MISMATCH"]
    assert f"PrefixListIds=[{{PrefixListId={pl}}}]" in a.fixes[0].commands[0]
    n.allow(r["lambda_sg"], "egress", "tcp", 443, prefix_list=pl)
    assert analyze(n.t, r["fn"], "52.216.10.20", "tcp", 443).reachable
