"""The internet from functions, end to end through the API of a `vpclocal up --fabric` server.

The guide's troubleshooting issue 1 and pattern 1: a VPC function's connection to an internet
address times out (a dropped SYN) until a NAT gateway in a public subnet carries it, and the
internet then sees the NAT gateway's Elastic IP; a function without VpcConfig reaches the
internet (from the Lambda service network's public address) but no address of a VPC.

The listeners are this test's (root) processes, started with nsenter in the internet namespace
and in a VPC interface's namespace, whose paths the server reports at /_vpclocal/fabric; each
answers with the peer address it sees.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import (
    HANDLER,
    LISTENER,
    InNamespace,
    applied,
    fabric_status,
    invoke,
    netns_of,
    start_server,
)
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state, zipped
from vpclocal.network.addr import LAMBDA_SERVICE_PUBLIC_IP

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

HOST = "198.51.100.10"  # a public host: every address of the range answers in the internet
PORT = 8080  # this test's listeners (the simulated internet's own hosts answer on 80 and 443)
# the function's unchanged HTTP client code: a public name, HTTPS, the system's trust store
FETCH = """
import json, urllib.request

def handler(event, context):
    with urllib.request.urlopen(event["url"], timeout=event.get("timeout", 3)) as answer:
        return json.load(answer)
"""


def test_the_internet_needs_a_nat_gateway_and_functions_without_a_vpc_have_it(tmp_path):
    server = start_server(tmp_path / "data")
    started: list[InNamespace] = []
    try:
        ec2, lam, iam = server.client("ec2"), server.client("lambda"), server.client("iam")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        public, private = (ec2.create_subnet(VpcId=vpc, CidrBlock=c)["Subnet"]["SubnetId"]
                           for c in ("10.0.1.0/24", "10.0.2.0/24"))
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw)
        ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
        sg = ec2.create_security_group(VpcId=vpc, GroupName=unique("fn"),
                                       Description="fn")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        db = ec2.create_network_interface(SubnetId=private, Groups=[sg])["NetworkInterface"]
        role = make_role(iam, BASIC, VPC_ACCESS)
        name = unique("vpcfn")
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped(HANDLER)},
                            Timeout=5, VpcConfig={"SubnetIds": [private],
                                                  "SecurityGroupIds": [sg]})
        plain = unique("plain")
        lam.create_function(FunctionName=plain, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped(HANDLER)},
                            Timeout=5)
        assert wait_state(lam, name)["State"] == "Active"
        assert wait_state(lam, plain)["State"] == "Active"
        applied(server)
        for netns in (fabric_status(server)["internet"]["netns"],
                      netns_of(server, db["NetworkInterfaceId"])):
            started.append(InNamespace(netns, LISTENER, str(PORT)))
            assert started[-1].line() == "ready"

        # troubleshooting issue 1: no route to the internet, the connection times out
        to_host = {"host": HOST, "port": PORT, "timeout": 1}
        payload, error, _ = invoke(lam, name, to_host)
        assert error == "Unhandled"
        assert payload["errorType"] == "TimeoutError" and payload["errorMessage"] == "timed out"
        # ... while the VPC is there for it
        payload, error, logs = invoke(lam, name, {"host": db["PrivateIpAddress"], "port": PORT})
        assert error is None, (payload, logs)

        # pattern 1: a NAT gateway in the public subnet, the private subnet's route to it
        allocation = ec2.allocate_address(Domain="vpc")
        nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation["AllocationId"])
        nat_id = nat["NatGateway"]["NatGatewayId"]
        ec2.get_waiter("nat_gateway_available").wait(
            NatGatewayIds=[nat_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        private_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=nat_id)
        ec2.associate_route_table(RouteTableId=private_rtb, SubnetId=private)
        applied(server)
        payload, error, logs = invoke(lam, name, to_host)
        assert error is None, (payload, logs)
        assert payload["seen"] == allocation["PublicIp"]  # the internet sees the Elastic IP
        # the same through the VPC resolver and the simulated internet's HTTPS echo host,
        # whose certificate the function trusts (the local CA)
        fetch = unique("fetch")
        lam.create_function(FunctionName=fetch, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped(FETCH)},
                            Timeout=10, VpcConfig={"SubnetIds": [private],
                                                   "SecurityGroupIds": [sg]})
        wait_state(lam, fetch)
        payload, error, logs = invoke(lam, fetch, {"url": "https://api.example.com/hello?x=1"})
        assert error is None, (payload, logs)
        assert payload["client"]["address"] == allocation["PublicIp"], payload
        assert payload["host"] == "api.example.com" and payload["path"] == "/hello", payload

        # a function without VpcConfig: the internet, from the service's public address ...
        payload, error, logs = invoke(lam, plain, to_host)
        assert error is None, (payload, logs)
        assert payload["seen"] == LAMBDA_SERVICE_PUBLIC_IP
        assert payload["netns"] == os.readlink(fabric_status(server)["lambda_service"]["netns"])
        # ... and no address of a VPC
        payload, error, _ = invoke(lam, plain, {"host": db["PrivateIpAddress"], "port": PORT,
                                                "timeout": 1})
        assert error == "Unhandled" and payload["errorType"] == "TimeoutError"
    finally:
        server.stop()
        for proc in started:
            proc.stop()


# waits at a barrier on the internet before it fetches: an invocation holds its environment
# until the other one holds its own (two at once: two environments)
BARRIER_FETCH = """
import json, socket, urllib.request

