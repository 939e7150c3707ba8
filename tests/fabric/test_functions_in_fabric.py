"""Functions in the fabric: a `vpclocal up --fabric` server runs a VPC function's environment in
its Hyperplane ENI's network namespace, where security group changes made through the API are
in force for new connections (how soon: bench/fabric_api_latency.py), and a restart rebuilds it
all from the store.

The "db" listener is started by this test (root) with nsenter in the db ENI's namespace, whose
path the server reports at /_vpclocal/fabric. Traffic flows only between namespaces of the
fabric: a function without VpcConfig runs in the Lambda service network (its reach is
test_internet_in_fabric.py's).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import pytest

from tests.conftest import Server
from tests.fabric.conftest import assert_host_back_to, host_state, needs_fabric, until
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

PORT = 5432
HANDLER = """
import os, socket

def handler(event, context):
    if event.get("op") == "where":
        return {"netns": os.readlink("/proc/self/ns/net")}
    if event.get("op") == "sts":
        import boto3
        return {"account": boto3.client("sts").get_caller_identity()["Account"]}
    s = socket.socket()
    s.settimeout(event.get("timeout", 0.5))
    try:
        s.connect((event["host"], event["port"]))
        return {"seen": s.recv(64).decode(), "local": s.getsockname()[0],
                "netns": os.readlink("/proc/self/ns/net")}
    finally:
        s.close()
"""
# accepts, answers with the peer address it sees, closes
LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(peer[0].encode())
    c.close()
"""
# one connect attempt per line on stdin: prints "ok" or "fail"; argv[3]: the seconds an
# attempt waits for its SYN's answer (a dropped SYN: "fail" then)
PROBE = """
import socket, sys
host, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
for _ in sys.stdin:
    s = socket.socket()
    s.settimeout(wait)
    try:
        s.connect((host, port))
        s.settimeout(1)
        s.recv(64)
        print("ok", flush=True)
    except OSError:
        print("fail", flush=True)
    finally:
        s.close()
"""


def fabric_status(server: Server) -> dict:
    import urllib.request

    with urllib.request.urlopen(server.endpoint + "/_vpclocal/fabric", timeout=5) as r:
        return json.load(r)


def applied(server: Server, timeout: float = 30.0) -> None:
    """Wait until the kernel reflects every change made so far."""
    deadline = time.monotonic() + timeout
    while (status := fabric_status(server))["applied"] < status["seq"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.01)


def start_server(data_dir) -> Server:
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(data_dir).start()
    assert fabric_status(server)["running"], server.log.read_text()
    assert "vpclocal: fabric on:" in server.log.read_text()
    return server


def netns_of(server: Server, eni: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        enis = fabric_status(server).get("enis", {})
        if eni in enis:
            return enis[eni]["netns"]
        assert time.monotonic() < deadline, f"{eni} not in the fabric"
        time.sleep(0.02)


class InNamespace:
    """A process of this test in a namespace of the fabric (stopped by PID)."""

    def __init__(self, netns: str, code: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={netns}", sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def line(self) -> str:
        return self.proc.stdout.readline().strip()

    def send(self, text: str) -> str:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.line()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def invoke(lam, name: str, event: dict) -> tuple[dict, str | None, str]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    return (json.loads(out["Payload"].read()), out.get("FunctionError"),
            base64.b64decode(out["LogResult"]).decode())


def comes_to(server: Server, probe: InNamespace, want: str) -> None:
    """New connections from the probe's namespace come to answer `want` (a deadline: a
    liveness bound), and go on answering it once the fabric has applied every change."""
    until(lambda: probe.send("go") == want, 30, f"a probe connection that answers {want!r}")
    applied(server)
    assert [probe.send("go") for _ in range(3)] == [want] * 3


def test_functions_run_in_their_enis_and_follow_the_rules(tmp_path):
    before = host_state()
    server = start_server(tmp_path / "data")
    started: list[InNamespace] = []
    try:
        ec2, lam, iam = server.client("ec2"), server.client("lambda"), server.client("iam")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)
                   ["Subnet"]["SubnetId"]
                   for c, z in (("10.0.10.0/24", "us-east-1a"), ("10.0.20.0/24", "us-east-1b"))]
        fn_sg, db_sg = (ec2.create_security_group(VpcId=vpc, GroupName=unique(n), Description=n)
                        ["GroupId"] for n in ("fn", "db"))
        rule = [{"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
                 "UserIdGroupPairs": [{"GroupId": fn_sg}]}]
        ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=rule)
        db = ec2.create_network_interface(SubnetId=subnets[1], Groups=[db_sg],
                                          Description="db")["NetworkInterface"]
        db_ip = db["PrivateIpAddress"]
        role = make_role(iam, BASIC, VPC_ACCESS)
        name = unique("vpcfn")
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped(HANDLER)},
                            Timeout=5, VpcConfig={"SubnetIds": subnets,
                                                  "SecurityGroupIds": [fn_sg]})
        assert wait_state(lam, name)["State"] == "Active"
        fn_enis = ec2.describe_network_interfaces(Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "interface-type", "Values": ["lambda"]}])["NetworkInterfaces"]
        fn_ips = {e["PrivateIpAddress"] for e in fn_enis}
        assert len(fn_ips) == 2

        listener = InNamespace(netns_of(server, db["NetworkInterfaceId"]), LISTENER, str(PORT))
        started.append(listener)
        assert listener.line() == "ready"

        # allowed: the listener sees the function's Hyperplane ENI address
        event = {"host": db_ip, "port": PORT}
        for _ in range(2):
            payload, error, logs = invoke(lam, name, event)
            assert error is None, (payload, logs)
            assert payload["seen"] == payload["local"] and payload["seen"] in fn_ips
            assert "unisolated" not in logs
        assert payload["netns"] != os.readlink("/proc/self/ns/net")

        # a probe in one of the function's namespaces: new connections follow the change
        probe = InNamespace(netns_of(server, fn_enis[0]["NetworkInterfaceId"]), PROBE,
                            db_ip, str(PORT), "0.5")
        started.append(probe)
        assert probe.send("go") == "ok"

        ec2.revoke_security_group_ingress(GroupId=db_sg, IpPermissions=rule)
        comes_to(server, probe, "fail")
        payload, error, _ = invoke(lam, name, event)
        assert error == "Unhandled"
        assert payload["errorType"] == "TimeoutError" and payload["errorMessage"] == "timed out"

        ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=rule)
        comes_to(server, probe, "ok")
        payload, error, _ = invoke(lam, name, event)
        assert error is None and payload["seen"] in fn_ips

        # a function without VpcConfig runs in the Lambda service network
        plain = unique("plain")
        lam.create_function(FunctionName=plain, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped(HANDLER)})
        assert wait_state(lam, plain)["State"] == "Active"
        payload, error, logs = invoke(lam, plain, {"op": "where"})
        lambda_service = fabric_status(server)["lambda_service"]["netns"]
        assert error is None and payload["netns"] == os.readlink(lambda_service)
        assert "unisolated" not in logs
        for proc in started[1:]:
            proc.stop()

        # SIGKILL: the sandbox goes with the server; a restart builds it from the store
        server.stop(signal.SIGKILL)
        server = start_server(tmp_path / "data")
        listener = InNamespace(netns_of(server, db["NetworkInterfaceId"]), LISTENER, str(PORT))
        started.append(listener)
        assert listener.line() == "ready"
        payload, error, logs = invoke(lam := server.client("lambda"), name, event)
        assert error is None and payload["seen"] in fn_ips, (payload, logs)
    finally:
        server.stop()
        for proc in started:
            proc.stop()
    assert_host_back_to(before)
