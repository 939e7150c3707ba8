"""IPv6 in the control plane (issue 12): Amazon-provided /56 blocks for VPCs, /64 blocks for
subnets, interface addresses, rules, routes and egress-only internet gateways."""

from __future__ import annotations

import ipaddress

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_of


def ipv6_vpc(ec2, cidr: str = "10.70.0.0/16") -> dict:
    return ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=True)["Vpc"]


def block_of(ec2, vpc_id: str) -> ipaddress.IPv6Network:
    [vpc] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    [assoc] = vpc["Ipv6CidrBlockAssociationSet"]
    return ipaddress.IPv6Network(assoc["Ipv6CidrBlock"])


def subnet64(block: ipaddress.IPv6Network, n: int, prefix: int = 64) -> str:
    """The n-th /64 (or /prefix) from the start of a block."""
    return str(ipaddress.IPv6Network((int(block.network_address) + (n << 64), prefix)))


def test_vpc_with_an_amazon_provided_block(ec2):
    vpc = ipv6_vpc(ec2)
    [created] = vpc["Ipv6CidrBlockAssociationSet"]
    assert created["Ipv6CidrBlockState"] == {"State": "associating"}
    [vpc] = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    [assoc] = vpc["Ipv6CidrBlockAssociationSet"]
    assert assoc["Ipv6CidrBlockState"] == {"State": "associated"}
    assert assoc["Ipv6Pool"] == "Amazon" and assoc["NetworkBorderGroup"] == "us-east-1"
    assert assoc["AssociationId"].startswith("vpc-cidr-assoc-")
    block = ipaddress.IPv6Network(assoc["Ipv6CidrBlock"])
    assert block.prefixlen == 56 and block.is_global
    by_block = ec2.describe_vpcs(Filters=[{"Name": "ipv6-cidr-block-association.ipv6-cidr-block",
                                           "Values": [str(block)]}])["Vpcs"]
    assert [v["VpcId"] for v in by_block] == [vpc["VpcId"]]
    [rtb] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    assert {"DestinationIpv6CidrBlock": str(block), "GatewayId": "local",
            "Origin": "CreateRouteTable", "State": "active"} in rtb["Routes"]
    # every VPC has its own block
    assert block_of(ec2, ipv6_vpc(ec2, "10.71.0.0/16")["VpcId"]) != block


def test_associate_and_disassociate_a_vpc_block(ec2, vpc):
    assert "Ipv6CidrBlockAssociationSet" not in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    out = ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True,
                                       Ipv6CidrBlockNetworkBorderGroup="us-east-1")
    assoc = out["Ipv6CidrBlockAssociation"]
    assert assoc["Ipv6CidrBlockState"]["State"] == "associating"
    assert ipaddress.IPv6Network(assoc["Ipv6CidrBlock"]).prefixlen == 56
    assert block_of(ec2, vpc) == ipaddress.IPv6Network(assoc["Ipv6CidrBlock"])
    with pytest.raises(ClientError) as exc:  # one block per network border group
        ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    assert error_of(exc)[0] == "CidrLimitExceeded"
    out = ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
    assert out["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert "Ipv6CidrBlockAssociationSet" not in ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
    [rtb] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    assert not any("DestinationIpv6CidrBlock" in r for r in rtb["Routes"])


def test_pools_vpclocal_does_not_have(ec2, vpc):
    with pytest.raises(ClientError) as exc:
        ec2.associate_vpc_cidr_block(VpcId=vpc, Ipv6Pool="ipv6pool-ec2-0123456789abcdef0",
                                     Ipv6CidrBlock="2001:db8::/56")
    assert error_of(exc)[0] == "InvalidIpv6PoolID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.create_vpc(CidrBlock="10.72.0.0/16", AmazonProvidedIpv6CidrBlock=True,
                       Ipv6CidrBlockNetworkBorderGroup="us-west-2")
    assert error_of(exc)[0] == "InvalidParameterValue"


