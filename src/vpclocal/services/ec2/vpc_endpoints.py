"""VPC endpoints (Gateway and Interface)."""

from __future__ import annotations


class VpcEndpointOperations:
    """Operations (to be filled in)."""
