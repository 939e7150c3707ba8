"""The fabric picks its data path by asking this kernel (fabric/variant.py), and each variant
can be forced; a forced variant the kernel or the user cannot have is an error, never a
silent fallback."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from tests.fabric.conftest import VARIANTS, needs_fabric, variant_fabric
from tests.fabric.test_fail_closed import kernel_refuses_rewrite
from vpclocal.fabric import Fabric, FabricError

pytestmark = needs_fabric


def test_the_probe_picks_what_this_kernel_allows():
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": "auto",
                                      "VPCLOCAL_FABRIC_SANDBOX": "auto"}), Fabric() as fabric:
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
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": "rewrite"}):
        with pytest.raises(FabricError, match="refuses header rewriting.*Operation not permitted"):
            Fabric(sandbox="userns").start()


@pytest.mark.parametrize("name,value", [("VPCLOCAL_FABRIC_NAT", "stateless"),
                                        ("VPCLOCAL_FABRIC_SANDBOX", "none")])
def test_an_unknown_variant_is_an_error(name, value):
    with mock.patch.dict(os.environ, {name: value}):
        with pytest.raises(FabricError, match=f"{name}={value}: expected one of"):
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