def test_subnet_blocks(ec2):
    vpc_id = ipv6_vpc(ec2, "10.73.0.0/16")["VpcId"]
    block = block_of(ec2, vpc_id)
    first, second = subnet64(block, 1), subnet64(block, 2)
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.73.1.0/24",
                               Ipv6CidrBlock=first)["Subnet"]
    [assoc] = subnet["Ipv6CidrBlockAssociationSet"]
    assert assoc["Ipv6CidrBlock"] == first
    assert assoc["Ipv6CidrBlockState"]["State"] == "associated"
    assert assoc["AssociationId"].startswith("subnet-cidr-assoc-")
    sid = subnet["SubnetId"]
    found = ec2.describe_subnets(Filters=[
        {"Name": "ipv6-cidr-block-association.ipv6-cidr-block", "Values": [first]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [sid]
    ec2.modify_subnet_attribute(SubnetId=sid, AssignIpv6AddressOnCreation={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["AssignIpv6AddressOnCreation"]

    outside = subnet64(block, 256)  # the /64 just past the /56
    wide = subnet64(block, 16, prefix=60)
    errors = [
        (first, "10.73.2.0/24", ("InvalidSubnet.Conflict",
                                 f"The IPv6 CIDR '{first}' conflicts with another subnet")),
        (outside, "10.73.3.0/24", ("InvalidSubnet.Range",
                                   f"The IPv6 CIDR '{outside}' is invalid.")),
        (wide, "10.73.4.0/24", ("InvalidParameterValue",
                                f"invalid value for parameter ipv6-cidr-block: {wide}")),
    ]
    for ipv6_cidr, cidr, expected in errors:
        with pytest.raises(ClientError) as exc:
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, Ipv6CidrBlock=ipv6_cidr)
        assert error_of(exc) == expected
    assert len(ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]) == 1

    # associate / disassociate on an IPv4 subnet
    plain = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.73.5.0/24")["Subnet"]["SubnetId"]
    out = ec2.associate_subnet_cidr_block(SubnetId=plain, Ipv6CidrBlock=second)
    assert out["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"] == second
    with pytest.raises(ClientError) as exc:  # the VPC's block is in use by the subnets
        ec2.disassociate_vpc_cidr_block(AssociationId=ec2.describe_vpcs(VpcIds=[vpc_id])[
            "Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["AssociationId"])
    assert error_of(exc)[0] == "InvalidCidrBlock.InUse"
    out = ec2.disassociate_subnet_cidr_block(
        AssociationId=out["Ipv6CidrBlockAssociation"]["AssociationId"])
    assert out["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert "Ipv6CidrBlockAssociationSet" not in ec2.describe_subnets(
        SubnetIds=[plain])["Subnets"][0]


def test_ipv6_in_a_vpc_without_a_block(ec2, vpc):
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24", Ipv6CidrBlock="2600:1f18::/64")
    assert error_of(exc) == ("InvalidSubnet.Range", "The IPv6 CIDR '2600:1f18::/64' is invalid.")
    with pytest.raises(ClientError) as exc:  # IPv6-only subnets are refused, not half-made
        ec2.create_subnet(VpcId=vpc, Ipv6Native=True, Ipv6CidrBlock="2600:1f18::/64")
    assert error_of(exc)[0] == "InvalidParameterCombination"


def test_interface_addresses(ec2):
    vpc_id = ipv6_vpc(ec2, "10.74.0.0/16")["VpcId"]
    block = block_of(ec2, vpc_id)
    sub64 = ipaddress.IPv6Network(subnet64(block, 3))
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.74.1.0/24",
                            Ipv6CidrBlock=str(sub64))["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=sid, Ipv6AddressCount=2)["NetworkInterface"]
    addresses = [ipaddress.IPv6Address(a["Ipv6Address"]) for a in eni["Ipv6Addresses"]]
    assert len(set(addresses)) == 2 and all(a in sub64 for a in addresses)
    wanted = str(sub64[100])
    eni2 = ec2.create_network_interface(SubnetId=sid, Ipv6Addresses=[{"Ipv6Address": wanted}])
    assert eni2["NetworkInterface"]["Ipv6Addresses"] == [
        {"Ipv6Address": wanted, "IsPrimaryIpv6": False}]
    found = ec2.describe_network_interfaces(Filters=[
        {"Name": "ipv6-addresses.ipv6-address", "Values": [wanted]}])["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in found] == [
        eni2["NetworkInterface"]["NetworkInterfaceId"]]
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=sid, Ipv6Addresses=[{"Ipv6Address": wanted}])
    assert error_of(exc)[0] == "InvalidIPAddress.InUse"
    ec2.modify_subnet_attribute(SubnetId=sid, AssignIpv6AddressOnCreation={"Value": True})
    auto = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]
    assert len(auto["Ipv6Addresses"]) == 1
    with pytest.raises(ClientError) as exc:  # prefix delegation is refused, not ignored
        ec2.create_network_interface(SubnetId=sid, Ipv6PrefixCount=1)
    assert error_of(exc)[0] == "InvalidParameterCombination"
    plain = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.74.2.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=plain, Ipv6AddressCount=1)
    assert error_of(exc)[0] == "InvalidParameterValue"


def test_network_acl_ipv6_entries(ec2, vpc):
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=110, Protocol="6",
                                 RuleAction="allow", Egress=False, Ipv6CidrBlock="::/0",
                                 PortRange={"From": 443, "To": 443})
    [shown] = [e for e in ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0][
        "Entries"] if e["RuleNumber"] == 110]
    assert shown["Ipv6CidrBlock"] == "::/0" and "CidrBlock" not in shown


