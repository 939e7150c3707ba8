"""The guide's exercise (examples/lambda-vpc-rds: steps 1-7, then step 8) against a fresh fabric
server, wall time split into the `aws` CLI's own cost, the guide's `sleep 10`, and the rest,
which is vpclocal's (goal <= 5 s). Then, on the same server: create-db-instance -> available
(goal <= 3 s) and invocations/s of the exercise's function, reusing its connection vs. opening
a new one each time. AWS: over ten minutes, mostly RDS creation. Needs root (the fabric).

The `aws` start-up cost is measured in the same run: the same number of `aws` processes, each
one cheap call to the server (`aws ec2 describe-vpcs`), timed one after the other.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import BIN, ROOT, Server

EXAMPLE = ROOT / "examples" / "lambda-vpc-rds"
COUNTING_AWS = f"""#!/bin/sh
echo "$1" >> "$AWS_COUNT_FILE"
exec {BIN / "aws"} "$@"
"""
# one cheap call per service: what an `aws` start-up costs for that service's commands
CHEAP = {"ec2": ["describe-vpcs", "--max-items", "1"], "rds": ["describe-db-subnet-groups"],
         "iam": ["list-roles"], "lambda": ["list-functions"]}
PIP = f"""#!/bin/sh
cp -r {Path(pymysql.__file__).parent} "$4/"
"""
REUSE = """
import os, pymysql
conn = None

def lambda_handler(event, context):
    global conn
    if conn is None or not conn.open:
        conn = pymysql.connect(host=os.environ["DB_HOST"], user="admin",
                               password=os.environ["DB_PASSWORD"], connect_timeout=5)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchone()[0]
"""


def shims(directory: Path) -> None:
    for name, text in (("aws", COUNTING_AWS), ("pip", PIP)):
        (directory / name).write_text(text)
        (directory / name).chmod(0o755)


def timed_script(script: str, env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["bash", str(EXAMPLE / script)], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed:\n{proc.stdout}\n{proc.stderr}")
    return took


def aws_startups(env: dict, services: list[str]) -> float:
    """The same `aws` start-ups as the walkthrough's (one per command, by service), each one
    cheap call to the server."""
    start = time.perf_counter()
    for service in services:
        subprocess.run([str(BIN / "aws"), service, *CHEAP[service]], env=env,
                       capture_output=True, check=True)
    return time.perf_counter() - start


def create_to_available(server: Server, subnets: list[str], rounds: int = 3) -> list[float]:
    rds = server.client("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="bench", DBSubnetGroupDescription="b",
                               SubnetIds=subnets)
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        rds.create_db_instance(DBInstanceIdentifier=f"bench-{i}", DBInstanceClass="db.t3.micro",
                               Engine="mysql", MasterUsername="admin",
                               MasterUserPassword="MyPassword123!", AllocatedStorage=20,
                               DBSubnetGroupName="bench")
        while rds.describe_db_instances(DBInstanceIdentifier=f"bench-{i}")["DBInstances"][0][
                "DBInstanceStatus"] != "available":
            time.sleep(0.02)
        times.append(time.perf_counter() - start)
    return times


def per_second(lam, name: str, seconds: float = 3.0) -> float:
    lam.invoke(FunctionName=name)  # warm
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        out = lam.invoke(FunctionName=name)
        assert "FunctionError" not in out, out["Payload"].read()
        count += 1
    return count / (time.perf_counter() - start)


def invoke_rates(server: Server, work: Path) -> tuple[float, float]:
    """The exercise's own function (a new connection per invoke) vs. one that keeps it."""
    lam = server.client("lambda")
    config = lam.get_function_configuration(FunctionName="VPCRDSFunction")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", REUSE)
        package = Path(pymysql.__file__).parent
        for path in package.rglob("*.py"):
            archive.write(path, f"pymysql/{path.relative_to(package)}")
    lam.create_function(FunctionName="Reuse", Runtime="python3.9", Role=config["Role"],
                        Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": buffer.getvalue()}, Timeout=30,
                        VpcConfig={"SubnetIds": config["VpcConfig"]["SubnetIds"],
                                   "SecurityGroupIds": config["VpcConfig"]["SecurityGroupIds"]},
                        Environment=config["Environment"])
    lam.get_waiter("function_active_v2").wait(FunctionName="Reuse",
                                              WaiterConfig={"Delay": 0.1})
    rates = per_second(lam, "VPCRDSFunction"), per_second(lam, "Reuse")
    lam.delete_function(FunctionName="Reuse")
    return rates


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("needs root: the fabric runs functions in their ENI's namespace")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        os.environ["VPCLOCAL_FABRIC"] = "1"
        server = Server(tmp / "data").start()
        try:
            (tmp / "shims").mkdir()
            shims(tmp / "shims")
            env = server.env()
            env.pop("AWS_CONFIG_FILE")
            env.update(PATH=f"{tmp / 'shims'}:{env['PATH']}", WORK=str(tmp / "work"),
                       AWS_COUNT_FILE=str(tmp / "count"))
            steps = timed_script("walkthrough.sh", env, tmp)
            answer = json.loads((tmp / "work" / "response.json").read_text())
            assert answer["statusCode"] == 200, answer
            reuse_new, reuse_kept = invoke_rates(server, tmp / "work")
            cleanup = timed_script("cleanup.sh", env, tmp)
            services = (tmp / "count").read_text().split()
            count = len(services)
            cli = aws_startups({**env, "AWS_CONFIG_FILE": str(EXAMPLE / "aws-config"),
                                "PYTHONPATH": str(ROOT / "src")}, services)
            wall = steps + cleanup
            sleep = 10.0
            print(f"walkthrough steps 1-7: {steps:.1f} s, step 8: {cleanup:.1f} s, "
                  f"total {wall:.1f} s (AWS: over ten minutes)")
            print(f"  aws CLI start-ups: {count} x {cli / count:.2f} s = {cli:.1f} s")
            print(f"  the guide's sleep 10: {sleep:.1f} s")
            print(f"  vpclocal's remainder: {wall - cli - sleep:.1f} s (goal <= 5 s)")

            ec2 = server.client("ec2")
            vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
            subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24",
                                         AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
                       for i, z in ((1, "a"), (2, "b"))]
            times = create_to_available(server, subnets)
            print(f"create-db-instance -> available: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}; goal <= 3 s)")
            print(f"invocations/s, the exercise's function (new connection each time): "
                  f"{reuse_new:.0f}; keeping its connection: {reuse_kept:.0f} "
                  f"({reuse_kept / reuse_new:.1f}x)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
