"""Internet gateways, Elastic IPs and NAT gateways, driven with boto3 and the aws CLI."""

from __future__ import annotations

import ipaddress

import pytest
from botocore.exceptions import WaiterError

from tests.errors import error

ACCOUNT = "000000000000"
PUBLIC = ipaddress.IPv4Network("192.0.2.0/24")  # where Elastic IPs come from


def new_igw(ec2, vpc_id: str | None = None) -> str:
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    if vpc_id:
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    return igw


def subnet(ec2, vpc_id: str, cidr: str) -> str:
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)["Subnet"]["SubnetId"]


def address(ec2, allocation_id: str) -> dict:
    return ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]


def eni(ec2, eni_id: str) -> dict:
    return ec2.describe_network_interfaces(
        NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]


def nat(ec2, nat_id: str) -> dict:
    return ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]


# ---- internet gateways ---------------------------------------------------------------------


def test_internet_gateway_lifecycle(ec2, vpc):
    created = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "Name", "Value": "igw"}]}])
    igw = created["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert igw_id.startswith("igw-") and igw["Attachments"] == []
    assert igw["OwnerId"] == ACCOUNT and igw["Tags"] == [{"Key": "Name", "Value": "igw"}]

    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    described = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])
    assert described["InternetGateways"][0]["Attachments"] == [
        {"State": "available", "VpcId": vpc}]
    for name, value in (("attachment.vpc-id", vpc), ("attachment.state", "available"),
                        ("internet-gateway-id", igw_id), ("tag:Name", "igw")):
        found = ec2.describe_internet_gateways(Filters=[
            {"Name": name, "Values": [value]},
            {"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
        assert [g["InternetGatewayId"] for g in found] == [igw_id], name
    found = ec2.describe_internet_gateways(Filters=[
        {"Name": "owner-id", "Values": [ACCOUNT]}])["InternetGateways"]
    assert igw_id in [g["InternetGatewayId"] for g in found]

    err = error(ec2.attach_internet_gateway, InternetGatewayId=igw_id, VpcId=vpc)
    assert err == {"Code": "Resource.AlreadyAssociated",
                   "Message": f"resource {igw_id} is already attached to network {vpc}"}
    second = new_igw(ec2)
    err = error(ec2.attach_internet_gateway, InternetGatewayId=second, VpcId=vpc)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": f"Network {vpc} already has an internet gateway attached"}
    err = error(ec2.delete_internet_gateway, InternetGatewayId=igw_id)
    assert err == {"Code": "DependencyViolation",
                   "Message": f"The internetGateway '{igw_id}' has dependencies and cannot be "
                              "deleted."}
    err = error(ec2.detach_internet_gateway, InternetGatewayId=second, VpcId=vpc)
    assert err == {"Code": "Gateway.NotAttached",
                   "Message": f"resource {second} is not attached to network {vpc}"}

    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    assert ec2.describe_internet_gateways(
        InternetGatewayIds=[igw_id])["InternetGateways"][0]["Attachments"] == []
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    err = error(ec2.describe_internet_gateways, InternetGatewayIds=[igw_id])
    assert err == {"Code": "InvalidInternetGatewayID.NotFound",
                   "Message": f"The internetGateway ID '{igw_id}' does not exist"}
    err = error(ec2.describe_internet_gateways, InternetGatewayIds=["bogus"])
    assert err["Code"] == "InvalidInternetGatewayId.Malformed"


def test_vpc_with_attached_gateway_cannot_be_deleted(ec2, vpc):
    igw = new_igw(ec2, vpc)
    assert error(ec2.delete_vpc, VpcId=vpc)["Code"] == "DependencyViolation"
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_vpc(VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_default_vpc_has_an_attached_gateway(ec2):
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    found = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [default["VpcId"]]}])["InternetGateways"]
    assert len(found) == 1


# ---- Elastic IPs ---------------------------------------------------------------------------


def test_allocate_describe_release(ec2):
    allocated = [ec2.allocate_address(Domain="vpc") for _ in range(3)]
    for out in allocated:
        assert out["AllocationId"].startswith("eipalloc-")
        assert ipaddress.IPv4Address(out["PublicIp"]) in PUBLIC
        assert out["Domain"] == "vpc" and out["PublicIpv4Pool"] == "amazon"
        assert out["NetworkBorderGroup"] == "us-east-1"
    assert len({a["PublicIp"] for a in allocated}) == 3
    first = allocated[0]
    assert address(ec2, first["AllocationId"]) == {
        "AllocationId": first["AllocationId"], "PublicIp": first["PublicIp"], "Domain": "vpc",
        "PublicIpv4Pool": "amazon", "NetworkBorderGroup": "us-east-1"}
    by_ip = ec2.describe_addresses(PublicIps=[first["PublicIp"]])["Addresses"]
    assert [a["AllocationId"] for a in by_ip] == [first["AllocationId"]]
    by_filter = ec2.describe_addresses(Filters=[
        {"Name": "public-ip", "Values": [first["PublicIp"], allocated[1]["PublicIp"]]}])
    assert len(by_filter["Addresses"]) == 2
    assert ec2.describe_addresses(Filters=[
        {"Name": "allocation-id", "Values": [first["AllocationId"]]},
        {"Name": "domain", "Values": ["vpc"]}])["Addresses"][0]["PublicIp"] == first["PublicIp"]

    err = error(ec2.describe_addresses, PublicIps=["192.0.2.255"])
    assert err == {"Code": "InvalidAddress.NotFound",
                   "Message": "Address '192.0.2.255' not found."}
    err = error(ec2.release_address, PublicIp=first["PublicIp"])
    assert err == {"Code": "InvalidParameterValue",
                   "Message": "You must specify an allocation id when releasing a VPC elastic "
                              "IP address"}
    for out in allocated:
        ec2.release_address(AllocationId=out["AllocationId"])
    err = error(ec2.release_address, AllocationId=first["AllocationId"])
    assert err == {"Code": "InvalidAllocationID.NotFound",
                   "Message": f"The allocation ID '{first['AllocationId']}' does not exist"}
    # A released address is not handed out again right away.
    again = ec2.allocate_address(Domain="vpc")
    assert again["PublicIp"] not in {a["PublicIp"] for a in allocated}
    ec2.release_address(AllocationId=again["AllocationId"])


def test_associate_address_needs_an_internet_gateway(ec2, vpc):
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    eni_id = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    err = error(ec2.associate_address, AllocationId=alloc, NetworkInterfaceId=eni_id)
    assert err == {"Code": "Gateway.NotAttached",
                   "Message": f"Network {vpc} is not attached to any internet gateway"}
    assert "AssociationId" not in address(ec2, alloc)
    ec2.release_address(AllocationId=alloc)


def test_associate_and_disassociate(ec2, vpc):
    new_igw(ec2, vpc)
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    first_eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]
    second_eni = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]
    eip = ec2.allocate_address(Domain="vpc")
    alloc = eip["AllocationId"]
    assoc = ec2.associate_address(AllocationId=alloc,
                                  NetworkInterfaceId=first_eni["NetworkInterfaceId"])
    assoc_id = assoc["AssociationId"]
    assert assoc_id.startswith("eipassoc-")
    described = address(ec2, alloc)
    assert described["AssociationId"] == assoc_id
    assert described["NetworkInterfaceId"] == first_eni["NetworkInterfaceId"]
    assert described["NetworkInterfaceOwnerId"] == ACCOUNT
    assert described["PrivateIpAddress"] == first_eni["PrivateIpAddress"]
    association = {"AllocationId": alloc, "AssociationId": assoc_id, "IpOwnerId": ACCOUNT,
                   "PublicIp": eip["PublicIp"]}
    shown = eni(ec2, first_eni["NetworkInterfaceId"])
    assert shown["Association"] == association
    assert shown["PrivateIpAddresses"][0]["Association"] == association
    found = ec2.describe_addresses(Filters=[
        {"Name": "network-interface-id", "Values": [first_eni["NetworkInterfaceId"]]}])
    assert [a["AllocationId"] for a in found["Addresses"]] == [alloc]

    err = error(ec2.release_address, AllocationId=alloc)
    assert err == {"Code": "InvalidIPAddress.InUse",
                   "Message": f"Address {eip['PublicIp']} is in use."}
    err = error(ec2.associate_address, AllocationId=alloc,
                NetworkInterfaceId=second_eni["NetworkInterfaceId"])
    assert err == {"Code": "Resource.AlreadyAssociated",
                   "Message": f"resource {alloc} is already associated with associate-id "
                              f"{assoc_id}"}
    err = error(ec2.associate_address, AllocationId=alloc,
                NetworkInterfaceId=second_eni["NetworkInterfaceId"],
                PrivateIpAddress="10.0.1.200")
    assert err["Code"] == "InvalidParameterValue"

    moved = ec2.associate_address(AllocationId=alloc, AllowReassociation=True,
                                  NetworkInterfaceId=second_eni["NetworkInterfaceId"])
    assert "Association" not in eni(ec2, first_eni["NetworkInterfaceId"])
    assert eni(ec2, second_eni["NetworkInterfaceId"])["Association"]["AssociationId"] == \
        moved["AssociationId"]

    # A second address for the same private IP replaces the first (which stays allocated).
    other = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=other,
                          NetworkInterfaceId=second_eni["NetworkInterfaceId"])
    assert "AssociationId" not in address(ec2, alloc)
    assert eni(ec2, second_eni["NetworkInterfaceId"])["Association"]["AllocationId"] == other

    err = error(ec2.disassociate_address, AssociationId=moved["AssociationId"])
    assert err == {"Code": "InvalidAssociationID.NotFound",
                   "Message": f"The association ID '{moved['AssociationId']}' does not exist"}
    ec2.disassociate_address(AssociationId=address(ec2, other)["AssociationId"])
    assert "Association" not in eni(ec2, second_eni["NetworkInterfaceId"])
    for alloc_id in (alloc, other):
        ec2.release_address(AllocationId=alloc_id)


