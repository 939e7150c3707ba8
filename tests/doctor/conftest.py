"""Fixtures for the doctor's tests: a VPC of private subnets in two zones, functions in it,
and the doctor's findings as a running server reports them."""

from __future__ import annotations

import json
import shlex
import urllib.request
from dataclasses import dataclass

import pytest

from tests.conftest import unique
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, wait_state, zipped


def findings(server, check: str, resource: str) -> list[dict]:
    """The findings of one check that involve `resource`."""
    with urllib.request.urlopen(server.endpoint + "/_vpclocal/doctor", timeout=30) as answer:
        found = json.load(answer)["findings"]
    return [f for f in found if f["id"] == check and resource in f["resources"]]


def apply_fix(server, command: str) -> None:
    """Run one of a finding's fix commands with the real `aws` CLI."""
    args = shlex.split(command)
    assert args[0] == "aws" and not any(a.startswith("<") for a in args), command
    server.aws(*args[1:])


@pytest.fixture(scope="session")
def lam(server):
    return server.client("lambda")


@pytest.fixture(scope="session")
def iam(server):
    return server.client("iam")


@pytest.fixture(scope="session")
def vpc_role(iam):
    return make_role(iam, BASIC, VPC_ACCESS)


@dataclass
class Net:
    vpc: str
    subnet_a: str  # private, us-east-1a
    subnet_b: str  # private, us-east-1b
    route_table: str  # the private subnets' (local route only)
    function_sg: str
    ec2: object
    lam: object
    role: str

    def function(self, subnets: list[str] | None = None, **fields) -> str:
        """A function in the VPC (both private subnets unless told), Active; its name."""
        name = unique("fn")
        self.lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=self.role, Handler="index.handler",
            Code={"ZipFile": zipped()}, VpcConfig={
                "SubnetIds": subnets or [self.subnet_a, self.subnet_b],
                "SecurityGroupIds": [self.function_sg]}, **fields)
        assert wait_state(self.lam, name)["State"] == "Active"  # its ENIs made
        return name

    def public_subnet(self, zone: str, cidr: str) -> str:
        """A subnet routed to the VPC's internet gateway (attached on first use)."""
        ec2 = self.ec2
        gateways = ec2.describe_internet_gateways(Filters=[
            {"Name": "attachment.vpc-id", "Values": [self.vpc]}])["InternetGateways"]
        if gateways:
            igw = gateways[0]["InternetGatewayId"]
        else:
            igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=self.vpc)
        subnet = ec2.create_subnet(VpcId=self.vpc, CidrBlock=cidr,
                                   AvailabilityZone=zone)["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        return subnet

    def nat(self, public_subnet: str) -> str:
        allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        return self.ec2.create_nat_gateway(SubnetId=public_subnet, AllocationId=allocation)[
            "NatGateway"]["NatGatewayId"]


@pytest.fixture
def net(ec2, lam, vpc_role) -> Net:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)
               ["Subnet"]["SubnetId"]
               for cidr, zone in (("10.0.10.0/24", "us-east-1a"), ("10.0.20.0/24", "us-east-1b"))]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    group = ec2.create_security_group(VpcId=vpc, GroupName=unique("fn"),
                                      Description="functions")["GroupId"]
    return Net(vpc, *subnets, table, group, ec2, lam, vpc_role)
