"""Policy documents: IAM's grammar checks on the way in, URL-encoding on the way out.

Documents are stored exactly as the caller sent them (AWS returns them verbatim), and returned
URL-encoded (RFC 3986) in every query response, as AWS does; botocore decodes them back.

IAM checks a document in passes, and the first pass that finds a problem names it, whatever
later passes would have said: the JSON itself, then its syntax (fields, types, values), the
Version (managed policies only), the legacy parser, unique Sids, actions present, principals
and resources, resource ARNs, and last the actions' vendor prefixes. There are three kinds of
documents: "managed" (CreatePolicy, CreatePolicyVersion), "inline" (PutRolePolicy) and
"trust" (a role's AssumeRolePolicyDocument). Managed policies must be version 2012-10-17;
inline and trust policies without a Version are read as 2008-10-17, as AWS does.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from vpclocal.services.iam.errors import malformed

VERSIONS = ("2012-10-17", "2008-10-17")
MANAGED_VERSION = "2012-10-17"
EFFECTS = ("Allow", "Deny")
TOP_FIELDS = frozenset({"Version", "Id", "Statement"})
STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action",
                              "NotAction", "Resource", "NotResource", "Condition"})
EXCLUSIVE = (("Action", "NotAction"), ("Resource", "NotResource"),
             ("Principal", "NotPrincipal"))
LISTS_OF_STRINGS = ("Action", "NotAction", "Resource", "NotResource")

# Condition operators (IAM JSON policy elements: condition operators), each of which may be
# prefixed with a set operator and suffixed with IfExists.
OPERATORS = frozenset({
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan",
    "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals",
    "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
    "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals",
    "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
})
SET_OPERATORS = ("ForAnyValue:", "ForAllValues:")
IF_EXISTS = "IfExists"
# A date condition value: ISO 8601 (a date, or a date and time with an optional zone) or
# seconds since the epoch.
_DATE = re.compile(r"-?\d{1,9}(-\d{1,2}(-\d{1,2}(T\d{1,2}(:\d{1,2}(:\d{1,2}(\.\d{1,9})?)?)?"
                   r"(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?", re.IGNORECASE)
_EPOCH = re.compile(r"\d{1,19}")
MAX_EPOCH = 2**63 - 1

PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e",
                        "aws-iso-f", "aws-eusc"})
# Services whose resource ARNs have no region: the message each gives when one is there.
REGIONLESS = {"iam": "IAM resource {} cannot contain region information.",
              "s3": "Resource {} can not contain region information."}
IAM_RESOURCE_TYPES = ("user/", "federated-user/", "role/", "group/", "instance-profile/",
                      "mfa/", "server-certificate/", "policy/", "sms-mfa/", "saml-provider/",
                      "oidc-provider/", "report/", "access-report/")
_VENDOR = re.compile(r"[a-zA-Z0-9.-]+")

# MalformedPolicyDocument messages, as AWS words them (AWS responses quoted in public issue
# threads and in tests recorded against AWS). "no_principal" is unconfirmed.
MESSAGES = {
    "json": "This policy contains invalid Json",
    "syntax": "Syntax errors in policy.",
    "version": "Policy document must be version 2012-10-17 or greater.",
    "legacy": "The policy failed legacy parsing",
    "sids": "Statement IDs (SID) in a single policy must be unique.",
    "principal": "Policy document should not specify a principal.",
    "no_actions": "Policy statement must contain actions.",
    "no_resources": "Policy statement must contain resources.",
    "prohibited": "Has prohibited field {}",
    "no_principal": "Missing required field Principal",
    "not_arn": 'Resource {} must be in ARN format or "*".',
    "partition": 'Partition "{}" is not valid for resource "{}".',
    "resource_vendor": "Resource vendor must be fully qualified and cannot contain regexes.",
    "iam_path": 'IAM resource path must either be "*" or start with {}.',
    "vendor": "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
    "colons": "Actions/Condition can contain only one colon.",
    "vendor_wildcard": "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards",
    "vendor_invalid": "Vendor {} is not valid",
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


def check_identity(text: str, managed: bool = False) -> dict:
    """A permissions policy (managed or inline): no principal, actions and resources."""
    return _check(text, "managed" if managed else "inline")


def check_trust(text: str) -> dict:
    """A role trust policy: a principal required, resources prohibited."""
    return _check(text, "trust")


def size(text: str) -> int:
    """What IAM counts against policy size quotas: the document without whitespace."""
    return len("".join(text.split()))


# ---- the passes --------------------------------------------------------------------------------


def _check(text: str, kind: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError:
        raise malformed(MESSAGES["json" if kind == "trust" else "syntax"]) from None
    if not isinstance(doc, dict):
        raise malformed(MESSAGES["json" if kind == "trust" else "syntax"])
    if kind == "trust" and doc.get("Version", VERSIONS[0]) not in VERSIONS:
        raise malformed(MESSAGES["legacy"])
    if not _syntax_ok(doc):
        raise malformed(MESSAGES["syntax"])
    found = statements(doc)
    if kind == "managed" and doc.get("Version") != MANAGED_VERSION:
        raise malformed(MESSAGES["version"])
    resources = kind != "trust"
    if not all(_legacy_ok(st, resources) for st in found):
        raise malformed(MESSAGES["legacy"])
    sids = [st["Sid"] for st in found if st.get("Sid")]
    if len(sids) != len(set(sids)):
        raise malformed(MESSAGES["sids"])
    for st in found:
        if not _present(st, "Action", "NotAction"):
            raise malformed(MESSAGES["no_actions"])
    for st in found:
        if kind == "trust":
            for field in ("Resource", "NotResource"):
                if field in st:
                    raise malformed(MESSAGES["prohibited"].format(field))
            if "Principal" not in st and "NotPrincipal" not in st:
                raise malformed(MESSAGES["no_principal"])
        else:
            if "Principal" in st or "NotPrincipal" in st:
                raise malformed(MESSAGES["principal"])
            if not _present(st, "Resource", "NotResource"):
                raise malformed(MESSAGES["no_resources"])
    if resources:
        for st in found:
            for resource in _values(st, "Resource", "NotResource"):
                problem = _resource_problem(resource)
                if problem:
                    raise malformed(problem)
    for st in found:
        for action in _values(st, "Action", "NotAction"):
            _check_action(action)
    return doc


def _syntax_ok(doc: dict) -> bool:
    if not TOP_FIELDS.issuperset(doc):
        return False
    if "Version" in doc and doc["Version"] not in VERSIONS:
        return False
    if not isinstance(doc.get("Id", ""), str):
        return False
    body = doc.get("Statement")
    if not isinstance(body, (dict, list)) or not body:
        return False
    return all(isinstance(st, dict) and _statement_ok(st) for st in statements(doc))


def _statement_ok(st: dict) -> bool:
    if not STATEMENT_FIELDS.issuperset(st):
        return False
    if any(a in st and b in st for a, b in EXCLUSIVE):
        return False
    effect = st.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        return False
    for field in LISTS_OF_STRINGS:
        if field in st and not _string_or_strings(st[field]):
            return False
    if not isinstance(st.get("Sid", ""), str):
        return False
    return "Condition" not in st or _condition_ok(st["Condition"])


def _string_or_strings(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value))


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _condition_ok(condition) -> bool:
    """{operator: {key: value or [values]}}; an unknown operator only with an empty block."""
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        if not isinstance(block, dict):
            return False
        for value in block.values():
            if not (_scalar(value) or (isinstance(value, list) and all(map(_scalar, value)))):
                return False
        if block and _base_operator(operator) not in OPERATORS:
            return False
    return True


def _base_operator(operator: str) -> str:
    for prefix in SET_OPERATORS:
        if operator.startswith(prefix):
            operator = operator[len(prefix):]
            break
    return operator.removesuffix(IF_EXISTS)


def _legacy_ok(st: dict, resources: bool) -> bool:
    """What the legacy parser refuses: an Effect not spelled exactly, a date condition value
    that is not a date, an ARN with a missing part."""
    if st["Effect"] not in EFFECTS:
        return False
    for operator, block in (st.get("Condition") or {}).items():
        if _base_operator(operator).startswith("Date"):
            for value in block.values():
                if not all(_date_ok(v) for v in as_list(value)):
                    return False
    if resources:
        for resource in _values(st, "Resource", "NotResource"):
            if resource != "*" and ":" in resource and _resource_problem(resource) is None:
                parts = resource.split(":")
                if (len(parts) < 6 and "::" in resource) or parts[2] == "":
                    return False
    return True


def _date_ok(value) -> bool:
    text = str(value)
    if _EPOCH.fullmatch(text):
        return int(text) <= MAX_EPOCH
    match = _DATE.fullmatch(text)
    if not match:
        return False
    numbers = [int(n) for n in re.findall(r"\d+", text.split(".")[0].upper().split("Z")[0])]
    # year, month, day, hour, minute, second (a zone's digits are not checked here)
    ranges = [(0, 10**9), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59)]
    return all(low <= n <= high for n, (low, high) in zip(numbers, ranges, strict=False))


def _present(st: dict, field: str, negated: str) -> bool:
    value = st.get(field, st.get(negated))
    return value is not None and value != []


def _values(st: dict, field: str, negated: str) -> list[str]:
    return as_list(st.get(field, st.get(negated, [])))


def _resource_problem(resource: str) -> str | None:
    """AWS's message for a resource that is neither "*" nor a well-formed ARN, or None."""
    if resource == "*":
        return None
    if ":" not in resource:
        return MESSAGES["not_arn"].format(resource)
    parts = resource.split(":")
    if parts[1] not in PARTITIONS:
        rest = parts[2:] + ["*"] * (4 - len(parts[2:]))
        if len(parts) == 3 and parts[2] == "":
            rest[0] = "*"
        shown = ":".join(["arn", parts[1], *rest[:3], ":".join(rest[3:])])
        return MESSAGES["partition"].format(parts[1], shown)
    if len(parts) < 3:
        return MESSAGES["resource_vendor"]
    service = parts[2]
    if service in REGIONLESS and len(parts) > 3 and parts[3]:
        return REGIONLESS[service].format(resource)
    if service == "iam" and len(parts) > 5 and not parts[5].startswith(IAM_RESOURCE_TYPES):
        return MESSAGES["iam_path"].format(", ".join(IAM_RESOURCE_TYPES))
    return None


def _check_action(action: str) -> None:
    if action == "*":
        return
    if ":" not in action:
        raise malformed(MESSAGES["vendor"])
    if action.count(":") > 1:
        raise malformed(MESSAGES["colons"])
    vendor = action.split(":", 1)[0]
    if "*" in vendor or "?" in vendor:
        raise malformed(MESSAGES["vendor_wildcard"])
    if not _VENDOR.fullmatch(vendor):
        raise malformed(MESSAGES["vendor_invalid"].format(vendor))