def handler(event, context):
    with socket.create_connection((event["barrier"], event["port"]), timeout=8) as s:
        assert s.recv(2) == b"go"
    with urllib.request.urlopen(event["url"], timeout=3) as answer:
        return json.load(answer)["client"]["address"]
"""
# accepts argv[2] connections, then answers each with "go"; prints the peers it saw
BARRIER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
held = [s.accept() for _ in range(int(sys.argv[2]))]
for c, _peer in held:
    c.sendall(b"go")
    c.close()
print(" ".join(sorted(peer[0] for _c, peer in held)), flush=True)
"""


def test_pattern_4_each_zone_leaves_by_its_own_nat_gateway(tmp_path):
    """The guide's pattern 4: a NAT gateway per AZ, each private subnet routed to its own; a
    function in both private subnets reaches the internet from both Elastic IPs."""
    server = start_server(tmp_path / "data")
    barrier = None
    try:
        ec2, lam = server.client("ec2"), server.client("lambda")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw)
        private, eips = [], []
        for zone, public_cidr, private_cidr in (("us-east-1a", "10.0.1.0/24", "10.0.10.0/24"),
                                                ("us-east-1b", "10.0.2.0/24", "10.0.20.0/24")):
            public = ec2.create_subnet(VpcId=vpc, CidrBlock=public_cidr,
                                       AvailabilityZone=zone)["Subnet"]["SubnetId"]
            ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
            eip = ec2.allocate_address(Domain="vpc")
            nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip["AllocationId"])[
                "NatGateway"]["NatGatewayId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=private_cidr,
                                       AvailabilityZone=zone)["Subnet"]["SubnetId"]
            rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
            private.append(subnet)
            eips.append(eip["PublicIp"])
        sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
        name = unique("ha")
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                            Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                            Code={"ZipFile": zipped(BARRIER_FETCH)}, Timeout=10,
                            VpcConfig={"SubnetIds": private, "SecurityGroupIds": [sg]})
        wait_state(lam, name)
        applied(server)
        barrier = InNamespace(fabric_status(server)["internet"]["netns"], BARRIER, str(PORT),
                              "2")
        assert barrier.line() == "ready"
        event = {"url": "http://www.example.com/", "barrier": HOST, "port": PORT}
        with ThreadPoolExecutor(2) as pool:  # two at once: two environments, one per ENI
            seen = list(pool.map(lambda _: invoke(lam, name, event), range(2)))
        assert all(error is None for _payload, error, _log in seen), seen
        assert sorted(payload for payload, _error, _log in seen) == sorted(eips)
        assert barrier.line() == " ".join(sorted(eips))  # the barrier saw them too
    finally:
        server.stop()
        if barrier is not None:
            barrier.stop()
