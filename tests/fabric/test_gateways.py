"""Gateways in the kernel: the kernel's verdict equals the engine's, and the address the other
end sees is the translated one.

Each case builds a topology in EC2 Describe shapes, realizes it, and connects from an ENI's
namespace (or from the internet namespace) to a listener: an echo server this test starts in
the internet namespace answers with the peer address it sees, so a case also shows who the
internet sees (the public IP, the NAT gateway's Elastic IP, the router's uplink for a gateway
endpoint). The engine is asked the same question with the same source port.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import LISTENER
from tests.network.builder import Net
from vpclocal.network import Engine
from vpclocal.network.addr import LAMBDA_SERVICE_PUBLIC_IP

pytestmark = needs_fabric

HOST = "198.51.100.10"  # an internet host (every address of the range is local there)
S3 = "203.0.113.193"  # S3's public endpoint, in its prefix list 203.0.113.192/28
SERVICES = {"s3": ["203.0.113.192/28"], "dynamodb": ["203.0.113.208/28"]}
PORT = 443
SPORT = 41000
# connects once, prints what the server said or "timeout"
FETCH = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[3], int(sys.argv[4])))
s.settimeout(float(sys.argv[5]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print(s.recv(64).decode() or "closed")
except OSError as exc:
    print(type(exc).__name__)
"""


class World:
    """A fabric, the echo server in its internet namespace, and the model it realizes."""

    def __init__(self, fabric, n: Net) -> None:
        self.fabric, self.n = fabric, n
        self.echo: list[int] = []

    def start_echo(self, space, port: int = PORT) -> None:
        r, w = os.pipe()
        try:
            self.echo.append(self.fabric.sandbox.spawn([sys.executable, "-I", "-c", LISTENER,
                                                        str(port)], space, stdout=w))
        finally:
            os.close(w)
        with os.fdopen(r) as out:
            assert out.readline().strip() == "ready"

    def apply(self) -> None:
        self.fabric.apply(self.n.t)

    def fetch(self, src: str, dst: str, port: int = PORT, timeout: float = 0.5,
              bind: str = "0.0.0.0") -> str:
        """What the listener answered to a connection from an ENI (or `internet`)."""
        space = self.fabric.internet if src == "internet" else self.fabric.space(src)
        result = self.fabric.sandbox.run([([sys.executable, "-I", "-c", FETCH, dst, str(port),
                                            bind, str(SPORT), str(timeout)], space, "")])[0]
        return result.out.strip() or result.err.strip()

    def verdicts(self, src: str, dst: str, port: int = PORT) -> tuple:
        """(the engine's verdict, what the kernel did: the peer address seen, or the error)."""
        engine = Engine(self.n.t).reachable(HOST if src == "internet" else src, dst, "tcp",
                                            port, source_port=SPORT)
        bind = HOST if src == "internet" else "0.0.0.0"
        seen = self.fetch(src, self.address(dst), port, bind=bind)
        if seen == "TimeoutError":  # a dropped SYN: retry once, longer (a busy machine)
            seen = self.fetch(src, self.address(dst), port, timeout=3, bind=bind)
        return engine, seen

    def address(self, dst: str) -> str:
        eni = self.n.t.network_interfaces.get(dst)
        if eni is None:
            return dst
        return (eni.get("Association") or {}).get("PublicIp") or eni["PrivateIpAddress"]

    def stop(self) -> None:
        for pid in self.echo:
            self.fabric.sandbox.kill(pid)
            self.fabric.sandbox.wait(pid)


@pytest.fixture
def world(fabric):
    w = World(fabric, Net())
    yield w
    w.stop()


def public_ip(n: Net, eni: str) -> str:
    return n.t.network_interfaces[eni]["Association"]["PublicIp"]


def vpc_with_gateways(n: Net, cidr: str = "10.0.0.0/16"):
    """The guide's shape: a public subnet (route to an IGW) and a private one."""
    vpc = n.vpc(cidr)
    for service, cidrs in SERVICES.items():
        n.prefix_list(f"com.amazonaws.us-east-1.{service}", cidrs)
    igw = n.igw(vpc)
    base = cidr.split(".")[:2]
    public = n.public_subnet(vpc, ".".join(base) + ".0.0/24", igw)
    private = n.subnet(vpc, ".".join(base) + ".1.0/24")
    return vpc, igw, public, private


# ---- internet gateway -----------------------------------------------------------------------


