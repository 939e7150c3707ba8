"""The guide's pattern 2 end to end: a VPC function's unchanged boto3 code reaches S3 and
DynamoDB at their public names only by a way out of the VPC. Without one the call hangs and the
function times out with AWS's payload (and its log says what blocked it); with a gateway
endpoint on the function's route table it gets the object and the item."""

from __future__ import annotations

import os

import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import applied, invoke, start_server
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

# what a function in the guide does: no endpoint, no special configuration
HANDLER = """
import boto3

def handler(event, context):
    body = boto3.client("s3").get_object(Bucket="guide-data", Key="hello.txt")["Body"].read()
    item = boto3.client("dynamodb").get_item(TableName="guide", Key={"id": {"S": "1"}})
    return {"s3": body.decode(), "dynamodb": item["Item"]["text"]["S"]}
"""


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def test_s3_and_dynamodb_need_a_gateway_endpoint(server):
    ec2, lam = server.client("ec2"), server.client("lambda")
    s3, ddb = server.client("s3"), server.client("dynamodb")
    s3.create_bucket(Bucket="guide-data")
    s3.put_object(Bucket="guide-data", Key="hello.txt", Body=b"hello from S3")
    ddb.create_table(TableName="guide", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    ddb.put_item(TableName="guide", Item={"id": {"S": "1"}, "text": {"S": "hello from DynamoDB"}})

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24")["Subnet"]["SubnetId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                        Role=make_role(server.client("iam"), BASIC, VPC_ACCESS,
                                       "arn:aws:iam::aws:policy/AmazonS3FullAccess",
                                       "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"),
                        Code={"ZipFile": zipped(HANDLER)}, Timeout=3,
                        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [sg]})
    wait_state(lam, name)

    # no NAT gateway, no endpoint: the SYN to S3's address goes nowhere
    payload, error, log = invoke(lam, name, {})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout", payload
    hint = next(line for line in log.splitlines() if line.startswith("vpclocal: connection"))
    assert ":443/tcp" in hint and "NO_ROUTE_TO_DESTINATION" in hint, hint

    # pattern 2: gateway endpoints for S3 and DynamoDB on the subnet's route table
    for service in ("s3", "dynamodb"):
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.us-east-1.{service}",
                                VpcEndpointType="Gateway", RouteTableIds=[rtb])
    applied(server)
    payload, error, log = invoke(lam, name, {})
    assert error is None, (payload, log)
    assert payload == {"s3": "hello from S3", "dynamodb": "hello from DynamoDB"}
