"""Fixtures for fabric tests: a sandboxed fabric and a traffic probe inside it.

Every test module here skips (needs_fabric), with the reason, where the kernel or the user lacks what the fabric
needs (user + network namespaces, veth, nftables)."""

from __future__ import annotations

import subprocess
import time

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