def test_internet_gateway_translates_a_public_ip_one_to_one(world):
    n = world.n
    vpc, igw, public, _private = vpc_with_gateways(n)
    web = n.eni(public, public=True)
    hidden = n.eni(public)  # no public address: the IGW has nothing to send it with
    function = n.lambda_eni(public, [n.default_sg[vpc]])  # never one, even in a public subnet
    n.allow(n.default_sg[vpc], "ingress", "tcp", PORT, cidr="0.0.0.0/0")
    world.apply()
    world.start_echo(world.fabric.internet)
    world.start_echo(world.fabric.space(web))

    assert world.verdicts(web, HOST) == (True, public_ip(n, web))
    assert world.verdicts(hidden, HOST) == (False, "TimeoutError")
    assert world.verdicts(function, HOST) == (False, "TimeoutError")
    # inbound: the public address is translated to the private one, the ACL and groups apply
    assert world.verdicts("internet", web) == (True, HOST)
    acl = n.acl(vpc, [public])
    n.acl_entry(acl, 100, egress=True)  # out: everything; in: nothing
    world.apply()
    assert world.verdicts("internet", web) == (False, "TimeoutError")
    assert world.verdicts(web, HOST) == (False, "TimeoutError")  # the reply is dropped

    n.acl_entry(acl, 100, egress=False)
    n.t.internet_gateways[igw]["Attachments"] = []  # detached: its routes carry nothing
    world.apply()
    assert world.verdicts(web, HOST) == (False, "TimeoutError")
    assert world.verdicts("internet", web) == (False, "TimeoutError")


def test_a_public_ip_is_reached_through_the_internet_from_another_vpc(world):
    n = world.n
    _vpc_a, _igw_a, public_a, _ = vpc_with_gateways(n, "10.0.0.0/16")
    vpc_b, _igw_b, public_b, _ = vpc_with_gateways(n, "10.0.0.0/16")  # the same CIDR
    a, b = n.eni(public_a, public=True), n.eni(public_b, public=True)
    n.allow(n.default_sg[vpc_b], "ingress", "tcp", PORT, cidr="0.0.0.0/0")
    world.apply()
    world.start_echo(world.fabric.space(b))
    assert n.t.network_interfaces[a]["PrivateIpAddress"] == n.t.network_interfaces[b][
        "PrivateIpAddress"]
    assert world.verdicts(a, b) == (True, public_ip(n, a))


# ---- NAT gateways ---------------------------------------------------------------------------


def test_nat_gateway_in_a_public_subnet_reaches_the_internet_from_its_elastic_ip(world):
    n = world.n
    vpc, _igw, public, private = vpc_with_gateways(n)
    function = n.lambda_eni(private, [n.default_sg[vpc]])
    world.apply()
    world.start_echo(world.fabric.internet)
    assert world.verdicts(function, HOST) == (False, "TimeoutError")  # no route: timeout

    nat = n.nat(public)
    rtb = n.route_table(vpc, [private])
    n.route(rtb, "0.0.0.0/0", nat)
    world.apply()
    eip = n.t.nat_gateways[nat]["NatGatewayAddresses"][0]["PublicIp"]
    assert world.verdicts(function, HOST) == (True, eip)
    assert world.verdicts(function, S3) == (True, eip)  # S3 through the NAT gateway too

    # the NAT gateway's subnet's inbound ACL applies to what the function sends it
    acl = n.acl(vpc, [public])
    n.acl_entry(acl, 100, egress=True)
    n.acl_entry(acl, 100, egress=False, cidr="198.51.100.0/24")  # replies from the internet
    world.apply()
    assert world.verdicts(function, HOST) == (False, "TimeoutError")
    n.acl_entry(acl, 110, egress=False, cidr="10.0.1.0/24")
    world.apply()
    assert world.verdicts(function, HOST) == (True, eip)


def test_nat_gateway_in_a_private_subnet_goes_nowhere(world):
    n = world.n
    vpc, _igw, _public, private = vpc_with_gateways(n)
    other = n.subnet(vpc, "10.0.2.0/24")
    nat = n.nat(private)  # the guide's mistake: its subnet has no route to the IGW
    function = n.lambda_eni(other, [n.default_sg[vpc]])
    n.route(n.route_table(vpc, [other]), "0.0.0.0/0", nat)
    world.apply()
    world.start_echo(world.fabric.internet)
    assert world.verdicts(function, HOST) == (False, "TimeoutError")

    # its subnet routes the internet back to it: a loop, dropped
    n.route(n.route_table(vpc, [private]), "0.0.0.0/0", nat)
    world.apply()
    assert world.verdicts(function, HOST) == (False, "TimeoutError")


def test_private_nat_gateway_translates_but_reaches_no_internet(world):
    n = world.n
    vpc, _igw, public, private = vpc_with_gateways(n)
    nat = n.nat(public, public=False)  # even in a public subnet
    function = n.lambda_eni(private, [n.default_sg[vpc]])
    db = n.eni(n.subnet(vpc, "10.0.2.0/24"))
    n.allow(n.default_sg[vpc], "ingress", "tcp", PORT, cidr="10.0.0.0/16")
    rtb = n.route_table(vpc, [private])
    n.route(rtb, "0.0.0.0/0", nat)
    n.route(rtb, "10.0.2.0/24", nat)  # more specific than the local route
    world.apply()
    world.start_echo(world.fabric.internet)
    world.start_echo(world.fabric.space(db))
    assert world.verdicts(function, HOST) == (False, "TimeoutError")
    private_ip = n.t.nat_gateways[nat]["NatGatewayAddresses"][0]["PrivateIp"]
    assert world.verdicts(function, db) == (True, private_ip)


