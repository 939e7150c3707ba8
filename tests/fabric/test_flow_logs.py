"""VPC flow logs from the kernel: a `vpclocal up --fabric` server (VPCLOCAL_FLOW_LOG_INTERVAL=1)
counts the traffic of VPCs with a flow log in their router and delivers version-2 records to
CloudWatch Logs, read back here with filter_log_events.

Traffic runs between processes this test (root) starts with nsenter in ENI namespaces, whose
paths the server reports at /_vpclocal/fabric: a sink that reads a connection to its end, and
a client that connects and sends a given number of bytes (a dropped SYN: it gives up after a
second)."""

from __future__ import annotations

import os
import time
from unittest import mock

import pytest

from tests.fabric.conftest import needs_fabric, until
from tests.fabric.test_functions_in_fabric import (
    InNamespace,
    applied,
    fabric_status,
    netns_of,
    start_server,
)

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

ROLE = "arn:aws:iam::000000000000:role/flow-logs"
FIELDS = ("version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
          "protocol", "packets", "bytes", "start", "end", "action", "log-status")
SINK = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
"""
# one "host port bytes" per line: prints "ok <local port>" or "fail <local port>"
CLIENT = """
import socket, sys
for line in sys.stdin:
    host, port, size = line.split()
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect((host, int(port)))
        s.sendall(b"x" * int(size))
        s.shutdown(socket.SHUT_WR)
        s.recv(16)
        print("ok", s.getsockname()[1], flush=True)
    except OSError:
        print("fail", s.getsockname()[1], flush=True)
    finally:
        s.close()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mock.patch.dict(os.environ, {"VPCLOCAL_FLOW_LOG_INTERVAL": "1"}):
        server = start_server(tmp_path_factory.mktemp("flowlogs") / "data")
    yield server
    server.stop()


@pytest.fixture
def started():
    procs: list[InNamespace] = []
    yield procs
    for proc in procs:
        proc.stop()


class Vpc:
    """A VPC with subnets, security groups and ENIs, made through the API."""

    def __init__(self, server, cidr: str) -> None:
        self.server = server
        self.ec2 = server.client("ec2")
        self.id = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]

    def subnet(self, cidr: str) -> str:
        return self.ec2.create_subnet(VpcId=self.id, CidrBlock=cidr)["Subnet"]["SubnetId"]

    def sg(self, name: str, ingress: list[dict] = ()) -> str:
        group = self.ec2.create_security_group(VpcId=self.id, GroupName=name,
                                               Description=name)["GroupId"]
        if ingress:
            self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ingress)
        return group

    def eni(self, subnet: str, group: str) -> tuple[str, str]:
        eni = self.ec2.create_network_interface(SubnetId=subnet, Groups=[group])
        return eni["NetworkInterface"]["NetworkInterfaceId"], \
            eni["NetworkInterface"]["PrivateIpAddress"]

    def flow_log(self, resource: str, traffic: str, group: str) -> str:
        kind = {"vpc": "VPC", "subnet": "Subnet", "eni": "NetworkInterface"}[
            resource.split("-")[0]]
        out = self.ec2.create_flow_logs(
            ResourceIds=[resource], ResourceType=kind, TrafficType=traffic,
            LogDestinationType="cloud-watch-logs", LogGroupName=group,
            DeliverLogsPermissionArn=ROLE, MaxAggregationInterval=60)
        assert out["Unsuccessful"] == [], out
        return out["FlowLogIds"][0]

    def run(self, started: list, eni: str, code: str, *args: str) -> InNamespace:
        """Run code in the ENI's namespace once the kernel has every change made so far."""
        applied(self.server)
        proc = InNamespace(netns_of(self.server, eni), code, *args)
        started.append(proc)
        return proc


def tcp_port(sid: str) -> list[dict]:
    return [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "UserIdGroupPairs": [{"GroupId": sid}]}]


def records(logs, group: str) -> list[dict]:
    """Every record of a log group, parsed, with its stream."""
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    out = []
    for e in events:
        values = e["message"].split(" ")
        assert len(values) == len(FIELDS), e["message"]
        record = dict(zip(FIELDS, values, strict=True))
        record["stream"] = e["logStreamName"]
        record["timestamp"] = e["timestamp"]
        out.append(record)
    return out


