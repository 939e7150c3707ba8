"""Published versions: immutable snapshots of $LATEST numbered 1, 2, 3 ..."""

from __future__ import annotations

from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.lifecycle import CREATING, STATE_KEYS, busy, check_ready
from vpclocal.services.lambda_.model import (
    FUNCTIONS,
    LATEST,
    VERSIONS,
    function_arn,
    get_function,
    last_modified,
    page,
    public,
    revision_id,
    split_name,
    versions_of,
)

# What makes two snapshots the same function: everything but identity, time and state.
NOT_COMPARED = {"FunctionArn", "Version", "RevisionId", "LastModified", "Description",
                *STATE_KEYS}


def _same(a: dict, b: dict) -> bool:
    keys = (set(public(a)) | set(public(b))) - NOT_COMPARED
    return all(a.get(k) == b.get(k) for k in keys)


def publish(tx, ctx, record: dict, description: str | None = None) -> dict:
    """Publish `record` ($LATEST as it stands in this transaction) as a version; an unchanged
    function gives its latest version back, as AWS does."""
    name = record["FunctionName"]
    existing = versions_of(tx, name)
    if existing and _same(existing[-1], record):
        return existing[-1]
    number = record.get("_NextVersion", 1)
    tx.edit(FUNCTIONS, name)["_NextVersion"] = number + 1
    version = {k: v for k, v in public(record).items() if k not in STATE_KEYS}
    version.update(Version=str(number), _CodePath=record["_CodePath"],
                   FunctionArn=function_arn(ctx, ctx.account_id, name, str(number)),
                   RevisionId=revision_id(), LastModified=last_modified())
    if description is not None:
        version["Description"] = description
    if busy(record):  # Active once $LATEST's ENIs exist
        version.update(CREATING)
    elif record.get("State") == "Failed":
        version.update({k: record[k] for k in STATE_KEYS if k in record})
    else:
        version.update(State="Active", LastUpdateStatus="Successful")
    return tx.put(VERSIONS, f"{name}:{number}", version)


class VersionOperations:
    def publish_version(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        record = get_function(tx, name, ctx.account_id)
        check_ready(record)
        given = p.get("CodeSha256")
        if given and given != record["CodeSha256"]:
            raise lambda_error("code_sha", given=given, current=record["CodeSha256"])
        if p.get("RevisionId") and p["RevisionId"] != record["RevisionId"]:
            raise lambda_error("revision")
        return public(publish(tx, ctx, record, p.get("Description")))

    def list_versions_by_function(self, ctx, p):
        tx = ctx.tx
        name, _ = split_name(p["FunctionName"])
        latest = dict(public(get_function(tx, name, ctx.account_id)))
        latest["FunctionArn"] = function_arn(ctx, ctx.account_id, name, LATEST)
        items, marker = page([latest] + [public(v) for v in versions_of(tx, name)], p)
        return {"Versions": items, "NextMarker": marker}
