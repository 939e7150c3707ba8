"""The fabric service: built from the store at start, and a burst of network commits is
applied once (coalesced), while commits of other kinds never wake it."""

from __future__ import annotations

import time

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_sandbox import small_topology
from vpclocal.fabric.service import FabricService
from vpclocal.network.topology import KINDS
from vpclocal.store import Store

pytestmark = needs_fabric
REGION = "us-east-1"


def test_built_from_the_store_and_a_burst_is_applied_once():
    n, enis = small_topology()
    store = Store(":memory:")
    with store.transaction(REGION) as tx:
        for kind in KINDS:
            for rid, record in getattr(n.t, kind).items():
                tx.put(kind, rid, record)
    service = FabricService(store, ("127.0.0.1", 9))
    assert service.start(), service.reason
    try:
        assert set(enis) <= set(service.fabric.reconciler.enis)
        assert service.summary().startswith("fabric on: 1 VPCs, 2 ENIs")
        applies, seq = service.figures["applies"], service.seq
        group = next(iter(n.t.security_groups))
        start = time.perf_counter()
        for i in range(50):  # 50 commits, microseconds apart
            with store.transaction(REGION) as tx:
                tx.edit("security_groups", group)["Description"] = f"burst {i}"
        assert service.seq == seq + 50
        assert service.wait_applied(5)
        took = time.perf_counter() - start
        assert service.figures["applies"] - applies <= 2
        assert took < 0.1, took
        with store.transaction(REGION) as tx:  # not a network kind: nothing to apply
            tx.put("functions", "f", {"FunctionName": "f"})
        assert service.seq == seq + 50
    finally:
        service.stop()
    assert service._thread is not None and not service._thread.is_alive()
