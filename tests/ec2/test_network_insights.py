"""Reachability Analyzer through the EC2 API, against a live server.

Every scenario is built with EC2 calls (boto3) — VPCs, subnets, security groups, network ACLs,
route tables, internet and NAT gateways, Elastic IPs, endpoints, peering — and analyzed with
CreateNetworkInsightsPath + StartNetworkInsightsAnalysis + DescribeNetworkInsightsAnalyses, the
way a user of AWS would. The blocked paths' proposed fixes (from POST /_vpclocal/reach) are run
with the real aws CLI and the path analyzed again.

Internet hosts used here are on 203.0.113.0/27 (RFC 5737); Elastic IPs come from 192.0.2.0/24.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import urllib.error
import urllib.request

from botocore.exceptions import ClientError

from tests.errors import error
from vpclocal.network.addr import DEFAULT_INTERNET_HOST
from vpclocal.network.names import public_address

ACCOUNT = "000000000000"
INTERNET = "203.0.113.7"  # stands in for api.stripe.com on the simulated internet
S3 = "com.amazonaws.us-east-1.s3"
S3_HOST = "s3.us-east-1.amazonaws.com"
# Addresses of the simulated internet in vpclocal's Elastic IP range: the client an internet
# gateway source stands for, and the hostnames the tests use.
SIMULATED_INTERNET = {DEFAULT_INTERNET_HOST, public_address("www.example.com"),
                      public_address("api.example.com")}


# ---- helpers ----------------------------------------------------------------------------------


class Net:
    """One VPC built through the EC2 API, with shortcuts for the pieces the scenarios need."""

    def __init__(self, ec2, cidr: str) -> None:
        self.ec2 = ec2
        self.cidr = cidr
        self.vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        self.main_rtb = ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc]},
            {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
        self.igw: str | None = None

    def subnet(self, cidr: str, zone: str = "us-east-1a") -> str:
        return self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=cidr,
                                      AvailabilityZone=zone)["Subnet"]["SubnetId"]

    def sg(self, name: str) -> str:
        """A new group: no inbound rules, all outbound traffic allowed (AWS's default)."""
        return self.ec2.create_security_group(VpcId=self.vpc, GroupName=name,
                                              Description=name)["GroupId"]

    def revoke_all_egress(self, group: str) -> None:
        self.ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    def allow_in(self, group: str, port: int, *, cidr: str | None = None,
                 peer: str | None = None) -> None:
        perm = self._perm(port, cidr, peer)
        self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])

    def allow_out(self, group: str, port: int, *, cidr: str | None = None,
                  peer: str | None = None) -> None:
        perm = self._perm(port, cidr, peer)
        self.ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[perm])

    @staticmethod
    def _perm(port: int, cidr: str | None, peer: str | None) -> dict:
        perm: dict = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if cidr:
            perm["IpRanges"] = [{"CidrIp": cidr}]
        if peer:
            perm["UserIdGroupPairs"] = [{"GroupId": peer}]
        return perm

    def eni(self, subnet: str, groups: list[str], description: str = "") -> str:
        return self.ec2.create_network_interface(
            SubnetId=subnet, Groups=groups, Description=description,
        )["NetworkInterface"]["NetworkInterfaceId"]

    def private_ip(self, eni: str) -> str:
        return self.ec2.describe_network_interfaces(
            NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["PrivateIpAddress"]

    def attach_igw(self) -> str:
        self.igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=self.igw, VpcId=self.vpc)
        return self.igw

    def route_table(self, *subnets: str) -> str:
        rtb = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        for subnet in subnets:
            self.ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
        return rtb

    def public_subnet(self, cidr: str, zone: str = "us-east-1a") -> tuple[str, str]:
        """A subnet whose route table sends 0.0.0.0/0 to the internet gateway."""
        igw = self.igw or self.attach_igw()
        subnet = self.subnet(cidr, zone)
        rtb = self.route_table(subnet)
        self.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        return subnet, rtb

    def eip(self, eni: str | None = None) -> tuple[str, str]:
        got = self.ec2.allocate_address(Domain="vpc")
        while got["PublicIp"] in SIMULATED_INTERNET:
            # vpclocal hands out the simulated internet's own addresses as Elastic IPs (see
            # test_elastic_ips_are_not_the_simulated_internets_addresses): keep that one
            # allocated, unused, and take the next
            got = self.ec2.allocate_address(Domain="vpc")
        if eni:
            self.ec2.associate_address(AllocationId=got["AllocationId"], NetworkInterfaceId=eni)
        return got["AllocationId"], got["PublicIp"]

    def nat(self, subnet: str) -> tuple[str, str]:
        """A public NAT gateway (with a new Elastic IP) in a subnet; -> (id, public ip)."""
        allocation, public = self.eip()
        nat = self.ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)
        nat_id = nat["NatGateway"]["NatGatewayId"]
        self.ec2.get_waiter("nat_gateway_available").wait(
            NatGatewayIds=[nat_id], WaiterConfig={"Delay": 0.05, "MaxAttempts": 40})
        return nat_id, public

    def route(self, rtb: str, dest: str, **target: str) -> None:
        self.ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=dest, **target)

    def acl(self, subnet: str, entries: list[tuple]) -> str:
        """A custom network ACL for one subnet. entries: (number, egress, action, protocol,
        cidr, (from, to) or None)."""
        acl = self.ec2.create_network_acl(VpcId=self.vpc)["NetworkAcl"]["NetworkAclId"]
        for number, egress, action, proto, cidr, ports in entries:
            kw = {"NetworkAclId": acl, "RuleNumber": number, "Egress": egress,
                  "RuleAction": action, "Protocol": proto, "CidrBlock": cidr}
            if ports:
                kw["PortRange"] = {"From": ports[0], "To": ports[1]}
            self.ec2.create_network_acl_entry(**kw)
        current = self.ec2.describe_network_acls(Filters=[
            {"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
        assoc = next(a["NetworkAclAssociationId"] for a in current["Associations"]
                     if a["SubnetId"] == subnet)
        self.ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)
        return acl


def new_path(ec2, source: str, destination: str | None = None, *, ip: str | None = None,
             port: int | None = None, protocol: str = "tcp") -> str:
    kw: dict = {"Source": source, "Protocol": protocol}
    if destination:
        kw["Destination"] = destination
    if ip:
        kw["DestinationIp"] = ip
    if port is not None:
        kw["DestinationPort"] = port
    return ec2.create_network_insights_path(**kw)["NetworkInsightsPath"]["NetworkInsightsPathId"]


def run(ec2, path_id: str) -> dict:
    """Start an analysis of a path and return it as DescribeNetworkInsightsAnalyses shows it."""
    started = ec2.start_network_insights_analysis(NetworkInsightsPathId=path_id)
    analysis_id = started["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
    found = ec2.describe_network_insights_analyses(
        NetworkInsightsAnalysisIds=[analysis_id])["NetworkInsightsAnalyses"]
    assert len(found) == 1
    analysis = found[0]
    assert analysis["Status"] == "succeeded"
    assert analysis["NetworkInsightsPathId"] == path_id
    return analysis


def analyze(ec2, source: str, destination: str | None = None, **kw) -> dict:
    return run(ec2, new_path(ec2, source, destination, **kw))


def codes(analysis: dict) -> list[str]:
    return [e["ExplanationCode"] for e in analysis["Explanations"]]


def ids(components: list[dict]) -> list[str]:
    return [c["Component"]["Id"] for c in components]


def reachable(analysis: dict) -> bool:
    found = analysis["NetworkPathFound"]
    if found:
        assert analysis["Explanations"] == []
    else:
        assert analysis["Explanations"], "a blocked path must say why"
    return found


def reach(server, source: str, destination: str, port: int | None = None,
          protocol: str = "tcp") -> tuple[int, dict]:
    body = json.dumps({"source": source, "destination": destination, "port": port,
                       "protocol": protocol}).encode()
    request = urllib.request.Request(server.endpoint + "/_vpclocal/reach", data=body,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def blocked_analysis(server, source: str, destination: str, port: int) -> dict:
    status, result = reach(server, source, destination, port)
    assert status == 200, result
    assert result["reachable"] is False and result["analysis"] is None
    (analysis,) = result["blocked"]
    return analysis


def apply_fixes(server, analysis: dict) -> list[str]:
    """Run every command of the analysis' fixes with the real aws CLI; -> the commands."""
    assert analysis["fixes"], analysis["explanations"]
    assert analysis["fixes_verified"] is True
    commands = []
    for fix in analysis["fixes"]:
        assert fix["verified"] is True, fix
        for command in fix["commands"]:
            assert "<" not in command, f"placeholder in {command}"
            argv = shlex.split(command)
            assert argv[:2] == ["aws", "ec2"], command
            server.aws(*argv[1:])
            commands.append(command)
    return commands


# ---- each explanation code from a real scenario ------------------------------------------------


def two_enis(ec2, cidr: str = "10.40.0.0/16"):
    """A VPC with two subnets, one group each, an interface in each; no inbound rules yet."""
    net = Net(ec2, cidr)
    base = cidr.split(".0.0/")[0]
    a, b = net.subnet(f"{base}.1.0/24"), net.subnet(f"{base}.2.0/24", "us-east-1b")
    sg_a, sg_b = net.sg("client"), net.sg("server")
    x, y = net.eni(a, [sg_a]), net.eni(b, [sg_b])
    return net, (a, b), (sg_a, sg_b), (x, y)


def test_destination_group_without_the_ingress_rule(ec2):
    net, (_a, _b), (sg_a, sg_b), (x, y) = two_enis(ec2)
    path = new_path(ec2, x, y, port=80)
    first = run(ec2, path)
    assert not reachable(first)
    assert codes(first) == ["ENI_SG_RULES_MISMATCH"]
    e = first["Explanations"][0]
    assert e["Component"] == {"Id": sg_b}
    assert e["Direction"] == "ingress"
    assert e["SecurityGroups"] == [{"Id": sg_b}]
    assert e["NetworkInterface"] == {"Id": y}
    # the blocked path still reaches the destination: the group there stops it
    assert ids(first["ForwardPathComponents"])[-2:] == [y, sg_b]
    assert ids(first["ForwardPathComponents"])[:2] == [x, sg_a]

    net.allow_in(sg_b, 80, peer=sg_a)
    second = run(ec2, path)
    assert reachable(second)
    sg_hops = [c for c in second["ForwardPathComponents"] if "SecurityGroupRule" in c]
    assert [h["SecurityGroupRule"]["Direction"] for h in sg_hops] == ["egress", "ingress"]
    assert sg_hops[1]["Component"] == {"Id": sg_b}
    assert sg_hops[1]["SecurityGroupRule"]["PortRange"] == {"From": 80, "To": 80}
    assert ids(second["ReturnPathComponents"])[0] == y
    assert ids(second["ReturnPathComponents"])[-1] == x
    # both analyses stay listed under the path, each with the answer of its time
    listed = ec2.describe_network_insights_analyses(
        NetworkInsightsPathId=path)["NetworkInsightsAnalyses"]
    assert sorted(a["NetworkPathFound"] for a in listed) == [False, True]
    # other ports stay closed
    assert codes(analyze(ec2, x, y, port=81)) == ["ENI_SG_RULES_MISMATCH"]


def test_source_group_with_its_egress_revoked(ec2):
    net, (_a, _b), (sg_a, sg_b), (x, y) = two_enis(ec2, "10.41.0.0/16")
    net.allow_in(sg_b, 5432, cidr="10.41.0.0/16")
    assert reachable(analyze(ec2, x, y, port=5432))
    net.revoke_all_egress(sg_a)
    blocked = analyze(ec2, x, y, port=5432)
    assert not reachable(blocked)
    assert codes(blocked) == ["ENI_SG_RULES_MISMATCH"]
    e = blocked["Explanations"][0]
    assert (e["Component"], e["Direction"]) == ({"Id": sg_a}, "egress")
    assert e["NetworkInterface"] == {"Id": x} and e["SecurityGroups"] == [{"Id": sg_a}]


def test_network_acl_deny_on_the_destination_subnet(ec2):
    net, (_a, b), (_sg_a, sg_b), (x, y) = two_enis(ec2, "10.42.0.0/16")
    net.allow_in(sg_b, 80, cidr="10.42.0.0/16")
    net.allow_in(sg_b, 81, cidr="10.42.0.0/16")
    acl = net.acl(b, [
        (100, False, "deny", "6", "10.42.1.0/24", (80, 80)),
        (200, False, "allow", "-1", "0.0.0.0/0", None),
        (100, True, "allow", "-1", "0.0.0.0/0", None)])
    blocked = analyze(ec2, x, y, port=80)
    assert not reachable(blocked)
    assert codes(blocked) == ["SUBNET_ACL_RESTRICTION"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": acl} and e["Acl"] == {"Id": acl}
    assert e["Direction"] == "ingress"
    assert e["AclRule"]["RuleNumber"] == 100 and e["AclRule"]["RuleAction"] == "deny"
    assert e["AclRule"]["PortRange"] == {"From": 80, "To": 80}
    assert e["Subnet"] == {"Id": b}
    # the deny is the only thing in the way: port 81 meets the allow at 200
    open_ = analyze(ec2, x, y, port=81)
    assert reachable(open_)
    acl_hops = [c for c in open_["ForwardPathComponents"] if c["Component"]["Id"] == acl]
    assert acl_hops[0]["AclRule"]["RuleNumber"] == 200


def test_network_acl_that_drops_the_replies_on_ephemeral_ports(ec2):
    net, (_a, b), (_sg_a, sg_b), (x, y) = two_enis(ec2, "10.43.0.0/16")
    net.allow_in(sg_b, 80, cidr="10.43.0.0/16")
    # inbound 80 is allowed, outbound only to port 80: the replies (to the client's ephemeral
    # port) hit the default deny — network ACLs are stateless
    acl = net.acl(b, [
        (100, False, "allow", "6", "10.43.1.0/24", (80, 80)),
        (100, True, "allow", "6", "0.0.0.0/0", (80, 80))])
    blocked = analyze(ec2, x, y, port=80)
    assert not reachable(blocked)
    assert codes(blocked) == ["SUBNET_ACL_RESTRICTION"]
    e = blocked["Explanations"][0]
    assert (e["Component"], e["Direction"]) == ({"Id": acl}, "egress")
    assert e["AclRule"]["RuleNumber"] == 32767 and e["AclRule"]["RuleAction"] == "deny"
    # the request got through; the reply is what the ACL stops
    assert ids(blocked["ForwardPathComponents"])[-2:] == [y, sg_b]
    back = blocked["ReturnPathComponents"]
    hop = next(c for c in back if c["Component"]["Id"] == acl)
    assert hop["OutboundHeader"]["DestinationPortRanges"] == [{"From": 1024, "To": 65535}]


def test_no_route_from_a_private_subnet_to_the_internet(ec2):
    net = Net(ec2, "10.44.0.0/16")
    private = net.subnet("10.44.1.0/24")
    x = net.eni(private, [net.sg("app")])
    blocked = analyze(ec2, x, ip=INTERNET, port=443)
    assert not reachable(blocked)
    assert codes(blocked) == ["NO_ROUTE_TO_DESTINATION"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": net.main_rtb} and e["RouteTable"] == {"Id": net.main_rtb}
    assert e["Subnet"] == {"Id": private} and e["Vpc"] == {"Id": net.vpc}
    assert ids(blocked["ForwardPathComponents"])[-1] == net.main_rtb


def nat_vpc(ec2, cidr: str):
    """The guide's layout: a public subnet with a NAT gateway, a private one routed to it."""
    net = Net(ec2, cidr)
    base = cidr.split(".0.0/")[0]
    public, public_rtb = net.public_subnet(f"{base}.1.0/24")
    private = net.subnet(f"{base}.10.0/24")
    private_rtb = net.route_table(private)
    nat, nat_ip = net.nat(public)
    net.route(private_rtb, "0.0.0.0/0", NatGatewayId=nat)
    sg = net.sg("app")
    x = net.eni(private, [sg])
    return net, {"public": public, "public_rtb": public_rtb, "private": private,
                 "private_rtb": private_rtb, "nat": nat, "nat_ip": nat_ip, "sg": sg, "eni": x}


def test_route_to_a_deleted_nat_gateway_is_a_blackhole(ec2):
    _net, r = nat_vpc(ec2, "10.45.0.0/16")
    path = new_path(ec2, r["eni"], ip=INTERNET, port=443)
    assert reachable(run(ec2, path))
    ec2.delete_nat_gateway(NatGatewayId=r["nat"])
    table = ec2.describe_route_tables(RouteTableIds=[r["private_rtb"]])["RouteTables"][0]
    default = next(x for x in table["Routes"] if x.get("DestinationCidrBlock") == "0.0.0.0/0")
    assert default["State"] == "blackhole"
    blocked = run(ec2, path)
    assert not reachable(blocked)
    assert codes(blocked) == ["BAD_STATE_ROUTE"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": r["private_rtb"]}
    assert e["RouteTableRoute"]["NatGatewayId"] == r["nat"]
    assert e["RouteTableRoute"]["DestinationCidr"] == "0.0.0.0/0"
    assert e["RouteTableRoute"]["State"] == "blackhole"


def test_interface_in_a_public_subnet_without_a_public_address(ec2):
    net = Net(ec2, "10.46.0.0/16")
    public, public_rtb = net.public_subnet("10.46.1.0/24")
    x = net.eni(public, [net.sg("web")])
    path = new_path(ec2, x, ip=INTERNET, port=443)
    blocked = run(ec2, path)
    assert not reachable(blocked)
    assert codes(blocked) == ["IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": net.igw} and e["InternetGateway"] == {"Id": net.igw}
    assert e["NetworkInterface"] == {"Id": x}
    # with an Elastic IP the same path goes out through the internet gateway
    _alloc, public_ip = net.eip(x)
    opened = run(ec2, path)
    assert reachable(opened)
    forward = ids(opened["ForwardPathComponents"])
    assert forward.index(public_rtb) < forward.index(net.igw)
    sources = [c["OutboundHeader"]["SourceAddresses"] for c in opened["ForwardPathComponents"]]
    assert [f"{public_ip}/32"] in sources  # the internet sees the Elastic IP
    assert net.igw in ids(opened["ReturnPathComponents"])


def peered_pair(ec2, a_cidr: str, b_cidr: str):
    a, b = Net(ec2, a_cidr), Net(ec2, b_cidr)
    pcx = ec2.create_vpc_peering_connection(VpcId=a.vpc, PeerVpcId=b.vpc)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    return a, b, pcx


def test_peering_is_not_transitive(ec2):
    a, _b, pcx = peered_pair(ec2, "10.47.0.0/16", "10.48.0.0/16")
    sa = a.subnet("10.47.1.0/24")
    x = a.eni(sa, [a.sg("app")])
    # a route for somewhere else (an on-premises range, a third VPC) over the peering
    a.route(a.main_rtb, "192.168.47.0/24", VpcPeeringConnectionId=pcx)
    blocked = analyze(ec2, x, ip="192.168.47.10", port=443)
    assert not reachable(blocked)
    assert codes(blocked) == ["PCX_REQUIRES_ADDRESS_IN_VPC_CIDR"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": pcx} and e["VpcPeeringConnection"] == {"Id": pcx}
    assert ids(blocked["ForwardPathComponents"])[-2:] == [a.main_rtb, pcx]


def test_peered_interfaces_reach_each_other_with_routes_both_ways(ec2, server):
    a, b, pcx = peered_pair(ec2, "10.49.0.0/16", "10.50.0.0/16")
    x = a.eni(a.subnet("10.49.1.0/24"), [a.sg("app")])
    db_sg = b.sg("db")
    b.allow_in(db_sg, 5432, cidr="10.49.0.0/16")
    y = b.eni(b.subnet("10.50.1.0/24"), [db_sg])
    a.route(a.main_rtb, "10.50.0.0/16", VpcPeeringConnectionId=pcx)
    path = new_path(ec2, x, y, port=5432)
    blocked = run(ec2, path)
    # the reply has no way back: B's route table knows nothing of A
    assert codes(blocked) == ["NO_ROUTE_TO_DESTINATION"]
    assert blocked["Explanations"][0]["Component"] == {"Id": b.main_rtb}
    assert pcx in ids(blocked["ForwardPathComponents"])

    fixes = blocked_analysis(server, x, y, 5432)
    assert apply_fixes(server, fixes) == [
        (f"aws ec2 create-route --route-table-id {b.main_rtb} --destination-cidr-block "
        f"10.49.0.0/16 --vpc-peering-connection-id {pcx}")]
    opened = run(ec2, path)
    assert reachable(opened)
    assert pcx in ids(opened["ForwardPathComponents"])
    assert pcx in ids(opened["ReturnPathComponents"])


def test_nat_gateway_only_serves_its_own_vpc(ec2):
    """NGW_REQUIRES_SOURCE_IN_VPC can't be built through the API: EC2 refuses a route to
    another VPC's NAT gateway, and a default route over a peering connection is dropped at the
    peering (edge-to-edge routing), which is what this checks."""
    net, r = nat_vpc(ec2, "10.51.0.0/16")
    other = Net(ec2, "10.52.0.0/16")
    err = error(ec2.create_route, RouteTableId=other.main_rtb, DestinationCidrBlock="0.0.0.0/0",
                NatGatewayId=r["nat"])
    assert err["Code"] == "InvalidParameterValue"
    assert "belong to different networks" in err["Message"]

    pcx = ec2.create_vpc_peering_connection(VpcId=other.vpc, PeerVpcId=net.vpc)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    other.route(other.main_rtb, "0.0.0.0/0", VpcPeeringConnectionId=pcx)
    y = other.eni(other.subnet("10.52.1.0/24"), [other.sg("app")])
    blocked = analyze(ec2, y, ip=INTERNET, port=443)
    assert not reachable(blocked)
    assert codes(blocked) == ["PCX_REQUIRES_ADDRESS_IN_VPC_CIDR"]
    assert blocked["Explanations"][0]["Component"] == {"Id": pcx}
    assert r["nat"] not in ids(blocked["ForwardPathComponents"])


def test_vpcs_without_peering_are_disconnected(ec2):
    a, b = Net(ec2, "10.53.0.0/16"), Net(ec2, "10.54.0.0/16")
    x = a.eni(a.subnet("10.53.1.0/24"), [a.sg("app")])
    db_sg = b.sg("db")
    b.allow_in(db_sg, 3306, cidr="0.0.0.0/0")
    y = b.eni(b.subnet("10.54.1.0/24"), [db_sg])
    blocked = analyze(ec2, x, y, port=3306)
    assert not reachable(blocked)
    assert codes(blocked) == ["DISCONNECTED_VPCS"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": b.vpc} and e["Vpc"] == {"Id": b.vpc}


def test_internet_gateway_to_an_interface_without_a_public_address(ec2):
    """AWS: IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS — internet gateways reject inbound traffic
    whose destination is not the public address of an interface in the VPC."""
    net = Net(ec2, "10.55.0.0/16")
    public, _rtb = net.public_subnet("10.55.1.0/24")
    web = net.sg("web")
    net.allow_in(web, 443, cidr="0.0.0.0/0")
    x = net.eni(public, [web])
    path = new_path(ec2, net.igw, x, port=443)
    blocked = run(ec2, path)
    assert not reachable(blocked)
    assert codes(blocked) == ["IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS"]
    assert blocked["Explanations"][0]["Component"] == {"Id": net.igw}


def test_internet_gateway_to_a_public_interface(ec2):
    net = Net(ec2, "10.56.0.0/16")
    public, _public_rtb = net.public_subnet("10.56.1.0/24")
    web = net.sg("web")
    x = net.eni(public, [web])
    net.eip(x)
    path = new_path(ec2, net.igw, x, port=443)
    closed = run(ec2, path)
    assert codes(closed) == ["ENI_SG_RULES_MISMATCH"]
    assert closed["Explanations"][0]["Direction"] == "ingress"
    net.allow_in(web, 443, cidr="0.0.0.0/0")
    opened = run(ec2, path)
    assert reachable(opened)
    assert ids(opened["ForwardPathComponents"])[1] == net.igw
    assert ids(opened["ForwardPathComponents"])[-1] == web
    assert net.igw in ids(opened["ReturnPathComponents"])


def test_a_gateway_endpoint_cannot_start_a_connection(ec2):
    net = Net(ec2, "10.57.0.0/16")
    rtb = net.route_table()
    vpce = ec2.create_vpc_endpoint(VpcId=net.vpc, ServiceName=S3, RouteTableIds=[rtb])[
        "VpcEndpoint"]["VpcEndpointId"]
    x = net.eni(net.subnet("10.57.1.0/24"), [net.sg("app")])
    blocked = analyze(ec2, vpce, x, port=443)
    assert blocked["NetworkPathFound"] is False
    # AWS lists this case under NO_PATH ("a gateway VPC endpoint can't initiate connections
    # with components in the same VPC"); VPCE_INTRA_VPC_TRAFFIC says the same
    assert codes(blocked) in (["NO_PATH"], ["VPCE_INTRA_VPC_TRAFFIC"])


# ---- the Lambda VPC guide's troubleshooting, end to end -------------------------------------


def guide_vpc(ec2, cidr: str):
    """10.x.0.0/16 with two private subnets sharing a route table, a "function" interface
    (an ENI standing in for a Lambda Hyperplane ENI) and an "RDS" interface."""
    net = Net(ec2, cidr)
    base = cidr.split(".0.0/")[0]
    private_a = net.subnet(f"{base}.10.0/24", "us-east-1a")
    private_b = net.subnet(f"{base}.11.0/24", "us-east-1b")
    private_rtb = net.route_table(private_a, private_b)
    lambda_sg, rds_sg = net.sg("lambda-sg"), net.sg("rds-sg")
    fn = net.eni(private_a, [lambda_sg], "AWS Lambda VPC ENI-MyFunction")
    db = net.eni(private_b, [rds_sg], "RDSNetworkInterface")
    return net, {"base": base, "private_a": private_a, "private_b": private_b,
                 "private_rtb": private_rtb, "lambda_sg": lambda_sg, "rds_sg": rds_sg,
                 "fn": fn, "db": db}


def test_guide_function_to_the_internet_needs_a_nat_gateway(ec2):
    net, r = guide_vpc(ec2, "10.60.0.0/16")
    path = new_path(ec2, r["fn"], ip=INTERNET, port=443)
    blocked = run(ec2, path)
    assert not reachable(blocked)
    assert codes(blocked) == ["NO_ROUTE_TO_DESTINATION"]
    assert blocked["Explanations"][0]["Component"] == {"Id": r["private_rtb"]}

    # the guide's fix: internet gateway, public subnet, Elastic IP, NAT gateway, route
    public, public_rtb = net.public_subnet(f"{r['base']}.1.0/24")
    nat, nat_ip = net.nat(public)
    net.route(r["private_rtb"], "0.0.0.0/0", NatGatewayId=nat)
    opened = run(ec2, path)
    assert reachable(opened)
    forward = ids(opened["ForwardPathComponents"])
    assert forward[0] == r["fn"]
    assert forward.index(r["private_rtb"]) < forward.index(nat) < forward.index(public_rtb) \
        < forward.index(net.igw)
    sources = [c["OutboundHeader"]["SourceAddresses"] for c in opened["ForwardPathComponents"]]
    assert [f"{nat_ip}/32"] in sources  # the internet sees the NAT gateway's Elastic IP
    back = ids(opened["ReturnPathComponents"])
    assert back.index(net.igw) < back.index(nat)
    assert back[-1] == r["fn"]


def test_guide_nat_gateway_in_the_private_subnet_does_not_help(ec2):
    net, r = guide_vpc(ec2, "10.61.0.0/16")
    net.public_subnet(f"{r['base']}.1.0/24")  # the VPC has an internet gateway...
    nat, _ip = net.nat(r["private_b"])  # ...but the NAT gateway went into a private subnet
    net.route(r["private_rtb"], "0.0.0.0/0", NatGatewayId=nat)
    blocked = analyze(ec2, r["fn"], ip=INTERNET, port=443)
    assert not reachable(blocked)
    assert codes(blocked) == ["NO_ROUTE_TO_DESTINATION"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": r["private_rtb"]}
    assert e["NatGateway"] == {"Id": nat}
    assert nat in ids(blocked["ForwardPathComponents"])
    assert net.igw not in ids(blocked["ForwardPathComponents"])


def test_guide_function_to_rds_needs_both_security_group_rules(ec2):
    net, r = guide_vpc(ec2, "10.62.0.0/16")
    net.revoke_all_egress(r["lambda_sg"])
    path = new_path(ec2, r["fn"], r["db"], port=3306)
    blocked = run(ec2, path)
    assert not reachable(blocked)
    assert codes(blocked) == ["ENI_SG_RULES_MISMATCH", "ENI_SG_RULES_MISMATCH"]
    assert [(e["Component"]["Id"], e["Direction"]) for e in blocked["Explanations"]] == [
        (r["lambda_sg"], "egress"), (r["rds_sg"], "ingress")]

    # Step 1 of the guide: outbound to sg-rds on 3306...
    net.allow_out(r["lambda_sg"], 3306, peer=r["rds_sg"])
    half = run(ec2, path)
    assert [(e["Component"]["Id"], e["Direction"]) for e in half["Explanations"]] == [
        (r["rds_sg"], "ingress")]
    # ...and inbound from sg-lambda on 3306
    net.allow_in(r["rds_sg"], 3306, peer=r["lambda_sg"])
    opened = run(ec2, path)
    assert reachable(opened)
    sg_hops = [c for c in opened["ForwardPathComponents"] if "SecurityGroupRule" in c]
    assert [c["Component"]["Id"] for c in sg_hops] == [r["lambda_sg"], r["rds_sg"]]
    # Step 3: same VPC, no routing needed — only the local route
    routes = [c["RouteTableRoute"] for c in opened["ForwardPathComponents"]
              if "RouteTableRoute" in c]
    assert [x["GatewayId"] for x in routes] == ["local"]
    # PostgreSQL's port stays closed
    assert codes(analyze(ec2, r["fn"], r["db"], port=5432)) == ["ENI_SG_RULES_MISMATCH"] * 2


def test_guide_function_in_a_public_subnet_has_no_internet(ec2):
    net, r = guide_vpc(ec2, "10.63.0.0/16")
    public, _rtb = net.public_subnet(f"{r['base']}.1.0/24")
    fn = net.eni(public, [r["lambda_sg"]], "AWS Lambda VPC ENI-PublicFn")
    blocked = analyze(ec2, fn, ip=INTERNET, port=443)
    assert not reachable(blocked)
    assert codes(blocked) == ["IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"]
    e = blocked["Explanations"][0]
    assert e["Component"] == {"Id": net.igw} and e["NetworkInterface"] == {"Id": fn}


def s3_address() -> str:
    address = public_address(S3_HOST)
    assert address is not None
    return address


def test_guide_s3_through_a_gateway_endpoint(ec2, server):
    net, r = guide_vpc(ec2, "10.64.0.0/16")
    s3 = s3_address()
    path = new_path(ec2, r["fn"], ip=s3, port=443)
    without = run(ec2, path)
    assert not reachable(without)
    assert codes(without) == ["NO_ROUTE_TO_DESTINATION"]
    assert without["Explanations"][0]["Component"] == {"Id": r["private_rtb"]}

    vpce = ec2.create_vpc_endpoint(VpcId=net.vpc, ServiceName=S3,
                                   RouteTableIds=[r["private_rtb"]])["VpcEndpoint"]
    prefix_list = ec2.describe_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": [S3]}])["PrefixLists"][0]
    assert any(ipaddress.ip_address(s3) in ipaddress.ip_network(c) for c in prefix_list["Cidrs"])
    opened = run(ec2, path)
    assert reachable(opened)
    route = next(c["RouteTableRoute"] for c in opened["ForwardPathComponents"]
                 if "RouteTableRoute" in c)
    assert route["DestinationPrefixListId"] == prefix_list["PrefixListId"]
    assert route["GatewayId"] == vpce["VpcEndpointId"]
    assert vpce["VpcEndpointId"] in ids(opened["ForwardPathComponents"])
    assert vpce["VpcEndpointId"] in ids(opened["ReturnPathComponents"])
    # the endpoint is no way to the rest of the internet
    assert codes(analyze(ec2, r["fn"], ip=INTERNET, port=443)) == ["NO_ROUTE_TO_DESTINATION"]
    # the S3 hostname resolves to the same place for `vpclocal reach`
    status, result = reach(server, r["fn"], S3_HOST, 443)
    assert status == 200 and result["reachable"] is True
    assert result["analysis"]["destination"]["address"] == s3


# ---- fixes, applied with the aws CLI, really open the path ------------------------------------


def test_fix_for_a_missing_ingress_rule(server, ec2):
    _net, (_a, _b), (_sg_a, sg_b), (x, y) = two_enis(ec2, "10.70.0.0/16")
    path = new_path(ec2, x, y, port=8080)
    analysis = blocked_analysis(server, x, y, 8080)
    assert [e["code"] for e in analysis["explanations"]] == ["ENI_SG_RULES_MISMATCH"]
    commands = apply_fixes(server, analysis)
    assert commands[0].startswith(f"aws ec2 authorize-security-group-ingress --group-id {sg_b}")
    assert reachable(run(ec2, path))
    status, result = reach(server, x, y, 8080)
    assert status == 200 and result["reachable"] is True


def test_fix_for_a_revoked_egress_rule(server, ec2):
    net, (_a, _b), (sg_a, sg_b), (x, y) = two_enis(ec2, "10.71.0.0/16")
    net.allow_in(sg_b, 443, peer=sg_a)
    net.revoke_all_egress(sg_a)
    analysis = blocked_analysis(server, x, y, 443)
    commands = apply_fixes(server, analysis)
    assert commands[0].startswith(f"aws ec2 authorize-security-group-egress --group-id {sg_a}")
    assert reachable(analyze(ec2, x, y, port=443))


def test_fix_for_a_network_acl_deny(server, ec2):
    net, (_a, b), (_sg_a, sg_b), (x, y) = two_enis(ec2, "10.72.0.0/16")
    net.allow_in(sg_b, 80, cidr="10.72.0.0/16")
    acl = net.acl(b, [
        (100, False, "deny", "6", "10.72.1.0/24", (80, 80)),
        (200, False, "allow", "-1", "0.0.0.0/0", None),
        (100, True, "allow", "-1", "0.0.0.0/0", None)])
    analysis = blocked_analysis(server, x, y, 80)
    commands = apply_fixes(server, analysis)
    assert acl in commands[0]
    assert reachable(analyze(ec2, x, y, port=80))


def test_fix_for_replies_dropped_by_a_network_acl(server, ec2):
    net, (_a, b), (_sg_a, sg_b), (x, y) = two_enis(ec2, "10.73.0.0/16")
    net.allow_in(sg_b, 80, cidr="10.73.0.0/16")
    acl = net.acl(b, [
        (100, False, "allow", "6", "10.73.1.0/24", (80, 80)),
        (100, True, "allow", "6", "0.0.0.0/0", (80, 80))])
    analysis = blocked_analysis(server, x, y, 80)
    assert analysis["explanations"][0]["path"] == "return"
    commands = apply_fixes(server, analysis)
    assert commands == [
        (f"aws ec2 create-network-acl-entry --network-acl-id {acl} --egress --rule-number 200 "
        f"--protocol tcp --port-range From=1024,To=65535 --cidr-block 10.73.1.0/24 "
        f"--rule-action allow")]
    assert reachable(analyze(ec2, x, y, port=80))


def test_fix_routes_the_private_subnet_to_an_existing_nat_gateway(server, ec2):
    net, r = guide_vpc(ec2, "10.74.0.0/16")
    public, _rtb = net.public_subnet(f"{r['base']}.1.0/24")
    nat, _ip = net.nat(public)
    analysis = blocked_analysis(server, r["fn"], INTERNET, 443)
    assert apply_fixes(server, analysis) == [
        (f"aws ec2 create-route --route-table-id {r['private_rtb']} "
        f"--destination-cidr-block 0.0.0.0/0 --nat-gateway-id {nat}")]
    opened = analyze(ec2, r["fn"], ip=INTERNET, port=443)
    assert reachable(opened)
    assert nat in ids(opened["ForwardPathComponents"])


def test_fix_replaces_a_blackhole_route_with_a_working_nat_gateway(server, ec2):
    net, r = nat_vpc(ec2, "10.75.0.0/16")
    spare, _ip = net.nat(r["public"])
    ec2.delete_nat_gateway(NatGatewayId=r["nat"])
    analysis = blocked_analysis(server, r["eni"], INTERNET, 443)
    assert [e["code"] for e in analysis["explanations"]] == ["BAD_STATE_ROUTE"]
    assert apply_fixes(server, analysis) == [
        (f"aws ec2 replace-route --route-table-id {r['private_rtb']} "
        f"--destination-cidr-block 0.0.0.0/0 --nat-gateway-id {spare}")]
    opened = analyze(ec2, r["eni"], ip=INTERNET, port=443)
    assert reachable(opened)
    assert spare in ids(opened["ForwardPathComponents"])


def test_fix_for_the_guide_rds_rules(server, ec2):
    net, r = guide_vpc(ec2, "10.76.0.0/16")
    net.revoke_all_egress(r["lambda_sg"])
    analysis = blocked_analysis(server, r["fn"], r["db"], 3306)
    commands = apply_fixes(server, analysis)
    assert len(commands) == 2
    assert "authorize-security-group-egress" in commands[0]
    assert f"UserIdGroupPairs=[{{GroupId={r['rds_sg']}}}]" in commands[0]
    assert "authorize-security-group-ingress" in commands[1]
    assert f"UserIdGroupPairs=[{{GroupId={r['lambda_sg']}}}]" in commands[1]
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(
        GroupIds=[r["lambda_sg"], r["rds_sg"]])["SecurityGroups"]}
    assert groups[r["rds_sg"]]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == \
        r["lambda_sg"]
    assert reachable(analyze(ec2, r["fn"], r["db"], port=3306))


def test_fix_associates_the_route_table_with_the_s3_endpoint(server, ec2):
    net, r = guide_vpc(ec2, "10.77.0.0/16")
    other = net.route_table()
    vpce = ec2.create_vpc_endpoint(VpcId=net.vpc, ServiceName=S3, RouteTableIds=[other])[
        "VpcEndpoint"]["VpcEndpointId"]
    analysis = blocked_analysis(server, r["fn"], vpce, 443)
    assert apply_fixes(server, analysis) == [
        (f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {vpce} "
        f"--add-route-table-ids {r['private_rtb']}")]
    assert reachable(analyze(ec2, r["fn"], ip=s3_address(), port=443))


def test_unverified_suggestions_name_the_missing_pieces(server, ec2):
    _net, r = guide_vpc(ec2, "10.78.0.0/16")
    analysis = blocked_analysis(server, r["fn"], INTERNET, 443)
    assert analysis["fixes_verified"] is False
    assert all(not f["verified"] for f in analysis["fixes"])
    text = " ".join(c for f in analysis["fixes"] for c in f["commands"])
    assert "aws ec2 create-internet-gateway" in text
    assert "aws ec2 create-nat-gateway" in text
    assert f"--route-table-id {r['private_rtb']} --destination-cidr-block 0.0.0.0/0" in text


# ---- the API's shapes and errors ----------------------------------------------------------------


def test_create_describe_delete_path(ec2):
    _net, (_a, _b), (_sg_a, _sg_b), (x, y) = two_enis(ec2, "10.80.0.0/16")
    created = ec2.create_network_insights_path(
        Source=x, Destination=y, Protocol="tcp", DestinationPort=443,
        TagSpecifications=[{"ResourceType": "network-insights-path",
                            "Tags": [{"Key": "Name", "Value": "x-to-y"}]}],
    )["NetworkInsightsPath"]
    path_id = created["NetworkInsightsPathId"]
    assert path_id.startswith("nip-")
    assert created["NetworkInsightsPathArn"] == (
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-insights-path/{path_id}")
    assert created["Source"] == x and created["Destination"] == y
    assert created["SourceArn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/{x}"
    assert created["DestinationArn"] == (
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/{y}")
    assert created["Protocol"] == "tcp" and created["DestinationPort"] == 443
    assert created["Tags"] == [{"Key": "Name", "Value": "x-to-y"}]
    assert "CreatedDate" in created

    by_arn = ec2.create_network_insights_path(
        Source=created["SourceArn"], DestinationIp="10.80.2.77", Protocol="udp",
        DestinationPort=53)["NetworkInsightsPath"]
    assert by_arn["Source"] == x and by_arn["SourceArn"] == created["SourceArn"]
    assert by_arn["DestinationIp"] == "10.80.2.77" and "Destination" not in by_arn

    listed = ec2.describe_network_insights_paths(
        NetworkInsightsPathIds=[path_id])["NetworkInsightsPaths"]
    assert [p["NetworkInsightsPathId"] for p in listed] == [path_id]
    assert listed[0]["Source"] == x and listed[0]["DestinationPort"] == 443
    for name, value, expected in (
            ("source", x, {path_id, by_arn["NetworkInsightsPathId"]}),
            ("destination", y, {path_id}),
            ("destination-ip", "10.80.2.77", {by_arn["NetworkInsightsPathId"]}),
            ("protocol", "udp", {by_arn["NetworkInsightsPathId"]}),
            ("destination-port", "443", {path_id})):
        found = ec2.describe_network_insights_paths(Filters=[
            {"Name": name, "Values": [value]},
            {"Name": "source", "Values": [x]}])["NetworkInsightsPaths"]
        assert {p["NetworkInsightsPathId"] for p in found} == expected, name
    tagged = ec2.describe_network_insights_paths(Filters=[
        {"Name": "tag:Name", "Values": ["x-to-y"]}])["NetworkInsightsPaths"]
    assert path_id in [p["NetworkInsightsPathId"] for p in tagged]

    assert ec2.delete_network_insights_path(
        NetworkInsightsPathId=path_id)["NetworkInsightsPathId"] == path_id
    err = error(ec2.describe_network_insights_paths, NetworkInsightsPathIds=[path_id])
    assert err == {"Code": "InvalidNetworkInsightsPathId.NotFound",
                   "Message": f"The NetworkInsightsPath ID '{path_id}' does not exist"}
    err = error(ec2.delete_network_insights_path, NetworkInsightsPathId=path_id)
    assert err["Code"] == "InvalidNetworkInsightsPathId.NotFound"


def test_path_errors(ec2):
    net = Net(ec2, "10.81.0.0/16")
    x = net.eni(net.subnet("10.81.1.0/24"), [net.sg("app")])
    err = error(ec2.create_network_insights_path, Source="eni-0123456789abcdef0",
                DestinationIp="203.0.113.9", Protocol="tcp")
    assert err == {"Code": "InvalidNetworkInterfaceID.NotFound",
                   "Message": "The networkInterface ID 'eni-0123456789abcdef0' does not exist"}
    err = error(ec2.create_network_insights_path, Source=x,
                Destination="igw-0123456789abcdef0", Protocol="tcp")
    assert err == {"Code": "InvalidInternetGatewayID.NotFound",
                   "Message": "The internetGateway ID 'igw-0123456789abcdef0' does not exist"}
    err = error(ec2.create_network_insights_path, Source=x, Protocol="tcp")
    assert err["Code"] == "MissingParameter"
    assert "Destination" in err["Message"] and "DestinationIp" in err["Message"]
    err = error(ec2.start_network_insights_analysis,
                NetworkInsightsPathId="nip-0123456789abcdef0")
    assert err == {"Code": "InvalidNetworkInsightsPathId.NotFound",
                   "Message": "The NetworkInsightsPath ID 'nip-0123456789abcdef0' does not exist"}
    err = error(ec2.describe_network_insights_analyses,
                NetworkInsightsAnalysisIds=["nia-0123456789abcdef0"])
    assert err["Code"] == "InvalidNetworkInsightsAnalysisId.NotFound"


def test_analyses_by_path_filters_and_deletion(ec2):
    net, (_a, _b), (sg_a, sg_b), (x, y) = two_enis(ec2, "10.82.0.0/16")
    path = new_path(ec2, x, y, port=22)
    other = new_path(ec2, y, x, port=22)
    blocked = run(ec2, path)
    net.allow_in(sg_b, 22, peer=sg_a)
    opened = run(ec2, path)
    elsewhere = run(ec2, other)
    assert blocked["NetworkInsightsAnalysisId"].startswith("nia-")
    assert blocked["NetworkInsightsAnalysisArn"] == (
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-insights-analysis/"
        f"{blocked['NetworkInsightsAnalysisId']}")
    assert "StartDate" in blocked

    def listed(**kw) -> set[str]:
        got = ec2.describe_network_insights_analyses(**kw)["NetworkInsightsAnalyses"]
        return {g["NetworkInsightsAnalysisId"] for g in got}

    both = {blocked["NetworkInsightsAnalysisId"], opened["NetworkInsightsAnalysisId"]}
    assert listed(NetworkInsightsPathId=path) == both
    assert listed(NetworkInsightsPathId=other) == {elsewhere["NetworkInsightsAnalysisId"]}
    found = listed(NetworkInsightsPathId=path,
                   Filters=[{"Name": "path-found", "Values": ["true"]}])
    assert found == {opened["NetworkInsightsAnalysisId"]}
    assert listed(NetworkInsightsPathId=path,
                  Filters=[{"Name": "status", "Values": ["succeeded"]}]) == both

    # a path with analyses can't be deleted (AWS: AnalysisExistsForNetworkInsightsPath)
    err = error(ec2.delete_network_insights_path, NetworkInsightsPathId=other)
    assert err == {
        "Code": "AnalysisExistsForNetworkInsightsPath",
        "Message": f"At least one analysis [{elsewhere['NetworkInsightsAnalysisId']}] exists "
                   f"for path {other}. Delete all the analyses before deleting this network "
                   f"path."}
    assert ec2.delete_network_insights_analysis(
        NetworkInsightsAnalysisId=elsewhere["NetworkInsightsAnalysisId"],
    )["NetworkInsightsAnalysisId"] == elsewhere["NetworkInsightsAnalysisId"]
    err = error(ec2.describe_network_insights_analyses,
                NetworkInsightsAnalysisIds=[elsewhere["NetworkInsightsAnalysisId"]])
    assert err == {
        "Code": "InvalidNetworkInsightsAnalysisId.NotFound",
        "Message": f"The NetworkInsightsAnalysis ID '{elsewhere['NetworkInsightsAnalysisId']}' "
                   f"does not exist"}
    err = error(ec2.delete_network_insights_analysis,
                NetworkInsightsAnalysisId=elsewhere["NetworkInsightsAnalysisId"])
    assert err["Code"] == "InvalidNetworkInsightsAnalysisId.NotFound"
    ec2.delete_network_insights_path(NetworkInsightsPathId=other)
    # the remaining analyses of the first path are untouched
    assert listed(NetworkInsightsPathId=path) == both


def test_analysis_shapes(ec2):
    net, (a, _b), (sg_a, sg_b), (x, y) = two_enis(ec2, "10.83.0.0/16")
    net.allow_in(sg_b, 443, peer=sg_a)
    opened = analyze(ec2, x, y, port=443)
    assert reachable(opened)
    forward = opened["ForwardPathComponents"]
    assert [c["SequenceNumber"] for c in forward] == list(range(1, len(forward) + 1))
    first = forward[0]
    assert first["Component"] == {"Id": x}
    assert first["Subnet"] == {"Id": a} and first["Vpc"] == {"Id": net.vpc}
    x_ip, y_ip = net.private_ip(x), net.private_ip(y)
    assert first["OutboundHeader"] == {
        "SourceAddresses": [f"{x_ip}/32"], "DestinationAddresses": [f"{y_ip}/32"],
        "Protocol": "6", "SourcePortRanges": [{"From": 1024, "To": 65535}],
        "DestinationPortRanges": [{"From": 443, "To": 443}]}
    acl_hops = [c for c in forward if "AclRule" in c]
    assert [h["AclRule"]["Egress"] for h in acl_hops] == [True, False]
    assert all(h["AclRule"]["RuleNumber"] == 100 for h in acl_hops)
    route = next(c for c in forward if "RouteTableRoute" in c)
    assert route["Component"] == {"Id": net.main_rtb}
    assert route["RouteTableRoute"]["DestinationCidr"] == "10.83.0.0/16"
    assert route["RouteTableRoute"]["GatewayId"] == "local"
    back = opened["ReturnPathComponents"]
    assert back[0]["OutboundHeader"]["SourceAddresses"] == [f"{y_ip}/32"]
    assert back[0]["OutboundHeader"]["DestinationPortRanges"] == [{"From": 1024, "To": 65535}]


def test_the_aws_cli_round_trip(server, ec2):
    _net, (_a, _b), (_sg_a, _sg_b), (x, y) = two_enis(ec2, "10.84.0.0/16")
    path = server.aws("ec2", "create-network-insights-path", "--source", x,
                      "--destination", y, "--protocol", "tcp", "--destination-port", "22")
    path_id = path["NetworkInsightsPath"]["NetworkInsightsPathId"]
    started = server.aws("ec2", "start-network-insights-analysis",
                         "--network-insights-path-id", path_id)
    analysis_id = started["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
    shown = server.aws("ec2", "describe-network-insights-analyses",
                       "--network-insights-analysis-ids", analysis_id)
    (analysis,) = shown["NetworkInsightsAnalyses"]
    assert analysis["Status"] == "succeeded" and analysis["NetworkPathFound"] is False
    assert analysis["Explanations"][0]["ExplanationCode"] == "ENI_SG_RULES_MISMATCH"
    server.aws("ec2", "delete-network-insights-analysis",
               "--network-insights-analysis-id", analysis_id)
    server.aws("ec2", "delete-network-insights-path", "--network-insights-path-id", path_id)


def test_getting_started_example_with_a_source_filter(server, ec2, tmp_path):
    """The Reachability Analyzer guide's CLI walk-through: internet gateway -> instance, SSH,
    the port given only in --filter-at-source."""
    net = Net(ec2, "10.85.0.0/16")
    public, _rtb = net.public_subnet("10.85.1.0/24")
    ssh = net.sg("ssh")
    net.allow_in(ssh, 22, cidr="0.0.0.0/0")
    x = net.eni(public, [ssh])
    net.eip(x)
    source_filter = tmp_path / "source-filter.json"
    source_filter.write_text(json.dumps({"DestinationPortRange": {"FromPort": 22, "ToPort": 22}}))
    path = server.aws("ec2", "create-network-insights-path", "--source", net.igw,
                      "--destination", x, "--protocol", "TCP",
                      "--filter-at-source", f"file://{source_filter}")["NetworkInsightsPath"]
    assert path["FilterAtSource"] == {"DestinationPortRange": {"FromPort": 22, "ToPort": 22}}
    analysis = run(ec2, path["NetworkInsightsPathId"])
    assert reachable(analysis), analysis["Explanations"]
    assert net.igw in ids(analysis["ForwardPathComponents"])
    assert ids(analysis["ForwardPathComponents"])[-1] == ssh


def test_a_path_without_a_port_covers_every_port(ec2):
    """AWS analyzes a path without DestinationPort for any port: a group that opens one port
    is enough for NetworkPathFound."""
    net, (_a, _b), (sg_a, sg_b), (x, y) = two_enis(ec2, "10.86.0.0/16")
    net.allow_in(sg_b, 443, peer=sg_a)
    assert reachable(analyze(ec2, x, y))
    _net2, _subnets, _groups, (p, q) = two_enis(ec2, "10.87.0.0/16")
    closed = analyze(ec2, p, q)
    assert codes(closed) == ["ENI_SG_RULES_MISMATCH"]


def test_elastic_ips_are_not_the_simulated_internets_addresses(ec2):
    """An Elastic IP must not be an address the simulated internet already uses (the client an
    internet-gateway source stands for, 198.51.100.10, or what www.example.com resolves to):
    an interface holding it would answer for the internet. Today both come from
    198.51.100.0/24, and an instance whose Elastic IP happens to be 198.51.100.10 is not
    reachable from its internet gateway."""
    held = ec2.describe_addresses(Filters=[
        {"Name": "public-ip", "Values": sorted(SIMULATED_INTERNET)}])["Addresses"]
    handed_out = {a["PublicIp"] for a in held}
    for address in sorted(SIMULATED_INTERNET - handed_out):
        try:
            got = ec2.allocate_address(Domain="vpc", Address=address)
        except ClientError:
            continue
        ec2.release_address(AllocationId=got["AllocationId"])
        handed_out.add(address)
    assert handed_out == set()
