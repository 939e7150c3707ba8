"""Kernel and engine agree on a network built through the EC2 API: peering, a private NAT
gateway and a prefix list, as the random differential test (test_differential.py) cannot
build them (it writes records, not API calls).

VPC A (10.10.0.0/16) peers with B (10.20.0.0/16) and with C (10.30.0.0/16). A's app subnet
reaches B over the peering, where B's security group admits A's app subnet; it reaches C only
through a private NAT gateway in A's transit subnet, whose address is all C's security group
admits; it reaches S3 through a gateway endpoint, its group's egress admitting S3's prefix
list on port 443 only. B has no route to C. Every flow is asked of the engine
(/_vpclocal/reach) and tried in the kernel (from the source ENI's namespace), before and
after the prefix-list rule is revoked.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import urllib.request
from unittest import mock

import pytest

from tests.conftest import Server
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import LISTENER, InNamespace, applied, fabric_status

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("ok")
except OSError:
    print("fail")
"""


def reach(server: Server, source: str, destination: str, port: int) -> dict:
    body = json.dumps({"source": source, "destination": destination, "protocol": "tcp",
                       "port": port}).encode()
    request = urllib.request.Request(server.endpoint + "/_vpclocal/reach", body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


def kernel(netns: str, address: str, port: int, timeout: float) -> bool:
    out = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-c", CONNECT, address,
                          str(port), str(timeout)], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "ok"


def build(ec2) -> dict:
    def vpc(cidr: str) -> str:
        return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]

    def subnet(vpc_id: str, cidr: str) -> str:
        return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)["Subnet"]["SubnetId"]

    def table(vpc_id: str, subnet_id: str) -> str:
        rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet_id)
        return rtb

    def peer(a: str, b: str) -> str:
        pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)
        pcx_id = pcx["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
        return pcx_id

    def group(vpc_id: str, name: str) -> str:
        return ec2.create_security_group(VpcId=vpc_id, GroupName=name,
                                         Description=name)["GroupId"]

    a, b, c = vpc("10.10.0.0/16"), vpc("10.20.0.0/16"), vpc("10.30.0.0/16")
    app, transit = subnet(a, "10.10.1.0/24"), subnet(a, "10.10.2.0/24")
    b1, c1 = subnet(b, "10.20.1.0/24"), subnet(c, "10.30.1.0/24")
    ab, ac = peer(a, b), peer(a, c)
    nat = ec2.create_nat_gateway(SubnetId=transit, ConnectivityType="private")
    nat_id = nat["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat_id],
                                                 WaiterConfig={"Delay": 1})
    app_rtb, transit_rtb = table(a, app), table(a, transit)
    ec2.create_route(RouteTableId=app_rtb, DestinationCidrBlock="10.20.0.0/16",
                     VpcPeeringConnectionId=ab)
    ec2.create_route(RouteTableId=app_rtb, DestinationCidrBlock="10.30.0.0/16",
                     NatGatewayId=nat_id)
    ec2.create_route(RouteTableId=transit_rtb, DestinationCidrBlock="10.30.0.0/16",
                     VpcPeeringConnectionId=ac)
    ec2.create_route(RouteTableId=table(b, b1), DestinationCidrBlock="10.10.0.0/16",
                     VpcPeeringConnectionId=ab)
    ec2.create_route(RouteTableId=table(c, c1), DestinationCidrBlock="10.10.0.0/16",
                     VpcPeeringConnectionId=ac)
    s3 = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [
        "com.amazonaws.us-east-1.s3"]}])["PrefixLists"][0]
    ec2.create_vpc_endpoint(VpcId=a, ServiceName="com.amazonaws.us-east-1.s3",
                            VpcEndpointType="Gateway", RouteTableIds=[app_rtb])
    web_b, web_c, client = group(b, "web-b"), group(c, "web-c"), group(a, "client")
    ec2.authorize_security_group_ingress(GroupId=web_b, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
        "IpRanges": [{"CidrIp": "10.10.1.0/24"}]}])
    everywhere = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.revoke_security_group_egress(GroupId=client, IpPermissions=[everywhere])
    ec2.authorize_security_group_egress(GroupId=client, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.20.0.0/16"}, {"CidrIp": "10.30.0.0/16"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "PrefixListIds": [{"PrefixListId": s3["PrefixListId"]}]}])
    ec2.authorize_security_group_ingress(GroupId=web_c, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
        "IpRanges": [{"CidrIp": "10.10.2.0/24"}]}])

    def eni(subnet_id: str, sg: str) -> str:
        return ec2.create_network_interface(SubnetId=subnet_id, Groups=[sg])[
            "NetworkInterface"]["NetworkInterfaceId"]

    enis = {"a": eni(app, client), "b": eni(b1, web_b), "c": eni(c1, web_c)}
    addresses = {k: ec2.describe_network_interfaces(NetworkInterfaceIds=[v])[
        "NetworkInterfaces"][0]["PrivateIpAddress"] for k, v in enis.items()}
    block = ipaddress.ip_network(s3["Cidrs"][0])
    addresses["s3"] = enis["s3"] = str(block.network_address + 1)  # an address of S3's
    return {"enis": enis, "addresses": addresses, "client": client, "s3": s3["PrefixListId"]}


# (source, destination, port): what AWS does with each, before and after A's group loses its
# egress rule to S3's prefix list
EXPECTED = {
    ("a", "s3", 443): (True, False),  # the gateway endpoint; the prefix-list egress rule
    ("a", "s3", 80): (False, False),  # A's group lets out port 443 only to S3
    ("a", "b", 80): (True, True),     # peering; B admits A's app subnet
    ("a", "b", 443): (False, False),  # B's group admits port 80 only
    ("a", "c", 80): (True, True),     # through the private NAT gateway, from its address
    ("a", "c", 443): (False, False),
    ("b", "c", 80): (False, False),   # B has no route to C (peering is not transitive)
    ("b", "a", 80): (False, False),   # A's client group admits nothing
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(tmp_path_factory.mktemp("apidiff") / "data").start()
    listeners = []
    try:
        built = build(server.client("ec2"))
        applied(server, timeout=15)
        spaces = fabric_status(server)["enis"]
        netns = {k: spaces[v]["netns"] for k, v in built["enis"].items() if k != "s3"}
        for key in ("a", "b", "c"):
            for port in (80, 443):
                listener = InNamespace(netns[key], LISTENER, str(port))
                assert listener.line() == "ready"
                listeners.append(listener)
        yield server, built, netns
    finally:
        for listener in listeners:
            listener.stop()
        server.stop()


def verdicts(server, built, netns) -> dict:
    out = {}
    for (src, dst, port) in EXPECTED:
        engine = reach(server, built["enis"][src], built["enis"][dst], port)["reachable"]
        address = built["addresses"][dst]
        seen = kernel(netns[src], address, port, 0.3)
        if engine and not seen:  # a busy machine: a second, longer chance
            seen = kernel(netns[src], address, port, 3)
        out[(src, dst, port)] = (engine, seen)
    return out


def test_kernel_and_engine_agree_on_an_api_built_network(world):
    server, built, netns = world
    before = verdicts(server, built, netns)
    assert before == {k: (v[0], v[0]) for k, v in EXPECTED.items()}, before

    ec2 = server.client("ec2")
    ec2.revoke_security_group_egress(GroupId=built["client"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "PrefixListIds": [{"PrefixListId": built["s3"]}]}])
    applied(server)
    after = verdicts(server, built, netns)
    assert after == {k: (v[1], v[1]) for k, v in EXPECTED.items()}, after
