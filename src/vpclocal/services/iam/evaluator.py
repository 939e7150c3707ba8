"""IAM policy evaluation, as other services need it (Lambda checks its execution role).

Pure functions over policy documents (dicts or JSON text):
- `decide(documents, action, resource)` -> "Allow" | "Deny" | "ImplicitDeny": an explicit Deny
  wins, otherwise any matching Allow allows; `*` and `?` wildcards; actions match
  case-insensitively, resources case-sensitively; NotAction / NotResource; Statement, Action and
  Resource as one value or a list; conditions for the common operators (see CONDITION_OPERATORS).
- `can_assume(trust_document, service_principal)`: may that service assume the role?

Plus two store adapters the Lambda service calls: `role_allows` and `role_trusts`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import re
from functools import lru_cache

from vpclocal.services.iam.documents import as_list, statements
from vpclocal.services.iam.policies import default_document, find_policy
from vpclocal.services.iam.roles import role_by_arn

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"

# What a VPC function's execution role must allow; any missing one makes Lambda refuse with
# InvalidParameterValueException "The provided execution role does not have permissions to
# call CreateNetworkInterface on EC2" (reference/aws-behaviour.md).
LAMBDA_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


# ---- wildcards ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's glob: `*` any run of characters, `?` any one character, nothing else special."""
    return _regex(pattern, ignore_case).fullmatch(value) is not None


def _any_match(patterns, value: str, ignore_case: bool) -> bool:
    return any(isinstance(p, str) and wildcard_match(p, value, ignore_case)
               for p in as_list(patterns))


# ---- conditions --------------------------------------------------------------------------------

# operator -> (negated, test(context value, policy value)). A negated operator holds when no
# value matches, and also when the key is absent; "...IfExists" holds when the key is absent.
# An operator not listed here never holds: an Allow under it does not apply (conservative).
CONDITION_OPERATORS = {
    "StringEquals": (False, lambda have, want: have == want),
    "StringNotEquals": (True, lambda have, want: have == want),
    "StringEqualsIgnoreCase": (False, lambda have, want: have.lower() == want.lower()),
    "StringNotEqualsIgnoreCase": (True, lambda have, want: have.lower() == want.lower()),
    "StringLike": (False, lambda have, want: wildcard_match(want, have)),
    "StringNotLike": (True, lambda have, want: wildcard_match(want, have)),
    "ArnEquals": (False, lambda have, want: have == want),
    "ArnNotEquals": (True, lambda have, want: have == want),
    "ArnLike": (False, lambda have, want: wildcard_match(want, have)),
    "ArnNotLike": (True, lambda have, want: wildcard_match(want, have)),
    "Bool": (False, lambda have, want: have.lower() == want.lower()),
    "IpAddress": (False, lambda have, want: _in_network(have, want)),
    "NotIpAddress": (True, lambda have, want: _in_network(have, want)),
    "NumericEquals": (False, lambda have, want: _number(have) == _number(want)),
    "NumericNotEquals": (True, lambda have, want: _number(have) == _number(want)),
    "NumericLessThan": (False, lambda have, want: _number(have) < _number(want)),
    "NumericLessThanEquals": (False, lambda have, want: _number(have) <= _number(want)),
    "NumericGreaterThan": (False, lambda have, want: _number(have) > _number(want)),
    "NumericGreaterThanEquals": (False, lambda have, want: _number(have) >= _number(want)),
    "DateEquals": (False, lambda have, want: _date(have) == _date(want)),
    "DateNotEquals": (True, lambda have, want: _date(have) == _date(want)),
    "DateLessThan": (False, lambda have, want: _date(have) < _date(want)),
    "DateLessThanEquals": (False, lambda have, want: _date(have) <= _date(want)),
    "DateGreaterThan": (False, lambda have, want: _date(have) > _date(want)),
    "DateGreaterThanEquals": (False, lambda have, want: _date(have) >= _date(want)),
}


