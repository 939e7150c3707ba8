"""Functions: create, read, update, delete, list."""

from __future__ import annotations

from vpclocal.services.lambda_ import lifecycle
from vpclocal.services.lambda_.code import check_code, code_location, prune, save_zip
from vpclocal.services.lambda_.configuration import DEFAULTS, apply
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.lifecycle import STATE_KEYS, check_ready
from vpclocal.services.lambda_.model import (
    ALIASES,
    FUNCTIONS,
    LATEST,
    VERSIONS,
    aliases_of,
    function_arn,
    get_function,
    get_version,
    last_modified,
    not_found,
    page,
    public,
    revision_id,
    split_name,
    versions_of,
)
from vpclocal.services.lambda_.permissions import drop_policies
from vpclocal.services.lambda_.versions import publish
from vpclocal.services.lambda_.vpc import NO_VPC, collect_enis


def addressed(tx, ctx, p) -> tuple[dict, str | None]:
    """The record a FunctionName (+ Qualifier) addresses and the qualifier it was named by."""
    name, qualifier = split_name(p["FunctionName"], p.get("Qualifier"))
    latest = tx.get(FUNCTIONS, name)
    if latest is None:
        raise not_found(tx, name, qualifier, ctx.account_id)
    if qualifier is None or qualifier == LATEST:
        return latest, qualifier
    if qualifier.isdigit():
        return get_version(tx, name, qualifier, ctx.account_id), qualifier
    alias = tx.get(ALIASES, f"{name}:{qualifier}")
    if alias is None:
        raise not_found(tx, name, qualifier, ctx.account_id)
    return get_version(tx, name, alias["FunctionVersion"], ctx.account_id), qualifier


def configuration(ctx, record: dict, qualifier: str | None = None) -> dict:
    """FunctionConfiguration as a client sees it; FunctionArn names the qualifier used."""
    out = public(record)
    if qualifier is not None:
        out["FunctionArn"] = function_arn(ctx, ctx.account_id, record["FunctionName"], qualifier)
    return out


def _code_paths(tx) -> set[str]:
    """Zips some record still runs (a replaced package is kept: execution environments may
    still be reading it)."""
    return {r["_CodePath"] for kind in (FUNCTIONS, VERSIONS) for r in tx.all(kind).values()}