def test_egress_only_internet_gateway(ec2):
    vpc_id = ipv6_vpc(ec2, "10.75.0.0/16")["VpcId"]
    out = ec2.create_egress_only_internet_gateway(
        VpcId=vpc_id, TagSpecifications=[{"ResourceType": "egress-only-internet-gateway",
                                          "Tags": [{"Key": "Name", "Value": "out"}]}])
    gateway = out["EgressOnlyInternetGateway"]
    eigw = gateway["EgressOnlyInternetGatewayId"]
    assert eigw.startswith("eigw-") and len(eigw) == 22
    assert gateway["Attachments"] == [{"State": "attached", "VpcId": vpc_id}]
    [shown] = ec2.describe_egress_only_internet_gateways(
        EgressOnlyInternetGatewayIds=[eigw])["EgressOnlyInternetGateways"]
    assert shown["Tags"] == [{"Key": "Name", "Value": "out"}]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [eigw]}])["Tags"]
    assert tags[0]["ResourceType"] == "egress-only-internet-gateway"

    [rtb] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    rtb_id = rtb["RouteTableId"]
    ec2.create_route(RouteTableId=rtb_id, DestinationIpv6CidrBlock="::/0",
                     EgressOnlyInternetGatewayId=eigw)
    route = lambda: next(r for r in ec2.describe_route_tables(RouteTableIds=[rtb_id])[
        "RouteTables"][0]["Routes"] if r.get("DestinationIpv6CidrBlock") == "::/0")
    assert route()["EgressOnlyInternetGatewayId"] == eigw and route()["State"] == "active"
    with pytest.raises(ClientError) as exc:  # IPv6 destinations only
        ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0",
                         EgressOnlyInternetGatewayId=eigw)
    assert error_of(exc)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:  # the VPC cannot go while the gateway is there
        ec2.delete_vpc(VpcId=vpc_id)
    assert error_of(exc)[0] == "DependencyViolation"
    assert ec2.delete_egress_only_internet_gateway(
        EgressOnlyInternetGatewayId=eigw)["ReturnCode"] is True
    assert route()["State"] == "blackhole"
    with pytest.raises(ClientError) as exc:
        ec2.describe_egress_only_internet_gateways(EgressOnlyInternetGatewayIds=[eigw])
    assert error_of(exc) == ("InvalidEgressOnlyInternetGatewayId.NotFound",
                             f"The egressOnlyInternetGateway ID '{eigw}' does not exist")
    with pytest.raises(ClientError) as exc:
        ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId="igw-1")
    assert error_of(exc)[0] == "InvalidEgressOnlyInternetGatewayId.Malformed"


def test_ipv6_configuration_does_not_disturb_reachability(ec2):
    """The reachability engine reads IPv4 only: an IPv6-configured VPC (::/0 rules and
    routes, IPv6 ACL entries, interface addresses) still analyses over IPv4."""
    vpc_id = ipv6_vpc(ec2, "10.76.0.0/16")["VpcId"]
    block = block_of(ec2, vpc_id)
    sid = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.76.1.0/24",
                            Ipv6CidrBlock=subnet64(block, 0))["Subnet"]["SubnetId"]
    gid = ec2.create_security_group(GroupName="v6", Description="v6", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
         "IpRanges": [{"CidrIp": "10.76.0.0/16"}]}])
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc_id)[
        "EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    [rtb] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    ec2.create_route(RouteTableId=rtb["RouteTableId"], DestinationIpv6CidrBlock="::/0",
                     EgressOnlyInternetGatewayId=eigw)
    [acl] = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]
    ec2.create_network_acl_entry(NetworkAclId=acl["NetworkAclId"], RuleNumber=50, Protocol="-1",
                                 RuleAction="deny", Egress=False, Ipv6CidrBlock="::/0")
    a, b = (ec2.create_network_interface(SubnetId=sid, Groups=[gid], Ipv6AddressCount=1)[
        "NetworkInterface"]["NetworkInterfaceId"] for _ in range(2))
    path = ec2.create_network_insights_path(Source=a, Destination=b, Protocol="tcp",
                                            DestinationPort=80)["NetworkInsightsPath"]
    analysis_id = ec2.start_network_insights_analysis(
        NetworkInsightsPathId=path["NetworkInsightsPathId"])["NetworkInsightsAnalysis"][
        "NetworkInsightsAnalysisId"]
    [analysis] = ec2.describe_network_insights_analyses(
        NetworkInsightsAnalysisIds=[analysis_id])["NetworkInsightsAnalyses"]
    assert analysis["Status"] == "succeeded"
    assert analysis["NetworkPathFound"] is True  # the IPv6 deny entry does not touch IPv4
