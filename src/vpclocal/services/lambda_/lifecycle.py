"""Function states: Pending -> Active | Failed on create, InProgress -> Successful | Failed on
update, and provisioned concurrency IN_PROGRESS -> READY.

The transitional phase is real: the operation answers with it and a timer settles it a moment
later in its own transaction (creating the Hyperplane ENIs), so a request made meanwhile meets
AWS's ResourceConflictException. The phase is far shorter than a waiter's poll interval (1 s).
Whatever a restart interrupted is settled when the provider starts.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from vpclocal.errors import ServiceError
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.model import FUNCTIONS, VERSIONS, versions_of
from vpclocal.services.lambda_.vpc import collect_enis, ensure_enis

log = logging.getLogger("vpclocal.lambda")

SETTLE_SECONDS = 0.1

CREATING = {"State": "Pending", "StateReason": "The function is being created.",
            "StateReasonCode": "Creating"}
UPDATING = {"LastUpdateStatus": "InProgress",
            "LastUpdateStatusReason": "The function is being created.",
            "LastUpdateStatusReasonCode": "Creating"}
STATE_KEYS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
              "LastUpdateStatusReason", "LastUpdateStatusReasonCode")

# EC2 error while creating ENIs -> (reason code, reason). The texts follow the Lambda API's
# descriptions of the matching invoke errors (AWS's exact StateReason is unconfirmed).
FAILURES = {
    "InsufficientFreeAddressesInSubnet": (
        "SubnetOutOfIPAddresses", ("Lambda couldn't set up VPC access for the Lambda function "
        "because one or more configured subnets has no available IP addresses.")),
    "InvalidSubnetID.NotFound": ("InvalidSubnet", "The subnet ID of the function is invalid."),
    "InvalidGroup.NotFound": ("InvalidSecurityGroup",
                              "The security group ID of the function is invalid."),
}
INTERNAL = ("InternalError", ("Lambda encountered an internal error while creating the "
            "function's network interfaces."))


def busy(record: dict) -> bool:
    return record.get("State") == "Pending" or record.get("LastUpdateStatus") == "InProgress"


def check_ready(record: dict) -> None:
    """Refuse a change while the function is being created or updated (AWS's 409s)."""
    if record.get("State") == "Pending":
        raise lambda_error("state", arn=record["FunctionArn"], state="Pending",
                           reason=record.get("StateReasonCode", "Creating"))
    if record.get("LastUpdateStatus") == "InProgress":
        raise lambda_error("updating", arn=record["FunctionArn"])


def start_create(record: dict, needs_work: bool) -> None:
    """A new function: Pending while it has ENIs to get, Active at once otherwise."""
    for key in STATE_KEYS:
        record.pop(key, None)
    if needs_work:
        record.update(CREATING)
    else:
        record.update(State="Active", LastUpdateStatus="Successful")


def start_update(record: dict, before: dict) -> None:
    """An update: invokes keep running `before` (the configuration in use) until it lands."""
    record["_Live"] = record.get("_Live") or {k: v for k, v in before.items() if k != "_Live"}
    for key in STATE_KEYS[3:]:
        record.pop(key, None)
    record.update(UPDATING)


def schedule(provider, scope: str, account: str, name: str) -> None:
    """Settle `name` shortly (after the current transaction commits)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop (called outside the server): settle right away
        settle(provider, scope, account, name)
        return
    loop.call_later(SETTLE_SECONDS, settle, provider, scope, account, name)


def _succeeded(record: dict) -> None:
    for key in STATE_KEYS:
        record.pop(key, None)
    record.pop("_Live", None)
    record.update(State="Active", LastUpdateStatus="Successful")


def _failed(record: dict, code: str, reason: str) -> None:
    if record.get("State") == "Pending":
        record.update(State="Failed", StateReason=reason, StateReasonCode=code)
    record.update(LastUpdateStatus="Failed", LastUpdateStatusReason=reason,
                  LastUpdateStatusReasonCode=code)


def _pending_versions(tx, name: str) -> list[str]:
    return [v["Version"] for v in versions_of(tx, name) if v.get("State") == "Pending"]


def settle(provider, scope: str, account: str, name: str) -> None:
    """Finish whatever is in progress for a function: ENIs, states, provisioned concurrency."""
    store = provider.app.store
    ctx = SimpleNamespace(account_id=account, region=scope)
    try:
        with store.transaction(scope) as tx:
            record = tx.get(FUNCTIONS, name)
            if record is None:
                return
            if busy(record):
                ensure_enis(tx, ctx, name, record.get("VpcConfig"))
                _succeeded(tx.edit(FUNCTIONS, name))
            for version in _pending_versions(tx, name):
                _succeeded(tx.edit(VERSIONS, f"{name}:{version}"))
            _ready_provisioned(tx, name)
            collect_enis(tx)
    except Exception as exc:  # any failure, even a bug of ours: never leave it Pending forever
        code, reason = FAILURES.get(getattr(exc, "code", ""), INTERNAL)
        if isinstance(exc, ServiceError):
            log.info("function %s failed to get its ENIs: %s", name, exc.message)
        else:
            log.exception("settling function %s", name)
        with store.transaction(scope) as tx:
            if tx.get(FUNCTIONS, name) is None:
                return
            _failed(tx.edit(FUNCTIONS, name), code, reason)
            for version in _pending_versions(tx, name):
                _failed(tx.edit(VERSIONS, f"{name}:{version}"), code, reason)
            collect_enis(tx)


def _ready_provisioned(tx, name: str) -> None:
    configs = tx.get(FUNCTIONS, name).get("_Provisioned") or {}
    if any(c["Status"] == "IN_PROGRESS" for c in configs.values()):
        record = tx.edit(FUNCTIONS, name)
        for config in record["_Provisioned"].values():
            if config["Status"] == "IN_PROGRESS":
                requested = config["RequestedProvisionedConcurrentExecutions"]
                config.update(Status="READY", AllocatedProvisionedConcurrentExecutions=requested,
                              AvailableProvisionedConcurrentExecutions=requested)


def needs_settling(record: dict) -> bool:
    configs = record.get("_Provisioned") or {}
    return busy(record) or any(c["Status"] == "IN_PROGRESS" for c in configs.values())


def settle_all(provider, scopes: list[str], account: str) -> None:
    """At start: finish what the previous run left in progress."""
    for scope in scopes:
        view = provider.app.store.view(scope)
        names = [n for n, r in view.all(FUNCTIONS).items() if needs_settling(r)]
        names += [v["FunctionName"] for v in view.all(VERSIONS).values()
                  if v.get("State") == "Pending"]
        for name in dict.fromkeys(names):
            settle(provider, scope, account, name)
