"""The VPC resolver (AmazonProvidedDNS): its names (pure), its answers on the wire, and real
queries from inside the fabric: from an ENI's namespace at base + 2 and 169.254.169.253 (UDP
and TCP), past a security group without egress rules and a network ACL that denies
everything, silent with enableDnsSupport=false, after a rebuild and a restart, and from a VPC
function (`socket.gethostbyname` through its /etc/resolv.conf)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import (
    fabric_status,
    invoke,
    netns_of,
    start_server,
)
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state, zipped
from tests.network.builder import Net
from vpclocal.fabric import dns as resolver
from vpclocal.fabric.service import FabricService
from vpclocal.network.names import UNSERVED_ADDRESS, public_address, stable_address
from vpclocal.network.topology import KINDS
from vpclocal.store import Store

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
REGION = "us-east-1"
RDS_NAME = "mydb.c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"

# Answers DNS queries, one JSON line per line on stdin: {"server", "name", "type", "tcp",
# "timeout"} -> {"rcode", "answers", "ttls"} or {"timeout": true}.
QUERIER = """
import json, sys
import dns.exception, dns.message, dns.query, dns.rcode
for line in sys.stdin:
    q = json.loads(line)
    msg = dns.message.make_query(q["name"], q.get("type", "A"))
    ask = dns.query.tcp if q.get("tcp") else dns.query.udp
    try:
        r = ask(msg, q["server"], timeout=q.get("timeout", 2.0))
        out = {"rcode": dns.rcode.to_text(r.rcode()),
               "answers": sorted(rd.to_text() for rr in r.answer for rd in rr),
               "ttls": [rr.ttl for rr in r.answer]}
    except dns.exception.Timeout:
        out = {"timeout": True}
    except OSError as exc:
        out = {"error": str(exc)}
    print(json.dumps(out), flush=True)