def test_detach_with_mapped_addresses_fails(ec2, vpc):
    igw = new_igw(ec2, vpc)
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    eni_id = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    assoc = ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni_id)
    err = error(ec2.detach_internet_gateway, InternetGatewayId=igw, VpcId=vpc)
    assert err == {"Code": "DependencyViolation",
                   "Message": f"Network {vpc} has some mapped public address(es). Please unmap "
                              "those public address(es) before detaching the gateway."}
    ec2.disassociate_address(AssociationId=assoc["AssociationId"])
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.release_address(AllocationId=alloc)


def test_deleting_the_interface_frees_its_address(ec2, vpc):
    new_igw(ec2, vpc)
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    eni_id = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni_id)
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    assert "AssociationId" not in address(ec2, alloc)
    ec2.release_address(AllocationId=alloc)


# ---- NAT gateways --------------------------------------------------------------------------


def test_guide_nat_pattern_with_the_cli(server, ec2):
    """Section 3 of the guide: a NAT gateway in the public subnet, the private subnet's
    0.0.0.0/0 routed to it, and `aws ec2 wait nat-gateway-available`."""
    aws = server.aws
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
    igw = aws("ec2", "create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    aws("ec2", "attach-internet-gateway", "--vpc-id", vpc, "--internet-gateway-id", igw)
    public = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.1.0/24",
                 "--availability-zone", "us-east-1a")["Subnet"]["SubnetId"]
    private = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.10.0/24",
                  "--availability-zone", "us-east-1a")["Subnet"]["SubnetId"]
    public_rtb = aws("ec2", "create-route-table", "--vpc-id", vpc)["RouteTable"]["RouteTableId"]
    aws("ec2", "create-route", "--route-table-id", public_rtb, "--destination-cidr-block",
        "0.0.0.0/0", "--gateway-id", igw)
    aws("ec2", "associate-route-table", "--route-table-id", public_rtb, "--subnet-id", public)
    eip = aws("ec2", "allocate-address", "--domain", "vpc")

    created = aws("ec2", "create-nat-gateway", "--subnet-id", public,
                  "--allocation-id", eip["AllocationId"])["NatGateway"]
    nat_id = created["NatGatewayId"]
    assert nat_id.startswith("nat-") and created["State"] == "pending"
    assert created["SubnetId"] == public and created["VpcId"] == vpc
    assert created["ConnectivityType"] == "public"

    private_rtb = aws("ec2", "create-route-table", "--vpc-id", vpc)["RouteTable"]["RouteTableId"]
    aws("ec2", "associate-route-table", "--route-table-id", private_rtb, "--subnet-id", private)
    aws("ec2", "create-route", "--route-table-id", private_rtb, "--destination-cidr-block",
        "0.0.0.0/0", "--nat-gateway-id", nat_id)
    waited = aws("ec2", "wait", "nat-gateway-available", "--nat-gateway-ids", nat_id,
                 check=False)
    assert waited.returncode == 0, waited.stderr

    shown = aws("ec2", "describe-nat-gateways", "--nat-gateway-ids", nat_id)["NatGateways"][0]
    assert shown["State"] == "available"
    [entry] = shown["NatGatewayAddresses"]
    assert entry["AllocationId"] == eip["AllocationId"]
    assert entry["PublicIp"] == eip["PublicIp"] and entry["IsPrimary"] is True
    assert entry["PrivateIp"] == "10.0.1.4"  # the first address after the 4 reserved ones
    assert entry["Status"] == "succeeded" and entry["AssociationId"].startswith("eipassoc-")
    interface = eni(ec2, entry["NetworkInterfaceId"])
    assert interface["InterfaceType"] == "nat_gateway"
    assert interface["RequesterManaged"] is True
    assert interface["Description"] == f"Interface for NAT Gateway {nat_id}"
    assert interface["Association"]["PublicIp"] == eip["PublicIp"]
    assert interface["Status"] == "in-use"
    eip_shown = address(ec2, eip["AllocationId"])
    assert eip_shown["NetworkInterfaceId"] == entry["NetworkInterfaceId"]
    assert eip_shown["PrivateIpAddress"] == "10.0.1.4"

    routes = aws("ec2", "describe-route-tables", "--route-table-ids",
                 private_rtb)["RouteTables"][0]["Routes"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat_id,
            "Origin": "CreateRoute", "State": "active"} in routes

    # The EIP and the interface belong to the NAT gateway now.
    err = error(ec2.release_address, AllocationId=eip["AllocationId"])
    assert err["Code"] == "AuthFailure"
    err = error(ec2.delete_network_interface, NetworkInterfaceId=entry["NetworkInterfaceId"])
    assert err["Code"] == "InvalidNetworkInterface.InUse"
    assert error(ec2.delete_subnet, SubnetId=public)["Code"] == "DependencyViolation"

    assert aws("ec2", "delete-nat-gateway", "--nat-gateway-id",
               nat_id) == {"NatGatewayId": nat_id}
    gone = nat(ec2, nat_id)
    assert gone["State"] == "deleted" and "DeleteTime" in gone
    blackhole = aws("ec2", "describe-route-tables", "--route-table-ids",
                    private_rtb)["RouteTables"][0]["Routes"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": nat_id,
            "Origin": "CreateRoute", "State": "blackhole"} in blackhole
    err = error(ec2.describe_network_interfaces,
                NetworkInterfaceIds=[entry["NetworkInterfaceId"]])
    assert err["Code"] == "InvalidNetworkInterfaceID.NotFound"
    assert "AssociationId" not in address(ec2, eip["AllocationId"])
    # A deleted NAT gateway no longer takes new routes, and deleting again is harmless.
    err = error(ec2.create_route, RouteTableId=public_rtb, DestinationCidrBlock="192.0.2.0/24",
                NatGatewayId=nat_id)
    assert err["Code"] == "InvalidNatGatewayID.NotFound"
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_public_nat_without_internet_gateway_fails(ec2, vpc):
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    created = ec2.create_nat_gateway(SubnetId=sub, AllocationId=alloc)["NatGateway"]
    assert created["State"] == "pending"
    shown = nat(ec2, created["NatGatewayId"])
    assert shown["State"] == "failed"
    assert shown["FailureCode"] == "Gateway.NotAttached"
    assert shown["FailureMessage"] == f"Network {vpc} has no Internet gateway attached"
    assert "DeleteTime" in shown
    # The interface was given back and the address is still free.
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sub]}])
    assert enis["NetworkInterfaces"] == []
    assert "AssociationId" not in address(ec2, alloc)
    waiter = ec2.get_waiter("nat_gateway_available")
    with pytest.raises(WaiterError):
        waiter.wait(NatGatewayIds=[created["NatGatewayId"]],
                    WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    ec2.delete_subnet(SubnetId=sub)  # a failed NAT gateway holds nothing
    ec2.release_address(AllocationId=alloc)


def test_nat_with_an_address_in_use_fails(ec2, vpc):
    new_igw(ec2, vpc)
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    eni_id = ec2.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni_id)
    nat_id = ec2.create_nat_gateway(SubnetId=sub, AllocationId=alloc)["NatGateway"][
        "NatGatewayId"]
    shown = nat(ec2, nat_id)
    assert shown["State"] == "failed"
    assert shown["FailureCode"] == "Resource.AlreadyAssociated"
    assert shown["FailureMessage"] == f"Elastic IP address [{alloc}] is already associated"
    assert address(ec2, alloc)["NetworkInterfaceId"] == eni_id


