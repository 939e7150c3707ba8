"""Bucket policies: PutBucketPolicy (validated as S3 validates), GetBucketPolicy,
DeleteBucketPolicy, GetBucketPolicyStatus.

A bucket's policy is its record's "Policy": the document as S3 gives it back (compact JSON,
the members in the order they were written).
"""

from __future__ import annotations

import fnmatch
import json
import re

from vpclocal.errors import ServiceError

SCOPE = "global"
BUCKETS = "s3_buckets"  # one record per bucket, in scope "global"
POLICY_LIMIT = 20 * 1024  # user guide: "Bucket policies are limited to 20 KB in size"

_ACCOUNT = re.compile(r"\d{12}")
_AWS_PRINCIPAL = re.compile(r"arn:aws[a-z-]*:(?:iam::\d{12}:(?:root|user/.+|role/.+)"
                            r"|sts::\d{12}:assumed-role/.+)")
_ACTION = re.compile(r"s3:[A-Za-z*?]+")
_S3_ARN = re.compile(r"arn:aws[a-z-]*:s3:::(?P<bucket>[^/]+)(?P<key>/.*)?")
_EFFECTS = ("Allow", "Deny")


def bucket_policy(view, bucket: str) -> str | None:
    """A bucket's policy (the JSON text GetBucketPolicy answers), or None when the bucket has
    none or does not exist.

    Reads scope "global" (every bucket's record is there, whatever its region) whatever scope
    `view` (a store View or an open Transaction) was opened on: no transaction needed.
    """
    record = view.get(BUCKETS, bucket, scope=SCOPE)
    return record.get("Policy") if record else None


def _malformed(message: str) -> ServiceError:
    return ServiceError(message, code="MalformedPolicy")


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _check_principal(statement: dict) -> None:
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal:
        raise _malformed("Invalid principal in policy")
    for kind, values in principal.items():
        for value in _listed(values):
            if not isinstance(value, str) or not value:
                raise _malformed("Invalid principal in policy")
            if kind == "AWS" and not (value == "*" or _ACCOUNT.fullmatch(value)
                                      or _AWS_PRINCIPAL.fullmatch(value)):
                raise _malformed("Invalid principal in policy")
            if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
                raise _malformed("Invalid principal in policy")


def _object_action(action: str) -> bool | None:
    """Whether an action acts on objects (True) or on the bucket (False); None for a pattern
    (s3:*, s3:Get*, *), which may do either."""
    if action == "*" or "*" in action or "?" in action:
        return None
    name = action.split(":", 1)[1]
    return ("Object" in name and "Bucket" not in name) or name in (
        "AbortMultipartUpload", "ListMultipartUploadParts")


def _check_statement(statement, bucket: str) -> None:
    if not isinstance(statement, dict):
        raise _malformed("Statement is missing required element")
    actions = statement.get("Action", statement.get("NotAction"))
    resources = statement.get("Resource", statement.get("NotResource"))
    if "Effect" not in statement or actions is None or resources is None or (
            "Principal" not in statement and "NotPrincipal" not in statement):
        raise _malformed("Statement is missing required element")
    if statement["Effect"] not in _EFFECTS:
        raise _malformed(f"Invalid effect: {statement['Effect']}")
    _check_principal(statement)
    actions, resources = _listed(actions), _listed(resources)
    if not actions or any(not isinstance(a, str) or not (a == "*" or _ACTION.fullmatch(a))
                          for a in actions):
        raise _malformed("Policy has invalid action")
    objects = []  # per resource: whether it names objects (a key part) or the bucket
    for resource in resources:
        found = _S3_ARN.fullmatch(resource) if isinstance(resource, str) else None
        if found is None or not fnmatch.fnmatchcase(bucket, found["bucket"]):
            raise _malformed("Policy has invalid resource")
        objects.append(found["key"] is not None)
    for action in actions:
        kind = _object_action(action)
        if kind is not None and kind not in objects:
            raise _malformed("Action does not apply to any resource(s) in statement")


def check_policy(text: str, bucket: str) -> str:
    """The policy as S3 keeps it, or S3's MalformedPolicy for what it refuses."""
    if not text.startswith("{"):
        raise _malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text)
    except ValueError:
        raise _malformed("This policy contains invalid Json") from None
    if not isinstance(document, dict):
        raise _malformed("This policy contains invalid Json")
    statements = document.get("Statement")
    if not statements:
        raise _malformed("Missing required field Statement")  # unconfirmed
    for statement in _listed(statements):
        _check_statement(statement, bucket)
    kept = json.dumps(document, separators=(",", ":"))
    if len(kept.encode()) > POLICY_LIMIT:
        raise _malformed("Policy exceeds the maximum allowed document size.")  # unconfirmed
    return kept


def _public(text: str) -> bool:
    """S3's "public" test, simplified: an Allow to every principal without a condition."""
    for statement in _listed(json.loads(text).get("Statement") or []):
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict)
                                        and "*" in _listed(principal.get("AWS", [])))
        if statement.get("Effect") == "Allow" and everyone and not statement.get("Condition"):
            return True
    return False


class BucketPolicyOperations:
    def _policy(self, ctx, name: str) -> str:
        policy = self.bucket(ctx, name).get("Policy")
        if policy is None:
            raise ServiceError("The bucket policy does not exist", code="NoSuchBucketPolicy",
                               status=404, BucketName=name)
        return policy

    def put_bucket_policy(self, ctx, p):
        name = p["Bucket"]
        self.bucket(ctx, name)
        ctx.tx.edit(BUCKETS, name)["Policy"] = check_policy(p.get("Policy") or "", name)
        return {"_status": 204}  # S3 answers 204 No Content (the model says 200)

    def get_bucket_policy(self, ctx, p):
        return {"Policy": self._policy(ctx, p["Bucket"])}

    def delete_bucket_policy(self, ctx, p):
        self.bucket(ctx, p["Bucket"])
        ctx.tx.edit(BUCKETS, p["Bucket"]).pop("Policy", None)
        return {}

    def get_bucket_policy_status(self, ctx, p):
        return {"PolicyStatus": {"IsPublic": _public(self._policy(ctx, p["Bucket"]))}}

