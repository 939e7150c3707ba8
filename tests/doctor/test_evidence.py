"""The doctor's run-time checks (issue 17): what the running server saw, not only what is
configured. A connection the fabric dropped is a finding while the engine still finds its path
closed, and goes once the finding's own fix (run with the `aws` CLI) opens it; a function that
opens a database connection on every invocation is a finding, which goes once its code keeps
one connection per execution environment."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from tests.conftest import unique
from tests.doctor.conftest import apply_fix, findings
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import applied, invoke, start_server
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, wait_state, zipped

FLOW_LOG_ROLE = "arn:aws:iam::000000000000:role/flow-logs"
pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

# connects to event["host"]:event["port"] on every invocation, or once per environment
PER_INVOKE = """
import socket

def handler(event, context):
    try:
        with socket.create_connection((event["host"], event["port"]), timeout=1.5) as s:
            return {"greeting": len(s.recv(64))}
    except OSError as exc:
        return {"error": type(exc).__name__}
"""
REUSED = """
import socket
connection = None

def handler(event, context):
    global connection
    if connection is None:
        connection = socket.create_connection((event["host"], event["port"]), timeout=1.5)
        connection.recv(64)
    return {"greeting": 1}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("evidence") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def net(server):
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)
               ["Subnet"]["SubnetId"]
               for cidr, zone in (("10.7.1.0/24", "us-east-1a"), ("10.7.2.0/24", "us-east-1b"))]
    fn_sg, db_sg = (ec2.create_security_group(VpcId=vpc, GroupName=n, Description=n)["GroupId"]
                    for n in ("fn", "db"))
    return {"vpc": vpc, "subnets": subnets, "fn_sg": fn_sg, "db_sg": db_sg,
            "role": make_role(server.client("iam"), BASIC, VPC_ACCESS)}


def function(server, net, code: str) -> str:
    lam, name = server.client("lambda"), unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=net["role"],
                        Handler="index.handler", Code={"ZipFile": zipped(code)}, Timeout=10,
                        VpcConfig={"SubnetIds": net["subnets"],
                                   "SecurityGroupIds": [net["fn_sg"]]})
    wait_state(lam, name)
    return name


def test_a_dropped_connection_until_the_fix_opens_it(server, net):
    ec2 = server.client("ec2")
    target_sg = ec2.create_security_group(VpcId=net["vpc"], GroupName="target",
                                          Description="admits nothing")["GroupId"]
    target = ec2.create_network_interface(SubnetId=net["subnets"][1], Groups=[target_sg])
    address = target["NetworkInterface"]["PrivateIpAddress"]
    name = function(server, net, PER_INVOKE)
    applied(server)
    payload, error, log = invoke(server.client("lambda"), name, {"host": address, "port": 5432})
    assert (error, payload) == (None, {"error": "TimeoutError"}), log

    [finding] = findings(server, "connection-dropped", name)
    assert finding["severity"] == "error"
    assert f"{address}:5432" in finding["resources"]
    assert target_sg in finding["message"], finding
    assert any(f"--group-id {target_sg}" in c and "authorize-security-group-ingress" in c
               for c in finding["fix"]), finding
    for command in finding["fix"]:
        apply_fix(server, command)
    assert findings(server, "connection-dropped", name) == []


def test_a_connection_per_invocation_until_the_code_reuses_one(server, net):
    ec2, rds = server.client("ec2"), server.client("rds")
    ec2.authorize_security_group_ingress(GroupId=net["db_sg"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
        "UserIdGroupPairs": [{"GroupId": net["fn_sg"]}]}])
    rds.create_db_subnet_group(DBSubnetGroupName="evidence", DBSubnetGroupDescription="db",
                               SubnetIds=net["subnets"])
    rds.create_db_instance(DBInstanceIdentifier="evidence-db", Engine="mariadb",
                           DBInstanceClass="db.t3.micro", MasterUsername="admin",
                           MasterUserPassword="secret-password", AllocatedStorage=20,
                           DBSubnetGroupName="evidence", VpcSecurityGroupIds=[net["db_sg"]])
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="evidence-db",
                                                 WaiterConfig={"Delay": 1})
    host = rds.describe_db_instances(DBInstanceIdentifier="evidence-db")[
        "DBInstances"][0]["Endpoint"]["Address"]
    name = function(server, net, PER_INVOKE)
    applied(server)
    lam = server.client("lambda")
    for _ in range(4):
        payload, error, log = invoke(lam, name, {"host": host, "port": 3306})
        assert error is None and "greeting" in payload, (payload, log)

    [finding] = findings(server, "database-connection-per-invoke", name)
    assert finding["severity"] == "warning" and "evidence-db" in finding["resources"]
    assert "opened 4 connections to evidence-db in 4 invocations" in finding["message"]
    assert finding["fix"][0].startswith("aws rds create-db-proxy --db-proxy-name "
                                        "evidence-db-proxy --engine-family MYSQL ")

    lam.update_function_code(FunctionName=name, ZipFile=zipped(REUSED))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    for _ in range(4):
        payload, error, log = invoke(lam, name, {"host": host, "port": 3306})
        assert error is None, (payload, log)
    assert findings(server, "database-connection-per-invoke", name) == []


