"""The guide's section 8 topology (steps 1-3, 5 and 6 of examples/lambda-vpc-rds), built
through the API, with Name tags so the console's labels are the same every run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from tests.lambda_.conftest import zipped

FUNCTION = "VPCRDSFunction"
# the guide's function answers 200; this one also opens a connection to the database's port
# when the event names it, so that the fabric counts a flow
HANDLER = """import socket

def lambda_handler(event, context):
    if event.get("host"):
        try:
            socket.create_connection((event["host"], event["port"]), timeout=2).close()
            return {"statusCode": 200, "connect": "open"}
        except OSError as exc:
            return {"statusCode": 200, "connect": type(exc).__name__}
    return {"statusCode": 200}
"""
DATABASE = "my-test-db"


@dataclass
class Section8:
    vpc: str
    subnets: list[str]
    lambda_sg: str
    rds_sg: str
    function: str
    database: str
    db_eni: str


def _named(name: str, kind: str) -> list[dict]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


def build(server) -> Section8:
    ec2, rds, iam, lam = (server.client(s) for s in ("ec2", "rds", "iam", "lambda"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=_named(
        "lambda-vpc-rds", "vpc"))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=_named(
        "lambda-igw", "internet-gateway"))["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(VpcId=vpc, InternetGatewayId=igw)
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone,
                                 TagSpecifications=_named(name, "subnet"))["Subnet"]["SubnetId"]
               for name, cidr, zone in (("private-subnet-1", "10.0.10.0/24", "us-east-1a"),
                                        ("private-subnet-2", "10.0.20.0/24", "us-east-1b"))]
    lambda_sg = ec2.create_security_group(GroupName="lambda-sg", VpcId=vpc,
                                          Description="Security group for Lambda")["GroupId"]
    rds_sg = ec2.create_security_group(GroupName="rds-sg", VpcId=vpc,
                                       Description="Security group for RDS")["GroupId"]
    ec2.authorize_security_group_egress(GroupId=lambda_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
        "UserIdGroupPairs": [{"GroupId": rds_sg}]}])
    ec2.authorize_security_group_ingress(GroupId=rds_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
        "UserIdGroupPairs": [{"GroupId": lambda_sg}]}])
    rds.create_db_subnet_group(DBSubnetGroupName="my-db-subnet-group",
                               DBSubnetGroupDescription="Subnet group for RDS",
                               SubnetIds=subnets)
    db = rds.create_db_instance(
        DBInstanceIdentifier=DATABASE, DBInstanceClass="db.t3.micro", Engine="mysql",
        MasterUsername="admin", MasterUserPassword="MyPassword123!", AllocatedStorage=20,
        DBSubnetGroupName="my-db-subnet-group", VpcSecurityGroupIds=[rds_sg],
        PubliclyAccessible=False)["DBInstance"]
    role = iam.create_role(RoleName="lambda-vpc-rds-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    for policy in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"):
        iam.attach_role_policy(RoleName="lambda-vpc-rds-role",
                               PolicyArn=f"arn:aws:iam::aws:policy/service-role/{policy}")
    lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=role, Timeout=30,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zipped(HANDLER, "lambda_function.py")},
        VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": [lambda_sg]})
    deadline = time.monotonic() + 60
    while lam.get_function_configuration(FunctionName=FUNCTION)["State"] != "Active":
        assert time.monotonic() < deadline, "the function never became Active"
        time.sleep(0.2)
    db_eni = ec2.describe_network_interfaces(Filters=[
        {"Name": "group-id", "Values": [rds_sg]}])["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return Section8(vpc, subnets, lambda_sg, rds_sg, FUNCTION, db["DBInstanceIdentifier"], db_eni)
