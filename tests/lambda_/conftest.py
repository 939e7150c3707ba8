"""Fixtures for the Lambda tests: clients, execution roles, deployment packages, a VPC."""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass

import pytest

from tests.conftest import unique

ACCOUNT = "000000000000"
REGION = "us-east-1"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def zipped(source: str = HANDLER, name: str = "index.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()




def deployed(server, source: str, prefix: str = "fn", policies: tuple[str, ...] = (BASIC,),
             **fields) -> str:
    """A python3.12 function of `source` (index.handler) on a test Server, Active."""
    lam = server.client("lambda")
    name = unique(prefix)
    lam.create_function(FunctionName=name, Runtime="python3.12",
                        Role=make_role(server.client("iam"), *policies),
                        Handler="index.handler", Code={"ZipFile": zipped(source)}, **fields)
    assert wait_state(lam, name)["State"] == "Active"
    return name


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def wait_state(lam, name: str, key: str = "State", value: str = "Active",
               timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        config = lam.get_function_configuration(FunctionName=name)
        if config.get(key) == value or time.monotonic() > deadline:
            return config
        time.sleep(0.02)


@pytest.fixture(scope="session")
def lam(server):
    return server.client("lambda")


@pytest.fixture(scope="session")
def iam(server):
    return server.client("iam")


def make_role(iam, *policies: str, trust: dict = LAMBDA_TRUST) -> str:
    name = unique("role")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    for policy in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    return role["Arn"]


@pytest.fixture(scope="session")
def role(iam):
    """An execution role with logs permissions only (no VPC access)."""
    return make_role(iam, BASIC)


@pytest.fixture(scope="session")
def vpc_role(iam):
    """An execution role with AWSLambdaVPCAccessExecutionRole."""
    return make_role(iam, BASIC, VPC_ACCESS)


@pytest.fixture
def create(lam, role):
    """Create a function with defaults; any argument overrides them."""
    def make(name: str | None = None, **kwargs) -> dict:
        args = {"FunctionName": name or unique("fn"), "Runtime": "python3.12", "Role": role,
                "Handler": "index.handler", "Code": {"ZipFile": zipped()}}
        args.update(kwargs)
        return lam.create_function(**args)
    return make


@dataclass
class Network:
    vpc: str
    subnets: list[str]
    sg: str
    sg2: str


@pytest.fixture
def network(ec2) -> Network:
    """A VPC with two private subnets in two zones and two security groups."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)
               ["Subnet"]["SubnetId"]
               for cidr, zone in (("10.0.10.0/24", "us-east-1a"), ("10.0.20.0/24", "us-east-1b"))]
    groups = [ec2.create_security_group(VpcId=vpc, GroupName=unique("group"), Description="t")
              ["GroupId"] for _ in range(2)]
    return Network(vpc, subnets, *groups)


def lambda_enis(ec2, vpc: str) -> list[dict]:
    return ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "interface-type", "Values": ["lambda"]},
    ])["NetworkInterfaces"]
