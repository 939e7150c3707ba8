"""The Lambda provider: one mixin per concept."""

from __future__ import annotations

from vpclocal.errors import ServiceError
from vpclocal.runtime.types import FunctionSpec, Placement
from vpclocal.services.base import Provider
from vpclocal.services.lambda_ import lifecycle, model
from vpclocal.services.lambda_.account import AccountOperations
from vpclocal.services.lambda_.aliases import AliasOperations
from vpclocal.services.lambda_.concurrency import ConcurrencyOperations
from vpclocal.services.lambda_.functions import FunctionOperations
from vpclocal.services.lambda_.invoke import InvokeOperations
from vpclocal.services.lambda_.model import FUNCTIONS
from vpclocal.services.lambda_.permissions import PermissionOperations
from vpclocal.services.lambda_.tags import TagOperations
from vpclocal.services.lambda_.versions import VersionOperations
from vpclocal.services.lambda_.vpc import combinations, lambda_enis


class LambdaProvider(
    FunctionOperations,
    VersionOperations,
    AliasOperations,
    ConcurrencyOperations,
    AccountOperations,
    TagOperations,
    PermissionOperations,
    InvokeOperations,
    Provider,
):
    service_name = "lambda"

    async def start(self) -> None:
        await super().start()
        # finish what a previous run left Pending / InProgress
        scopes = self.app.store.scopes(FUNCTIONS)
        lifecycle.settle_all(self, scopes, self.app.config.account_id)
        if getattr(self.app, "fabric", None) is not None:  # VPC functions run in the fabric
            self.runtime().config.placement = self._place
        await self.start_runtime()  # execution environments, queued Event invocations

    async def _place(self, spec: FunctionSpec) -> Placement | None:
        """A VPC function's environment goes to one of its Hyperplane ENIs' namespaces; any
        other to the Lambda service network (the internet, no VPC)."""
        with self.app.store.transaction(spec.region) as tx:  # the store's lock, for reading
            try:
                record, _ = model.resolve(tx, spec.name, spec.version)
            except ServiceError:
                return None
            wanted = combinations(record.get("VpcConfig"))
            enis = lambda_enis(tx)
            eni_ids = [enis[c]["NetworkInterfaceId"] for c in sorted(wanted, key=str)
                       if c in enis]
        if not wanted:
            return await self.app.fabric.place_public(spec.region)
        return await self.app.fabric.place(eni_ids, spec.region)

    async def stop(self) -> None:
        await self.stop_runtime()
        await super().stop()