def test_nat_request_errors(ec2, vpc):
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    err = error(ec2.create_nat_gateway, SubnetId=sub, AllocationId="eipalloc-0123456789abcdef0")
    assert err == {"Code": "InvalidAllocationID.NotFound",
                   "Message": "The allocation ID 'eipalloc-0123456789abcdef0' does not exist"}
    err = error(ec2.create_nat_gateway, SubnetId=sub)
    assert err["Code"] == "MissingParameter"
    err = error(ec2.create_nat_gateway, SubnetId="subnet-0123456789abcdef0",
                ConnectivityType="private")
    assert err["Code"] == "InvalidSubnetID.NotFound"
    err = error(ec2.describe_nat_gateways, NatGatewayIds=["nat-0123456789abcdef0"])
    assert err == {"Code": "NatGatewayNotFound",
                   "Message": "The Nat Gateway nat-0123456789abcdef0 was not found"}
    err = error(ec2.delete_nat_gateway, NatGatewayId="nat-0123456789abcdef0")
    assert err["Code"] == "NatGatewayNotFound"
    # Nothing was left behind by the refused requests.
    assert ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc]}])[
        "NatGateways"] == []


def test_private_nat_gateway(ec2, vpc):
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    created = ec2.create_nat_gateway(SubnetId=sub, ConnectivityType="private",
                                     PrivateIpAddress="10.0.1.50", TagSpecifications=[
                                         {"ResourceType": "natgateway",
                                          "Tags": [{"Key": "Name", "Value": "internal"}]}])
    nat_id = created["NatGateway"]["NatGatewayId"]
    shown = nat(ec2, nat_id)
    assert shown["State"] == "available" and shown["ConnectivityType"] == "private"
    [entry] = shown["NatGatewayAddresses"]
    assert entry["PrivateIp"] == "10.0.1.50" and "PublicIp" not in entry
    assert shown["Tags"] == [{"Key": "Name", "Value": "internal"}]
    # Each filter of DescribeNatGateways (whose parameter is `Filter`): it finds this one, and
    # only gateways that match (the server is shared with other tests' gateways)
    for name, value, match in (
            ("nat-gateway-id", nat_id, lambda n: n["NatGatewayId"] == nat_id),
            ("state", "available", lambda n: n["State"] == "available"),
            ("subnet-id", sub, lambda n: n["SubnetId"] == sub),
            ("vpc-id", vpc, lambda n: n["VpcId"] == vpc),
            ("tag:Name", "internal", lambda n: {"Key": "Name", "Value": "internal"} in n["Tags"])):
        found = ec2.describe_nat_gateways(Filter=[{"Name": name, "Values": [value]}])
        assert nat_id in [n["NatGatewayId"] for n in found["NatGateways"]], name
        assert all(match(n) for n in found["NatGateways"]), name
    assert error(ec2.delete_vpc, VpcId=vpc)["Code"] == "DependencyViolation"
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    found = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc]},
                                              {"Name": "state", "Values": ["deleted"]}])
    assert [n["NatGatewayId"] for n in found["NatGateways"]] == [nat_id]
    ec2.delete_subnet(SubnetId=sub)
    ec2.delete_vpc(VpcId=vpc)


