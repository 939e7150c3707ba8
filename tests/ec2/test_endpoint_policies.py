"""VPC endpoint policies (issue 13): given at creation or by ModifyVpcEndpoint, reset to full
access, refused when not JSON, answered by DescribeVpcEndpoints and read by the authorizer."""

from __future__ import annotations

import json

import pytest

from tests.conftest import unique
from tests.errors import error
from vpclocal.services.ec2.vpc_endpoints import FULL_ACCESS_POLICY, endpoint_policy
from vpclocal.store import Store

S3 = "com.amazonaws.us-east-1.s3"
ONE_BUCKET = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "one-bucket", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::allowed-bucket/*"}]}, indent=2)


def described(ec2, vpce_id: str) -> str:
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce_id])["VpcEndpoints"][0][
        "PolicyDocument"]


def test_gateway_endpoint_policy_given_modified_and_reset(ec2, vpc):
    created = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=S3,
                                      PolicyDocument=ONE_BUCKET)["VpcEndpoint"]
    vpce = created["VpcEndpointId"]
    assert created["PolicyDocument"] == ONE_BUCKET
    assert described(ec2, vpce) == ONE_BUCKET  # as given, whitespace and all
    other = ONE_BUCKET.replace("allowed-bucket", "other-bucket")
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=other)
    assert described(ec2, vpce) == other
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True)
    assert json.loads(described(ec2, vpce)) == {
        "Version": "2008-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}


@pytest.mark.parametrize("document, position", [
    ("not json", "(1,1)"),
    ('{"Version": "2012-10-17",\n "Statement": [}', "(2,16)"),
])
def test_malformed_policy_documents_are_refused(ec2, vpc, document, position):
    got = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=S3, PolicyDocument=document)
    assert (got["Code"], got["Message"]) == (
        "InvalidPolicyDocument",
        f"The Policy Document is not valid. Syntax error at position {position}")
    # nothing was created
    assert not ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    vpce = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=S3)["VpcEndpoint"]["VpcEndpointId"]
    got = error(ec2.modify_vpc_endpoint, VpcEndpointId=vpce, PolicyDocument=document)
    assert got["Code"] == "InvalidPolicyDocument"
    assert described(ec2, vpce) == FULL_ACCESS_POLICY


def test_interface_endpoint_policy_and_cli(server, ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    created = server.aws("ec2", "create-vpc-endpoint", "--vpc-id", vpc, "--vpc-endpoint-type",
                         "Interface", "--service-name", "com.amazonaws.us-east-1.sts",
                         "--subnet-ids", subnet, "--no-private-dns-enabled",
                         "--policy-document", ONE_BUCKET)
    vpce = created["VpcEndpoint"]["VpcEndpointId"]
    assert described(ec2, vpce) == ONE_BUCKET
    bad = server.aws("ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", vpce,
                     "--policy-document", "{", check=False)
    assert bad.returncode != 0 and "InvalidPolicyDocument" in bad.stderr
    gateway = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=S3)["VpcEndpoint"]["VpcEndpointId"]
    store = Store(server.data_dir / "state.db")  # what the server committed
    try:
        view = store.view("global")  # any view: the endpoint's region is read
        assert endpoint_policy(view, "us-east-1", vpce) == ONE_BUCKET
        assert endpoint_policy(view, "us-east-1", gateway) == FULL_ACCESS_POLICY
        assert endpoint_policy(view, "eu-west-1", vpce) is None
        assert endpoint_policy(view, "us-east-1", unique("vpce")) is None
    finally:
        store.close()
