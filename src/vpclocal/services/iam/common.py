"""What every IAM module shares: where records live, ARNs, IDs, tags and Marker pagination."""

from __future__ import annotations

import base64
import secrets
import unicodedata

from vpclocal.errors import ServiceError
from vpclocal.services.iam.errors import STATUS, iam_error

# IAM (and STS) state is global: one copy for every region, whichever scope the caller's
# transaction has (Lambda reads roles from a regional transaction).
SCOPE = "global"
ROLES = "iam_roles"        # keyed by lower-cased role name: IAM names are case-insensitive
POLICIES = "iam_policies"  # customer managed policies, keyed by lower-cased policy name
USERS = "iam_users"        # keyed by lower-cased user name
GROUPS = "iam_groups"      # keyed by lower-cased group name
ACCESS_KEYS = "iam_access_keys"  # long-term access keys, keyed by AccessKeyId

# IAM unique IDs: a 4-letter type prefix and 17 characters of base 32 (A-Z, 2-7).
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ROLE_ID_PREFIX = "AROA"
POLICY_ID_PREFIX = "ANPA"
USER_ID_PREFIX = "AIDA"
GROUP_ID_PREFIX = "AGPA"
ACCESS_KEY_ID_PREFIX = "AKIA"  # long-term keys (16 characters follow); STS's start with ASIA

DEFAULT_MAX_ITEMS = 100
TAGS_PER_ENTITY = 50  # a role, user or policy


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


# The model's tag patterns, [\p{L}\p{Z}\p{N}_.:/=+\-@]+ for keys and ...* for values: Java
# character classes Python's re lacks, so checked by Unicode category (letters, separators,
# numbers) plus these symbols.
TAG_PATTERNS = {"key": r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "value": r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"}
TAG_SYMBOLS = "_.:/=+-@"
RESERVED_TAG_PREFIX = "aws:"


def _tag_text_ok(text: str) -> bool:
    return all(unicodedata.category(c)[0] in "LZN" or c in TAG_SYMBOLS for c in text)


def check_tags(tags: list[dict]) -> None:
    """A request's tags as IAM checks them (lengths are the model's, checked by the protocol):
    the pattern, the reserved aws: prefix, and no key twice regardless of case."""
    problems = []
    for index, tag in enumerate(tags, 1):
        for part in ("key", "value"):
            text = tag.get(part.title(), "")
            if not _tag_text_ok(text):
                problems.append(f"Value '{text}' at 'tags.{index}.member.{part}' failed to "
                                f"satisfy constraint: Member must satisfy regular expression "
                                f"pattern: {TAG_PATTERNS[part]}")
    if problems:
        count = len(problems)
        raise ServiceError(f"{count} validation error{'s' if count > 1 else ''} detected: "
                           + "; ".join(problems), code="ValidationError",
                           status=STATUS["ValidationError"])
    if any(t["Key"].lower().startswith(RESERVED_TAG_PREFIX) for t in tags):
        raise iam_error("reserved_tag")
    keys = [t["Key"].lower() for t in tags]
    if len(keys) != len(set(keys)):
        raise iam_error("duplicate_tags")


def merge_tags(current: list[dict], new: list[dict], kind: str = "Role") -> list[dict]:
    """Tags with `new` applied; IAM tag keys are unique regardless of case (a later request's
    key replaces one differing only in case, as AWS does)."""
    check_tags(new)
    out = {t["Key"].lower(): t for t in current}
    for tag in new:
        out[tag["Key"].lower()] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
    tags = list(out.values())
    if len(tags) > TAGS_PER_ENTITY:
        raise iam_error("too_many_tags", kind, TAGS_PER_ENTITY)
    return tags
