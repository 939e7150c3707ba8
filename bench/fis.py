"""FIS aws:network:disrupt-connectivity: how long after the experiment's state changes the
disruption is in force in the kernel, and gone again (issue 15's goal: <= 100 ms).

A `vpclocal up --fabric` server (root: the probe and the listener enter ENI namespaces with
nsenter, at the paths /_vpclocal/fabric reports); a listener in an ENI of subnet b
(us-east-1b), a probe in an ENI of subnet a (us-east-1a) that tries a TCP connect every
couple of milliseconds (a dropped SYN: a failure after --wait, the resolution) and reports,
with its wall-clock time, every attempt whose outcome differs from the previous one. Each
round starts an experiment disrupting subnet a (scope `all`, or `availability-zone`: the
listener is in the other AZ), waits until it is running, then ends it: a StopExperiment
(stopped) or, every other round, vpclocal's clock moved past its duration (completed).

Figures, from the server's own timestamps (experiment startTime / endTime, action
startTime / endTime: the server's wall clock, the probe's) and the API calls:
  in force after the experiment went running: first failing attempt - experiment startTime
  gone after it went completed / stopped:     first succeeding attempt - experiment endTime
The action reports running (and completed) only once the kernel reflects the change, so
those figures may be negative; they are printed too, with the API call -> kernel times.

Run (root): .venv/bin/python bench/fis.py [--rounds 10] [--wait 0.005]
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import start_fabric_vpclocal, stop
from fabric_api_latency import fabric_status, netns_of

from tests.fabric.test_functions_in_fabric import InNamespace

PORT = 5432
# connects in a loop; prints "<time.time() at the attempt's start> ok|fail" whenever the
# outcome changes (RST on close: no TIME_WAIT piles up)
STREAM = """
import socket, struct, sys, time
host, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
last = None
while True:
    t = time.time()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(wait)
    try:
        s.connect((host, port))
        now = "ok"
    except OSError:
        now = "fail"
    finally:
        s.close()
    if now != last:
        print(f"{t:.6f} {now}", flush=True)
        last = now
    time.sleep(0.002)
"""


# accepts and closes (the probe resets its connections: nothing to send)
LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(512)
print("ready", flush=True)
while True:
    c, _peer = s.accept()
    c.close()
"""


