"""Prefix lists (AWS-managed, for gateway endpoints)."""

from __future__ import annotations


class PrefixListOperations:
    """Operations (to be filled in)."""