# ---- gateway endpoints ----------------------------------------------------------------------


def test_gateway_endpoint_reaches_s3_without_internet_and_replies_find_overlapping_vpcs(world):
    n = world.n
    vpc_a, _igw, _public, private_a = vpc_with_gateways(n)
    vpc_b = n.vpc("10.0.0.0/16")  # the same CIDR, no gateway at all
    private_b = n.subnet(vpc_b, "10.0.1.0/24")
    fn_a = n.lambda_eni(private_a, [n.default_sg[vpc_a]])
    fn_b = n.lambda_eni(private_b, [n.default_sg[vpc_b]])
    world.apply()
    world.start_echo(world.fabric.internet)
    assert world.verdicts(fn_a, S3) == (False, "TimeoutError")  # no route to S3

    rtb_a, rtb_b = n.route_table(vpc_a, [private_a]), n.route_table(vpc_b, [private_b])
    n.gateway_endpoint(vpc_a, "s3", [rtb_a])
    n.gateway_endpoint(vpc_b, "s3", [rtb_b])
    world.apply()
    assert n.t.network_interfaces[fn_a]["PrivateIpAddress"] == n.t.network_interfaces[fn_b][
        "PrivateIpAddress"]
    router = world.fabric.reconciler.router_address
    assert world.verdicts(fn_a, S3) == (True, router(vpc_a))
    assert world.verdicts(fn_b, S3) == (True, router(vpc_b))
    assert world.verdicts(fn_a, HOST) == (False, "TimeoutError")  # S3 only
    assert world.verdicts(fn_a, "203.0.113.209") == (False, "TimeoutError")  # not DynamoDB

    # the reply meets the function's subnet's inbound ACL
    acl = n.acl(vpc_a, [private_a])
    n.acl_entry(acl, 100, egress=True)
    world.apply()
    assert world.verdicts(fn_a, S3) == (False, "TimeoutError")


# ---- peering --------------------------------------------------------------------------------


def test_peering_needs_the_route_back(world):
    n = world.n
    vpc_a, vpc_b = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    a_subnet, b_subnet = n.subnet(vpc_a, "10.0.1.0/24"), n.subnet(vpc_b, "10.1.1.0/24")
    app = n.sg(vpc_a, "app")
    db = n.sg(vpc_b, "db")
    n.allow(db, "ingress", "tcp", PORT, group=app)  # a group of the peer VPC
    fn, database = n.lambda_eni(a_subnet, [app]), n.eni(b_subnet, [db])
    pcx = n.peering(vpc_a, vpc_b)
    n.route(n.route_table(vpc_a, [a_subnet]), "10.1.0.0/16", pcx)
    back = n.route_table(vpc_b, [b_subnet])
    world.apply()
    world.start_echo(world.fabric.space(database))
    assert world.verdicts(fn, database) == (False, "TimeoutError")  # no route back

    n.route(back, "10.0.0.0/16", pcx)
    world.apply()
    assert world.verdicts(fn, database) == (True, n.t.network_interfaces[fn]["PrivateIpAddress"])

    # the destination subnet's inbound ACL applies in the peer VPC
    acl = n.acl(vpc_b, [b_subnet])
    n.acl_entry(acl, 100, egress=True)
    world.apply()
    assert world.verdicts(fn, database) == (False, "TimeoutError")
    n.acl_entry(acl, 100, egress=False)
    n.t.vpc_peering_connections[pcx]["Status"] = {"Code": "deleted"}
    world.apply()
    assert world.verdicts(fn, database) == (False, "TimeoutError")


# ---- the Lambda service network --------------------------------------------------------------


def test_the_lambda_service_network_reaches_the_internet_and_no_vpc(world):
    n = world.n
    vpc, _igw, public, _private = vpc_with_gateways(n)
    web = n.eni(public, public=True)
    n.allow(n.default_sg[vpc], "ingress", "tcp", PORT, cidr="0.0.0.0/0")
    world.apply()
    world.start_echo(world.fabric.internet)
    world.start_echo(world.fabric.space(web))
    lam = world.fabric.lambda_service
    run = world.fabric.sandbox.run

    def fetch(ip: str) -> str:
        return run([([sys.executable, "-I", "-c", FETCH, ip, str(PORT), "0.0.0.0", "0", "0.5"],
                     lam, "")])[0].out.strip()

    assert fetch(HOST) == LAMBDA_SERVICE_PUBLIC_IP
    assert fetch(public_ip(n, web)) == LAMBDA_SERVICE_PUBLIC_IP  # a public IP is the internet
    assert fetch(n.t.network_interfaces[web]["PrivateIpAddress"]) == "TimeoutError"
    assert fetch(world.fabric.reconciler.router_address(vpc)) == "TimeoutError"
