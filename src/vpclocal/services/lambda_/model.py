"""Lambda's records in the store, and the look-ups Invoke and the runtime use.

Kinds (region scope):
- "functions", keyed by function name: $LATEST in the FunctionConfiguration shape, plus
  internal keys: `_CodePath` (absolute path of the zip), `_Tags` {key: value},
  `_ReservedConcurrentExecutions` (absent when none), `_Provisioned` {qualifier: config},
  `_NextVersion` (version numbers are never reused), and `_Live` while an update is in
  progress (or failed): the configuration invokes keep using until it lands.
- "function_versions", keyed "<name>:<version>": published versions, same shape, immutable.
- "function_aliases", keyed "<name>:<alias>": the AliasConfiguration shape.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import uuid

from vpclocal.services.lambda_.errors import lambda_error

FUNCTIONS = "functions"
VERSIONS = "function_versions"
ALIASES = "function_aliases"
LATEST = "$LATEST"

# name, partial ARN (123456789012:function:name) or full ARN, each with an optional :qualifier
# a FunctionName parameter in any of its forms: name, name:qualifier, account:function:name,
# or the function's ARN (partial or full)
FUNCTION_NAME = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:)?(?:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?")


def _region(ctx_or_region) -> str:
    return ctx_or_region if isinstance(ctx_or_region, str) else ctx_or_region.region


def function_arn(ctx_or_region, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{_region(ctx_or_region)}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def split_name(value: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """(function name, qualifier) from a FunctionName parameter and an optional Qualifier."""
    found = FUNCTION_NAME.fullmatch(value or "")
    if found is None:
        return value, qualifier
    derived = found["qualifier"]
    if derived and qualifier and derived != qualifier:
        raise lambda_error("qualifier_mismatch")
    return found["name"], derived or qualifier


def last_modified() -> str:
    """Lambda's LastModified: 2026-11-26T20:11:01.234+0000."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def revision_id() -> str:
    return str(uuid.uuid4())


def public(record: dict) -> dict:
    """A record as clients see it: without the internal `_` keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def default_account() -> str:
    """The account of this server (as vpclocal.config.Config reads it), for error ARNs."""
    return os.environ.get("VPCLOCAL_ACCOUNT_ID", "000000000000")


def not_found(tx, name: str, qualifier: str | None = None, account: str | None = None):
    return lambda_error("function_not_found", arn=function_arn(
        tx.scope, account or default_account(), name, qualifier))


def get_function(tx, name: str, account: str | None = None) -> dict:
    """The $LATEST record of a function, or Lambda's 404."""
    rec = tx.get(FUNCTIONS, name)
    if rec is None:
        raise not_found(tx, name, account=account)
    return rec


def get_version(tx, name: str, version: str, account: str | None = None) -> dict:
    """$LATEST or a published version's record, or Lambda's 404 naming the qualified ARN."""
    if version == LATEST:
        return get_function(tx, name, account)
    rec = tx.get(VERSIONS, f"{name}:{version}")
    if rec is None:
        raise not_found(tx, name, version, account)
    return rec


def versions_of(tx, name: str) -> list[dict]:
    """Published versions of a function, oldest first."""
    prefix = name + ":"
    found = [v for k, v in tx.all(VERSIONS).items() if k.startswith(prefix)]
    return sorted(found, key=lambda v: int(v["Version"]))


def aliases_of(tx, name: str) -> list[dict]:
    prefix = name + ":"
    return sorted((a for k, a in tx.all(ALIASES).items() if k.startswith(prefix)),
                  key=lambda a: a["Name"])


def pick_version(alias: dict) -> str:
    """The version an invoke through an alias runs: its RoutingConfig weights decide."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    roll = random.random()
    for version, weight in weights.items():
        if roll < weight:
            return version
        roll -= weight
    return alias["FunctionVersion"]


def resolve(tx, function_name_or_arn: str, qualifier: str | None = None,
            account: str | None = None) -> tuple[dict, str]:
    """(the configuration record that runs, the executed version) for an invoke.

    The record has the internal keys (`_CodePath`...) and must not be mutated. For $LATEST
    during an update it is the configuration from before the update (invokes keep it until the
    update lands). Unknown function, version or alias: ResourceNotFoundException.
    """
    name, qualifier = split_name(function_name_or_arn, qualifier)
    latest = tx.get(FUNCTIONS, name)
    if latest is None:
        raise not_found(tx, name, qualifier, account)
    if qualifier in (None, LATEST):
        return latest.get("_Live") or latest, LATEST
    if not qualifier.isdigit():
        alias = tx.get(ALIASES, f"{name}:{qualifier}")
        if alias is None:
            raise not_found(tx, name, qualifier, account)
        qualifier = pick_version(alias)
        if qualifier == LATEST:
            return latest.get("_Live") or latest, LATEST
    return get_version(tx, name, qualifier, account), qualifier


def invocable(record: dict) -> None:
    """Raise AWS's ResourceConflictException when the function cannot run in its state."""
    state = record.get("State", "Active")
    if state != "Active":
        raise lambda_error("state", arn=record["FunctionArn"], state=state,
                           reason=record.get("StateReasonCode", ""))


def reserved_concurrency(tx, name: str) -> int | None:
    """The function's reserved concurrency, or None when it draws on the unreserved pool."""
    rec = tx.get(FUNCTIONS, name)
    return None if rec is None else rec.get("_ReservedConcurrentExecutions")


def provisioned_concurrency(tx, name: str) -> dict[str, int]:
    """Provisioned concurrency per qualifier (version number or alias name) as requested."""
    rec = tx.get(FUNCTIONS, name)
    configs = (rec or {}).get("_Provisioned") or {}
    return {q: c["RequestedProvisionedConcurrentExecutions"] for q, c in configs.items()}


def page(items: list, p: dict, default: int = 50) -> tuple[list, str | None]:
    """One page of a listing by Marker/MaxItems; the marker is the next item's position."""
    marker = p.get("Marker")
    if marker is not None and not marker.isdigit():
        raise lambda_error("bad_marker", marker=marker)
    start = int(marker or 0)
    size = p.get("MaxItems") or default
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)
