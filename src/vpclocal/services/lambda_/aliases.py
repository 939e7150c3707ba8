"""Aliases: a name for a version, optionally splitting traffic with a second version."""

from __future__ import annotations

from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.model import (
    ALIASES,
    FUNCTIONS,
    LATEST,
    aliases_of,
    function_arn,
    get_function,
    get_version,
    page,
    public,
    revision_id,
    split_name,
)
from vpclocal.services.lambda_.permissions import drop_policies


def _alias_arn(ctx, name: str, alias: str) -> str:
    return function_arn(ctx, ctx.account_id, name, alias)


def _get_alias(tx, ctx, name: str, alias: str) -> dict:
    get_function(tx, name, ctx.account_id)
    record = tx.get(ALIASES, f"{name}:{alias}")
    if record is None:
        raise lambda_error("alias_not_found", arn=_alias_arn(ctx, name, alias))
    return record


def _check_target(tx, ctx, name: str, version: str, routing: dict | None) -> None:
    get_version(tx, name, version, ctx.account_id)
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if weights and version == LATEST:
        raise lambda_error("alias_version")
    for extra in weights:
        get_version(tx, name, extra, ctx.account_id)


class AliasOperations:
    def create_alias(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        get_function(tx, name, ctx.account_id)
        alias = p["Name"]
        if tx.get(ALIASES, f"{name}:{alias}") is not None:
            raise lambda_error("alias_exists", arn=_alias_arn(ctx, name, alias))
        _check_target(tx, ctx, name, p["FunctionVersion"], p.get("RoutingConfig"))
        record = {"AliasArn": _alias_arn(ctx, name, alias), "Name": alias,
                  "FunctionVersion": p["FunctionVersion"],
                  "Description": p.get("Description", ""), "RevisionId": revision_id()}
        if p.get("RoutingConfig") is not None:
            record["RoutingConfig"] = p["RoutingConfig"]
        return tx.put(ALIASES, f"{name}:{alias}", record)

    def get_alias(self, ctx, p):
        name, _ = split_name(p["FunctionName"])
        return _get_alias(ctx.tx, ctx, name, p["Name"])

    def update_alias(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        current = _get_alias(tx, ctx, name, p["Name"])
        if p.get("RevisionId") and p["RevisionId"] != current["RevisionId"]:
            raise lambda_error("revision")
        version = p.get("FunctionVersion") or current["FunctionVersion"]
        routing = p.get("RoutingConfig", current.get("RoutingConfig"))
        _check_target(tx, ctx, name, version, routing)
        record = tx.edit(ALIASES, f"{name}:{p['Name']}")
        record.update(FunctionVersion=version, RevisionId=revision_id())
        if p.get("Description") is not None:
            record["Description"] = p["Description"]
        if p.get("RoutingConfig") is not None:
            record["RoutingConfig"] = p["RoutingConfig"]
        return record

    def delete_alias(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        get_function(tx, name, ctx.account_id)
        if tx.get(ALIASES, f"{name}:{p['Name']}") is not None:  # none: 204 too (unconfirmed)
            tx.delete(ALIASES, f"{name}:{p['Name']}")
            drop_policies(tx, name, p["Name"])
            provisioned = tx.get(FUNCTIONS, name).get("_Provisioned") or {}
            if p["Name"] in provisioned:
                del tx.edit(FUNCTIONS, name)["_Provisioned"][p["Name"]]
        return {}

    def list_aliases(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        get_function(tx, name, ctx.account_id)
        items = [public(a) for a in aliases_of(tx, name)
                 if not p.get("FunctionVersion") or a["FunctionVersion"] == p["FunctionVersion"]]
        aliases, marker = page(items, p)
        return {"Aliases": aliases, "NextMarker": marker}
