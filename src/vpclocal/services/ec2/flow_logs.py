"""VPC flow logs (the definitions; delivery comes with the fabric)."""

from __future__ import annotations


class FlowLogOperations:
    """Operations (to be filled in)."""
