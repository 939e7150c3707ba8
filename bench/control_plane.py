"""Control-plane speed: vpclocal against moto's server, same machine, same run, same client.

Goal (issue 2): vpclocal at least 3x faster than moto on every measurement.
Run: make bench   (or .venv/bin/python bench/control_plane.py after installing
requirements-bench.txt)
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))
from common import BIN, free_port, median_ms, start_vpclocal, stop, timed, wait_http

SUBNETS = 1000


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/moto-api/")
    return proc, url


def measure(url: str) -> dict[str, float]:
    ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=Config(retries={"max_attempts": 0}))
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    blocks = list(ipaddress.IPv4Network("10.0.0.0/16").subnets(new_prefix=28))[:SUBNETS]
    it = iter(blocks)
    create = timed(lambda: ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(next(it))), SUBNETS)
    flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
    count = len(ec2.describe_subnets(Filters=flt)["Subnets"])
    assert count == SUBNETS, count
    describe_subnets = timed(lambda: ec2.describe_subnets(Filters=flt), 20)
    describe_vpcs = timed(ec2.describe_vpcs, 200)
    group_id = ec2.create_security_group(GroupName="bench", Description="bench",
                                         VpcId=vpc_id)["GroupId"]
    describe_sg = timed(lambda: ec2.describe_security_groups(GroupIds=[group_id]), 200)
    return {
        "create-subnet (per call)": median_ms(create),
        f"describe-subnets ({SUBNETS} subnets)": median_ms(describe_subnets),
        "describe-vpcs": median_ms(describe_vpcs),
        "describe-security-groups by id": median_ms(describe_sg),
    }


def main() -> None:
    results = {}
    for name, starter in (("vpclocal", start_vpclocal), ("moto", start_moto)):
        proc, url = starter()
        try:
            results[name] = measure(url)
        finally:
            stop(proc)
    print(f"{'operation (median, boto3 included)':42} {'vpclocal':>10} {'moto':>10} {'moto/vpclocal':>14}")
    worst = None
    for op, ours in results["vpclocal"].items():
        theirs = results["moto"][op]
        ratio = theirs / ours
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{op:42} {ours:8.2f}ms {theirs:8.2f}ms {ratio:13.1f}x")
    print(f"lowest ratio {worst:.1f}x (goal >= 3x): {'MET' if worst >= 3 else 'NOT MET'}")


if __name__ == "__main__":
    main()
