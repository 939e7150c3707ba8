"""NAT gateways."""

from __future__ import annotations


class NatGatewayOperations:
    """Operations (to be filled in)."""
