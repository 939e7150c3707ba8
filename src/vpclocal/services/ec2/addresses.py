"""Elastic IP addresses."""

from __future__ import annotations


class AddressOperations:
    """Operations (to be filled in)."""
