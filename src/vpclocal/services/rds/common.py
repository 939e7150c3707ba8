"""RDS's shared pieces: errors as data, identifiers, names and the record helpers."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

from vpclocal.errors import ServiceError

# botocore's error shapes: code -> HTTP status (codes as AWS sends them)
STATUS = {"DBInstanceNotFound": 404, "DBSubnetGroupNotFoundFault": 404,
          "DBProxyNotFoundFault": 404, "DBProxyTargetGroupNotFoundFault": 404,
          "DBProxyTargetNotFoundFault": 404}

HOSTED_ZONE = "Z2R2ITUGPM61AM"  # RDS's us-east-1 zone; AWS uses one per region


def fail(code: str, message: str) -> ServiceError:
    return ServiceError(message, code=code, status=STATUS.get(code, 400))


def invalid(message: str) -> ServiceError:
    return fail("InvalidParameterValue", message)


_IDENTIFIER = re.compile(r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)")


def identifier(value: str | None, param: str) -> str:
    """AWS's identifier rule (instances, proxies); AWS stores them lower-cased."""
    if not value or not _IDENTIFIER.fullmatch(value):
        raise invalid(f"The parameter {param} is not a valid identifier. Identifiers must begin "
                      "with a letter; must contain only ASCII letters, digits, and hyphens; and "
                      "must not end with a hyphen or contain two consecutive hyphens.")
    return value.lower()


def dns_suffix(account: str, region: str) -> str:
    """The 12 characters fixed per account and region in RDS hostnames."""
    digest = int(hashlib.sha256(f"{account}/{region}".encode()).hexdigest(), 16)
    chars = string.ascii_lowercase + string.digits
    out = ""
    for _ in range(12):
        digest, i = divmod(digest, len(chars))
        out += chars[i]
    return out


def arn(ctx, kind: str, name: str) -> str:
    return f"arn:aws:rds:{ctx.region}:{ctx.account_id}:{kind}:{name}"


def resource_id(prefix: str, length: int = 26) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def public(record: dict) -> dict:
    """The AWS-visible part of a record (internal keys start with "_")."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