class Stream:
    """The probe's transitions, read on a thread."""

    def __init__(self, netns: str, host: str, wait: float) -> None:
        self.proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c",
                                      STREAM, host, str(PORT), str(wait)],
                                     stdout=subprocess.PIPE, text=True)
        self.events: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            t, what = line.split()
            self.events.put((float(t), what))

    def next(self, want: str, after: float, timeout: float = 10) -> float:
        """The start time of the first attempt answering `want` that started after `after`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                t, what = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                sys.exit(f"the probe never answered {want!r}")
            if what == want and t > after:
                return t

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def post(url: str, path: str, body: dict) -> None:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def experiment(fis, eid: str, until, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        exp = fis.get_experiment(id=eid)["experiment"]
        if until(exp):
            return exp
        if time.monotonic() > deadline:
            sys.exit(f"{eid}: {exp['state']}")
        time.sleep(0.005)


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"median {statistics.median(ms):7.1f} ms   max {ms[-1]:7.1f} ms"


def rounds(url: str, fis, stream: Stream, tid: str, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in (
        "on", "on_action", "on_call", "off", "off_action", "off_call")}
    for i in range(n):
        t_call = time.time()
        eid = fis.start_experiment(experimentTemplateId=tid)["experiment"]["id"]
        exp = experiment(fis, eid, lambda e: e["actions"]["cut"]["state"]["status"] == "running")
        t_force = stream.next("fail", t_call)
        out["on"].append(t_force - exp["startTime"].timestamp())
        out["on_action"].append(t_force - exp["actions"]["cut"]["startTime"].timestamp())
        out["on_call"].append(t_force - t_call)
        t_call = time.time()
        if i % 2:
            fis.stop_experiment(id=eid)
        else:
            post(url, "/_vpclocal/clock", {"advance": "11m"})
        exp = experiment(fis, eid, lambda e: e["state"]["status"] in ("completed", "stopped"))
        want = "stopped" if i % 2 else "completed"
        if exp["state"]["status"] != want:
            sys.exit(f"{eid} ended {exp['state']}, not {want}")
        t_gone = stream.next("ok", t_call)
        out["off"].append(t_gone - exp["endTime"].timestamp())
        out["off_action"].append(t_gone - exp["actions"]["cut"]["endTime"].timestamp())
        out["off_call"].append(t_gone - t_call)
    return out


def across_zones(ec2, url: str, started: list, wait: float):
    """A VPC with a subnet in us-east-1a and one in us-east-1b (tagged bench=a / b), and a
    stream of connection attempts from an ENI in a to a listener on an ENI in b, flowing
    (the fabric has both). (vpc, (subnet a, subnet b), the stream); what it started is
    appended to `started`, for the caller to stop."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a, b = (ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z, TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": "bench", "Value": k}]}])["Subnet"]["SubnetId"]
        for k, c, z in (("a", "10.0.1.0/24", "us-east-1a"), ("b", "10.0.2.0/24", "us-east-1b")))
    sg = ec2.create_security_group(VpcId=vpc, GroupName="all", Description="all")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    host = ec2.create_network_interface(SubnetId=b, Groups=[sg])["NetworkInterface"]
    client = ec2.create_network_interface(SubnetId=a, Groups=[sg])["NetworkInterface"]
    listener = InNamespace(netns_of(url, host["NetworkInterfaceId"]), LISTENER, str(PORT))
    started.append(listener)
    assert listener.line() == "ready"
    stream = Stream(netns_of(url, client["NetworkInterfaceId"]), host["PrivateIpAddress"], wait)
    started.append(stream)
    stream.next("ok", 0, timeout=30)  # the fabric has both ENIs
    return vpc, (a, b), stream


def arguments(doc: str) -> argparse.Namespace:
    """--rounds and --wait, for the benches that measure through a probe stream."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--wait", type=float, default=0.005,
                        help="seconds a probe attempt waits for its SYN's answer")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__)
    proc, url = start_fabric_vpclocal()
    started: list = []
    results = {}
    try:
        if not fabric_status(url).get("running"):
            sys.exit(f"the server's fabric is not running: {fabric_status(url)}")
        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test"}
        ec2, fis = boto3.client("ec2", **kw), boto3.client("fis", **kw)
        _vpc, (_a, _b), stream = across_zones(ec2, url, started, args.wait)
        for scope in ("all", "availability-zone"):
            tid = fis.create_experiment_template(
                description=scope, roleArn="arn:aws:iam::000000000000:role/fis",
                stopConditions=[{"source": "none"}],
                targets={"a": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                               "resourceTags": {"bench": "a"}}},
                actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                                 "parameters": {"duration": "PT10M", "scope": scope},
                                 "targets": {"Subnets": "a"}}})["experimentTemplate"]["id"]
            results[scope] = rounds(url, fis, stream, tid, args.rounds)
        status = fabric_status(url)
    finally:
        for p in started:
            p.stop()
        stop(proc)
    print(f"FIS disrupt-connectivity: experiment state change -> kernel ({args.rounds} rounds "
          f"per scope, half ended by StopExperiment, half completed; probe resolution "
          f"{args.wait * 1000:g} ms + 2 ms; fabric variant "
          f"{(status.get('variant') or {}).get('name')})")
    for scope, r in results.items():
        print(f"scope {scope}")
        print(f"  in force after the experiment went running   {summary(r['on'])}   "
              "goal <= 100 ms")
        print(f"  gone after it went completed / stopped       {summary(r['off'])}   "
              "goal <= 100 ms")
        print(f"  (after the action went running: {summary(r['on_action'])}; "
              f"completed / stopped: {summary(r['off_action'])})")
        print(f"  (StartExperiment call -> in force: {summary(r['on_call'])}; "
              f"stop call / clock advance -> gone: {summary(r['off_call'])})")


if __name__ == "__main__":
    main()
