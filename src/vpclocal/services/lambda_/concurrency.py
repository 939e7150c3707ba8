"""Reserved concurrency (per function) and provisioned concurrency (per version or alias)."""

from __future__ import annotations

from vpclocal.services.lambda_ import lifecycle
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.model import (
    ALIASES,
    FUNCTIONS,
    LATEST,
    function_arn,
    get_function,
    get_version,
    last_modified,
    not_found,
    page,
    split_name,
)

ACCOUNT_CONCURRENCY = 1000   # AWS's default ConcurrentExecutions quota per region
UNRESERVED_MINIMUM = 100     # what reservations must leave to every other function

PROVISIONED_FIELDS = ("RequestedProvisionedConcurrentExecutions",
                      "AllocatedProvisionedConcurrentExecutions",
                      "AvailableProvisionedConcurrentExecutions", "Status", "StatusReason",
                      "LastModified")


def reserved_total(tx, except_name: str | None = None) -> int:
    return sum(r.get("_ReservedConcurrentExecutions") or 0
               for n, r in tx.all(FUNCTIONS).items() if n != except_name)


def _qualified(tx, ctx, p) -> tuple[str, str]:
    name, qualifier = split_name(p["FunctionName"], p.get("Qualifier"))
    get_function(tx, name, ctx.account_id)
    return name, qualifier


class ConcurrencyOperations:
    def put_function_concurrency(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        get_function(tx, name, ctx.account_id)
        wanted = p["ReservedConcurrentExecutions"]
        if reserved_total(tx, name) + wanted > ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM:
            raise lambda_error("reserved_too_high", minimum=UNRESERVED_MINIMUM)
        tx.edit(FUNCTIONS, name)["_ReservedConcurrentExecutions"] = wanted
        return {"ReservedConcurrentExecutions": wanted}

    def get_function_concurrency(self, ctx, p):
        name, _ = split_name(p["FunctionName"])
        record = get_function(ctx.tx, name, ctx.account_id)
        value = record.get("_ReservedConcurrentExecutions")
        return {} if value is None else {"ReservedConcurrentExecutions": value}

    def delete_function_concurrency(self, ctx, p):
        name, _ = split_name(p["FunctionName"])
        get_function(ctx.tx, name, ctx.account_id)
        ctx.tx.edit(FUNCTIONS, name).pop("_ReservedConcurrentExecutions", None)
        return {}

    # ---- provisioned ------------------------------------------------------------------------

    def put_provisioned_concurrency_config(self, ctx, p):
        tx = ctx.tx
        name, qualifier = _qualified(tx, ctx, p)
        if qualifier in (None, LATEST):
            raise lambda_error("provisioned_latest")
        if qualifier.isdigit():
            get_version(tx, name, qualifier, ctx.account_id)
        elif tx.get(ALIASES, f"{name}:{qualifier}") is None:
            raise not_found(tx, name, qualifier, ctx.account_id)
        wanted = p["ProvisionedConcurrentExecutions"]
        record = tx.edit(FUNCTIONS, name)
        configs = record.setdefault("_Provisioned", {})
        reserved = record.get("_ReservedConcurrentExecutions")
        others = sum(c["RequestedProvisionedConcurrentExecutions"]
                     for q, c in configs.items() if q != qualifier)
        if reserved is not None and others + wanted > reserved:
            raise lambda_error("provisioned_too_high")
        configs[qualifier] = {
            "RequestedProvisionedConcurrentExecutions": wanted,
            "AllocatedProvisionedConcurrentExecutions": 0,
            "AvailableProvisionedConcurrentExecutions": 0,
            "Status": "IN_PROGRESS", "LastModified": last_modified()}
        tx.after_commit(lambda: lifecycle.schedule(self, ctx.region, ctx.account_id, name))
        return dict(configs[qualifier])

    def get_provisioned_concurrency_config(self, ctx, p):
        name, qualifier = _qualified(ctx.tx, ctx, p)
        config = (ctx.tx.get(FUNCTIONS, name).get("_Provisioned") or {}).get(qualifier)
        if config is None:
            raise lambda_error("provisioned_not_found")
        return config

    def delete_provisioned_concurrency_config(self, ctx, p):
        name, qualifier = _qualified(ctx.tx, ctx, p)
        if qualifier not in (ctx.tx.get(FUNCTIONS, name).get("_Provisioned") or {}):
            raise lambda_error("provisioned_not_found")
        del ctx.tx.edit(FUNCTIONS, name)["_Provisioned"][qualifier]
        return {}

    def list_provisioned_concurrency_configs(self, ctx, p):
        name, _ = _qualified(ctx.tx, ctx, p)
        configs = ctx.tx.get(FUNCTIONS, name).get("_Provisioned") or {}
        items = [{"FunctionArn": function_arn(ctx, ctx.account_id, name, q),
                  **{k: c[k] for k in PROVISIONED_FIELDS if k in c}}
                 for q, c in sorted(configs.items())]
        configs_page, marker = page(items, p)
        return {"ProvisionedConcurrencyConfigs": configs_page, "NextMarker": marker}
