"""The VPC resolver: query latency from an ENI's namespace, and what a function's private
/etc/resolv.conf adds to its cold start.

- query latency: UDP queries (an RDS endpoint's name) from an ENI's namespace to the VPC's
  base + 2, through the router, answered by the fabric service's resolver thread; one
  prebuilt query on a connected socket, so the client costs little (the same name each
  time: the Responder's remembered reply); against the same round trip to a bare UDP echo
  in the router (the floor); and the lookup and a reply built by dnspython alone.
- cold-start cost (as root): the environment's start command (runtime/environment._enter)
  running /bin/true in an ENI's namespace, with and without entering the VPC's resolv.conf
  mount namespace; and the time to make that namespace, once per VPC. (Unsharing a mount
  namespace and running `mount --bind` and `setpriv` at every cold start instead cost about
  4 to 10 ms on the reference machine, mostly `mount` loading libmount.)

Run: .venv/bin/python bench/dns_bench.py [--queries 5000] [--starts 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fabric.test_dns import RDS_NAME, _store
from vpclocal.fabric import available
from vpclocal.fabric import dns as resolver
from vpclocal.fabric.service import FabricService
from vpclocal.runtime.environment import _enter, resolv_conf, resolver_space
from vpclocal.runtime.sandbox import Launch
from vpclocal.runtime.types import Placement

# In the ENI's namespace: `count` round trips of one datagram; prints their microseconds.
CLIENT = """
import json, socket, sys, time
import dns.message
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wire = dns.message.make_query(sys.argv[4], "A").to_wire()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.settimeout(2)
out = []
for _ in range(count):
    t = time.perf_counter()
    s.send(wire)
    s.recv(4096)
    out.append((time.perf_counter() - t) * 1e6)
print(json.dumps(out))
"""
# In the router's namespace: echoes datagrams (the floor's server).
ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    s.sendto(data, peer)
"""


def spawn_output(sandbox, space, argv: list[str]) -> str:
    r, w = os.pipe()
    pid = sandbox.spawn(argv, space, stdout=w, env=dict(os.environ))
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    sandbox.wait(pid, 60)
    return out


def round_trips(sandbox, space, host: str, port: int, count: int) -> list[float]:
    return json.loads(spawn_output(sandbox, space, [sys.executable, "-c", CLIENT, host,
                                                    str(port), str(count), RDS_NAME]))


def summary(us: list[float]) -> str:
    us = sorted(us)
    return (f"median {statistics.median(us):7.1f} us   p99 {us[int(len(us) * 0.99)]:7.1f} us")


def cold_start(sandbox, space, starts: int) -> tuple[float, float, float]:
    """Median ms of the start command running /bin/true: nsenter alone, and entering the
    VPC's resolv.conf mount namespace too; and ms to make that namespace (once per VPC)."""
    launch = Launch(python=sys.executable, python_version="", runtime_paths=(), uid=65534,
                    gid=65534)
    netns = sandbox.netns_fd(space)
    try:
        placement = Placement(netns_fd=netns, resolver="10.0.0.2", search="ec2.internal")
        t = time.perf_counter()
        mount_ns = resolver_space(resolv_conf(placement) + "# bench\n")
        made = (time.perf_counter() - t) * 1000
        out = []
        for argv in (_enter(placement, launch), _enter(placement, launch, mount_ns)):
            times = []
            for _ in range(starts):
                t = time.perf_counter()
                subprocess.run([*argv, "/bin/true"], check=True, pass_fds=(netns, mount_ns))
                times.append((time.perf_counter() - t) * 1000)
            out.append(statistics.median(times))
        check = subprocess.run([*_enter(placement, launch, mount_ns), "/bin/cat",
                                "/etc/resolv.conf"], check=True, pass_fds=(netns, mount_ns),
                               capture_output=True, text=True)
        assert check.stdout.startswith("nameserver 10.0.0.2\nsearch ec2.internal\n"), check
        return out[0], out[1], made
    finally:
        os.close(netns)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--starts", type=int, default=100)
    args = parser.parse_args()
    ok, why = available()
    if not ok:
        sys.exit(f"fabric unavailable: {why}")
    store, ids = _store()
    zone = resolver.zone(store.view("us-east-1"), ids["vpc"])
    t = time.perf_counter()
    for _ in range(args.queries):
        zone.lookup(RDS_NAME)
    lookup_us = (time.perf_counter() - t) / args.queries * 1e6
    wire = resolver.dns.message.make_query(RDS_NAME, "A").to_wire()
    t = time.perf_counter()
    for _ in range(args.queries):
        resolver.respond(wire, zone.lookup)
    respond_us = (time.perf_counter() - t) / args.queries * 1e6
    responder = resolver.Responder(zone.lookup)
    t = time.perf_counter()
    for _ in range(args.queries):
        responder(wire, udp=True)
    cached_us = (time.perf_counter() - t) / args.queries * 1e6

    service = FabricService(store, ("127.0.0.1", 9))
    assert service.start(), service.reason
    try:
        sandbox = service.fabric.sandbox
        eni = next(e for e, r in service.fabric.reconciler.plan.enis.items()
                   if r.vpc == ids["vpc"])
        space, router = service.space(eni), service.fabric.reconciler.router_space(ids["vpc"])
        round_trips(sandbox, space, "10.0.0.2", 53, 200)  # warm up
        resolved = round_trips(sandbox, space, "10.0.0.2", 53, args.queries)
        r, w = os.pipe()
        gateway = service.fabric.reconciler.plan.enis[eni].gateway
        echo = sandbox.spawn([sys.executable, "-c", ECHO, gateway, "5353"], router, stdout=w)
        os.close(w)
        with os.fdopen(r) as f:
            assert f.readline().strip() == "ready"
            # the floor: the same path to a bare echo in the router (at the ENI's gateway:
            # the same subnet, so no ACL or route table on the way)
            floor = round_trips(sandbox, space, gateway, 5353, args.queries)
            sandbox.kill(echo)
            sandbox.wait(echo)
        print("VPC resolver, one machine, same run")
        print(f"  lookup alone (Zone.lookup)          {lookup_us:7.2f} us")
        print(f"  parse + lookup + answer (respond)   {respond_us:7.2f} us   (dnspython)")
        print(f"  the same, asked again (Responder)   {cached_us:7.2f} us")
        print(f"  UDP query from an ENI to base + 2   {summary(resolved)}")
        print(f"  floor: UDP echo in the router        {summary(floor)}")
        print(f"  ratio query/floor (median)          "
              f"{statistics.median(resolved) / statistics.median(floor):5.1f}x")
        if os.geteuid() == 0:
            plain, mounted, made = cold_start(sandbox, space, args.starts)
            print(f"  start command, nsenter --net        median {plain:6.2f} ms")
            print(f"  start command, + --mount (resolv)   median {mounted:6.2f} ms   "
                  f"({mounted - plain:+.2f} ms per cold start)")
            print(f"  the VPC's resolv.conf namespace     {made:6.2f} ms, once per VPC")
        else:
            print("  (cold-start cost: run as root)")
    finally:
        service.stop()


if __name__ == "__main__":
    main()
