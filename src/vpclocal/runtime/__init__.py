"""Lambda execution: the Runtime API, execution environments and their pools."""

from vpclocal.runtime.pool import Runtime
from vpclocal.runtime.types import FunctionSpec, Result, RuntimeConfig, Throttled, Unplaceable

__all__ = ["FunctionSpec", "Result", "Runtime", "RuntimeConfig", "Throttled", "Unplaceable"]