HTTP = """
import urllib.error, urllib.request

def handler(event, context):
    try:
        with urllib.request.urlopen(event["url"], data=b"x" * 200_000, timeout=5) as answer:
            return {"bytes": len(answer.read())}
    except urllib.error.HTTPError as refused:  # S3 refuses an unsigned POST: bytes went
        return {"bytes": len(refused.read()), "status": refused.code}
"""


def test_a_nat_gateways_data_processing_is_measured_where_a_flow_log_counts(server, net):
    ec2 = server.client("ec2")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
    public = ec2.create_subnet(VpcId=net["vpc"], CidrBlock="10.7.100.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    public_rtb = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=ec2.allocate_address(
        Domain="vpc")["AllocationId"])["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat], WaiterConfig={"Delay": 1})
    private_rtb = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0",
                     NatGatewayId=nat)
    for subnet in net["subnets"]:
        ec2.associate_route_table(RouteTableId=private_rtb, SubnetId=subnet)

    def nat_data() -> dict:
        with urllib.request.urlopen(server.endpoint + "/_vpclocal/cost", timeout=30) as r:
            lines = json.load(r)["lines"]
        return next(line for line in lines if line["item"] == "NAT gateway data processed"
                    and line["resources"] == [nat])

    name = function(server, net, HTTP)
    applied(server)
    assert nat_data()["monthly"] is None  # no flow log: not counted, not made up
    ec2.create_flow_logs(ResourceIds=[net["vpc"]], ResourceType="VPC", TrafficType="ALL",
                         LogGroupName="/vpc/evidence", DeliverLogsPermissionArn=FLOW_LOG_ROLE)
    applied(server)
    time.sleep(1)  # the collector's first read of the new flow log table
    payload, error, log = invoke(server.client("lambda"), name,
                                 {"url": "http://198.51.100.10/"})
    assert error is None and payload["bytes"] > 200_000, (payload, log)
    deadline = time.monotonic() + 30
    while (line := nat_data())["monthly"] is None:
        assert time.monotonic() < deadline, line
        time.sleep(0.5)
    # both ways through the NAT gateway: the request's 200 kB and its echo
    assert line["quantity"] > 0 and line["monthly"] == pytest.approx(
        line["quantity"] * line["rate"]), line
    assert "bytes in" in line["note"] and "at that pace for the month" in line["note"]
    size = int(line["note"].split(" bytes")[0])
    assert size > 400_000, line

    # S3 through that NAT gateway: the doctor's finding, and its saving priced from what the
    # fabric measured going to S3's endpoint (no gateway endpoint, so the NAT carries it)
    def s3_saving() -> dict:
        with urllib.request.urlopen(server.endpoint + "/_vpclocal/cost", timeout=30) as r:
            savings = json.load(r)["savings"]
        return next(s for s in savings if s["id"] == "gateway-service-through-nat"
                    and s["message"].startswith("s3 ") and nat in s["resources"])

    assert s3_saving()["monthly_saving"] is None  # nothing went to S3 yet
    payload, error, log = invoke(server.client("lambda"), name,
                                 {"url": "https://s3.us-east-1.amazonaws.com/"})
    assert error is None and payload.get("status") in (400, 403, 405), (payload, log)
    deadline = time.monotonic() + 30
    while (saving := s3_saving())["monthly_saving"] is None:
        assert time.monotonic() < deadline, saving
        time.sleep(0.5)
    assert saving["monthly_saving"] > 0 and "of s3 traffic" in saving["note"], saving
