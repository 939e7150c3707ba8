"""The sandbox: everything lives in private namespaces, and nothing outlives the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fabric.conftest import as_an_ordinary_user, host_state, needs_fabric
from tests.network.builder import Net
from vpclocal.fabric import Fabric, Sandbox

pytestmark = needs_fabric
ROOT = Path(__file__).resolve().parents[2]


def small_topology():
    n = Net()
    vpc = n.vpc()
    a, b = n.subnet(vpc, "10.0.1.0/24"), n.subnet(vpc, "10.0.2.0/24")
    db = n.sg(vpc, "db")
    n.allow(db, "ingress", "tcp", 5432, group=n.default_sg[vpc])
    return n, [n.eni(a), n.eni(b, [db])]


FORMS = ["userns", "root"] if os.geteuid() == 0 else ["userns"]  # sandbox forms (variant.py)


def pidns_of(pid: int) -> str:
    """The sandbox's PID namespace: its agent is PID 1 there, in either form."""
    return os.readlink(f"/proc/{pid}/ns/pid")


def processes_in(pidns: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == pidns:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def wait_gone(pids, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{p}").exists() for p in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.02)


@pytest.mark.parametrize("form", FORMS)
def test_namespaces_are_private_and_nothing_is_left_after_close(form):
    before = host_state()
    n, enis = small_topology()
    with Fabric(sandbox=form) as fabric:
        fabric.apply(n.t)
        unshare_pid, agent_pid = fabric.sandbox.host_pids
        inside = pidns_of(agent_pid)
        assert inside != pidns_of(os.getpid())
        same_user = os.readlink(f"/proc/{agent_pid}/ns/user") == os.readlink("/proc/self/ns/user")
        assert same_user == (form == "root")
        assert os.readlink(f"/proc/{agent_pid}/ns/net") != os.readlink("/proc/self/ns/net")
        # the ENI sees only its own interface, and the host sees none of the fabric's
        links = fabric.sandbox.sh(fabric.space(enis[0]), "ip -o link").out
        assert "eth0" in links and "eth0" not in host_state()["links"].replace(
            before["links"], "")
        assert host_state() == before
        in_sandbox = processes_in(inside)
        assert agent_pid in in_sandbox
    wait_gone([unshare_pid, *in_sandbox])
    assert processes_in(inside) == []
    assert host_state() == before


@pytest.mark.parametrize("form", FORMS)
def test_sigkill_of_the_owner_leaves_nothing_on_the_host(form):
    before = host_state()
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys, time
        sys.path.insert(0, sys.argv[1])
        from tests.fabric.test_sandbox import small_topology, pidns_of
        from vpclocal.fabric import Fabric
        n, enis = small_topology()
        fabric = Fabric(sandbox=sys.argv[2]).start()
        fabric.apply(n.t)
        _, agent = fabric.sandbox.host_pids
        print(agent, pidns_of(agent), flush=True)
        time.sleep(600)
        """), str(ROOT), form], stdout=subprocess.PIPE, text=True)
    try:
        agent, pidns = owner.stdout.readline().split()
        inside = processes_in(pidns)
        assert int(agent) in inside and len(inside) >= 2  # the agent and the router's holder
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        wait_gone(inside)
        assert processes_in(pidns) == []
        assert host_state() == before
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_agent_runs_commands_and_spawns_processes_in_namespaces():
    with Sandbox() as sb:
        space, other = sb.ns_new(2, sysctl={"net.ipv4.ip_forward": 1})
        assert sb.sh(space, "cat /proc/sys/net/ipv4/ip_forward").out.strip() == "1"
        assert sb.sh(other, "cat /proc/sys/net/ipv4/ip_forward").out.strip() == "1"
        assert sb.sh(None, "cat /proc/sys/net/ipv4/ip_forward").out.strip() == "0"
        assert "127.0.0.1/8" in sb.sh(space, "ip -br a").out  # lo is up
        r, w = os.pipe()
        pid = sb.spawn(["sh", "-c", "ip -o link | wc -l; exit 3"], space, stdout=w)
        os.close(w)
        with os.fdopen(r) as out:
            assert out.read().strip() == "1"  # only lo
        assert sb.wait(pid) == 3
        sb.ns_del([space, other])
        results = sb.run([(["sh", "-c", "exit 4"], None, ""), (["cat"], None, "hi")], parallel=2)
        assert [(x.rc, x.out) for x in results] == [(4, ""), (0, "hi")]


UNPRIVILEGED = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from tests.network.builder import Net
from vpclocal.fabric import Fabric

n = Net()
vpc = n.vpc()
db = n.sg(vpc, "db")
n.allow(db, "ingress", "tcp", 5432, cidr="10.0.0.0/16")
eni = n.eni(n.subnet(vpc, "10.0.2.0/24"), [db])
with Fabric() as fabric:
    fabric.apply(n.t)
    shown = fabric.sandbox.sh(fabric.space(eni), "ip -o -4 addr show dev eth0").out
    rules = fabric.sandbox.sh(fabric.reconciler.router_space(vpc), "nft list table ip vpc").out
print(json.dumps({"addr": shown, "has_rules": "ingress" in rules}))
"""


def test_an_ordinary_user_builds_the_fabric():
    """Where the kernel allows unprivileged user namespaces, the fabric needs no root."""
    out = as_an_ordinary_user(UNPRIVILEGED)
    assert "10.0.2." in out["addr"] and out["has_rules"], out
