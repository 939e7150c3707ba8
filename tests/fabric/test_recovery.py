"""The fabric recovers when its sandbox dies: SIGKILL to the agent (what an OOM killer does)
takes every namespace with it; the server notices, builds a new sandbox from the store, retires
the environments placed in the dead namespaces, and the next invocations run in the new one:
a VPC function reaches a listener in another ENI's namespace and the guide's RDS MariaDB by its
endpoint hostname (the VPC resolver answers again), security groups are still enforced, the
VPC's flow log still counts, and nothing is left on the host.

The agent is a process this test's server started (its PID is reported at /_vpclocal/fabric);
the listener is this test's own, started with nsenter in the db ENI's namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
from pathlib import Path
from unittest import mock

import pytest

from tests.fabric.conftest import assert_host_back_to, host_state, needs_fabric, until
from tests.fabric.test_flow_logs import ROLE, wait_for
from tests.fabric.test_functions_in_fabric import (
    LISTENER,
    InNamespace,
    applied,
    fabric_status,
    netns_of,
    start_server,
)
from tests.fabric.test_published import with_pymysql
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

PORT = 5432
HOST = os.readlink("/proc/self/ns/net")
LIBC = ctypes.CDLL(None, use_errno=True)
PIDFD_GETFD, SIOCGSKNS = 438, 0x894C  # the syscall's number on every architecture
PASSWORD = "MyPassword123!"
HANDLER = """
import os, socket
import pymysql

