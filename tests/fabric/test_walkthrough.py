"""The guide's exercise end to end (examples/lambda-vpc-rds/): steps 1-7 verbatim with the real
`aws` CLI against a fresh fabric server print the expected answer from the real database; the
ways section 6 says it breaks break it here too; step 8 (cleanup.sh) leaves nothing behind,
even run twice.

Only two programs are stood in for: `pip install pymysql -t .` copies the package from this
venv (no network), and `sleep 10` is real.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pymysql
import pytest

from tests.conftest import BIN, ROOT
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import start_server

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

EXAMPLE = ROOT / "examples" / "lambda-vpc-rds"
PIP = f"""#!/bin/sh
# the test's stand-in for the guide's `pip install pymysql -t .`: this venv's copy, offline
[ "$1 $2 $3" = "install pymysql -t" ] || {{ echo "unexpected: pip $*" >&2; exit 1; }}
cp -r {Path(pymysql.__file__).parent} "$4/"
"""


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def run(script: str, env: dict, cwd: Path, timeout: float = 300) -> str:
    proc = subprocess.run(["bash", str(EXAMPLE / script)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def invoke(server, env, cwd: Path) -> tuple[dict, float, str]:
    """Step 7's invoke (with the log tail): the response, seconds taken, the log."""
    started = time.monotonic()
    out = subprocess.run([str(BIN / "aws"), "lambda", "invoke", "--function-name",
                          "VPCRDSFunction", "--payload", "{}", "--log-type", "Tail",
                          "--query", "LogResult", "--output", "text", "response.json"],
                         env=env, cwd=cwd, check=True, capture_output=True, text=True,
                         timeout=120)
    log = base64.b64decode(out.stdout).decode()
    return json.loads((cwd / "response.json").read_text()), time.monotonic() - started, log


def test_guide_exercise(server, tmp_path):
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "pip").write_text(PIP)
    (shims / "pip").chmod(0o755)
    env = server.env()
    env.pop("AWS_CONFIG_FILE")  # the example's own: region + the plugin that keeps `aws rds` here
    env["PATH"] = f"{shims}:{BIN}:{env['PATH']}"
    work = tmp_path / "work"
    env["WORK"] = str(work)

    out = run("walkthrough.sh", env, tmp_path)
    answer = json.loads((work / "response.json").read_text())
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body["message"] == "Successfully connected to RDS!"
    assert "MariaDB" in body["mysql_version"]
    host = body["db_host"]
    assert host.startswith("my-test-db.") and host.endswith(".us-east-1.rds.amazonaws.com")
    assert f"RDS Endpoint: {host}" in out
    assert '"statusCode": 200' in out  # step 7's `cat response.json`

    ids = dict(part.split("=") for part in (work / "ids.sh").read_text().split())
    ec2 = server.client("ec2")

    # section 6, issue 2: the RDS security group no longer lets the function in
    server.aws("ec2", "revoke-security-group-ingress", "--group-id", ids["RDS_SG"],
               "--protocol", "tcp", "--port", "3306", "--source-group", ids["LAMBDA_SG"])
    answer, took, log = invoke(server, env, work)
    assert answer["statusCode"] == 500, answer
    error = json.loads(answer["body"])["error"]
    assert error.startswith("(2003,") and "timed out" in error, error
    assert took >= 5  # the handler's connect_timeout: the SYN was dropped, nothing refused it
    hint = next(line for line in log.splitlines() if line.startswith("vpclocal: connection"))
    assert f"ENI_SG_RULES_MISMATCH {ids['RDS_SG']}" in hint, hint
    assert (f"Fix: aws ec2 authorize-security-group-ingress --group-id {ids['RDS_SG']}"
            in hint), hint
    server.aws("ec2", "authorize-security-group-ingress", "--group-id", ids["RDS_SG"],
               "--protocol", "tcp", "--port", "3306", "--source-group", ids["LAMBDA_SG"])
    assert invoke(server, env, work)[0]["statusCode"] == 200

    # section 6: the function taken out of the VPC no longer reaches the database
    server.aws("lambda", "update-function-configuration", "--function-name", "VPCRDSFunction",
               "--vpc-config", "SubnetIds=[],SecurityGroupIds=[]")
    server.aws("lambda", "wait", "function-updated-v2", "--function-name", "VPCRDSFunction")
    answer, _took, _log = invoke(server, env, work)
    assert answer["statusCode"] == 500, answer
    assert json.loads(answer["body"])["error"].startswith("(2003,"), answer

    # the README's "break it" step leaves the rule revoked: cleanup.sh copes, and runs twice
    server.aws("ec2", "revoke-security-group-ingress", "--group-id", ids["RDS_SG"],
               "--protocol", "tcp", "--port", "3306", "--source-group", ids["LAMBDA_SG"])
    run("cleanup.sh", env, tmp_path)
    assert "already gone" in run("cleanup.sh", env, tmp_path)
    assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [
        v["VpcId"] for v in ec2.describe_vpcs(
            Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]]
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [ids["VPC_ID"]]}])["NetworkInterfaces"] == []
    assert server.client("rds").describe_db_instances()["DBInstances"] == []
    assert server.client("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert server.client("lambda").list_functions()["Functions"] == []
    assert server.client("iam").list_roles()["Roles"] == []
    assert not work.exists()