class FunctionOperations:
    def _settle_later(self, ctx, name: str) -> None:
        ctx.tx.after_commit(lambda: lifecycle.schedule(self, ctx.region, ctx.account_id, name))

    def _prune_later(self, tx, candidates: set[str]) -> None:
        # after commit: the transaction's deletions are then visible to the check
        tx.after_commit(lambda: prune(_code_paths(self.app.store.view(tx.scope)), candidates))

    def create_function(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        if tx.get(FUNCTIONS, name) is not None:
            raise lambda_error("function_exists", name=name)
        if p.get("PackageType", "Zip") != "Zip":
            raise lambda_error("zip_only", what="PackageType Image")
        if not p.get("Runtime") or not p.get("Handler"):
            raise lambda_error("runtime_handler")
        record = {"FunctionName": name, "FunctionArn": function_arn(ctx, ctx.account_id, name),
                  **DEFAULTS, "VpcConfig": dict(NO_VPC), "Version": LATEST}
        apply(tx, record, p, creating=True)
        blob = check_code(p["Code"], ctx.operation)
        record.update(save_zip(self.app, blob), LastModified=last_modified(),
                      RevisionId=revision_id(), _Tags=dict(p.get("Tags") or {}))
        if p.get("Architectures"):
            record["Architectures"] = p["Architectures"]
        vpc = bool(record["VpcConfig"]["SubnetIds"])
        lifecycle.start_create(record, needs_work=vpc)
        tx.put(FUNCTIONS, name, record)
        if vpc:
            self._settle_later(ctx, name)
        if p.get("Publish"):
            return public(publish(tx, ctx, record))
        return public(record)

    def get_function(self, ctx, p):
        record, qualifier = addressed(ctx.tx, ctx, p)
        latest = ctx.tx.get(FUNCTIONS, record["FunctionName"])
        out = {"Configuration": configuration(ctx, record, qualifier),
               "Code": {"RepositoryType": "S3", "Location": code_location(self.app, record)}}
        if latest["_Tags"]:
            out["Tags"] = latest["_Tags"]
        if latest.get("_ReservedConcurrentExecutions") is not None:
            out["Concurrency"] = {
                "ReservedConcurrentExecutions": latest["_ReservedConcurrentExecutions"]}
        return out

    def get_function_configuration(self, ctx, p):
        record, qualifier = addressed(ctx.tx, ctx, p)
        return configuration(ctx, record, qualifier)

    def list_functions(self, ctx, p):
        tx = ctx.tx
        everything = p.get("FunctionVersion") == "ALL"
        items = []
        for name in sorted(tx.all(FUNCTIONS)):
            records = [public(tx.get(FUNCTIONS, name))]
            if everything:  # every version, $LATEST's ARN qualified too, as AWS lists them
                records[0]["FunctionArn"] = function_arn(ctx, ctx.account_id, name, LATEST)
                records += [public(v) for v in versions_of(tx, name)]
            # ListFunctions leaves the state fields out (AWS: use GetFunction for them)
            items += [{k: v for k, v in r.items() if k not in STATE_KEYS} for r in records]
        functions, marker = page(items, p)
        return {"Functions": functions, "NextMarker": marker}

    def delete_function(self, ctx, p):
        tx = ctx.tx
        name, qualifier = split_name(p["FunctionName"], p.get("Qualifier"))
        record = get_function(tx, name, ctx.account_id)
        if qualifier == LATEST:
            raise lambda_error("latest_delete")
        if qualifier is not None:
            version = get_version(tx, name, qualifier, ctx.account_id)
            users = [a["Name"] for a in aliases_of(tx, name)
                     if a["FunctionVersion"] == qualifier
                     or qualifier in ((a.get("RoutingConfig") or {})
                                      .get("AdditionalVersionWeights") or {})]
            if users:
                raise lambda_error("version_in_use", aliases=", ".join(users))
            tx.delete(VERSIONS, f"{name}:{qualifier}")
            drop_policies(tx, name, qualifier)
            if qualifier in (record.get("_Provisioned") or {}):
                del tx.edit(FUNCTIONS, name)["_Provisioned"][qualifier]
            paths = {version["_CodePath"]}
        else:
            paths = {record["_CodePath"]}
            for version in versions_of(tx, name):
                paths.add(version["_CodePath"])
                tx.delete(VERSIONS, f"{name}:{version['Version']}")
            for alias in aliases_of(tx, name):
                tx.delete(ALIASES, f"{name}:{alias['Name']}")
            tx.delete(FUNCTIONS, name)
            drop_policies(tx, name)
        collect_enis(tx)
        self._prune_later(tx, paths)
        return {"StatusCode": 204}

    def update_function_code(self, ctx, p):
        tx = ctx.tx
        name, current = _updatable(ctx, p)
        blob = check_code(p, ctx.operation)
        if p.get("DryRun"):
            return public(current)
        record = tx.edit(FUNCTIONS, name)
        lifecycle.start_update(record, current)
        record.update(save_zip(self.app, blob), LastModified=last_modified(),
                      RevisionId=revision_id())
        if p.get("Architectures"):
            record["Architectures"] = p["Architectures"]
        self._settle_later(ctx, name)
        if p.get("Publish"):
            return public(publish(tx, ctx, record))
        return public(record)

    def update_function_configuration(self, ctx, p):
        tx = ctx.tx
        name, current = _updatable(ctx, p)
        record = tx.edit(FUNCTIONS, name)
        apply(tx, record, p, creating=False)
        lifecycle.start_update(record, current)
        record.update(LastModified=last_modified(), RevisionId=revision_id())
        self._settle_later(ctx, name)
        return public(record)


def _updatable(ctx, p) -> tuple[str, dict]:
    """(name, record) of the function an update names: it must be ready (not Pending or
    mid-update) and, when RevisionId is given, at that revision."""
    name, _ = split_name(p["FunctionName"])
    current = get_function(ctx.tx, name, ctx.account_id)
    check_ready(current)
    if p.get("RevisionId") and p["RevisionId"] != current["RevisionId"]:
        raise lambda_error("revision")
    return name, current
