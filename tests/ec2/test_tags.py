"""Tags: CreateTags / DeleteTags / DescribeTags on any resource, and tag filters."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def test_create_describe_delete_tags(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[vpc, subnet], Tags=[{"Key": "env", "Value": "dev"},
                                                   {"Key": "Name", "Value": "tagged"}])
    [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert sorted((t["Key"], t["Value"]) for t in v["Tags"]) == [("Name", "tagged"),
                                                                 ("env", "dev")]
    rows = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc, subnet]}])["Tags"]
    assert {(r["ResourceId"], r["ResourceType"], r["Key"]) for r in rows} == {
        (vpc, "vpc", "env"), (vpc, "vpc", "Name"),
        (subnet, "subnet", "env"), (subnet, "subnet", "Name")}
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "env", "Value": "prod"}])  # overwrite
    [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert {t["Key"]: t["Value"] for t in v["Tags"]}["env"] == "prod"
    ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "env", "Value": "dev"}])  # value mismatch
    [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert "env" in {t["Key"] for t in v["Tags"]}
    ec2.delete_tags(Resources=[vpc], Tags=[{"Key": "env"}])
    [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert {t["Key"] for t in v["Tags"]} == {"Name"}
    ec2.delete_tags(Resources=[vpc])
    [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert "Tags" not in v


def test_tags_unknown_resource(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert exc.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["bogus-123"], Tags=[{"Key": "a", "Value": "b"}])
    assert exc.value.response["Error"]["Code"] == "InvalidID"


def test_tag_specifications_on_create(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.8.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "private"}]}])["Subnet"]
    assert subnet["Tags"] == [{"Key": "tier", "Value": "private"}]
    found = ec2.describe_subnets(Filters=[{"Name": "tag:tier", "Values": ["private"]},
                                          {"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [subnet["SubnetId"]]
