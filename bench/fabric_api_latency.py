"""A security group change made through the API, until it is in force for new connections in
the fabric (issue 5's goal for one rule change: <= 100 ms).

A `vpclocal up --fabric` server (root: the probe and the listener enter ENI namespaces with
nsenter, at the paths /_vpclocal/fabric reports); a listener in a database ENI's namespace, a
probe in a client ENI's namespace in another subnet making one connection attempt at a time
(a dropped SYN: "fail" after --wait, the measurement's resolution). Each round revokes the
database group's rule for the client group, then authorizes it again: the time from the API
call until the first attempt that meets the changed rule started, and the API call's own
time. The server's own figure (fabric service: commit -> kernel) is printed alongside.

Run (root): .venv/bin/python bench/fabric_api_latency.py [--rounds 20] [--wait 0.01]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import start_fabric_vpclocal, stop

from tests.fabric.test_functions_in_fabric import LISTENER, PROBE, InNamespace

PORT = 5432


def fabric_status(url: str) -> dict:
    with urllib.request.urlopen(url + "/_vpclocal/fabric", timeout=5) as r:
        return json.load(r)


def netns_of(url: str, eni: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while (enis := fabric_status(url).get("enis", {})).get(eni) is None:
        if time.monotonic() > deadline:
            sys.exit(f"{eni} never appeared in the fabric")
        time.sleep(0.02)
    return enis[eni]["netns"]


def in_force(probe: InNamespace, want: str, change, timeout: float = 10) -> tuple[float, float]:
    """Seconds from the API call until the first probe attempt answering `want` started, and
    the API call's own seconds."""
    t0 = time.perf_counter()
    change()
    api = time.perf_counter() - t0
    while True:
        started = time.perf_counter()
        if probe.send("go") == want:
            return started - t0, api
        if started - t0 > timeout:
            sys.exit(f"not {want!r} within {timeout} s of the change")


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (f"median {statistics.median(ms):7.1f} ms   p90 {ms[int(len(ms) * 0.9)]:7.1f} ms   "
            f"max {ms[-1]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--wait", type=float, default=0.01,
                        help="seconds a probe attempt waits for its SYN's answer")
    args = parser.parse_args()
    proc, url = start_fabric_vpclocal()
    started: list[InNamespace] = []
    try:
        ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        client_subnet, db_subnet = (ec2.create_subnet(VpcId=vpc, CidrBlock=c)["Subnet"]
                                    ["SubnetId"] for c in ("10.0.1.0/24", "10.0.2.0/24"))
        client_sg, db_sg = (ec2.create_security_group(VpcId=vpc, GroupName=n, Description=n)
                            ["GroupId"] for n in ("client", "db"))
        rule = [{"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
                 "UserIdGroupPairs": [{"GroupId": client_sg}]}]
        ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=rule)
        db = ec2.create_network_interface(SubnetId=db_subnet, Groups=[db_sg])["NetworkInterface"]
        client = ec2.create_network_interface(SubnetId=client_subnet,
                                              Groups=[client_sg])["NetworkInterface"]
        listener = InNamespace(netns_of(url, db["NetworkInterfaceId"]), LISTENER, str(PORT))
        started.append(listener)
        assert listener.line() == "ready"
        probe = InNamespace(netns_of(url, client["NetworkInterfaceId"]), PROBE,
                            db["PrivateIpAddress"], str(PORT), str(args.wait))
        started.append(probe)
        deadline = time.monotonic() + 30
        while probe.send("go") != "ok":  # the fabric has the ENIs and the rule
            if time.monotonic() > deadline:
                sys.exit("the probe never connected before the first change")

        revoke, authorize, api = [], [], []
        for _ in range(args.rounds):
            took, call = in_force(probe, "fail", lambda: ec2.revoke_security_group_ingress(
                GroupId=db_sg, IpPermissions=rule))
            revoke.append(took)
            api.append(call)
            took, call = in_force(probe, "ok", lambda: ec2.authorize_security_group_ingress(
                GroupId=db_sg, IpPermissions=rule))
            authorize.append(took)
            api.append(call)
        status = fabric_status(url)
    finally:
        for p in started:
            p.stop()
        stop(proc)
    print(f"security group rule change through the API -> in force for new connections "
          f"({args.rounds} rounds, probe resolution {args.wait * 1000:g} ms; "
          f"fabric variant {(status.get('variant') or {}).get('name')})")
    print(f"  revoke     {summary(revoke)}   goal <= 100 ms")
    print(f"  authorize  {summary(authorize)}   goal <= 100 ms")
    print(f"  the API call alone       {summary(api)}")
    print(f"  server: last apply {status['last_apply_ms']:.1f} ms, commit -> kernel last "
          f"{status['last_latency_ms']:.1f} ms, max {status['max_latency_ms']:.1f} ms")


if __name__ == "__main__":
    main()
