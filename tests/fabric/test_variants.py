"""The fabric picks its data path by asking this kernel (fabric/variant.py), and each variant
can be forced; a forced variant the kernel or the user cannot have is an error, never a
silent fallback."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from tests.fabric.conftest import VARIANTS, as_an_ordinary_user, needs_fabric, variant_fabric
from tests.fabric.test_fail_closed import kernel_refuses_rewrite
from vpclocal.fabric import Fabric, FabricError

pytestmark = needs_fabric
ROOT = Path(__file__).resolve().parents[2]


def test_the_probe_picks_what_this_kernel_allows():
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": "auto",
                                      "VPCLOCAL_FABRIC_SANDBOX": "auto"}), Fabric() as fabric:
        default = fabric.variant
    # a root server's sandbox is owned by the host's user namespace (nothing refused there)
    assert default is not None and default.sandbox == ("root" if os.geteuid() == 0 else "userns")
    if os.geteuid() == 0:
        assert default.nat == "rewrite"
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": "auto"}), \
            Fabric(sandbox="userns") as fabric:
        variant = fabric.variant
    assert variant is not None and variant.sandbox == "userns"
    if kernel_refuses_rewrite():
        assert variant.nat == "conntrack"
        assert "Operation not permitted" in variant.why, variant
    else:
        assert variant.nat == "rewrite"


def test_a_forced_rewrite_the_kernel_refuses_is_an_error():
    if not kernel_refuses_rewrite():
        pytest.skip("this kernel allows header rewriting in a user namespace")
    with (mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": "rewrite"}),
          pytest.raises(FabricError, match="refuses header rewriting.*Operation not permitted")):
        Fabric(sandbox="userns").start()


@pytest.mark.parametrize("name,value", [("VPCLOCAL_FABRIC_NAT", "stateless"),
                                        ("VPCLOCAL_FABRIC_SANDBOX", "none")])
def test_an_unknown_variant_is_an_error(name, value):
    with (mock.patch.dict(os.environ, {name: value}),
          pytest.raises(FabricError, match=f"{name}={value}: expected one of")):
        Fabric().start()


@pytest.mark.skipif(os.geteuid() != 0, reason="the root sandbox needs root")
def test_the_root_sandbox_is_owned_by_the_hosts_user_namespace():
    with variant_fabric("root", "rewrite") as fabric:
        _unshare, agent = fabric.sandbox.host_pids
        assert os.readlink(f"/proc/{agent}/ns/user") == os.readlink("/proc/self/ns/user")
        assert os.readlink(f"/proc/{agent}/ns/net") != os.readlink("/proc/self/ns/net")
    with variant_fabric("userns", VARIANTS[0][1]) as fabric:
        _unshare, agent = fabric.sandbox.host_pids
        assert os.readlink(f"/proc/{agent}/ns/user") != os.readlink("/proc/self/ns/user")


def test_every_variant_this_machine_runs_is_listed():
    """The differential test runs once per entry: as root, all four corners but the one the
    kernel refuses."""
    forms = {v for v in VARIANTS}
    assert ("root", "rewrite") in forms or os.geteuid() != 0
    assert ("root", "conntrack") in forms or os.geteuid() != 0
    assert ("userns", "conntrack") in forms


AS_A_USER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from tests.network.builder import Net
from vpclocal.fabric import Fabric
from vpclocal.fabric.probe import Probe

n = Net()
vpc = n.vpc()
subnet = n.public_subnet(vpc, "10.0.1.0/24", n.igw(vpc))
web = n.sg(vpc, "web")
n.allow(web, "ingress", "tcp", 80, cidr="0.0.0.0/0")
eni = n.eni(subnet, [web], public=True)
public = n.t.network_interfaces[eni]["Association"]["PublicIp"]
with Fabric() as fabric, Probe(fabric.sandbox) as probe:
    fabric.apply(n.t)
    probe.call("listen", ns=fabric.space(eni).ns, ports=[80, 443])
    inet = fabric.internet.ns
    flows = [[inet, 40000, public, 80, "198.51.100.10"], [inet, 40001, public, 443, "198.51.100.10"],
             [fabric.space(eni).ns, 40002, "198.51.100.10", 80]]
    probe.call("listen", ns=inet, ports=[80])
    ok = probe.call("connect", flows=flows, timeout=1)["ok"]
print(json.dumps({"variant": fabric.variant.name, "ok": ok}))
"""


def test_an_ordinary_user_gets_the_internet_gateway_of_the_probed_variant():
    """The server as an ordinary user (nobody, when the tests run as root): the probed
    variant's 1:1 NAT carries the internet to a public IP (port 80 open, 443 not) and back
    out to the internet."""
    out = as_an_ordinary_user(AS_A_USER)
    assert out["variant"] == f"userns/{VARIANTS[0][1]}", out
    assert out["ok"] == [True, False, True], out
