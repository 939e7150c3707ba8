"""Policy documents: IAM's grammar checks on the way in, URL-encoding on the way out.

Documents are stored exactly as the caller sent them (AWS returns them verbatim), and returned
URL-encoded (RFC 3986) in every query response, as AWS does; botocore decodes them back.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from vpclocal.services.iam.errors import malformed

VERSIONS = ("2012-10-17", "2008-10-17")
EFFECTS = ("Allow", "Deny")

# MalformedPolicyDocument messages. "no_principal" and "syntax" are unconfirmed.
MESSAGES = {
    "json": "This policy contains invalid Json",
    "legacy": "The policy failed legacy parsing",
    "syntax": "Syntax errors in policy.",
    "principal": "Policy document should not specify a principal.",
    "no_actions": "Policy statement must contain actions.",
    "no_resources": "Policy statement must contain resources.",
    "prohibited": "Has prohibited field {}",
    "no_principal": "Missing required field Principal",
    "vendor": "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
    "colons": "Actions/Condition can contain only one colon.",
    "vendor_wildcard": "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards",
}


def encode(text: str) -> str:
    """A document as IAM's query API returns it: URL-encoded, every reserved character escaped."""
    return quote(text, safe="")


def statements(doc: dict) -> list:
    """`Statement` may be one object or a list of them."""
    body = doc.get("Statement", [])
    return body if isinstance(body, list) else [body]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def parse(text: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError:
        raise malformed(MESSAGES["json"]) from None
    if not isinstance(doc, dict):
        raise malformed(MESSAGES["json"])
    return doc


def _check_common(doc: dict) -> list[dict]:
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise malformed(MESSAGES["legacy"])
    if "Statement" not in doc:
        raise malformed(MESSAGES["syntax"])
    found = statements(doc)
    for st in found:
        if not isinstance(st, dict):
            raise malformed(MESSAGES["syntax"])
        if st.get("Effect") not in EFFECTS:
            raise malformed(MESSAGES["legacy"])
        if "Action" not in st and "NotAction" not in st:
            raise malformed(MESSAGES["no_actions"])
        for action in as_list(st.get("Action", st.get("NotAction"))):
            _check_action(action)
    return found


def _check_action(action) -> None:
    if not isinstance(action, str):
        raise malformed(MESSAGES["syntax"])
    if action == "*":
        return
    if ":" not in action:
        raise malformed(MESSAGES["vendor"])
    if action.count(":") > 1:
        raise malformed(MESSAGES["colons"])
    vendor = action.split(":", 1)[0]
    if "*" in vendor or "?" in vendor:
        raise malformed(MESSAGES["vendor_wildcard"])


def check_identity(text: str) -> dict:
    """An identity (permissions) policy: no principal, actions and resources required."""
    doc = parse(text)
    for st in _check_common(doc):
        if "Principal" in st or "NotPrincipal" in st:
            raise malformed(MESSAGES["principal"])
        if "Resource" not in st and "NotResource" not in st:
            raise malformed(MESSAGES["no_resources"])
    return doc


def check_trust(text: str) -> dict:
    """A role trust policy: a principal required, resources prohibited."""
    doc = parse(text)
    for st in _check_common(doc):
        for field in ("Resource", "NotResource"):
            if field in st:
                raise malformed(MESSAGES["prohibited"].format(field))
        if "Principal" not in st and "NotPrincipal" not in st:
            raise malformed(MESSAGES["no_principal"])
    return doc


def size(text: str) -> int:
    """What IAM counts against policy size quotas: the document without whitespace."""
    return len("".join(text.split()))
