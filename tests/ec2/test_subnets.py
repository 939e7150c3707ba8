"""Subnets: CIDR rules, reserved addresses, availability zones, attributes, dependencies."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_of


def test_create_subnet(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.7/24",
                               AvailabilityZone="us-east-1b")["Subnet"]
    assert subnet["CidrBlock"] == "10.0.1.0/24"
    assert subnet["AvailableIpAddressCount"] == 251  # 256 minus AWS's 5 reserved
    assert subnet["AvailabilityZone"] == "us-east-1b"
    assert subnet["AvailabilityZoneId"] == "use1-az2"
    assert subnet["MapPublicIpOnLaunch"] is False and subnet["DefaultForAz"] is False
    assert subnet["SubnetArn"] == f"arn:aws:ec2:us-east-1:000000000000:subnet/{subnet['SubnetId']}"
    small = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/28")["Subnet"]
    assert small["AvailableIpAddressCount"] == 11


@pytest.mark.parametrize("cidr", ["10.0.0.0/29", "10.0.0.0/15", "10.1.0.0/24", "192.168.0.0/24"])
def test_subnet_range(ec2, vpc, cidr):
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)
    assert error_of(exc) == ("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid.")


def test_subnet_conflict(ec2, vpc):
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")
    assert error_of(exc) == ("InvalidSubnet.Conflict",
                             "The CIDR '10.0.1.0/24' conflicts with another subnet")


def test_subnet_bad_zone(ec2, vpc):
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1z")
    code, message = error_of(exc)
    assert code == "InvalidParameterValue" and "us-east-1z" in message


def test_subnet_unknown_vpc(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.create_subnet(VpcId="vpc-0123456789abcdef0", CidrBlock="10.0.1.0/24")
    assert error_of(exc) == ("InvalidVpcID.NotFound",
                             "The vpc ID 'vpc-0123456789abcdef0' does not exist")


def test_missing_parameter(ec2):
    # botocore validates client-side, so send the request by hand
    import urllib.error
    import urllib.request

    endpoint = ec2.meta.endpoint_url
    body = b"Action=CreateSubnet&Version=2016-11-15&CidrBlock=10.0.0.0%2F24"
    req = urllib.request.Request(endpoint, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 400
    text = exc.value.read().decode()
    assert "<Code>MissingParameter</Code>" in text and "VpcId" in text


def test_modify_subnet_attribute(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    [desc] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    assert desc["MapPublicIpOnLaunch"] is True
    flt = [{"Name": "map-public-ip-on-launch", "Values": ["true"]},
           {"Name": "vpc-id", "Values": [vpc]}]
    assert [s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]] == [subnet]


def test_addresses_are_counted_and_never_reserved(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.4.0/28")["Subnet"]["SubnetId"]
    ips = []
    for _ in range(11):
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
        ips.append(eni["PrivateIpAddress"])
    assert ips == [f"10.0.4.{i}" for i in range(4, 15)]  # .0-.3 and .15 are AWS's
    [desc] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    assert desc["AvailableIpAddressCount"] == 0
    with pytest.raises(ClientError) as exc:
        ec2.create_network_interface(SubnetId=subnet)
    assert error_of(exc)[0] == "InsufficientFreeAddressesInSubnet"
    with pytest.raises(ClientError) as exc:
        ec2.delete_subnet(SubnetId=subnet)
    assert error_of(exc) == ("DependencyViolation",
                             f"The subnet '{subnet}' has dependencies and cannot be deleted.")
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    for eni in enis:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    [desc] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    assert desc["AvailableIpAddressCount"] == 11
    ec2.delete_subnet(SubnetId=subnet)


def test_subnet_joins_default_acl_and_main_route_table(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.5.0/24")["Subnet"]["SubnetId"]
    [acl] = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    assert acl["IsDefault"] and acl["VpcId"] == vpc
    ec2.delete_subnet(SubnetId=subnet)
    assert ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"] == []