def test_nat_in_a_full_subnet_fails(ec2, vpc):
    new_igw(ec2, vpc)
    sub = subnet(ec2, vpc, "10.0.2.0/28")  # 16 addresses, 5 reserved
    for _ in range(11):
        ec2.create_network_interface(SubnetId=sub)
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat_id = ec2.create_nat_gateway(SubnetId=sub, AllocationId=alloc)["NatGateway"][
        "NatGatewayId"]
    shown = nat(ec2, nat_id)
    assert shown["State"] == "failed"
    assert shown["FailureCode"] == "InsufficientFreeAddressesInSubnet"
    assert shown["FailureMessage"] == ("Subnet has insufficient free addresses to create this "
                                       "NAT gateway")
    ec2.release_address(AllocationId=alloc)


def test_nat_describe_pagination(ec2, vpc):
    sub = subnet(ec2, vpc, "10.0.1.0/24")
    ids = {ec2.create_nat_gateway(SubnetId=sub, ConnectivityType="private")["NatGateway"][
        "NatGatewayId"] for _ in range(6)}
    flt = [{"Name": "vpc-id", "Values": [vpc]}]
    first = ec2.describe_nat_gateways(Filter=flt, MaxResults=5)
    assert len(first["NatGateways"]) == 5
    rest = ec2.describe_nat_gateways(Filter=flt, MaxResults=5, NextToken=first["NextToken"])
    assert {n["NatGatewayId"] for n in first["NatGateways"] + rest["NatGateways"]} == ids