def flow(recs: list[dict], eni: str, src: str, dst: str, sport, dport, action: str
         ) -> dict | None:
    """The records of one flow seen by one ENI, summed over windows (None: no record)."""
    found = [r for r in recs if r["interface-id"] == eni and r["srcaddr"] == src
             and r["dstaddr"] == dst and r["srcport"] == str(sport)
             and r["dstport"] == str(dport) and r["action"] == action]
    if not found:
        return None
    return {"records": found, "packets": sum(int(r["packets"]) for r in found),
            "bytes": sum(int(r["bytes"]) for r in found)}


def wait_for(logs, group: str, done, timeout: float = 20.0) -> list[dict]:
    """Records of a group as soon as `done(records)` holds (records come a window or two
    after the traffic); an AssertionError with the records seen when not within `timeout`."""
    recs: list[dict] = []

    def check() -> bool:
        recs[:] = records(logs, group)
        return bool(done(recs))

    until(check, timeout, lambda: f"the records awaited in {group}; it has {len(recs)}: {recs}",
          interval=0.1)
    return recs


def collector_pass(server) -> None:
    """Wait for a whole pass of the server's flow log collector (read, then deliver) begun
    after this call: the second read from now on is its (the first may be a pass's already
    under way)."""
    reads = fabric_status(server)["flow_logs"]["reads"]
    until(lambda: fabric_status(server)["flow_logs"]["reads"] >= reads + 2, 20,
          lambda: f"two reads of the flow log collector: {fabric_status(server)}")


def test_records_count_the_kernels_packets_and_follow_the_traffic_type(server, started):
    v = Vpc(server, "10.10.0.0/16")
    a, b = v.subnet("10.10.1.0/24"), v.subnet("10.10.2.0/24")
    client_sg = v.sg("client")
    db_sg = v.sg("db", tcp_port(client_sg))
    (client, client_ip), (db, db_ip) = v.eni(a, client_sg), v.eni(b, db_sg)
    ids = [v.flow_log(v.id, traffic, f"/vpc/{traffic.lower()}")
           for traffic in ("ALL", "ACCEPT", "REJECT")]
    for port in ("5432", "6000"):
        assert v.run(started, db, SINK, port).line() == "ready"
    sender = v.run(started, client, CLIENT)

    size = 300_000
    status, allowed = sender.send(f"{db_ip} 5432 {size}").split()
    assert status == "ok"
    status, refused = sender.send(f"{db_ip} 6000 10").split()  # the db's group refuses it
    assert status == "fail"

    logs = server.client("logs")
    want = [(client, client_ip, db_ip, allowed, 5432, "ACCEPT"),  # the client's egress
            (client, db_ip, client_ip, 5432, allowed, "ACCEPT"),  # ... and ingress
            (db, client_ip, db_ip, allowed, 5432, "ACCEPT"),
            (db, db_ip, client_ip, 5432, allowed, "ACCEPT"),
            (client, client_ip, db_ip, refused, 6000, "ACCEPT"),  # the client's side let it go
            (db, client_ip, db_ip, refused, 6000, "REJECT")]  # the db's side refused it
    recs = wait_for(logs, "/vpc/all", lambda rs: all(flow(rs, *w) for w in want))
    # the transfer, as the sender's ENI and the receiver's saw it: at least its bytes (plus
    # headers), in more than one packet
    for eni in (client, db):
        sent = flow(recs, eni, client_ip, db_ip, allowed, 5432, "ACCEPT")
        assert size < sent["bytes"] < size * 1.1 and sent["packets"] > 1, sent
    assert flow(recs, client, db_ip, client_ip, 5432, allowed, "ACCEPT")["packets"] >= 2
    assert flow(recs, db, client_ip, db_ip, refused, 6000, "REJECT")["bytes"] >= 60
    # nothing else: no ingress on the client for what its side refused, no REJECT elsewhere
    assert not flow(recs, client, client_ip, db_ip, refused, 6000, "REJECT")
    assert {r["action"] for r in recs if r["interface-id"] == client} == {"ACCEPT"}
    for r in recs:  # the version-2 fields
        assert (r["version"], r["account-id"], r["protocol"], r["log-status"]) == (
            "2", "000000000000", "6", "OK")
        assert r["stream"] == f"{r['interface-id']}-all"
        start, end = int(r["start"]), int(r["end"])
        assert end - start == 1 and r["timestamp"] == start * 1000
        assert abs(start - time.time()) < 120
    assert {r["stream"] for r in recs} == {f"{client}-all", f"{db}-all"}

    # ACCEPT and REJECT flow logs: the same counts, split by action
    accepted = wait_for(logs, "/vpc/accept", lambda rs: all(
        flow(rs, *w) for w in want if w[-1] == "ACCEPT"))
    assert {r["action"] for r in accepted} == {"ACCEPT"}
    assert flow(accepted, db, client_ip, db_ip, allowed, 5432, "ACCEPT")["bytes"] > size
    rejected = wait_for(logs, "/vpc/reject", lambda rs: flow(rs, *want[-1]))
    assert {(r["interface-id"], r["action"]) for r in rejected} == {(db, "REJECT")}

    # the delivery made the groups, as AWS's does
    groups = {g["logGroupName"] for g in logs.describe_log_groups(
        logGroupNamePrefix="/vpc/")["logGroups"]}
    assert groups == {"/vpc/all", "/vpc/accept", "/vpc/reject"}
    shown = v.ec2.describe_flow_logs(FlowLogIds=ids)["FlowLogs"]
    assert {f["DeliverLogsStatus"] for f in shown} == {"SUCCESS"}


