"""The fabric (layer 5): the VPC model realized in Linux namespaces, veth pairs and nftables.

    from vpclocal.fabric import Fabric
    with Fabric() as fabric:            # a private namespace tree (sandbox.py)
        fabric.apply(topology)          # compile (compiler.py) and converge (reconciler.py)
        fabric.space("eni-…")           # the ENI's namespace, to run things in
        fabric.internet                 # the simulated internet's namespace

The modules, from the model to the kernel and back:
- compiler.py: a Topology to a plan (plan.py, plain data), with the gateway targets'
  chains and routing tables (gateways.py) and flow logs' deferred drops (flowlogs.py);
- reconciler.py: converges a sandbox (sandbox.py, its agent agent.py) to a plan;
- service.py: the fabric inside the server: built from the store, re-applied after each
  commit, rebuilt when its sandbox dies; it places functions (placement.py), serves the VPC
  resolvers (resolvers.py, answers from dns.py), the simulated internet (internet.py, ca.py)
  and published endpoints (published.py), and delivers flow logs (flowlogs.py).
"""

from __future__ import annotations

from typing import Self

from .compiler import compile_plan
from .plan import Plan
from .reconciler import Reconciler, Stats
from .sandbox import FabricError, Sandbox, Space, available
from .variant import Variant

__all__ = ["Fabric", "FabricError", "Plan", "Sandbox", "Space", "Stats", "Variant",
           "available", "compile_plan"]


class Fabric:
    """A sandbox and the reconciler that keeps it converged to a topology."""

    def __init__(self, parallel: int = 2, sandbox: str | None = None) -> None:
        self.sandbox = Sandbox(sandbox)  # its form (variant.py); None: as the environment says
        self.reconciler = Reconciler(self.sandbox, parallel)

    @property
    def variant(self) -> Variant | None:
        """The data path this kernel takes (variant.py), once started."""
        return self.sandbox.variant

    def start(self) -> Self:
        self.sandbox.start()
        return self

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def apply(self, topology) -> Stats:
        return self.reconciler.apply_topology(topology)

    def space(self, eni_id: str) -> Space:
        return self.reconciler.space(eni_id)

    @property
    def internet(self) -> Space:
        """The internet namespace: every address of 198.51.100.0/24 and 203.0.113.0/24 is
        local in it (bind 0.0.0.0 to answer for any public name)."""
        return self.reconciler.internet

    @property
    def lambda_service(self) -> Space:
        """The Lambda service network, where functions without VpcConfig run."""
        return self.reconciler.lambda_service
