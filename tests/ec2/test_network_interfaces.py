"""Network interfaces: addresses, groups, filters and attributes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_of


@pytest.fixture
def subnet(ec2, vpc):
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]


def default_group(ec2, vpc):
    return ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}],
    )["SecurityGroups"][0]["GroupId"]


def test_create_and_describe(ec2, vpc, subnet):
    eni = ec2.create_network_interface(
        SubnetId=subnet, Description="app",
        TagSpecifications=[{"ResourceType": "network-interface",
                            "Tags": [{"Key": "Name", "Value": "app-eni"}]}])["NetworkInterface"]
    assert eni["NetworkInterfaceId"].startswith("eni-")
    assert eni["PrivateIpAddress"] == "10.0.1.4"
    assert eni["PrivateDnsName"] == "ip-10-0-1-4.ec2.internal"
    assert eni["Status"] == "available" and eni["InterfaceType"] == "interface"
    assert eni["VpcId"] == vpc and eni["SubnetId"] == subnet
    assert [g["GroupName"] for g in eni["Groups"]] == ["default"]
    assert eni["TagSet"] == [{"Key": "Name", "Value": "app-eni"}]
    assert "Association" not in eni  # no public address
    by = lambda name, value: ec2.describe_network_interfaces(
        Filters=[{"Name": name, "Values": [value]}])["NetworkInterfaces"]
    eid = eni["NetworkInterfaceId"]
    assert [e["NetworkInterfaceId"] for e in by("addresses.private-ip-address", "10.0.1.4")
            if e["VpcId"] == vpc] == [eid]
    assert eid in [e["NetworkInterfaceId"] for e in by("subnet-id", subnet)]
    assert eid in [e["NetworkInterfaceId"] for e in by("vpc-id", vpc)]
    assert eid in [e["NetworkInterfaceId"] for e in by("group-id", default_group(ec2, vpc))]
    assert eid in [e["NetworkInterfaceId"] for e in by("interface-type", "interface")]
    assert eid in [e["NetworkInterfaceId"] for e in by("description", "app")]
    assert eid in [e["NetworkInterfaceId"] for e in by("status", "available")]
    assert eid in [e["NetworkInterfaceId"] for e in by("requester-managed", "false")]
    assert eid in [e["NetworkInterfaceId"] for e in by("tag:Name", "app-*")]


def test_specific_private_ip(ec2, subnet):
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.50")
    assert eni["NetworkInterface"]["PrivateIpAddress"] == "10.0.1.50"
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.50")
    assert error_of(exc)[0] == "InvalidIPAddress.InUse"
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.2")  # AWS DNS
    assert error_of(exc)[0] == "InvalidParameterValue"


def test_groups_attribute(ec2, vpc, subnet):
    other = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    eid = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, Groups=[other])
    out = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute="groupSet")
    assert [g["GroupId"] for g in out["Groups"]] == [other]
    foreign = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    foreign_sg = default_group(ec2, foreign)
    with pytest.raises(ClientError) as exc:
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, Groups=[foreign_sg])
    assert error_of(exc)[0] == "InvalidParameter"
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid,
                                           Description={"Value": "renamed"})
    out = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid,
                                                   Attribute="description")
    assert out["Description"]["Value"] == "renamed"


def test_delete(ec2, subnet):
    eid = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.delete_network_interface(NetworkInterfaceId=eid)
    with pytest.raises(ClientError) as exc:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])
    assert error_of(exc) == ("InvalidNetworkInterfaceID.NotFound",
                             f"The networkInterface ID '{eid}' does not exist")


def test_group_in_use_cannot_be_deleted(ec2, vpc, subnet):
    sg = ec2.create_security_group(GroupName="used", Description="x", VpcId=vpc)["GroupId"]
    ec2.create_network_interface(SubnetId=subnet, Groups=[sg])
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=sg)
    assert error_of(exc) == ("DependencyViolation", f"resource {sg} has a dependent object")


def addresses_of(eni: dict) -> list[tuple[str, bool]]:
    return [(a["PrivateIpAddress"], a["Primary"]) for a in eni["PrivateIpAddresses"]]


def test_requested_addresses_are_honoured(ec2, subnet):
    """PrivateIpAddresses (issue 12): the addresses asked for, the one marked primary first."""
    before = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.0.1.20", "Primary": False},
        {"PrivateIpAddress": "10.0.1.10", "Primary": True}])["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.0.1.10"
    assert addresses_of(eni) == [("10.0.1.10", True), ("10.0.1.20", False)]
    [described] = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"]
    assert addresses_of(described) == addresses_of(eni)
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0][
        "AvailableIpAddressCount"] == before - 2
    # a secondary address is taken like a primary one
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.20")
    assert error_of(exc) == ("InvalidIPAddress.InUse",
                             "The specified address 10.0.1.20 is already in use.")
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0][
        "AvailableIpAddressCount"] == before


def test_primary_and_secondary_count(ec2, subnet):
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.100",
                                       SecondaryPrivateIpAddressCount=2)["NetworkInterface"]
    assert addresses_of(eni) == [("10.0.1.100", True), ("10.0.1.4", False),
                                 ("10.0.1.5", False)]
    unmarked = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.0.1.30"}, {"PrivateIpAddress": "10.0.1.31"}])["NetworkInterface"]
    assert addresses_of(unmarked) == [("10.0.1.30", True), ("10.0.1.31", False)]


@pytest.mark.parametrize("addresses, expected", [
    ([{"PrivateIpAddress": "10.0.2.9", "Primary": True}],
     ("InvalidParameterValue", "Address 10.0.2.9 does not fall within the subnet's address range")),
    ([{"PrivateIpAddress": "10.0.1.40", "Primary": True},
      {"PrivateIpAddress": "10.0.1.3", "Primary": False}],
     ("InvalidParameterValue", "Address is in subnet's reserved address range")),
])
def test_requested_addresses_are_checked(ec2, subnet, addresses, expected):
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddresses=addresses)
    assert error_of(exc) == expected
    # nothing of the refused request stays behind
    assert not ec2.describe_network_interfaces(Filters=[
        {"Name": "addresses.private-ip-address", "Values": ["10.0.1.40"]},
        {"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]


def test_two_primaries_refused(ec2, subnet):
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddresses=[
            {"PrivateIpAddress": "10.0.1.40", "Primary": True},
            {"PrivateIpAddress": "10.0.1.41", "Primary": True}])
    assert error_of(exc)[0] == "InvalidParameterValue"


@pytest.mark.parametrize("params", [{"SecondaryPrivateIpAddressCount": 50},
                                    {"Ipv6AddressCount": 51}])
def test_address_quota(ec2, subnet, params):
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet, **params)
    assert error_of(exc)[0] == "PrivateIpAddressLimitExceeded"
