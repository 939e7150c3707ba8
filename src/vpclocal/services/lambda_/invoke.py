"""Invoke: run a function version in an execution environment (vpclocal.runtime)."""

from __future__ import annotations


class InvokeOperations:
    """Operations (to be filled in)."""
