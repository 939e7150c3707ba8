"""Function policies: the resource-based policy AddPermission, RemovePermission and GetPolicy
manage (EventBridge targets and other callers grant themselves invoke rights with them).

Kind (region scope): "function_policies", keyed by function name for the function's own
policy (the unqualified ARN) or "<name>:<qualifier>" for a version's or an alias's:
{"Statement": [statement, ...]} in AWS's statement shape. A policy with no statement left is
removed. Adding or removing a statement gives the function (or the version or alias the policy
belongs to) a new RevisionId, which GetPolicy answers, as AWS does.
"""

from __future__ import annotations

import json
import re

from vpclocal.errors import ServiceError
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.model import (
    ALIASES,
    FUNCTIONS,
    LATEST,
    VERSIONS,
    function_arn,
    not_found,
    revision_id,
    split_name,
)

POLICIES = "function_policies"
POLICY_LIMIT = 20480  # bytes of the policy document, as AWS measures it (compact JSON)

_ACCOUNT = re.compile(r"\d{12}")
# IAM identities an account can name as a principal: the account root, a user, a role, an
# assumed-role session
_IDENTITY_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam::\d{12}:(?:root|user/.+|role/.+)"
                           r"|sts::\d{12}:assumed-role/.+)")
# service principals: s3.amazonaws.com, events.amazonaws.com, alexa-appkit.amazon.com...
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.(?:amazonaws\.com(?:\.cn)?|amazon\.com)")


def _not_found(message: str) -> ServiceError:
    return ServiceError(message, code="ResourceNotFoundException", status=404)


def _compact(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))


def document(statements: list[dict]) -> dict:
    """The policy document GetPolicy answers: AWS writes Version, Id "default", Statement."""
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}


def policy_key(name: str, qualifier: str | None) -> str:
    """A policy's key: the function's own ($LATEST is the unqualified function) or a version's
    or an alias's."""
    return name if qualifier in (None, LATEST) else f"{name}:{qualifier}"


def drop_policies(tx, name: str, qualifier: str | None = None) -> None:
    """Delete the policy of a deleted version or alias (qualifier), or every policy of a
    deleted function (no qualifier)."""
    if qualifier is not None:
        tx.delete(POLICIES, policy_key(name, qualifier))
        return
    for key in list(tx.all(POLICIES)):
        if key == name or key.startswith(name + ":"):
            tx.delete(POLICIES, key)


def function_policy(view, region: str, function_name: str, qualifier: str | None) -> str | None:
    """The policy document (JSON text, as GetPolicy answers it) of a function, or of one of its
    versions or aliases, or None when it has none.

    `function_name` is a name or an ARN (an ARN's qualifier counts when `qualifier` is None);
    `qualifier` None or "$LATEST" is the function's own policy, a version number or an alias
    name that version's or alias's. Reads scope `region` (the function's region) whatever
    scope `view` (a store View or an open Transaction) was opened on: no transaction needed.
    """
    name, qualifier = split_name(function_name, qualifier)
    policy = view.get(POLICIES, policy_key(name, qualifier), scope=region)
    return _compact(document(policy["Statement"])) if policy else None


