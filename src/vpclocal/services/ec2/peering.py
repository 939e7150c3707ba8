"""VPC peering connections."""

from __future__ import annotations


class PeeringOperations:
    """Operations (to be filled in)."""
