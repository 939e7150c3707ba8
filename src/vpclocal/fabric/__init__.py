"""The fabric (layer 5): the VPC model realized in Linux namespaces, veth pairs and nftables.

    from vpclocal.fabric import Fabric
    fabric = Fabric().start()          # a private namespace tree (sandbox.py)
    fabric.apply(topology)             # compile (compiler.py) and converge (reconciler.py)
"""

from .sandbox import FabricError, Sandbox, Space, available

__all__ = ["FabricError", "Sandbox", "Space", "available"]