def _in_network(address: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan  # compares false with everything: the condition does not hold


def _date(text: str) -> float:
    """A date condition's value: ISO 8601 text or epoch seconds; NaN if neither."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return math.nan
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _condition_holds(operator: str, key: str, wanted, context: dict) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    present = {k.lower(): v for k, v in context.items()}  # condition keys ignore case
    have = present.get(key.lower())
    if base == "Null":
        return (have is None) == (_text(as_list(wanted)[0]).lower() == "true")
    if base not in CONDITION_OPERATORS:
        return False
    negated, test = CONDITION_OPERATORS[base]
    if have is None:
        return if_exists or negated
    hit = any(test(_text(h), _text(w)) for h in as_list(have) for w in as_list(wanted))
    return not hit if negated else hit


def conditions_hold(block, context: dict | None) -> bool:
    """Every operator and every key of a Condition block holds (values of one key: any)."""
    if not block:
        return True
    if not isinstance(block, dict):
        return False
    return all(isinstance(keys, dict)
               and all(_condition_holds(op, key, wanted, context or {})
                       for key, wanted in keys.items())
               for op, keys in block.items())


# ---- identity policies -------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _parsed(text: str) -> dict:
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _document(doc) -> dict:
    return _parsed(doc) if isinstance(doc, str) else doc


def _applies(st: dict, action: str, resource: str, context: dict | None) -> bool:
    if "Action" in st:
        if not _any_match(st["Action"], action, ignore_case=True):
            return False
    elif "NotAction" not in st or _any_match(st["NotAction"], action, ignore_case=True):
        return False
    if "Resource" in st:
        if not _any_match(st["Resource"], resource, ignore_case=False):
            return False
    elif "NotResource" not in st or _any_match(st["NotResource"], resource, ignore_case=False):
        return False
    return conditions_hold(st.get("Condition"), context)


def decide(documents, action: str, resource: str = "*", context: dict | None = None) -> str:
    """The decision identity policies give for one request: an explicit Deny wins."""
    allowed = False
    for doc in documents:
        for st in statements(_document(doc)):
            if not isinstance(st, dict) or not _applies(st, action, resource, context):
                continue
            if st.get("Effect") == DENY:
                return DENY
            allowed = allowed or st.get("Effect") == ALLOW
    return ALLOW if allowed else IMPLICIT_DENY


def applies(st: dict, action: str, resource: str, context: dict | None) -> bool:
    """Whether one statement (of an identity-based policy) applies to a request."""
    return _applies(st, action, resource, context)


def action_filter(st: dict) -> re.Pattern | None:
    """One regex for a statement's Action list (None: it has NotAction, or no usable one):
    a statement whose Action cannot match is passed over without evaluating the rest."""
    actions = st.get("Action")
    if actions is None or not all(isinstance(a, str) for a in as_list(actions)):
        return None
    body = "|".join(_regex(a, True).pattern for a in as_list(actions))
    return re.compile(f"(?:{body})", re.DOTALL | re.IGNORECASE)


def document_statements(document) -> list[dict]:
    """A document's statements (the well-formed ones)."""
    return [st for st in statements(_document(document)) if isinstance(st, dict)]


def matching(document, action: str, resource: str, context: dict | None = None,
             principal=None) -> list[dict]:
    """The statements of one document that apply to a request: with a `principal` (a
    predicate over a statement's Principal block, for resource-based policies), only those that
    name it."""
    found = []
    for st in statements(_document(document)):
        if not isinstance(st, dict) or not _applies(st, action, resource, context):
            continue
        if principal is not None:
            if "Principal" in st:
                if not principal(st["Principal"]):
                    continue
            elif "NotPrincipal" not in st or principal(st["NotPrincipal"]):
                continue
        found.append(st)
    return found


def is_allowed(documents, action: str, resource: str = "*", context: dict | None = None) -> bool:
    return decide(documents, action, resource, context) == ALLOW


# ---- trust policies ----------------------------------------------------------------------------


def _names_service(principal, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return service in as_list(principal.get("Service", [])) or "*" in as_list(
        principal.get("AWS", []))


def can_assume(trust_document, service_principal: str = "lambda.amazonaws.com",
               action: str = "sts:AssumeRole", context: dict | None = None) -> bool:
    """Whether a role's trust policy lets an AWS service principal assume it."""
    allowed = False
    for st in statements(_document(trust_document)):
        if not isinstance(st, dict):
            continue
        if "Principal" in st:
            names = _names_service(st["Principal"], service_principal)
        else:
            names = "NotPrincipal" in st and not _names_service(st["NotPrincipal"],
                                                                service_principal)
        if not names or not _applies(dict(st, Resource="*"), action, "*", context):
            continue
        if st.get("Effect") == DENY:
            return False
        allowed = allowed or st.get("Effect") == ALLOW
    return allowed


# ---- store adapters (what the Lambda service calls) --------------------------------------------


def role_documents(view, role: dict) -> list[str]:
    """A role's identity policies: the default version of each attached one, then inline ones."""
    docs = []
    for arn in role["_AttachedPolicies"]:
        policy = find_policy(view, arn)
        if policy is not None:
            docs.append(default_document(policy))
    return docs + list(role["_InlinePolicies"].values())


def role_allows(tx, role_arn: str, actions: list[str], resource: str = "*",
                context: dict | None = None) -> list[str]:
    """The actions (of `actions`) the role's policies do NOT allow; all of them if no such role.

    `tx` may be any transaction or view: IAM records are read from the global scope.
    """
    role = role_by_arn(tx, role_arn)
    if role is None:
        return list(actions)
    docs = role_documents(tx, role)
    return [a for a in actions if decide(docs, a, resource, context) != ALLOW]


def role_trusts(tx, role_arn: str, service: str, context: dict | None = None) -> bool:
    """Whether the role exists and its trust policy lets `service` (e.g.
    "lambda.amazonaws.com") assume it."""
    role = role_by_arn(tx, role_arn)
    return role is not None and can_assume(role["AssumeRolePolicyDocument"], service,
                                           context=context)
