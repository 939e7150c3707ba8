"""Closed when in doubt: function code never runs in the server's network namespace.

- A statement the kernel refuses (forced here: the `rewrite` NAT form, unprobed, on a kernel
  that refuses header rewriting in a user namespace) fails the apply the same way each time:
  the fabric says `failed` with the kernel's words, health says `degraded`, a VPC function's
  invoke fails with ResourceNotReadyException (and its log says why); once the cause is gone
  (the Elastic IP whose 1:1 NAT needed the rewrite), the fabric applies and invokes work.
- Without the fabric (--no-fabric), and where it cannot run, each environment has a network
  namespace of its own that reaches the vpclocal endpoint and nothing else, or does not run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import HANDLER, applied, fabric_status, invoke
from tests.lambda_.conftest import BASIC, VPC_ACCESS, deployed

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

HOST_NET = os.readlink("/proc/self/ns/net")
# the kernel's answer, asked without vpclocal (the reproduction in issue #10)
REWRITE = """table ip t {
  map m { type ipv4_addr : ipv4_addr; elements = { 192.0.2.1 : 192.0.2.2 } }
  chain c { type filter hook prerouting priority -300; policy accept;
    ip daddr set ip daddr map @m; }
}
"""


def kernel_refuses_rewrite() -> bool:
    proc = subprocess.run(["unshare", "-Urn", "nft", "-f", "-"], input=REWRITE, text=True,
                          capture_output=True, check=False)
    return proc.returncode != 0


def health(server: Server) -> dict:
    with urllib.request.urlopen(server.endpoint + "/_vpclocal/health", timeout=5) as r:
        return json.load(r)


def function_processes(server: Server) -> dict[int, str]:
    """The server's child processes that run function code: PID -> their network namespace."""
    out = {}
    for task in os.listdir(f"/proc/{server.proc.pid}/task"):
        with open(f"/proc/{server.proc.pid}/task/{task}/children") as f:
            children = [int(p) for p in f.read().split()]
        for pid in children:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if b"AWS_LAMBDA_FUNCTION_NAME=" not in f.read():
                        continue
                out[pid] = os.readlink(f"/proc/{pid}/ns/net")
            except OSError:
                continue  # gone meanwhile
    return out


def wait_for(check, timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def make_functions(server: Server, subnet: str, sg: str) -> tuple[str, str]:
    """A function in the VPC and one without VpcConfig."""
    return (deployed(server, HANDLER, "invpc", (BASIC, VPC_ACCESS),
                     VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [sg]}),
            deployed(server, HANDLER, "public"))


def vpc_with_subnet(server: Server) -> tuple[str, str, str]:
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    return vpc, subnet, sg


@pytest.mark.skipif(not kernel_refuses_rewrite(),
                    reason="this kernel allows header rewriting: no refused statement to force")
def test_a_refused_statement_fails_closed_and_recovers_when_its_cause_goes(tmp_path):
    env = {"VPCLOCAL_FABRIC": "1", "VPCLOCAL_FABRIC_NAT": "rewrite",
           "VPCLOCAL_FABRIC_PROBE": "0", "VPCLOCAL_FABRIC_SANDBOX": "userns"}
    with mock.patch.dict(os.environ, env):
        server = Server(tmp_path / "data").start()
    try:
        ec2, lam = server.client("ec2"), server.client("lambda")
        vpc, subnet, sg = vpc_with_subnet(server)
        in_vpc, public = make_functions(server, subnet, sg)
        # no public address yet: nothing to rewrite, the fabric applies
        applied(server)
        assert fabric_status(server)["variant"]["nat"] == "rewrite"
        payload, error, _ = invoke(lam, in_vpc, {"op": "where"})
        assert error is None and payload["netns"] != HOST_NET

        # an Elastic IP behind an internet gateway: its 1:1 NAT needs `ip daddr set`
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[sg])
        eni_id = eni["NetworkInterface"]["NetworkInterfaceId"]
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        association = ec2.associate_address(AllocationId=eip, NetworkInterfaceId=eni_id)
        status = wait_for(lambda: (s := fabric_status(server))["state"] == "failed" and s,
                          what="the fabric to count as failed")
        assert "Operation not permitted" in status["failed"], status
        assert "ip daddr set" in status["failed"], status
        assert status["failures"] >= 3, status
        state = health(server)
        assert state["status"] == "degraded" and state["fabric"]["state"] == "failed", state
        assert "Operation not permitted" in state["fabric"]["error"]
        assert "fabric FAILED" in server.log.read_text()

        # the VPC function does not run: a 502 that says why, and a line in its log
        with pytest.raises(ClientError) as caught:
            lam.invoke(FunctionName=in_vpc, Payload=json.dumps({"op": "where"}))
        err = caught.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert err["Error"]["Code"] == "ResourceNotReadyException"
        assert "not in force" in err["Error"]["Message"]
        assert "Operation not permitted" in err["Error"]["Message"]
        logs = server.client("logs")
        wait_for(lambda: any("not in force" in e["message"] for e in logs.filter_log_events(
            logGroupName=f"/aws/lambda/{in_vpc}")["events"]), what="the function's log line")
        # a function without VpcConfig still runs, in the Lambda service network
        payload, error, _ = invoke(lam, public, {"op": "where"})
        assert error is None and payload["netns"] != HOST_NET
        running = function_processes(server)
        assert running and HOST_NET not in running.values(), running

        # the cause goes: the fabric applies again, and so does the function
        ec2.disassociate_address(AssociationId=association["AssociationId"])
        wait_for(lambda: fabric_status(server)["state"] == "applied",
                 what="the fabric to apply again")
        assert health(server)["status"] == "running"
        payload, error, _ = invoke(lam, in_vpc, {"op": "where"})
        assert error is None and payload["netns"] != HOST_NET
        running = function_processes(server)
        assert running and HOST_NET not in running.values(), running
    finally:
        server.stop()


