"""What every IAM module shares: where records live, ARNs, IDs, tags and Marker pagination."""

from __future__ import annotations

import base64
import secrets

from vpclocal.services.iam.errors import iam_error

# IAM (and STS) state is global: one copy for every region, whichever scope the caller's
# transaction has (Lambda reads roles from a regional transaction).
SCOPE = "global"
ROLES = "iam_roles"        # keyed by lower-cased role name: IAM names are case-insensitive
POLICIES = "iam_policies"  # customer managed policies, keyed by lower-cased policy name

# IAM unique IDs: a 4-letter type prefix and 17 characters of base 32 (A-Z, 2-7).
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ROLE_ID_PREFIX = "AROA"
POLICY_ID_PREFIX = "ANPA"

DEFAULT_MAX_ITEMS = 100
TAGS_PER_ROLE = 50


def unique_id(prefix: str, length: int = 17) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def arn_name(arn: str) -> str:
    """The entity name an ARN ends with ("arn:aws:iam::1:role/a/b/name" -> "name")."""
    resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    return resource.rsplit("/", 1)[-1] if "/" in resource else ""


def page(items: list, p: dict, key) -> tuple[list, dict]:
    """IAM's Marker/MaxItems pagination over items in `key` order.

    The marker is the (opaque-looking) key of the first item of the next page, so a page stays
    right when items before it are added or deleted meanwhile.
    """
    items = sorted(items, key=key)
    start = 0
    if p.get("Marker"):
        try:
            after = base64.urlsafe_b64decode(p["Marker"].encode()).decode()
        except ValueError:
            raise iam_error("bad_marker") from None
        start = next((i for i, item in enumerate(items) if key(item) >= after), len(items))
    limit = p.get("MaxItems") or DEFAULT_MAX_ITEMS
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    meta = {"IsTruncated": more}
    if more:
        meta["Marker"] = base64.urlsafe_b64encode(key(items[start + limit]).encode()).decode()
    return chunk, meta


def merge_tags(current: list[dict], new: list[dict]) -> list[dict]:
    """Tags with `new` applied; IAM tag keys are unique regardless of case."""
    out = {t["Key"].lower(): t for t in current}
    for tag in new:
        out[tag["Key"].lower()] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
    tags = list(out.values())
    if len(tags) > TAGS_PER_ROLE:
        raise iam_error("too_many_tags", TAGS_PER_ROLE)
    return tags
