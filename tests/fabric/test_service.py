"""The fabric service: built from the store at start, and a burst of network commits is
applied once (coalesced), while commits of other kinds never wake it."""

from __future__ import annotations

import os
import signal

from tests.fabric.conftest import needs_fabric, until
from tests.fabric.test_sandbox import small_topology
from vpclocal.fabric.service import FabricService
from vpclocal.network.topology import KINDS
from vpclocal.store import Store

pytestmark = needs_fabric
REGION = "us-east-1"


def started_service():
    """A fabric service built from a store holding a small topology."""
    n, enis = small_topology()
    store = Store(":memory:")
    with store.transaction(REGION) as tx:
        for kind in KINDS:
            for rid, record in getattr(n.t, kind).items():
                tx.put(kind, rid, record)
    service = FabricService(store, ("127.0.0.1", 9))
    assert service.start(), service.reason
    return n, enis, store, service


def test_built_from_the_store_and_a_burst_is_applied_once():
    n, enis, store, service = started_service()
    try:
        assert set(enis) <= set(service.fabric.reconciler.enis)
        assert service.summary().startswith("fabric on: 1 VPC, 2 ENIs")
        applies, seq = service.figures["applies"], service.seq
        group = next(iter(n.t.security_groups))
        for i in range(50):  # 50 commits, microseconds apart
            with store.transaction(REGION) as tx:
                tx.edit("security_groups", group)["Description"] = f"burst {i}"
        assert service.seq == seq + 50
        assert service.wait_applied(30)  # a liveness bound
        assert service.figures["applies"] - applies <= 2  # coalesced (how fast: bench/)
        with store.transaction(REGION) as tx:  # not a network kind: nothing to apply
            tx.put("functions", "f", {"FunctionName": "f"})
        assert service.seq == seq + 50
    finally:
        service.stop()
    assert service._thread is not None and not service._thread.is_alive()


def test_a_dead_sandbox_is_noticed_and_rebuilt_from_the_store():
    _n, enis, _store, service = started_service()
    try:
        old = dict(service.fabric.reconciler.enis)
        agent = service.status()["agent_pid"]
        os.kill(agent, signal.SIGKILL)  # the agent of the sandbox this test's service started
        until(lambda: service.figures["restarts"], 30,
              lambda: f"a restart after the agent's SIGKILL: {service.status()}")
        assert service.wait_applied(30) and service.running
        status = service.status()
        assert status["agent_pid"] != agent and f"(pid {agent})" in status["last_restart"]
        new = service.fabric.reconciler.enis
        assert set(enis) <= set(new) and all(new[e] is not old[e] for e in enis)
        assert service.fabric.sandbox.run([(["ip", "-o", "addr"], new[enis[0]], "")])[0].rc == 0
    finally:
        service.stop()
    assert service._thread is not None and not service._thread.is_alive()