def test_a_reply_dropped_by_a_nacl_is_rejected_while_the_request_is_accepted(server, started):
    v = Vpc(server, "10.20.0.0/16")
    a, b = v.subnet("10.20.1.0/24"), v.subnet("10.20.2.0/24")
    client_sg = v.sg("client")
    db_sg = v.sg("db", tcp_port(client_sg))
    (client, client_ip), (db, db_ip) = v.eni(a, client_sg), v.eni(b, db_sg)
    # the db's subnet: everything in, but out only to the well-known ports (no replies)
    acl = v.ec2.create_network_acl(VpcId=v.id)["NetworkAcl"]["NetworkAclId"]
    v.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1",
                                   RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    v.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6",
                                   RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0",
                                   PortRange={"From": 0, "To": 1023})
    association = next(
        x["NetworkAclAssociationId"] for x in v.ec2.describe_network_acls(Filters=[
            {"Name": "association.subnet-id", "Values": [b]}])["NetworkAcls"][0]["Associations"]
        if x["SubnetId"] == b)
    v.ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
    v.flow_log(v.id, "ALL", "/vpc/nacl")
    assert v.run(started, db, SINK, "5432").line() == "ready"
    status, port = v.run(started, client, CLIENT).send(f"{db_ip} 5432 10").split()
    assert status == "fail"  # the SYN arrives, its SYN-ACK never comes back

    logs = server.client("logs")
    request = (client_ip, db_ip, port, 5432)
    reply = (db_ip, client_ip, 5432, port)
    recs = wait_for(logs, "/vpc/nacl", lambda rs: flow(rs, client, *request, "ACCEPT")
                    and flow(rs, db, *request, "ACCEPT") and flow(rs, db, *reply, "REJECT"))
    assert flow(recs, db, *reply, "REJECT")["packets"] >= 1
    assert not flow(recs, db, *reply, "ACCEPT")
    assert not flow(recs, client, *reply, "ACCEPT") and not flow(recs, client, *reply, "REJECT")


