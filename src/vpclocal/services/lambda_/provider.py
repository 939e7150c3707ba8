"""The Lambda provider: one mixin per concept."""

from __future__ import annotations

from vpclocal.errors import ServiceError
from vpclocal.runtime.types import FunctionSpec, Placement, Unplaceable
from vpclocal.services.base import Provider
from vpclocal.services.lambda_ import lifecycle, model, zones
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

    def __init__(self, app) -> None:
        super().__init__(app)
        self._spread = zones.Spread()  # environments per function and AZ

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
            found = zones.candidates(tx, [enis[c] for c in sorted(wanted, key=str)
                                          if c in enis])
        fabric = self.app.fabric
        if not wanted:
            return await fabric.place_public(spec.region)
        if not found or not fabric.vpc:
            return await fabric.place([c.eni_id for c in found], spec.region)
        # spread across the subnets' AZs, the healthy ones first (zones.py)
        function = (spec.region, spec.name, spec.version)
        refused: Unplaceable | None = None
        for choice in self._spread.order(function, found):
            try:
                placement = await fabric.place([choice.eni_id], spec.region)
            except Unplaceable as exc:
                refused = refused or exc
                continue
            placement.init_note = zones.init_line(choice)
            ended, retire = self._spread.placed(function, choice.zone), placement.retire

            def gone(ended=ended, retire=retire) -> None:
                ended()
                if retire is not None:
                    retire()
            placement.retire = gone
            return placement
        assert refused is not None
        raise refused

    async def stop(self) -> None:
        await self.stop_runtime()
        await super().stop()