"""


# ---- the names (pure) ----------------------------------------------------------------------


def _store() -> tuple[Store, dict]:
    """Records in the shapes the services write: two VPCs, endpoints of RDS, RDS Proxy and
    ElastiCache, an SQS interface endpoint with private DNS in one VPC, an S3 one (a wildcard
    name), and a declared public host."""
    n = Net()
    vpc, other = n.vpc("10.0.0.0/16"), n.vpc("10.1.0.0/16")
    subnet = n.subnet(vpc, "10.0.1.0/24")
    sqs_eni, s3_eni = n.eni(subnet), n.eni(subnet)
    ids = {"vpc": vpc, "other": other,
           "sqs_ip": n.t.network_interfaces[sqs_eni]["PrivateIpAddress"],
           "s3_ip": n.t.network_interfaces[s3_eni]["PrivateIpAddress"]}
    store = Store(":memory:")
    with store.transaction(REGION) as tx:
        for kind in KINDS:
            for rid, record in getattr(n.t, kind).items():
                tx.put(kind, rid, record)
        tx.put("db_instances", "mydb", {"Endpoint": {"Address": RDS_NAME},
                                        "_Hostname": RDS_NAME, "_Address": "10.0.1.50"})
        tx.put("db_proxies", "px", {"_Hostname": "px.proxy-c1a2b3c4d5e6.us-east-1.rds."
                                    "amazonaws.com", "_Address": "10.0.1.51"})
        tx.put("cache_clusters", "cc", {"_Hostname": "cc.abcdef.0001.use1.cache.amazonaws.com",
                                        "_Address": "10.0.1.52"})
        tx.put("db_instances", "creating", {"_Hostname": "half.rds.amazonaws.com"})
        for vpce, service, eni, names in (
                ("vpce-1", "sqs", sqs_eni, ["vpce-1-ab.sqs.us-east-1.vpce.amazonaws.com",
                                            "sqs.us-east-1.amazonaws.com"]),
                ("vpce-2", "s3", s3_eni, ["*.vpce-2-cd.s3.us-east-1.vpce.amazonaws.com",
                                          "*.s3.us-east-1.amazonaws.com"])):
            tx.put("vpc_endpoints", vpce, {
                "VpcEndpointId": vpce, "VpcEndpointType": "Interface", "VpcId": vpc,
                "ServiceName": f"com.amazonaws.us-east-1.{service}", "PrivateDnsEnabled": True,
                "NetworkInterfaceIds": [eni], "DnsEntries": [{"DnsName": d} for d in names]})
        tx.put("vpc_endpoints", "vpce-gw", {"VpcEndpointId": "vpce-gw", "VpcId": vpc,
                                            "VpcEndpointType": "Gateway", "DnsEntries": []})
    with store.transaction("global") as tx:
        tx.put("internet_hosts", "api.stripe.com", {"Name": "api.stripe.com",
                                                    "Address": "203.0.113.7"})
    return store, ids


def a_records(z: resolver.Zone, name: str):
    answer = z.lookup(name)
    return None if answer is None else answer.addresses


def test_names_of_every_kind():
    store, ids = _store()
    z = resolver.zone(store.view(REGION), ids["vpc"])
    other = resolver.zone(store.view(REGION), ids["other"])
    assert z is not None and other is not None
    # RDS, RDS Proxy, ElastiCache: their ENI's address, from any VPC; case and a final dot
    # do not matter; a record without an address yet is not a name
    for zone in (z, other):
        assert a_records(zone, RDS_NAME) == ("10.0.1.50",)
        assert a_records(zone, RDS_NAME.upper() + ".") == ("10.0.1.50",)
        assert a_records(zone, "px.proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com") == (
            "10.0.1.51",)
        assert a_records(zone, "cc.abcdef.0001.use1.cache.amazonaws.com") == ("10.0.1.52",)
        assert zone.lookup("half.rds.amazonaws.com") is None
        # an interface endpoint's vpce names are public: any VPC resolves them
        assert a_records(zone, "vpce-1-ab.sqs.us-east-1.vpce.amazonaws.com") == (ids["sqs_ip"],)
        assert a_records(zone, "x.vpce-2-cd.s3.us-east-1.vpce.amazonaws.com") == (ids["s3_ip"],)
    # private DNS: the service's own name is the endpoint's in its VPC only
    assert a_records(z, "sqs.us-east-1.amazonaws.com") == (ids["sqs_ip"],)
    # elsewhere the public endpoint (a service vpclocal does not serve: their shared address)
    assert a_records(other, "sqs.us-east-1.amazonaws.com") == (UNSERVED_ADDRESS,)
    # S3's private name is a wildcard: the bucket names under it, and its own name
    assert a_records(z, "s3.us-east-1.amazonaws.com") == (ids["s3_ip"],)
    assert a_records(z, "my-bucket.s3.us-east-1.amazonaws.com") == (ids["s3_ip"],)
    assert a_records(other, "my-bucket.s3.us-east-1.amazonaws.com") == (
        public_address("s3.us-east-1.amazonaws.com"),)  # the public endpoint elsewhere
    # private hostnames: the VPC's own addresses, in its region's domain
    assert a_records(z, "ip-10-0-1-4.ec2.internal") == ("10.0.1.4",)
    assert a_records(z, "IP-10-0-200-9.EC2.INTERNAL.") == ("10.0.200.9",)
    assert z.lookup("ip-10-1-0-4.ec2.internal") is None  # the other VPC's
    assert a_records(other, "ip-10-1-0-4.ec2.internal") == ("10.1.0.4",)
    assert z.lookup("ip-10-0-1-4.us-west-2.compute.internal") is None
    assert z.lookup("x.ip-10-0-1-4.ec2.internal") is None
    assert z.lookup("ip-10-0-1-400.ec2.internal") is None
    # PTR records of the VPC's addresses
    assert z.lookup("4.1.0.10.in-addr.arpa").ptr == "ip-10-0-1-4.ec2.internal"
    assert z.lookup("4.1.1.10.in-addr.arpa") is None
    # the simulated internet: the documentation domains, declared hosts, AWS endpoints
    assert a_records(z, "api.example.com") == (stable_address("api.example.com"),)
    assert a_records(z, "Api.Stripe.com") == ("203.0.113.7",)
    assert a_records(z, "dynamodb.us-east-1.amazonaws.com") == ("203.0.113.209",)
    # anything else does not exist
    for name in ("www.google.com", "localhost", "ec2.internal", "example", ""):
        assert z.lookup(name) is None, name


def test_other_regions_use_their_compute_internal_domain():
    n = Net()
    vpc = n.vpc("172.31.0.0/16")
    store = Store(":memory:")
    with store.transaction("eu-west-1") as tx:
        tx.put("vpcs", vpc, n.t.vpcs[vpc])
    z = resolver.zone(store.view("eu-west-1"), vpc)
    assert resolver.internal_domain("eu-west-1") == z.domain == "eu-west-1.compute.internal"
    assert a_records(z, "ip-172-31-5-6.eu-west-1.compute.internal") == ("172.31.5.6",)
    assert z.lookup("ip-172-31-5-6.ec2.internal") is None
    assert resolver.zone(store.view("eu-west-1"), "vpc-missing") is None


def test_enable_dns_support_false_answers_nothing():
    store, ids = _store()
    with store.transaction(REGION) as tx:
        tx.edit("vpcs", ids["vpc"])["_EnableDnsSupport"] = False
    z = resolver.zone(store.view(REGION), ids["vpc"])
    for name in (RDS_NAME, "api.example.com", "nothing.invalid"):
        assert z.lookup(name) is resolver.IGNORE
    query = dns.message.make_query(RDS_NAME, "A").to_wire()
    assert resolver.respond(query, z.lookup) is None


def ask(z: resolver.Zone, name: str, rdtype: str = "A", **kw) -> dns.message.Message:
    wire = dns.message.make_query(name, rdtype, **kw).to_wire()
    reply = resolver.respond(wire, z.lookup)
    assert reply is not None
    return dns.message.from_wire(reply)


def test_answers_on_the_wire():
    store, ids = _store()
    z = resolver.zone(store.view(REGION), ids["vpc"])
    r = ask(z, RDS_NAME)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.QR and r.flags & dns.flags.RA
    assert [(rr.rdtype, rr.ttl, [rd.to_text() for rd in rr]) for rr in r.answer] == [
        (dns.rdatatype.A, 60, ["10.0.1.50"])]
    # a known name has no IPv6 address: NOERROR without an answer (not NXDOMAIN)
    for rdtype in ("AAAA", "MX", "TXT"):
        r = ask(z, RDS_NAME, rdtype)
        assert (r.rcode(), r.answer) == (dns.rcode.NOERROR, []), rdtype
    r = ask(z, "nothing.invalid")
    assert (r.rcode(), r.answer) == (dns.rcode.NXDOMAIN, [])
    r = ask(z, "nothing.invalid", "AAAA")
    assert r.rcode() == dns.rcode.NXDOMAIN
    r = ask(z, "4.1.0.10.in-addr.arpa", "PTR")
    assert [rd.to_text() for rr in r.answer for rd in rr] == ["ip-10-0-1-4.ec2.internal."]
    r = ask(z, RDS_NAME, use_edns=0)  # EDNS in, EDNS out
    assert r.edns == 0 and r.answer[0][0].to_text() == "10.0.1.50"
    # noise gets nothing; a message with a readable header but no question, FORMERR
    assert resolver.respond(b"\x00\x01", z.lookup) is None
    formerr = resolver.respond(b"\x12\x34\x01\x00" + b"\x00\x05" + b"\x00" * 6, z.lookup)
    assert formerr is not None and formerr[:2] == b"\x12\x34"
    assert formerr[3] & 0x0F == dns.rcode.FORMERR
    response = dns.message.make_response(dns.message.make_query(RDS_NAME, "A")).to_wire()
    assert resolver.respond(response, z.lookup) is None  # never answer a response


def test_replies_are_remembered_until_the_answer_changes():
    names = {"db.example.internal": resolver.Answer(("10.0.1.5",))}
    asked = []

    def lookup(name):
        asked.append(name)
        return names.get(name)

    responder = resolver.Responder(lookup)
    query = dns.message.make_query("db.example.internal", "A")
    for ident in (1, 2):
        query.id = ident
        reply = dns.message.from_wire(responder(query.to_wire(), udp=True))
        assert reply.id == ident and reply.answer[0][0].to_text() == "10.0.1.5"
    assert asked == ["db.example.internal"] * 2  # the second asked the lookup, not dnspython
    names["db.example.internal"] = resolver.Answer(("10.0.2.9",))
    reply = dns.message.from_wire(responder(query.to_wire(), udp=True))
    assert reply.answer[0][0].to_text() == "10.0.2.9"
    names.clear()
    reply = dns.message.from_wire(responder(query.to_wire(), udp=True))
    assert reply.rcode() == dns.rcode.NXDOMAIN


def test_a_reply_too_big_for_udp_is_truncated():
    many = resolver.Answer(tuple(f"10.0.1.{i}" for i in range(1, 60)))
    wire = dns.message.make_query("big.example.internal", "A").to_wire()
    udp = dns.message.from_wire(resolver.respond(wire, lambda name: many, udp=True))
    assert udp.flags & dns.flags.TC and udp.answer == []
    tcp = dns.message.from_wire(resolver.respond(wire, lambda name: many))
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 59
    edns = dns.message.make_query("big.example.internal", "A", use_edns=0, payload=4096)
    big = dns.message.from_wire(resolver.respond(edns.to_wire(), lambda name: many, udp=True))
    assert not big.flags & dns.flags.TC and len(big.answer[0]) == 59


def test_public_lookup_for_networks_without_a_vpc():
    declared = {"api.stripe.com": "203.0.113.7"}
    lookup = resolver.public_lookup(lambda: declared)
    assert lookup("api.stripe.com").addresses == ("203.0.113.7",)
    assert lookup("www.example.org").addresses == (stable_address("www.example.org"),)
    assert lookup(RDS_NAME) is None and lookup("ip-10-0-1-4.ec2.internal") is None


# ---- real queries in the fabric -------------------------------------------------------------


class Querier:
    """QUERIER in a namespace: started by the sandbox's agent (`space`), or with nsenter by
    this test as root (`netns`, a path)."""

    def __init__(self, *, sandbox=None, space=None, netns: str | None = None) -> None:
        self.sandbox, self.pid, self.proc = sandbox, None, None
        if netns is not None:
            self.proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c",
                                          QUERIER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
            self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        else:
            to_child, self._w = os.pipe()
            self._r, from_child = os.pipe()
            self.pid = sandbox.spawn([sys.executable, "-c", QUERIER], space, stdin=to_child,
                                     stdout=from_child, env=dict(os.environ))
            os.close(to_child)
            os.close(from_child)
            self.stdin = os.fdopen(self._w, "w")
            self.stdout = os.fdopen(self._r)

    def ask(self, server: str, name: str, rdtype: str = "A", tcp: bool = False,
            timeout: float = 2.0) -> dict:
        self.stdin.write(json.dumps({"server": server, "name": name, "type": rdtype,
                                     "tcp": tcp, "timeout": timeout}) + "\n")
        self.stdin.flush()
        return json.loads(self.stdout.readline())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        else:
            self.sandbox.kill(self.pid)
            self.sandbox.wait(self.pid)
        self.stdin.close()
        self.stdout.close()


def ok(*answers: str) -> dict:
    return {"rcode": "NOERROR", "answers": sorted(answers), "ttls": [60] if answers else []}


@needs_fabric
def test_resolver_sockets_follow_routers_and_survive_a_rebuild():
    """The service binds the resolver in every router, also in a VPC created later, and again
    after a rebuild from scratch (what a failed apply leads to)."""
    store, ids = _store()
    service = FabricService(store, ("127.0.0.1", 9))
    assert service.start(), service.reason
    queriers = []
    try:
        eni = next(e for e, r in service.fabric.reconciler.plan.enis.items()
                   if r.vpc == ids["vpc"])
        q = Querier(sandbox=service.fabric.sandbox, space=service.space(eni))
        queriers.append(q)
        for server in ("10.0.0.2", "169.254.169.253"):
            for tcp in (False, True):
                assert q.ask(server, RDS_NAME, tcp=tcp) == ok("10.0.1.50"), (server, tcp)
        assert q.ask("10.0.0.2", "nothing.invalid") == {"rcode": "NXDOMAIN", "answers": [],
                                                         "ttls": []}
        assert q.ask("10.0.0.2", RDS_NAME, "AAAA") == ok()
        # a record written after the resolver started is answered at once
        with store.transaction(REGION) as tx:
            tx.put("db_instances", "later", {"_Hostname": "later.rds.amazonaws.com",
                                             "_Address": "10.0.1.60"})
        assert q.ask("10.0.0.2", "later.rds.amazonaws.com") == ok("10.0.1.60")
        # what a network without a VPC answers (the Lambda service network)
        assert service.public_lookup("api.stripe.com").addresses == ("203.0.113.7",)
        assert service.public_lookup(RDS_NAME) is None

        # a rebuild from scratch: new routers, new resolver sockets
        first = dict(service.resolvers.vpcs)
        service.fabric.reconciler._broken = True  # as after a failed apply
        with store.transaction(REGION) as tx:
            tx.edit("vpcs", ids["vpc"])["Tags"] = [{"Key": "k", "Value": "v"}]
        assert service.wait_applied(10)
        assert set(service.resolvers.vpcs) == set(first)
        assert all(service.resolvers.vpcs[v] is not first[v] for v in first)
        q.stop()
        queriers.remove(q)
        q = Querier(sandbox=service.fabric.sandbox, space=service.space(eni))
        queriers.append(q)
        assert q.ask("10.0.0.2", RDS_NAME) == ok("10.0.1.50")

        # a VPC that comes later gets its resolver; one that goes loses it
        n = Net()
        n._n = itertools.count(1000)  # ids apart from _store()'s
        vpc = n.vpc("10.9.0.0/16")
        new_eni = n.eni(n.subnet(vpc, "10.9.3.0/24"))
        with store.transaction(REGION) as tx:
            for kind in KINDS:
                for rid, record in getattr(n.t, kind).items():
                    tx.put(kind, rid, record)
        assert service.wait_applied(10)
        q2 = Querier(sandbox=service.fabric.sandbox, space=service.space(new_eni))
        queriers.append(q2)
        assert q2.ask("10.9.0.2", "ip-10-9-3-4.ec2.internal") == ok("10.9.3.4")
        assert q2.ask("169.254.169.253", RDS_NAME) == ok("10.0.1.50")
        with store.transaction(REGION) as tx:
            for kind in KINDS:
                for rid in getattr(n.t, kind):
                    tx.delete(kind, rid)
        assert service.wait_applied(10)
        assert vpc not in service.resolvers.vpcs and ids["vpc"] in service.resolvers.vpcs
    finally:
        for q in queriers:
            q.stop()
        service.stop()


@needs_fabric
@as_root
def test_resolver_past_closed_groups_and_acls_and_enable_dns_support(tmp_path):
    server = start_server(tmp_path / "data")
    queriers: list[Querier] = []
    try:
        ec2 = server.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        client_subnet, endpoint_subnet = (
            ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
            for c, z in (("10.20.0.0/24", "us-east-1a"), ("10.20.1.0/24", "us-east-1b")))
        # a group without egress rules, a network ACL that denies everything
        closed = ec2.create_security_group(VpcId=vpc, GroupName="closed",
                                           Description="closed")["GroupId"]
        ec2.revoke_security_group_egress(GroupId=closed, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
        association = next(
            a["NetworkAclAssociationId"] for a in ec2.describe_network_acls(
                Filters=[{"Name": "association.subnet-id", "Values": [client_subnet]}])
            ["NetworkAcls"][0]["Associations"] if a["SubnetId"] == client_subnet)
        ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
        eni = ec2.create_network_interface(SubnetId=client_subnet, Groups=[closed])[
            "NetworkInterface"]
        endpoint = ec2.create_vpc_endpoint(
            VpcId=vpc, VpcEndpointType="Interface", SubnetIds=[endpoint_subnet],
            ServiceName="com.amazonaws.us-east-1.sqs")["VpcEndpoint"]
        assert endpoint["PrivateDnsEnabled"]
        endpoint_ip = ec2.describe_network_interfaces(
            NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])["NetworkInterfaces"][0][
            "PrivateIpAddress"]
        vpce_name = endpoint["DnsEntries"][0]["DnsName"]

        q = Querier(netns=netns_of(server, eni["NetworkInterfaceId"]))
        queriers.append(q)
        deadline = time.monotonic() + 5  # the ENI's namespace comes first, then the resolver
        while vpc not in (resolvers := fabric_status(server)["resolvers"]):
            assert time.monotonic() < deadline, resolvers
            time.sleep(0.02)
        assert resolvers[vpc] == ["10.20.0.2", "169.254.169.253"]
        own = f"ip-{eni['PrivateIpAddress'].replace('.', '-')}.ec2.internal"
        for server_ip in ("10.20.0.2", "169.254.169.253"):
            for tcp in (False, True):
                assert q.ask(server_ip, own, tcp=tcp) == ok(eni["PrivateIpAddress"])
                assert q.ask(server_ip, "sqs.us-east-1.amazonaws.com", tcp=tcp) == ok(
                    endpoint_ip)
        assert q.ask("10.20.0.2", vpce_name) == ok(endpoint_ip)
        assert q.ask("10.20.0.2", "api.example.com") == ok(stable_address("api.example.com"))
        assert q.ask("10.20.0.2", "no.such.name.invalid")["rcode"] == "NXDOMAIN"
        # and yet nothing else gets out: the ACL drops a query to any other address
        assert q.ask("10.20.1.53", own, timeout=0.3) == {"timeout": True}

        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})
        for tcp in (False, True):
            assert q.ask("10.20.0.2", own, tcp=tcp, timeout=0.5) == {"timeout": True}
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
        assert q.ask("10.20.0.2", own) == ok(eni["PrivateIpAddress"])

        # SIGKILL: a restart builds the fabric, and the resolver, from the store again
        q.stop()
        queriers.remove(q)
        server.stop(signal.SIGKILL)
        server = start_server(tmp_path / "data")
        q = Querier(netns=netns_of(server, eni["NetworkInterfaceId"]))
        queriers.append(q)
        assert q.ask("10.20.0.2", "sqs.us-east-1.amazonaws.com") == ok(endpoint_ip)
    finally:
        for q in queriers:
            q.stop()
        server.stop()


RESOLVING = """
import socket

