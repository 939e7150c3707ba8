"""The network is an IAM condition (issue 13): an S3 request from a function that crossed a
gateway endpoint carries that endpoint's aws:SourceVpce and its VPC's aws:SourceVpc, and meets
the endpoint's policy; one through a NAT gateway carries the NAT's Elastic IP as aws:SourceIp.
So the classic "this bucket only through my endpoint" policy works as on AWS."""

from __future__ import annotations

import json
import os

import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import applied, invoke, start_server
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

READ = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    out = {}
    for bucket in event["buckets"]:
        try:
            body = boto3.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read()
            out[bucket] = body.decode()
        except ClientError as exc:
            out[bucket] = exc.response["Error"]["Message"]
    return out
"""


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def test_a_bucket_locked_to_an_endpoint(server):
    ec2, lam, s3 = server.client("ec2"), server.client("lambda"), server.client("s3")
    locked, other = unique("locked"), unique("other")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24")["Subnet"]["SubnetId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=private)
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway",
        RouteTableIds=[rtb], PolicyDocument=json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{locked}/*"}]}))["VpcEndpoint"]["VpcEndpointId"]
    for bucket in (locked, other):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=bucket.encode())
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyThroughMyEndpoint", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{locked}", f"arn:aws:s3:::{locked}/*"],
        "Condition": {"StringNotEquals": {"aws:SourceVpce": endpoint}}}]}))
    sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    role = make_role(server.client("iam"), BASIC, VPC_ACCESS,
                     "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    name = unique("reader")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                        Role=role, Code={"ZipFile": zipped(READ)}, Timeout=10,
                        VpcConfig={"SubnetIds": [private], "SecurityGroupIds": [sg]})
    wait_state(lam, name)
    applied(server)
    session = f"arn:aws:sts::000000000000:assumed-role/{role.rsplit('/', 1)[1]}/{name}"

    # through the gateway endpoint: the locked bucket reads; the endpoint's policy allows
    # no other
    payload, error, log = invoke(lam, name, {"buckets": [locked, other]})
    assert error is None, (payload, log)
    assert payload[locked] == locked
    assert payload[other] == (f"User: {session} is not authorized to perform: s3:GetObject on "
                              f'resource: "arn:aws:s3:::{other}/k" because no VPC endpoint '
                              "policy allows the s3:GetObject action")

    # the same function through a NAT gateway instead: the bucket's policy refuses it
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"][
        "NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat],
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    applied(server)
    payload, error, log = invoke(lam, name, {"buckets": [locked, other]})
    assert error is None, (payload, log)
    assert payload[other] == other  # no endpoint policy in the way now
    assert payload[locked] == (f"User: {session} is not authorized to perform: s3:GetObject on "
                               f'resource: "arn:aws:s3:::{locked}/k" with an explicit deny in a '
                               "resource-based policy")


ESCAPE = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    ec2, lam = boto3.client("ec2"), boto3.client("lambda")
    tries = {
        "read another function": lambda: lam.get_function(FunctionName=event["other"]),
        "open a security group": lambda: ec2.authorize_security_group_ingress(
            GroupId=event["sg"], IpProtocol="tcp", FromPort=6379, ToPort=6379,
            CidrIp="0.0.0.0/0"),
        "peer with another VPC": lambda: ec2.create_vpc_peering_connection(
            VpcId=event["vpc"], PeerVpcId=event["other_vpc"]),
        "describe its network": lambda: ec2.describe_network_interfaces(),
    }
    out = {}
    for what, call in tries.items():
        try:
            call()
            out[what] = "done"
        except ClientError as exc:
            out[what] = exc.response["Error"]["Code"]
    return out
"""


def test_a_functions_role_confines_what_its_code_may_call(server):
    """The issue's hostile function: with only AWSLambdaVPCAccessExecutionRole it cannot read
    other functions, open security groups or peer its VPC away (AccessDenied, each one shown in
    its log with the fix), while what its role allows still works."""
    ec2, lam = server.client("ec2"), server.client("lambda")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    # its private subnet reaches Lambda and EC2 through interface endpoints (issue 19)
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    endpoint_sg = ec2.create_security_group(VpcId=vpc, GroupName="endpoints",
                                            Description="endpoints")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=endpoint_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": sg}]}])
    for service in ("lambda", "ec2"):
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.us-east-1.{service}",
                                VpcEndpointType="Interface", SubnetIds=[subnet],
                                SecurityGroupIds=[endpoint_sg])
    role = make_role(server.client("iam"), BASIC, VPC_ACCESS)
    names = [unique("hostile"), unique("victim")]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                            Role=role, Code={"ZipFile": zipped(ESCAPE)}, Timeout=10,
                            VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [sg]})
        wait_state(lam, name)
    payload, error, log = invoke(lam, names[0], {"other": names[1], "sg": sg, "vpc": vpc,
                                                 "other_vpc": other_vpc})
    assert error is None, (payload, log)
    assert payload == {"read another function": "AccessDeniedException",
                       "open a security group": "UnauthorizedOperation",
                       "peer with another VPC": "UnauthorizedOperation",
                       "describe its network": "done"}, payload  # its role allows that one
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0][
        "IpPermissions"] == []
    assert ec2.describe_vpc_peering_connections()["VpcPeeringConnections"] == []
    denied = [line for line in log.splitlines() if line.startswith("vpclocal: IAM denied")]
    assert len(denied) == 3, log
    session = f"arn:aws:sts::000000000000:assumed-role/{role.rsplit('/', 1)[1]}/{names[0]}"
    assert denied[0].startswith(
        f"vpclocal: IAM denied: User: {session} is not authorized to perform: "
        "lambda:GetFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:"
        f"{names[1]} because no identity-based policy allows the lambda:GetFunction action. "
        f"Fix: aws iam put-role-policy --role-name {role.rsplit('/', 1)[1]} "), denied[0]
