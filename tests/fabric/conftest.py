"""Fixtures for fabric tests: a sandboxed fabric and a traffic probe inside it.

Every test module here skips (needs_fabric), with the reason, where the kernel or the user lacks what the fabric
needs (user + network namespaces, veth, nftables)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest

from vpclocal.fabric import Fabric, available
from vpclocal.fabric.probe import Probe

# for each test module: pytestmark = needs_fabric
needs_fabric = pytest.mark.skipif(not available()[0],
                                  reason=f"fabric unavailable here: {available()[1]}")


@pytest.fixture
def fabric():
    with Fabric() as f:
        yield f


def variants() -> list[tuple[str, str]]:
    """Every fabric variant (fabric/variant.py) this machine can run, forced one by one:
    the sandbox of its own user namespace with each NAT form the kernel allows there, and
    (as root) the sandbox owned by the host's user namespace with both."""
    with Fabric(sandbox="userns") as f:  # what the probe chose there: rewriting, or not
        chosen = f.variant
    assert chosen is not None
    out = [("userns", chosen.nat)]
    if chosen.nat == "rewrite":
        out.append(("userns", "conntrack"))
    if os.geteuid() == 0:
        out += [("root", "rewrite"), ("root", "conntrack")]
    return out


VARIANTS = variants() if available()[0] else [("userns", "auto")]


@contextmanager
def variant_fabric(sandbox: str, nat: str):
    """A started fabric of one variant (forced as a user would: VPCLOCAL_FABRIC_NAT)."""
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": nat}):
        fabric = Fabric(sandbox=sandbox).start()
    assert fabric.variant is not None and (fabric.variant.sandbox, fabric.variant.nat) == (
        sandbox, nat), fabric.variant
    try:
        yield fabric
    finally:
        fabric.close()


@pytest.fixture
def probe(fabric):
    with Probe(fabric.sandbox) as p:
        yield p


def host_state() -> dict[str, str]:
    """What the host's network namespace looks like (read only)."""
    commands = {
        "links": ["ip", "-o", "link", "show"],
        "addresses": ["ip", "-o", "addr", "show"],
        "routes": ["ip", "route", "show", "table", "all"],
        "rules": ["ip", "rule", "show"],
        "netns": ["ip", "netns", "list"],
        "nftables": ["nft", "list", "ruleset"],
    }
    out = {}
    for name, argv in commands.items():
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        out[name] = proc.stdout + proc.stderr
    return out


def assert_host_back_to(before: dict[str, str], timeout: float = 10.0) -> None:
    """The host's network looks as it did (the kernel tears namespaces down asynchronously)."""
    deadline = time.monotonic() + timeout
    while (now := host_state()) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert now == before


def until(check, timeout: float, what, interval: float = 0.05):
    """Poll `check()` until it returns something true, and return that: as soon as the
    condition holds, or an AssertionError after `timeout` seconds (a liveness bound, not a
    speed claim: how fast is bench/'s) naming `what` (a string, or a callable giving one
    then, e.g. with the last state seen)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        time.sleep(interval)
    return result


def as_an_ordinary_user(script: str) -> dict:
    """Run `script` (stdlib and vpclocal only; it prints one JSON line) as an ordinary user:
    nobody, when the tests run as root. sys.argv[1:] are vpclocal's src and the repository."""
    user = {}
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(["/usr/bin/python3", "-c", script, str(root / "src"), str(root)],
                          capture_output=True, text=True, timeout=60, check=False, cwd="/",
                          **user)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
