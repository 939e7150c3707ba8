"""The Lambda provider: one mixin per concept."""

from __future__ import annotations

from vpclocal.services.base import Provider
from vpclocal.services.lambda_ import lifecycle
from vpclocal.services.lambda_.account import AccountOperations
from vpclocal.services.lambda_.aliases import AliasOperations
from vpclocal.services.lambda_.concurrency import ConcurrencyOperations
from vpclocal.services.lambda_.functions import FunctionOperations
from vpclocal.services.lambda_.invoke import InvokeOperations
from vpclocal.services.lambda_.model import FUNCTIONS
from vpclocal.services.lambda_.tags import TagOperations
from vpclocal.services.lambda_.versions import VersionOperations


class LambdaProvider(
    FunctionOperations,
    VersionOperations,
    AliasOperations,
    ConcurrencyOperations,
    AccountOperations,
    TagOperations,
    InvokeOperations,
    Provider,
):
    service_name = "lambda"

    async def start(self) -> None:
        await super().start()
        # finish what a previous run left Pending / InProgress
        scopes = self.app.store.scopes(FUNCTIONS)
        lifecycle.settle_all(self, scopes, self.app.config.account_id)
        await self.start_runtime()  # execution environments, queued Event invocations

    async def stop(self) -> None:
        await self.stop_runtime()
        await super().stop()
