"""GetAccountSettings: the region's limits and what this account uses of them."""

from __future__ import annotations

from vpclocal.services.lambda_.code import (
    CODE_SIZE_UNZIPPED,
    CODE_SIZE_ZIPPED,
    TOTAL_CODE_SIZE,
)
from vpclocal.services.lambda_.concurrency import ACCOUNT_CONCURRENCY, reserved_total
from vpclocal.services.lambda_.model import FUNCTIONS, VERSIONS


class AccountOperations:
    def get_account_settings(self, ctx, p):
        tx = ctx.tx
        functions = tx.all(FUNCTIONS)
        # every version's package counts towards the total, as on AWS
        code = sum(r["CodeSize"] for kind in (FUNCTIONS, VERSIONS)
                   for r in tx.all(kind).values())
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE, "CodeSizeUnzipped": CODE_SIZE_UNZIPPED,
                "CodeSizeZipped": CODE_SIZE_ZIPPED,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved_total(tx),
            },
            "AccountUsage": {"TotalCodeSize": code, "FunctionCount": len(functions)},
        }
