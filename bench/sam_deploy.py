"""`sam deploy` of examples/sam-vpc-app (VPC, NAT gateway, S3 gateway endpoint, RDS MySQL, a
function in the VPC: SAM's transform server-side) against a fresh vpclocal server (with the
fabric when this machine can run it), with aws-sam-cli from .venv-sam (`make setup`):

- the CLI's own start-up (`sam deploy --help`: the deploy command loaded), apart;
- the first `sam deploy`, which also creates SAM's managed stack aws-sam-cli-managed-default
  through a change set (aws-sam-cli waits on it with a fixed Delay of 15 s after its first
  poll);
- later deploys of new stacks, with SAM_CLI_POLL_DELAY=0.2 and with the CLI's default (5 s):
  wall time against the stack's own time in vpclocal (change set execution to the last event);
  the rest is the CLI (start-up, packaging, upload, polling).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.cloudformation_stack import on_a_server, slowest
from tests.cloudformation.test_sam_cli import SAM, sam
from tests.cloudformation.test_sam_vpc_app import EXAMPLE, pymysql_wheel
from tests.conftest import Server

ROUNDS = 3


def ts(value) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def inside(cfn, name: str) -> float:
    """The stack's own time in vpclocal: its first event after the change set's execution
    (CREATE_IN_PROGRESS, User Initiated) to its last."""
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    start = min(ts(e["Timestamp"]) for e in events if e["LogicalResourceId"] == name)
    return max(ts(e["Timestamp"]) for e in events) - start


def main() -> None:
    if not SAM.exists():
        sys.exit("aws-sam-cli is not installed: make setup installs it into .venv-sam")
    on_a_server(run)


def run(server: Server, tmp: Path, fabric: bool) -> None:
    import shutil

    work = tmp / "app"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns(".aws-sam"))
    wheels = tmp / "wheels"
    wheels.mkdir()
    pymysql_wheel(wheels)
    sam(server, work, "build", env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    cfn = server.client("cloudformation")
    print(f"examples/sam-vpc-app; fabric {'on' if fabric else 'off'}")

    version = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        subprocess.run([str(SAM), "deploy", "--help"], check=True, capture_output=True,
                       env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
        version.append(time.perf_counter() - start)
    print(f"the CLI's start-up (sam deploy --help): median {statistics.median(version):.2f} s")

    start = time.perf_counter()
    sam(server, work, "deploy", "--stack-name", "first")
    first = time.perf_counter() - start
    print(f"first sam deploy (with the managed stack): {first:.2f} s wall; vpclocal's own "
          f"time: managed stack {inside(cfn, 'aws-sam-cli-managed-default'):.2f} s, "
          f"app stack {inside(cfn, 'first'):.2f} s; slowest: {slowest(cfn, 'first')}")

    def rounds(label: str, env: dict) -> None:
        walls, own = [], []
        for i in range(ROUNDS):
            name = f"{label}-{i}"
            start = time.perf_counter()
            sam(server, work, "deploy", "--stack-name", name, env=env)
            walls.append(time.perf_counter() - start)
            own.append(inside(cfn, name))
            cfn.delete_stack(StackName=name)
            cfn.get_waiter("stack_delete_complete").wait(StackName=name,
                                                         WaiterConfig={"Delay": 1})
        print(f"sam deploy ({label}): median {statistics.median(walls):.2f} s wall; the "
              f"stack's own time in vpclocal {statistics.median(own):.2f} s (n={ROUNDS})",
              flush=True)

    rounds("poll-0-2s", {})
    rounds("poll-5s-default", {"SAM_CLI_POLL_DELAY": "5"})


if __name__ == "__main__":
    main()