def test_a_subnet_flow_log_covers_its_enis_and_an_eni_flow_log_one(server, started):
    v = Vpc(server, "10.30.0.0/16")
    a, b = v.subnet("10.30.1.0/24"), v.subnet("10.30.2.0/24")
    client_sg = v.sg("client")
    db_sg = v.sg("db", tcp_port(client_sg))
    clients = [v.eni(a, client_sg) for _ in range(2)]
    db, db_ip = v.eni(b, db_sg)
    by_subnet = v.flow_log(a, "ALL", "/subnet/a")
    v.flow_log(db, "ALL", "/eni/db")
    assert v.run(started, db, SINK, "5432").line() == "ready"
    ports = []
    for eni, _ip in clients:
        status, port = v.run(started, eni, CLIENT).send(f"{db_ip} 5432 1000").split()
        assert status == "ok"
        ports.append(port)

    logs = server.client("logs")
    subnet = wait_for(logs, "/subnet/a", lambda rs: all(
        flow(rs, eni, ip, db_ip, port, 5432, "ACCEPT")
        for (eni, ip), port in zip(clients, ports, strict=True)))
    assert {r["stream"] for r in subnet} == {f"{eni}-all" for eni, _ip in clients}
    one = wait_for(logs, "/eni/db", lambda rs: all(
        flow(rs, db, ip, db_ip, port, 5432, "ACCEPT")
        for (_eni, ip), port in zip(clients, ports, strict=True)))
    assert {r["stream"] for r in one} == {f"{db}-all"}

    # without its flow log, the subnet's traffic is no longer delivered
    v.ec2.delete_flow_logs(FlowLogIds=[by_subnet])
    collector_pass(server)  # a delivery begun before the delete has landed
    before = len(records(logs, "/subnet/a"))
    eni, ip = clients[0]
    status, port = v.run(started, eni, CLIENT).send(f"{db_ip} 5432 1000").split()
    assert status == "ok"
    wait_for(logs, "/eni/db", lambda rs: flow(rs, db, ip, db_ip, port, 5432, "ACCEPT"))
    collector_pass(server)  # the pass that delivered it is over: the subnet's window too
    assert len(records(logs, "/subnet/a")) == before


# one ICMP echo request to argv[1] (raw socket: the test runs as root)
PING = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
s.sendto(bytes([8, 0, 0xf7, 0xfe, 0, 1, 0, 0]), (sys.argv[1], 0))
try:
    print("reply" if s.recv(64) else "none", flush=True)
except OSError:
    print("none", flush=True)
"""


def test_a_custom_format_and_a_protocol_without_ports(server, started):
    v = Vpc(server, "10.40.0.0/16")
    subnet = v.subnet("10.40.1.0/24")
    pinger_sg = v.sg("pinger")
    icmp = [{"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
             "UserIdGroupPairs": [{"GroupId": pinger_sg}]}]
    pinger, pinger_ip = v.eni(subnet, pinger_sg)
    _target, target_ip = v.eni(subnet, v.sg("target", icmp))
    _other, other_ip = v.eni(subnet, v.sg("other"))  # lets no ICMP in
    fmt = ("${version} ${vpc-id} ${subnet-id} ${interface-id} ${flow-direction} ${srcaddr} "
           "${dstaddr} ${srcport} ${dstport} ${protocol} ${type} ${az-id} ${action}")
    v.ec2.create_flow_logs(ResourceIds=[pinger], ResourceType="NetworkInterface",
                           TrafficType="ALL", LogGroupName="/custom", LogFormat=fmt,
                           DeliverLogsPermissionArn=ROLE)
    assert v.run(started, pinger, PING, target_ip).line() == "reply"
    assert v.run(started, pinger, PING, other_ip).line() == "none"

    logs = server.client("logs")
    az = v.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailabilityZoneId"]
    base = f"5 {v.id} {subnet} {pinger}"
    want = {f"{base} egress {pinger_ip} {target_ip} 0 0 1 IPv4 {az} ACCEPT",
            f"{base} ingress {target_ip} {pinger_ip} 0 0 1 IPv4 {az} ACCEPT",
            f"{base} egress {pinger_ip} {other_ip} 0 0 1 IPv4 {az} ACCEPT"}
    got: set[str] = set()

    def delivered() -> bool:
        nonlocal got
        got = messages(logs, "/custom")
        return want <= got

    until(delivered, 20, lambda: f"records {sorted(want - got)} in /custom; it has {sorted(got)}",
          interval=0.1)
    assert got == want  # the other ENI's refusal is on its side: not this ENI's


def messages(logs, group: str) -> set[str]:
    try:
        return {e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]}
    except logs.exceptions.ResourceNotFoundException:
        return set()