def handler(event, context):
    netns = os.readlink("/proc/self/ns/net")
    if "resolve" in event:
        return {"address": socket.gethostbyname(event["resolve"]), "netns": netns}
    if "db" in event:
        conn = pymysql.connect(host=event["db"], user="admin", password=event["password"],
                               database="mysql", connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
        conn.close()
        return {"version": version, "netns": netns}
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((event["host"], event["port"]))
        return {"seen": s.recv(64).decode(), "netns": netns}
    finally:
        s.close()
"""


def invoke(lam, name: str, event: dict) -> tuple[dict, str | None]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(out["Payload"].read()), out.get("FunctionError")


def socket_namespaces(pid: int) -> set[str]:
    """The network namespaces ("net:[inode]") of a process's sockets: each is copied here
    (pidfd_getfd, as root) and asked which namespace it lives in (SIOCGSKNS)."""
    pidfd = os.pidfd_open(pid)
    out = set()
    try:
        for entry in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{entry}").startswith("socket:"):
                    continue
            except OSError:
                continue  # closed meanwhile
            fd = LIBC.syscall(PIDFD_GETFD, pidfd, int(entry), 0)
            if fd < 0:
                continue
            try:
                ns = fcntl.ioctl(fd, SIOCGSKNS)
                out.add(os.readlink(f"/proc/self/fd/{ns}"))
                os.close(ns)
            finally:
                os.close(fd)
    finally:
        os.close(pidfd)
    return out


def holders(netns: str) -> list[int]:
    """PIDs of the host's processes in a network namespace ("net:[inode]")."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == netns:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_the_fabric_is_rebuilt_after_its_agent_is_killed(tmp_path):
    before = host_state()
    with mock.patch.dict(os.environ, {"VPCLOCAL_FLOW_LOG_INTERVAL": "1"}):
        server = start_server(tmp_path / "data")
    started: list[InNamespace] = []
    try:
        ec2, lam, rds, logs = (server.client(s) for s in ("ec2", "lambda", "rds", "logs"))
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        assert ec2.create_flow_logs(
            ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
            LogDestinationType="cloud-watch-logs", LogGroupName="flows",
            DeliverLogsPermissionArn=ROLE, MaxAggregationInterval=60)["Unsuccessful"] == []
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)
                   ["Subnet"]["SubnetId"]
                   for c, z in (("10.0.10.0/24", "us-east-1a"), ("10.0.20.0/24", "us-east-1b"))]
        fn_sg, db_sg = (ec2.create_security_group(VpcId=vpc, GroupName=unique(n), Description=n)
                        ["GroupId"] for n in ("fn", "db"))
        rules = {port: [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                         "UserIdGroupPairs": [{"GroupId": fn_sg}]}] for port in (PORT, 3306)}
        for rule in rules.values():
            ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=rule)
        db = ec2.create_network_interface(SubnetId=subnets[1], Groups=[db_sg],
                                          Description="db")["NetworkInterface"]
        rds.create_db_subnet_group(DBSubnetGroupName="dbs", DBSubnetGroupDescription="d",
                                   SubnetIds=subnets)
        rds.create_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro",
                               Engine="mysql", MasterUsername="admin",
                               MasterUserPassword=PASSWORD, AllocatedStorage=20,
                               DBSubnetGroupName="dbs", VpcSecurityGroupIds=[db_sg])
        name = unique("vpcfn")
        lam.create_function(FunctionName=name, Runtime="python3.11",
                            Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                            Handler="index.handler", Code={"ZipFile": with_pymysql(HANDLER)},
                            Timeout=10, VpcConfig={"SubnetIds": subnets,
                                                   "SecurityGroupIds": [fn_sg]})
        rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="db",
                                                     WaiterConfig={"Delay": 1})
        assert wait_state(lam, name)["State"] == "Active"
        endpoint = rds.describe_db_instances(DBInstanceIdentifier="db")[
            "DBInstances"][0]["Endpoint"]["Address"]
        rds_ip = next(e["PrivateIpAddress"] for e in ec2.describe_network_interfaces(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
            if "RDS" in e["Description"])
        fn_enis = {e["NetworkInterfaceId"]: e["PrivateIpAddress"]
                   for e in ec2.describe_network_interfaces(Filters=[
                       {"Name": "vpc-id", "Values": [vpc]},
                       {"Name": "interface-type", "Values": ["lambda"]}])["NetworkInterfaces"]}
        connect = {"host": db["PrivateIpAddress"], "port": PORT}
        query = {"db": endpoint, "password": PASSWORD}

        def listen() -> None:
            listener = InNamespace(netns_of(server, db["NetworkInterfaceId"]), LISTENER,
                                   str(PORT))
            started.append(listener)
            assert listener.line() == "ready"

        listen()
        payload, error = invoke(lam, name, connect)
        assert error is None, payload
        old_netns = payload["netns"]
        payload, error = invoke(lam, name, query)
        assert error is None and "MariaDB" in payload["version"], payload
        status = fabric_status(server)
        assert status["restarts"] == 0 and status["agent_pid"]

        in_fabric = socket_namespaces(server.proc.pid) - {HOST}
        assert in_fabric  # resolvers, the RDS endpoint, relays, the internet's hosts

        def recover(pid: int) -> tuple[dict, dict]:
            """Kill a process of the sandbox; invoke until an invoke succeeds from a new
            namespace (the dead sandbox's can carry one more: the server's own sockets and
            the environments hold them), within a deadline (a liveness bound: the rebuild's
            time is the server's last_restart_ms). The RDS case needs nothing of this test's,
            so it must come back by itself."""
            os.kill(pid, signal.SIGKILL)
            tries: list[tuple[dict, str | None]] = []

            def invoked_anew() -> dict | None:
                payload, error = invoke(lam, name, query)
                tries.append((payload, error))
                return payload if error is None and payload["netns"] != old_netns else None

            payload = until(invoked_anew, 30, lambda: (
                f"an invoke that succeeds from a new namespace after pid {pid}'s SIGKILL "
                f"({len(tries)} tried, the last: {tries[-1] if tries else None}); "
                f"fabric: {fabric_status(server)}"))
            assert "MariaDB" in payload["version"], payload
            status = fabric_status(server)
            print(f"\npid {pid} killed -> an invoke from a new namespace after {len(tries)} "
                  f"attempt(s); {status}")
            assert status["running"] and not status["lost"], status
            assert status["agent_pid"] not in (None, pid), status
            # placed anew: in one of the function's ENI namespaces of the new sandbox
            assert payload["netns"] in {os.readlink(netns_of(server, e)) for e in fn_enis}
            return payload, status

        # the OOM killer's way: SIGKILL to the agent, PID 1 of the sandbox
        payload, status = recover(status["agent_pid"])
        assert status["restarts"] == 1, status
        assert "the sandbox's agent" in status["last_restart"], status

        # the VPC resolver answers in the new sandbox
        payload, error = invoke(lam, name, {"resolve": endpoint})
        assert (error, payload["address"]) == (None, rds_ip), payload

        # the listener's namespace is a new one too: this test's listener starts again there
        started.pop().stop()
        listen()
        payload, error = invoke(lam, name, connect)
        assert error is None and payload["seen"] in fn_enis.values(), payload

        # security groups are still enforced: a revoked rule blocks (a timeout), the other
        # one still opens
        ec2.revoke_security_group_ingress(GroupId=db_sg, IpPermissions=rules[PORT])
        applied(server)
        payload, error = invoke(lam, name, connect)
        assert error == "Unhandled" and payload["errorType"] == "TimeoutError", payload
        # ... and the VPC's flow log counts it in the new router (nothing was rejected before)
        wait_for(logs, "flows", lambda recs: any(
            r["interface-id"] == db["NetworkInterfaceId"] and r["dstport"] == str(PORT)
            and r["action"] == "REJECT" and r["srcaddr"] in fn_enis.values() for r in recs))
        payload, error = invoke(lam, name, query)
        assert error is None and "MariaDB" in payload["version"], payload

        # nothing holds the dead namespaces: the environments placed there were retired,
        # and the server closed every socket it had there
        until(lambda: not holders(old_netns) and not socket_namespaces(server.proc.pid) & in_fabric,
              30, lambda: (f"the dead namespaces let go: processes still in {old_netns}: "
                           f"{holders(old_netns)}; the server's sockets still there: "
                           f"{socket_namespaces(server.proc.pid) & in_fabric}"), interval=0.1)

        # the unshare parent's death takes the agent along (--kill-child): noticed alike
        old_netns = payload["netns"]
        payload, status = recover(status["sandbox_pid"])
        assert status["restarts"] == 2, status
        assert "killed by SIGKILL" in status["last_restart"], status
    finally:
        server.stop()
        for proc in started:
            proc.stop()
    assert_host_back_to(before)
