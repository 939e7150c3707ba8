"""`vpclocal doctor` against a server of its own: the findings as text and JSON, the exit
status by --fail-on, the region, and /_vpclocal/doctor refused to code in the fabric."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import BIN, free_port, served, unique
from vpclocal import admin
from vpclocal.fabric.relay import FROM_FABRIC
from vpclocal.protocols import HttpRequest


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    yield from served(tmp_path_factory, "doctor-cli")


def doctor(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vpclocal"), "doctor", *args], env=server.env(),
                          capture_output=True, text=True, timeout=60, check=False)


def test_exit_status_follows_fail_on(own):
    ec2 = own.client("ec2")
    clean = doctor(own)
    assert (clean.returncode, clean.stdout) == (0, "no findings in us-east-1\n")
    assert json.loads(doctor(own, "--json").stdout) == {"region": "us-east-1", "findings": []}

    # an info finding (a VPC with an interface and no flow log): fails only --fail-on info
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet)
    assert [doctor(own, "--fail-on", level).returncode
            for level in ("info", "warning", "error")] == [1, 0, 0]

    # an error (a database port open to the world): fails every level, the default too
    db = ec2.create_security_group(VpcId=vpc, GroupName=unique("db"),
                                   Description="db")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db, IpProtocol="tcp", FromPort=3306,
                                         ToPort=3306, CidrIp="0.0.0.0/0")
    text = doctor(own)
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert lines[0] == (f"ERROR   database-port-open-to-world: security group {db} lets "
                        "anyone (0.0.0.0/0) in on database port 3306 (MySQL)")
    assert lines[1].startswith("  why: Reference security groups by ID")
    assert lines[2] == f"  resources: {db}, {vpc}"
    assert f"    aws ec2 revoke-security-group-ingress --group-id {db} --protocol tcp --port " \
           "3306 --cidr 0.0.0.0/0" in lines
    assert lines[-1] == "1 error, 0 warnings, 1 info in us-east-1"
    assert [doctor(own, "--fail-on", level).returncode
            for level in ("info", "warning", "error")] == [1, 1, 1]
    found = json.loads(doctor(own, "--json").stdout)["findings"]
    assert [f["severity"] for f in found] == ["error", "info"]  # most severe first

    # another region has its own state: nothing there
    other = doctor(own, "--region", "eu-west-1", "--fail-on", "info")
    assert (other.returncode, other.stdout) == (0, "no findings in eu-west-1\n")


def test_no_server_is_an_error(own):
    env = own.env() | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    failed = subprocess.run([str(BIN / "vpclocal"), "doctor"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert failed.returncode == 2
    assert failed.stderr.startswith("vpclocal doctor: cannot reach the server")


def test_refused_to_code_in_the_fabric():
    port = 40000 + free_port() % 20000
    FROM_FABRIC[port] = None  # a connection a relay opened from inside the fabric
    try:
        answer = admin.handle(None, HttpRequest("GET", "/_vpclocal/doctor", {}, {}, b"",
                                                client=("127.0.0.1", port)))
    finally:
        del FROM_FABRIC[port]
    assert answer.status == 403