def _principal(value: str):
    if value == "*":
        return "*"
    if _ACCOUNT.fullmatch(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if _IDENTITY_ARN.fullmatch(value):
        return {"AWS": value}
    if _SERVICE.fullmatch(value):
        return {"Service": value}
    raise ServiceError("The provided principal was invalid. Please check the principal and "
                       "try again.", code="InvalidParameterValueException")


def _condition(p: dict) -> dict:
    """The conditions AddPermission's parameters become, in AWS's operators and keys."""
    equals = {}
    if p.get("SourceAccount"):
        equals["AWS:SourceAccount"] = p["SourceAccount"]
    if p.get("PrincipalOrgID"):
        equals["aws:PrincipalOrgID"] = p["PrincipalOrgID"]
    if p.get("EventSourceToken"):
        equals["lambda:EventSourceToken"] = p["EventSourceToken"]
    if p.get("FunctionUrlAuthType"):
        equals["lambda:FunctionUrlAuthType"] = p["FunctionUrlAuthType"]
    condition = {"StringEquals": equals} if equals else {}
    if p.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": p["SourceArn"]}
    if p.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    return condition


class PermissionOperations:
    def _policy_owner(self, ctx, p) -> tuple[str, str | None, str, str]:
        """(function name, qualifier, record kind, record key) of the function, version or
        alias whose policy a request addresses; Lambda's 404 when it does not exist."""
        tx = ctx.tx
        name, qualifier = split_name(p["FunctionName"], p.get("Qualifier"))
        if tx.get(FUNCTIONS, name) is None:
            raise not_found(tx, name, qualifier, ctx.account_id)
        if qualifier in (None, LATEST):
            return name, qualifier, FUNCTIONS, name
        kind = VERSIONS if qualifier.isdigit() else ALIASES
        if tx.get(kind, f"{name}:{qualifier}") is None:
            raise not_found(tx, name, qualifier, ctx.account_id)
        return name, qualifier, kind, f"{name}:{qualifier}"

    @staticmethod
    def _check_revision(tx, kind: str, key: str, p: dict) -> None:
        if p.get("RevisionId") and p["RevisionId"] != tx.get(kind, key)["RevisionId"]:
            raise lambda_error("revision")

    def add_permission(self, ctx, p):
        tx = ctx.tx
        name, qualifier, kind, key = self._policy_owner(ctx, p)
        if qualifier == LATEST:
            raise ServiceError("We currently do not support adding policies for $LATEST.",
                               code="InvalidParameterValueException")
        self._check_revision(tx, kind, key, p)
        statement = {"Sid": p["StatementId"], "Effect": "Allow",
                     "Principal": _principal(p["Principal"]), "Action": p["Action"],
                     "Resource": function_arn(ctx, ctx.account_id, name, qualifier)}
        condition = _condition(p)
        if condition:
            statement["Condition"] = condition
        pkey = policy_key(name, qualifier)
        statements = list((tx.get(POLICIES, pkey) or {}).get("Statement", []))
        if any(s["Sid"] == p["StatementId"] for s in statements):
            raise ServiceError(
                f"The statement id ({p['StatementId']}) provided already exists. Please provide "
                "a new statement id, or remove the existing statement.",
                code="ResourceConflictException", status=409)
        statements.append(statement)
        size = len(_compact(document(statements)))
        if size > POLICY_LIMIT:
            raise ServiceError(f"The final policy size ({size}) is bigger than the limit "
                               f"({POLICY_LIMIT}).", code="PolicyLengthExceededException")
        tx.put(POLICIES, pkey, {"Statement": statements})
        tx.edit(kind, key)["RevisionId"] = revision_id()
        return {"Statement": _compact(statement)}

    def remove_permission(self, ctx, p):
        tx = ctx.tx
        name, qualifier, kind, key = self._policy_owner(ctx, p)
        pkey = policy_key(name, qualifier)
        policy = tx.get(POLICIES, pkey)
        if policy is None:
            raise _not_found("No policy is associated with the given resource.")
        sid = p["StatementId"]
        kept = [s for s in policy["Statement"] if s["Sid"] != sid]
        if len(kept) == len(policy["Statement"]):
            raise _not_found(f"Statement {sid} is not found in resource policy.")
        self._check_revision(tx, kind, key, p)
        if kept:
            tx.put(POLICIES, pkey, {"Statement": kept})
        else:
            tx.delete(POLICIES, pkey)
        tx.edit(kind, key)["RevisionId"] = revision_id()
        return {}

    def get_policy(self, ctx, p):
        tx = ctx.tx
        name, qualifier, kind, key = self._policy_owner(ctx, p)
        policy = tx.get(POLICIES, policy_key(name, qualifier))
        if policy is None:
            raise _not_found("The resource you requested does not exist.")
        return {"Policy": _compact(document(policy["Statement"])),
                "RevisionId": tx.get(kind, key)["RevisionId"]}
