"""The provider contract: a class per service, a method per operation (snake_case name)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore import xform_name

if TYPE_CHECKING:
    from vpclocal.server import App
    from vpclocal.store import Transaction


@dataclass
class RequestContext:
    account_id: str
    region: str
    request_id: str
    service: str
    operation: str
    app: App
    tx: Transaction | None = None  # open for synchronous operations
    access_key: str = ""  # the SigV4 credential's access key ID ("" when unsigned)

    @property
    def partition_arn(self) -> str:
        return "arn:aws"


class Provider:
    """Subclasses set `service_name` (botocore's model name) and define operation methods.

    A synchronous method runs inside one store transaction (`ctx.tx`): whatever it writes lands
    atomically, or nothing does when it raises. An `async def` method manages its own.
    """

    service_name = ""
    global_scope = False  # IAM-like services keep one state for every region
    # whether an unsigned (anonymous) request is refused with 403 AccessDenied, as S3 refuses
    # one to a private bucket or object (vpclocal has no public ones)
    signed_only = False

    def __init__(self, app: App) -> None:
        self.app = app

    def method_for(self, operation: str):
        return getattr(self, xform_name(operation), None)

    def scope(self, ctx: RequestContext) -> str:
        return "global" if self.global_scope else ctx.region

    def prepare(self, ctx: RequestContext) -> None:
        """Called inside the operation's transaction, before the operation (lazy set-up)."""

    async def start(self) -> None:
        """Called once the server is up (background work, restoring derived state)."""

    async def stop(self) -> None:
        """Called on shutdown."""
