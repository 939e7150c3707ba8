"""Losing an Availability Zone on the real fabric: the guide's pattern 4 (a NAT gateway per AZ,
each private subnet routed to its own) under aws:network:disrupt-connectivity.

- NAT per AZ: with the AZ-a NAT gateway's subnet disrupted, a function in AZ-a's private
  subnet loses the internet while one in AZ-b keeps it, leaving from AZ-b's Elastic IP; the
  experiment's end gives AZ-a its internet back.
- Lambda across AZs: a function in both private subnets gets its environments spread over both
  AZs (each says its AZ in the log at init); while AZ-a's private subnet is disrupted its new
  environments all go to AZ-b, and its invokes keep succeeding.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import unique
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import (
    InNamespace,
    applied,
    fabric_status,
    invoke,
    start_server,
)
from tests.fabric.test_internet_in_fabric import BARRIER, BARRIER_FETCH, HOST, PORT
from tests.fis.conftest import NONE, ROLE, reaches
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
ZONES = ("us-east-1a", "us-east-1b")
URL = "http://www.example.com/"  # the simulated internet's echo host: it says who called
FETCH = """
import json, urllib.request

def handler(event, context):
    with urllib.request.urlopen(event["url"], timeout=event.get("timeout", 3)) as answer:
        return json.load(answer)["client"]["address"]
"""
PLACED = re.compile(r"vpclocal: this execution environment runs in (us-east-1[ab]) "
                    r"\(subnet (subnet-\w+), Hyperplane ENI (eni-\w+)\)")


def pattern_4(ec2) -> dict:
    """A VPC with a public and a private subnet per AZ, a NAT gateway in each public one, each
    private subnet routed to its own AZ's NAT gateway."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    out: dict = {"vpc": vpc, "public": {}, "private": {}, "eip": {}}
    for i, zone in enumerate(ZONES, 1):
        public = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                   AvailabilityZone=zone)["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
        eip = ec2.allocate_address(Domain="vpc")
        nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"])[
            "NatGateway"]["NatGatewayId"]
        private = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}0.0/24",
                                    AvailabilityZone=zone)["Subnet"]["SubnetId"]
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=private)
        out["public"][zone], out["private"][zone] = public, private
        out["eip"][zone] = eip["PublicIp"]
    ec2.get_waiter("nat_gateway_available").wait(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}], WaiterConfig={"Delay": 1,
                                                                      "MaxAttempts": 30})
    out["sg"] = ec2.create_security_group(VpcId=vpc, GroupName="fn",
                                          Description="fn")["GroupId"]
    return out


def function(server, net: dict, code: str, zones: tuple[str, ...]) -> str:
    lam = server.client("lambda")
    name = unique("az")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                        Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                        Code={"ZipFile": zipped(code)}, Timeout=10,
                        VpcConfig={"SubnetIds": [net["private"][z] for z in zones],
                                   "SecurityGroupIds": [net["sg"]]})
    assert wait_state(lam, name, timeout=30)["State"] == "Active"
    return name


def disrupt(fis, subnet: str) -> str:
    """Start an experiment cutting one subnet off (scope all) for ten minutes; running."""
    tid = fis.create_experiment_template(
        clientToken=unique("t"), description="lose a subnet", roleArn=ROLE,
        stopConditions=NONE,
        targets={"s": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                       "resourceArns": [f"arn:aws:ec2:us-east-1:000000000000:subnet/{subnet}"]}},
        actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                         "parameters": {"duration": "PT10M", "scope": "all"},
                         "targets": {"Subnets": "s"}}})["experimentTemplate"]["id"]
    eid = fis.start_experiment(clientToken=unique("c"),
                               experimentTemplateId=tid)["experiment"]["id"]
    reaches(fis, eid, "running", "cut")
    return eid


def test_each_zone_keeps_its_internet_while_the_other_nat_gateway_is_lost(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        ec2, lam, fis = server.client("ec2"), server.client("lambda"), server.client("fis")
        net = pattern_4(ec2)
        fns = {z: function(server, net, FETCH, (z,)) for z in ZONES}
        applied(server)
        for zone in ZONES:
            payload, error, _ = invoke(lam, fns[zone], {"url": URL})
            assert (payload, error) == (net["eip"][zone], None)
        eid = disrupt(fis, net["public"]["us-east-1a"])  # AZ-a's NAT gateway is cut off
        payload, error, log = invoke(lam, fns["us-east-1a"], {"url": URL, "timeout": 1.5})
        assert error == "Unhandled", payload
        assert payload["errorType"] in ("URLError", "TimeoutError"), (payload, log)
        payload, error, _ = invoke(lam, fns["us-east-1b"], {"url": URL})
        assert (payload, error) == (net["eip"]["us-east-1b"], None)
        fis.stop_experiment(id=eid)
        reaches(fis, eid, "stopped")
        payload, error, _ = invoke(lam, fns["us-east-1a"], {"url": URL})
        assert (payload, error) == (net["eip"]["us-east-1a"], None)
    finally:
        server.stop()


def two_at_once(server, lam, name: str) -> list[tuple[str, str]]:
    """Two invocations held together (two environments): [(AZ its log says, address the
    internet saw)]; each log is its environment's first, so it says where it was placed."""
    barrier = InNamespace(fabric_status(server)["internet"]["netns"], BARRIER, str(PORT), "2")
    try:
        assert barrier.line() == "ready"
        event = {"url": URL, "barrier": HOST, "port": PORT}
        with ThreadPoolExecutor(2) as pool:
            seen = list(pool.map(lambda _: invoke(lam, name, event), range(2)))
        assert all(error is None for _p, error, _log in seen), seen
        return sorted((PLACED.search(log).group(1), payload) for payload, _e, log in seen)
    finally:
        barrier.stop()


def test_environments_spread_over_zones_and_avoid_a_lost_one(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        ec2, lam, fis = server.client("ec2"), server.client("lambda"), server.client("fis")
        net = pattern_4(ec2)
        name = function(server, net, BARRIER_FETCH, ZONES)
        applied(server)
        # one environment per AZ, each leaving by its own AZ's NAT gateway
        assert two_at_once(server, lam, name) == [(z, net["eip"][z]) for z in ZONES]
        eid = disrupt(fis, net["private"]["us-east-1a"])
        # new environments (a configuration change retires the old ones): AZ-b only
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {"GEN": "2"}})
        wait_state(lam, name, key="LastUpdateStatus", value="Successful", timeout=30)
        assert two_at_once(server, lam, name) == [("us-east-1b", net["eip"]["us-east-1b"])] * 2
        fis.stop_experiment(id=eid)
        reaches(fis, eid, "stopped")
    finally:
        server.stop()
