"""VPCs: create/describe/delete, attributes, the furniture a new VPC gets, the default VPC."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_of


def test_create_vpc_shape_and_defaults(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]
    assert vpc["VpcId"].startswith("vpc-") and len(vpc["VpcId"]) == 21
    assert vpc["State"] == "pending"
    assert vpc["CidrBlock"] == "10.1.0.0/16"
    assert vpc["IsDefault"] is False
    assert vpc["InstanceTenancy"] == "default"
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    assert "Tags" not in vpc  # AWS leaves out an empty tag set
    [described] = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert described["State"] == "available"
    flt = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    [sg] = ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
    assert sg["GroupName"] == "default"
    assert sg["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == sg["GroupId"]
    assert sg["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    [acl] = ec2.describe_network_acls(Filters=flt)["NetworkAcls"]
    assert acl["IsDefault"] is True
    rules = sorted((e["Egress"], e["RuleNumber"], e["RuleAction"]) for e in acl["Entries"])
    assert rules == [(False, 100, "allow"), (False, 32767, "deny"),
                     (True, 100, "allow"), (True, 32767, "deny")]
    [rtb] = ec2.describe_route_tables(Filters=flt)["RouteTables"]
    assert rtb["Associations"][0]["Main"] is True
    assert rtb["Routes"] == [{"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local",
                              "Origin": "CreateRouteTable", "State": "active"}]


def test_cidr_is_canonicalized(ec2):
    vpc = ec2.create_vpc(CidrBlock="100.68.0.18/18")["Vpc"]
    assert vpc["CidrBlock"] == "100.68.0.0/18"


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "10.0.0.0/15", "10.0.0.0/29"])
def test_vpc_prefix_out_of_range(ec2, cidr):
    with pytest.raises(ClientError) as exc:
        ec2.create_vpc(CidrBlock=cidr)
    assert error_of(exc) == ("InvalidVpc.Range", f"The CIDR '{cidr}' is invalid.")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_vpc_bad_cidr_text(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.create_vpc(CidrBlock="10.0.0.300/16")
    code, message = error_of(exc)
    assert code == "InvalidParameterValue"
    assert "10.0.0.300/16" in message


def test_default_vpc_exists(ec2):
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert vpc["CidrBlock"] == "172.31.0.0/16"
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == [
        f"us-east-1{z}" for z in "abcdef"]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] for s in subnets)
    assert all(s["CidrBlock"].endswith("/20") for s in subnets)
    assert {s["AvailableIpAddressCount"] for s in subnets} == {4091}
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    assert len(igws) == 1


def test_dns_attributes(ec2, vpc):
    def attr(name):
        out = ec2.describe_vpc_attribute(VpcId=vpc, Attribute=name)
        return out[name[0].upper() + name[1:]]["Value"]

    assert attr("enableDnsSupport") is True
    assert attr("enableDnsHostnames") is False
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    assert attr("enableDnsHostnames") is True
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})
    assert attr("enableDnsSupport") is False


def test_describe_vpc_attribute_of_unknown_vpc(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpc_attribute(VpcId="vpc-0123456789abcdef0", Attribute="enableDnsSupport")
    assert error_of(exc) == ("InvalidVpcID.NotFound",
                             "The vpc ID 'vpc-0123456789abcdef0' does not exist")


def test_describe_unknown_and_malformed_ids(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"])
    assert error_of(exc) == ("InvalidVpcID.NotFound",
                             "The vpc ID 'vpc-0123456789abcdef0' does not exist")
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=["nonsense"])
    assert error_of(exc)[0] == "InvalidVpcID.Malformed"


def test_filters(ec2):
    a = ec2.create_vpc(CidrBlock="10.7.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "payments"}]}])["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ids = lambda flt: {v["VpcId"] for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]}
    assert ids([{"Name": "cidr", "Values": ["10.7.0.0/16"]}]) == {a}
    assert ids([{"Name": "tag:team", "Values": ["pay*"]}]) == {a}
    assert ids([{"Name": "tag-key", "Values": ["team"]}]) >= {a}
    assert b not in ids([{"Name": "tag-key", "Values": ["team"]}])
    assert ids([{"Name": "vpc-id", "Values": [a, b]},
                {"Name": "cidr-block-association.cidr-block", "Values": ["10.8.0.0/16"]}]) == {b}
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert error_of(exc) == ("InvalidParameterValue", "The filter 'no-such-filter' is invalid")


def test_pagination(ec2):
    made = {ec2.create_vpc(CidrBlock=f"10.{20 + i}.0.0/16")["Vpc"]["VpcId"] for i in range(7)}
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 5, **({"NextToken": token} if token else {})}
        out = ec2.describe_vpcs(**kwargs)
        pages += 1
        seen += [v["VpcId"] for v in out["Vpcs"]]
        token = out.get("NextToken")
        if not token:
            break
    assert made <= set(seen) and len(seen) == len(set(seen)) and pages >= 2
    paginator = ec2.get_paginator("describe_vpcs")
    via_paginator = [v["VpcId"] for page in paginator.paginate(PaginationConfig={"PageSize": 5})
                     for v in page["Vpcs"]]
    assert sorted(via_paginator) == sorted(seen)


def test_delete_vpc_with_dependencies(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_vpc(VpcId=vpc)
    assert error_of(exc) == ("DependencyViolation",
                             f"The vpc '{vpc}' has dependencies and cannot be deleted.")
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]  # nothing changed
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    with pytest.raises(ClientError) as exc:
        ec2.describe_vpcs(VpcIds=[vpc])
    assert error_of(exc)[0] == "InvalidVpcID.NotFound"
    flt = [{"Name": "vpc-id", "Values": [vpc]}]
    assert ec2.describe_security_groups(Filters=flt)["SecurityGroups"] == []
    assert ec2.describe_route_tables(Filters=flt)["RouteTables"] == []
    assert ec2.describe_network_acls(Filters=flt)["NetworkAcls"] == []


def test_regions_are_separate(server):
    west = server.client("ec2", region="us-west-2")
    east = server.client("ec2")
    vpc = west.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    assert west.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    with pytest.raises(ClientError):
        east.describe_vpcs(VpcIds=[vpc])
    zones = [z["ZoneName"] for z in west.describe_availability_zones()["AvailabilityZones"]]
    assert zones == ["us-west-2a", "us-west-2b", "us-west-2c"]


def test_availability_zones(ec2):
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == [f"us-east-1{c}" for c in "abcdef"]
    assert zones[0]["ZoneId"] == "use1-az1" and zones[0]["State"] == "available"
    only = ec2.describe_availability_zones(ZoneNames=["us-east-1b"])["AvailabilityZones"]
    assert [z["ZoneName"] for z in only] == ["us-east-1b"]


def boto3_client(server, config):
    import boto3

    return boto3.client("ec2", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=config)


def test_dry_run_changes_nothing(ec2):
    before = len(ec2.describe_vpcs()["Vpcs"])
    with pytest.raises(ClientError) as exc:
        ec2.create_vpc(CidrBlock="10.61.0.0/16", DryRun=True)
    assert error_of(exc) == ("DryRunOperation",
                             "Request would have succeeded, but DryRun flag is set.")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert len(ec2.describe_vpcs()["Vpcs"]) == before
    with pytest.raises(ClientError) as exc:  # invalid input still fails as without DryRun
        ec2.create_vpc(CidrBlock="10.0.0.0/8", DryRun=True)
    assert error_of(exc)[0] == "InvalidVpc.Range"


def test_max_results_range(server):
    from botocore.config import Config

    raw = boto3_client(server, Config(parameter_validation=False))
    with pytest.raises(ClientError) as exc:
        raw.describe_vpcs(MaxResults=1)
    message = "Value ( 1 ) for parameter maxResults is invalid. Expecting a value greater than 5."
    assert error_of(exc) == ("InvalidParameterValue", message)


def test_ipv4_cidr_quota(ec2):
    """Issue 12: five IPv4 blocks per VPC (the default quota), the primary one included."""
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    for n in range(61, 65):
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=f"10.{n}.0.0/16")
    with pytest.raises(ClientError) as exc:
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.65.0.0/16")
    message = f"This network '{vpc_id}' has met its maximum number of allowed CIDRs: 5"
    assert error_of(exc) == ("CidrLimitExceeded", message)
    [vpc] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert len(vpc["CidrBlockAssociationSet"]) == 5
    # a freed place can be taken again
    assoc = vpc["CidrBlockAssociationSet"][-1]
    out = ec2.disassociate_vpc_cidr_block(AssociationId=assoc["AssociationId"])
    assert out["CidrBlockAssociation"]["CidrBlockState"]["State"] == "disassociating"
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.65.0.0/16")
    [rtb] = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    assert sorted(r["DestinationCidrBlock"] for r in rtb["Routes"]) == [
        f"10.{n}.0.0/16" for n in (60, 61, 62, 63, 65)]
    primary = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    with pytest.raises(ClientError) as exc:
        ec2.disassociate_vpc_cidr_block(AssociationId=primary)
    assert error_of(exc)[0] == "OperationNotPermitted"
