"""Functions: create, read, update, delete, list."""

from __future__ import annotations


class FunctionOperations:
    """Operations (to be filled in)."""
