"""Function code against other functions in the same network namespace (the Lambda service
network here; a Hyperplane ENI's is alike): it cannot take another environment's events from
its Runtime API, whose listener only that environment's user may reach, nor read its
environment (its role's credentials)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import Server
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import invoke
from tests.lambda_.conftest import deployed

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

HOSTILE = """
import os, re, socket

def handler(event, context):
    out = {"api": os.environ["AWS_LAMBDA_RUNTIME_API"],
           "env": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
           "netns": os.readlink("/proc/self/ns/net")}
    victim = event.get("victim")
    if victim:
        host, port = victim["api"].split(":")
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            out["hijack"] = s.recv(200).decode(errors="replace") or "closed"
        except OSError as exc:
            out["hijack"] = type(exc).__name__
        finally:
            s.close()
    # every process it can see, and any role credentials but its own it can read there
    own = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    out["visible"], out["stolen"] = [], []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        out["visible"].append(pid)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                found = re.search(rb"AWS_SECRET_ACCESS_KEY=([^\\0]*)", f.read())
        except OSError:
            continue
        if found and found.group(1) != own:
            out["stolen"].append(pid)
    return out
"""


def test_a_function_cannot_reach_anothers_runtime_api(tmp_path):
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(tmp_path / "data").start()
    try:
        lam = server.client("lambda")
        victim, attacker = deployed(server, HOSTILE, "victim"), deployed(server, HOSTILE, "attacker")
        seen, error, _ = invoke(lam, victim, {})
        assert error is None, seen
        got, error, _ = invoke(lam, attacker, {"victim": seen})
        assert error is None, got
        assert got["netns"] == seen["netns"]  # the same namespace: only the guard stands between
        assert got["hijack"] == "ConnectionRefusedError", got
        # its own PID namespace: its jail's init and its runtime, no other credentials
        assert got["stolen"] == [] and len(got["visible"]) <= 3, got
        # the victim's environment still gets its own events
        again, error, _ = invoke(lam, victim, {})
        assert error is None and again["env"] == seen["env"], again
    finally:
        server.stop()


def test_links_planted_at_a_run_directory_are_not_followed(tmp_path):
    """A database's run directory sits in the shared temp dir at a predictable path: function
    code (here: a directory of another uid with a link to a root-only file) gets there first.
    The server removes what is not its own and writes its password file anew, never through
    the link."""
    from vpclocal.engines.base import socket_dir

    data = tmp_path / "data"
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    victim.chmod(0o600)
    planted = socket_dir(data / "rds" / "us-east-1" / "pgdb")
    planted.mkdir(mode=0o777)
    os.chown(planted, 200_123, 200_123)
    (planted / "pw").symlink_to(victim)
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "0"}):
        server = Server(data).start()
    try:
        ec2, rds = server.client("ec2"), server.client("rds")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                     AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
                   for i, z in ((1, "a"), (2, "b"))]
        rds.create_db_subnet_group(DBSubnetGroupName="g", DBSubnetGroupDescription="g",
                                   SubnetIds=subnets)
        rds.create_db_instance(DBInstanceIdentifier="pgdb", DBInstanceClass="db.t3.micro",
                               Engine="postgres", MasterUsername="master",
                               MasterUserPassword="password123", AllocatedStorage=20,
                               DBSubnetGroupName="g")
        rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="pgdb",
                                                     WaiterConfig={"Delay": 1})
        st = os.lstat(victim)
        assert victim.read_text() == "secret\n" and st.st_uid == 0 and st.st_mode & 0o777 == 0o600
        st = os.lstat(planted)
        assert not os.path.islink(planted) and st.st_uid != 200_123 and st.st_mode & 0o077 == 0
    finally:
        server.stop()


READER = """
import os

def handler(event, context):
    out = {}
    for path in event["paths"]:
        try:
            open(path, "rb").read(1)
            out[path] = "read"
        except OSError as exc:
            out[path] = exc.errno
    return out
"""


def test_function_code_cannot_read_the_servers_data():
    """S3 object bodies and deployment packages in the data directory are the server's own
    (0600 / 0700), though the directory's ancestors let database users pass."""
    # a data directory others may pass (as /work/... or a home directory often is), outside
    # the shared /tmp (a function's own /tmp hides all of that)
    scratch = Path(__file__).resolve().parents[2] / ".vpclocal"
    scratch.mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="vpclocal-test-", dir=scratch))
    base.chmod(0o755)
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "0"}):
        server = Server(base / "data").start()
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="private")
        s3.put_object(Bucket="private", Key="secret.txt", Body=b"secret")
        lam = server.client("lambda")
        name = deployed(server, READER, "reader")
        files = [str(p) for p in server.data_dir.rglob("*")
                 if p.is_file() and ("s3" in p.parts or "code" in p.parts)]
        assert any("s3" in f for f in files) and any(f.endswith(".zip") for f in files), files
        got, error, _ = invoke(lam, name, {"paths": files + [str(server.data_dir / "state.db")]})
        assert error is None, got
        assert set(got.values()) == {13}, got  # EACCES, every one
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