def handler(event, context):
    out = {"resolv.conf": open("/etc/resolv.conf").read()}
    for name in event["names"]:
        try:
            out[name] = socket.gethostbyname(name)
        except OSError as exc:
            out[name] = type(exc).__name__
    return out
"""


@needs_fabric
@as_root
def test_a_vpc_function_resolves_rds_and_public_names(tmp_path):
    host_resolv = Path("/etc/resolv.conf").read_text()
    server = start_server(tmp_path / "data")
    try:
        ec2, rds, lam = server.client("ec2"), server.client("rds"), server.client("lambda")
        vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)
                   ["Subnet"]["SubnetId"]
                   for c, z in (("10.30.1.0/24", "us-east-1a"), ("10.30.2.0/24", "us-east-1b"))]
        fn_sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
        ec2.revoke_security_group_egress(GroupId=fn_sg, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        rds.create_db_subnet_group(DBSubnetGroupName="dns", DBSubnetGroupDescription="dns",
                                   SubnetIds=subnets)
        db = rds.create_db_instance(
            DBInstanceIdentifier="dnsdb", DBInstanceClass="db.t3.micro", Engine="mariadb",
            MasterUsername="admin", MasterUserPassword="secret-password", AllocatedStorage=20,
            DBSubnetGroupName="dns")["DBInstance"]
        db_eni = ec2.describe_network_interfaces(Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "description", "Values": ["RDSNetworkInterface"]}])["NetworkInterfaces"]
        assert len(db_eni) == 1

        name = unique("resolve")
        lam.create_function(FunctionName=name, Runtime="python3.12",
                            Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                            Handler="index.handler", Code={"ZipFile": zipped(RESOLVING)},
                            Timeout=10, VpcConfig={"SubnetIds": subnets,
                                                   "SecurityGroupIds": [fn_sg]})
        assert wait_state(lam, name)["State"] == "Active"
        address = db["Endpoint"]["Address"]
        names = [address, "api.example.com", "nothing.invalid"]
        payload, error, logs = invoke(lam, name, {"names": names})
        assert error is None, (payload, logs)
        assert payload["resolv.conf"] == "nameserver 10.30.0.2\nsearch ec2.internal\n"
        assert payload[address] == db_eni[0]["PrivateIpAddress"]
        assert payload["api.example.com"] == stable_address("api.example.com")
        assert payload["nothing.invalid"] == "gaierror"
        assert "unisolated" not in logs and "mount" not in logs
        assert Path("/etc/resolv.conf").read_text() == host_resolv  # the host's is untouched
    finally:
        server.stop()