def test_without_the_fabric_each_function_has_a_namespace_of_its_own(tmp_path):
    """--no-fabric: no VPC, but still no host network: a function reaches the vpclocal
    endpoint (its AWS_ENDPOINT_URL) and nothing else, not even the host's loopback."""
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "0"}):
        server = Server(tmp_path / "data").start()
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(8)
    try:
        assert "fabric off" in server.log.read_text()
        assert fabric_status(server)["state"] == "off"
        _vpc, subnet, sg = vpc_with_subnet(server)
        in_vpc, public = make_functions(server, subnet, sg)
        lam = server.client("lambda")
        spaces = set()
        for name in (in_vpc, public):
            payload, error, logs = invoke(lam, name, {"op": "where"})
            assert error is None and payload["netns"] != HOST_NET
            spaces.add(payload["netns"])
            payload, error, _ = invoke(lam, name, {"op": "sts"})
            assert error is None and payload["account"] == "000000000000"
            payload, error, _ = invoke(lam, name, {"host": "127.0.0.1",
                                                   "port": host.getsockname()[1]})
            assert error is not None and "refused" in payload["errorMessage"].lower(), payload
        assert len(spaces) == 2  # one each: functions do not share a network
        _, _, logs = invoke(lam, in_vpc, {"op": "where"})
        assert "the fabric is off" in logs
        running = function_processes(server)
        assert running and HOST_NET not in running.values(), running
    finally:
        host.close()
        server.stop()


def test_where_the_fabric_cannot_run_functions_do_not_run(tmp_path):
    """--fabric where it cannot run (nft out of PATH): the server serves and says so; invokes
    fail with ResourceNotReadyException, and no function process starts at all."""
    path = ":".join(p for p in os.environ["PATH"].split(":") if "sbin" not in p)
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1", "PATH": path}):
        server = Server(tmp_path / "data").start()
    try:
        status = fabric_status(server)
        assert not status["running"] and "nft" in status["reason"]
        assert status["state"] == "unavailable"
        assert "fabric unavailable" in server.log.read_text()
        assert health(server)["status"] == "degraded"
        _vpc, subnet, sg = vpc_with_subnet(server)
        in_vpc, public = make_functions(server, subnet, sg)
        lam = server.client("lambda")
        for name in (in_vpc, public):
            with pytest.raises(ClientError) as caught:
                lam.invoke(FunctionName=name, Payload=b"{}")
            err = caught.value.response
            assert err["ResponseMetadata"]["HTTPStatusCode"] == 502
            assert err["Error"]["Code"] == "ResourceNotReadyException"
            assert "nft" in err["Error"]["Message"]
        assert function_processes(server) == {}
    finally:
        server.stop()


ADMIN = """
import json, os, urllib.error, urllib.request

def handler(event, context):
    out = {}
    for method, path, body in event["calls"]:
        request = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + path, method=method,
                                         data=json.dumps(body).encode() if body else None)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                out[method + " " + path] = r.status
        except urllib.error.HTTPError as exc:
            out[method + " " + path] = exc.code
    return out
"""


def test_function_code_cannot_use_vpclocals_own_endpoints(tmp_path):
    """Through its endpoint relay a function keeps the AWS APIs but not vpclocal's controls:
    the fabric's namespaces and PIDs, the simulated internet's hosts (health stays)."""
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "0"}):
        server = Server(tmp_path / "data").start()
    try:
        lam = server.client("lambda")
        name = deployed(server, ADMIN, "admin")
        calls = [["GET", "/_vpclocal/health", None], ["GET", "/_vpclocal/fabric", None],
                 ["POST", "/_vpclocal/internet", {"name": "evil.example.com"}],
                 ["DELETE", "/_vpclocal/internet?name=x", None],
                 ["POST", "/_vpclocal/reach", {"source": "a", "destination": "b"}]]
        payload, error, _ = invoke(lam, name, {"calls": calls})
        assert error is None, payload
        assert payload == {"GET /_vpclocal/health": 200, "GET /_vpclocal/fabric": 403,
                           "POST /_vpclocal/internet": 403,
                           "DELETE /_vpclocal/internet?name=x": 403,
                           "POST /_vpclocal/reach": 403}, payload
        # the same endpoints still answer the server's own user
        assert fabric_status(server)["state"] == "off"
        with urllib.request.urlopen(server.endpoint + "/_vpclocal/internet", timeout=5) as r:
            assert "evil.example.com" not in r.read().decode()
    finally:
        server.stop()
