"""The guide's section 8 stack (examples/lambda-vpc-rds-cfn/template.yaml, 20 resources:
VPC, subnets, route tables, security groups, RDS MySQL, role, function in the VPC) through
CloudFormation against a fresh vpclocal server (with the fabric when this machine can run it):

- CreateStack -> CREATE_COMPLETE, as the client sees it (polled every 20 ms) and as vpclocal
  records it (stack CreationTime to the last event); goal <= 3 s (AWS: over 10 minutes),
  with the slowest resources;
- DeleteStack -> DELETE_COMPLETE;
- `aws cloudformation deploy` (the change set path) wall time, with the CLI's own start-up
  (`aws --version`) and the stack's own time in vpclocal measured apart: the rest is the CLI
  waiting (awscli's deployer polls the stack with Delay 30 s, so a stack done in 2 s is seen
  done 30 s after it started, against vpclocal as against AWS).
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import BIN, Server

TEMPLATE = ROOT / "examples" / "lambda-vpc-rds-cfn" / "template.yaml"
ROUNDS = 3


def package() -> bytes:
    """The function's zip: lambda_function.py and pymysql (this venv's copy)."""
    import pymysql

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(ROOT / "examples" / "lambda-vpc-rds" / "lambda_function.py",
                      "lambda_function.py")
        base = Path(pymysql.__file__).parent
        for path in base.rglob("*.py"):
            archive.write(path, f"pymysql/{path.relative_to(base)}")
    return buffer.getvalue()


def ts(value) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def wait_status(cfn, name: str, done: str) -> float:
    start = time.perf_counter()
    while True:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        status = stacks[0]["StackStatus"]
        if status == done:
            return time.perf_counter() - start
        if not status.endswith("_IN_PROGRESS"):
            events = cfn.describe_stack_events(StackName=name)["StackEvents"]
            failed = [(e["LogicalResourceId"], e.get("ResourceStatusReason"))
                      for e in events if e["ResourceStatus"].endswith("FAILED")]
            raise SystemExit(f"{name}: {status} {failed}")
        time.sleep(0.02)


def slowest(cfn, name: str, n: int = 4) -> str:
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for event in reversed(cfn.describe_stack_events(StackName=name)["StackEvents"]):
        logical = event["LogicalResourceId"]
        if logical == name:
            continue
        if event["ResourceStatus"] == "CREATE_IN_PROGRESS":
            started.setdefault(logical, ts(event["Timestamp"]))
        elif event["ResourceStatus"] == "CREATE_COMPLETE":
            took[logical] = ts(event["Timestamp"]) - started[logical]
    top = sorted(took.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v:.2f}" for k, v in top)


def on_a_server(run) -> None:
    """run(server, a scratch directory, whether the fabric is on) against a server of its
    own: with the fabric when this is root (the real network), else without."""
    fabric = os.geteuid() == 0
    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1" if fabric else "0"}):
        server = Server(Path(tmp) / "data").start()
        try:
            run(server, Path(tmp), fabric)
        finally:
            server.stop()


def main() -> None:
    on_a_server(run)


def run(server: Server, tmp: Path, fabric: bool) -> None:
    s3, cfn = server.client("s3"), server.client("cloudformation")
    s3.create_bucket(Bucket="bench-artifacts")
    s3.put_object(Bucket="bench-artifacts", Key="function.zip", Body=package())
    body = TEMPLATE.read_text().replace(
        "Code: ./build", "Code: {S3Bucket: bench-artifacts, S3Key: function.zip}")
    print(f"guide's section 8 stack: {body.count('Type: AWS::')} resources; "
          f"fabric {'on' if fabric else 'off'}")

    client_times, server_times, delete_times = [], [], []
    for i in range(ROUNDS):
        name = f"bench-{i}"
        start = time.perf_counter()
        cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
        wait_status(cfn, name, "CREATE_COMPLETE")
        client_times.append(time.perf_counter() - start)
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        last = max(ts(e["Timestamp"]) for e in
                   cfn.describe_stack_events(StackName=name)["StackEvents"])
        server_times.append(last - ts(stack["CreationTime"]))
        print(f"  round {i}: CreateStack -> CREATE_COMPLETE {client_times[-1]:.2f} s "
              f"(vpclocal {server_times[-1]:.2f} s); slowest: {slowest(cfn, name)}")
        start = time.perf_counter()
        cfn.delete_stack(StackName=name)
        wait_status(cfn, stack["StackId"], "DELETE_COMPLETE")
        delete_times.append(time.perf_counter() - start)
    print(f"CreateStack -> CREATE_COMPLETE: median {statistics.median(client_times):.2f} s "
          f"(vpclocal's own record {statistics.median(server_times):.2f} s; "
          f"n={ROUNDS}; goal <= 3 s)")
    print(f"DeleteStack -> DELETE_COMPLETE: median {statistics.median(delete_times):.2f} s",
          flush=True)

    env = server.env()
    version = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        subprocess.run([str(BIN / "aws"), "--version"], env=env, check=True,
                       capture_output=True)
        version.append(time.perf_counter() - start)
    packaged = tmp / "packaged.yaml"
    packaged.write_text(body)
    deploys, inside = [], []
    for i in range(ROUNDS):
        start = time.perf_counter()
        proc = subprocess.run([str(BIN / "aws"), "cloudformation", "deploy",
                               "--template-file", str(packaged), "--stack-name", f"deploy-{i}",
                               "--capabilities", "CAPABILITY_IAM"], env=env, check=False,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"aws cloudformation deploy failed: {proc.stdout}{proc.stderr}")
        deploys.append(time.perf_counter() - start)
        stack = cfn.describe_stacks(StackName=f"deploy-{i}")["Stacks"][0]
        events = cfn.describe_stack_events(StackName=f"deploy-{i}")["StackEvents"]
        inside.append(max(ts(e["Timestamp"]) for e in events) - ts(stack["CreationTime"]))
        cfn.delete_stack(StackName=f"deploy-{i}")
        cfn.get_waiter("stack_delete_complete").wait(StackName=f"deploy-{i}",
                                                     WaiterConfig={"Delay": 1})
    cli = statistics.median(version)
    print(f"aws cloudformation deploy: median {statistics.median(deploys):.2f} s wall; "
          f"the CLI's start-up (aws --version) {cli:.2f} s; the stack's own time in vpclocal "
          f"(change set to CREATE_COMPLETE) {statistics.median(inside):.2f} s; the rest is the "
          f"CLI's waiters (stack_create_complete with Delay 30 s after its first poll)")


if __name__ == "__main__":
    main()
