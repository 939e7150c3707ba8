"""IAM's policy simulator: SimulatePrincipalPolicy, SimulateCustomPolicy and the context keys
policies use (GetContextKeysFor{Principal,Custom}Policy), decided by the evaluator that decides
every request (`authorization.decide`), so the simulator and the gateway never disagree.

AWS's answer, one EvaluationResult per action and resource (in ActionNames, then ResourceArns
order), as recorded from AWS (reference/aws-behaviour.md, "IAM policy simulator"):
- EvalDecision "allowed" | "explicitDeny" | "implicitDeny"; MatchedStatements: the statements
  that decided (the allowing ones, or the denying ones), each with its policy's id and type
  ("IAM Policy", "Resource Policy") and where the statement is in the policy's text;
- MissingContextValues: the condition keys of the statements about the action and resource
  that ContextEntries did not give;
- for a resource other than "*": EvalDecisionDetails (empty, in one account) and
  ResourceSpecificResults, the same decision for that resource;
- PermissionsBoundaryDecisionDetail when a permissions boundary is in effect.
The simulator fills in no context key itself: a condition sees only ContextEntries.

Newer AWS models (botocore 1.4x) describe one result per action whose EvalResourceName is the
action's ARN template, every resource under ResourceSpecificResults; that needs the Service
Authorization Reference's templates and is not done here (unconfirmed which AWS answers today).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vpclocal.errors import ServiceError
from vpclocal.services.iam.actions import Request
from vpclocal.services.iam.authorization import (
    Policies,
    Principal,
    applying,
    decide,
    taken_apart,
)
from vpclocal.services.iam.common import GROUPS, SCOPE, USERS, page
from vpclocal.services.iam.documents import check_identity
from vpclocal.services.iam.errors import STATUS, iam_error
from vpclocal.services.iam.evaluator import ALLOW, DENY, applies, document_statements
from vpclocal.services.iam.policies import default_document, find_policy
from vpclocal.services.iam.principals import user_groups
from vpclocal.services.iam.roles import role_by_arn

# SourcePolicyType of each kind of policy, as AWS answers it (outside the model's enum)
IDENTITY_TYPE = "IAM Policy"
RESOURCE_TYPE = "Resource Policy"
BOUNDARY_TYPE = "PermissionsBoundaryPolicy"  # unconfirmed
RESOURCE_POLICY_ID = "ResourcePolicy"
RESOURCE_SOURCE = "resource-based policy"  # how `decide` names the resource policy's statements

ENTITY_ARN = re.compile(r"arn:aws:iam::(\d{12}):(user|role|group)(/(?:[^/]+/)*)([^/]+)")
RESOURCE_OWNER = re.compile(r"arn:aws:iam::\d{12}:root")
VARIABLE = re.compile(r"\$\{([^}]*)\}")
DECISIONS = {(True, False): "allowed", (False, True): "explicitDeny",
             (False, False): "implicitDeny"}


def invalid(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidInput", status=STATUS["InvalidInput"])


# ---- the policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One policy of the simulation: its id and type as AWS reports them, its text, and where
    each of its statements is in that text (by the statement's identity)."""

    id: str
    type: str
    text: str
    document: dict
    spans: dict[int, tuple[tuple[int, int], tuple[int, int]]]

    @classmethod
    def of(cls, policy_id: str, kind: str, text: str) -> Source:
        document = json.loads(text)
        statements = document_statements(document)
        spans = statement_spans(text)
        return cls(policy_id, kind, text, document,
                   {id(st): span for st, span in zip(statements, spans, strict=False)})

    @property
    def key(self) -> str:
        """How its statements name it to `decide` (an id may be both a boundary and not)."""
        return f"{self.type}: {self.id}"

    def statements(self):
        return taken_apart(self.key, self.document)

    def matched(self, statement: dict) -> dict:
        out = {"SourcePolicyId": self.id, "SourcePolicyType": self.type}
        span = self.spans.get(id(statement))
        if span:
            (line, column), (end_line, end_column) = span
            out["StartPosition"] = {"Line": line, "Column": column}
            out["EndPosition"] = {"Line": end_line, "Column": end_column}
        return out


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def statement_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where each statement of a policy text is, as AWS reports it (line and column, from 1):
    a statement starts right after the token before it (the `[` or the previous statement;
    the `{` itself when Statement is one object) and ends right after its `}`."""
    decoder = json.JSONDecoder()
    skip = re.compile(r"\s*")
    spans: list = []
    try:
        at = skip.match(text, 0).end()
        if text[at:at + 1] != "{":
            return []
        at += 1
        while True:
            at = skip.match(text, at).end()
            if text[at:at + 1] in ("}", ""):
                return spans
            key, at = decoder.raw_decode(text, at)
            at = skip.match(text, at).end() + 1  # the colon
            at = skip.match(text, at).end()
            _, end = decoder.raw_decode(text, at)
            if key == "Statement":
                spans = _spans_in(text, at, end, decoder)
            at = skip.match(text, end).end()
            at += text[at:at + 1] == ","
    except (ValueError, IndexError):
        return spans


def _spans_in(text: str, at: int, end: int, decoder) -> list:
    if text[at] == "{":
        return [(_position(text, at + 1), _position(text, end))]
    spans = []
    after = at + 1  # right after the `[`
    cursor = after
    while True:
        cursor = re.compile(r"[\s,]*").match(text, cursor).end()
        if cursor >= end - 1:
            return spans
        _, stop = decoder.raw_decode(text, cursor)
        spans.append((_position(text, after), _position(text, stop)))
        after = cursor = stop


def _input_policy(text: str) -> None:
    """A policy passed in, checked as IAM checks an inline policy (a bad one: InvalidInput)."""
    try:
        check_identity(text)
    except ServiceError as error:
        raise invalid(error.message) from None  # unconfirmed: AWS's words for a bad input


def _resource_policy(text: str) -> Source:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not document_statements(document):
        raise invalid("Syntax errors in policy.")  # unconfirmed
    return Source.of(RESOURCE_POLICY_ID, RESOURCE_TYPE, text)


def _managed(view, arns, kind: str = IDENTITY_TYPE) -> list[Source]:
    out = []
    for arn in arns:
        policy = find_policy(view, arn)
        if policy is not None:
            out.append(Source.of(policy["PolicyName"], kind, default_document(policy)))
    return out


def _entity_policies(view, kind: str, record: dict) -> list[Source]:
    """An entity's own policies: attached managed ones (named by their names), then inline ones
    ("role_<role>_<policy>", as AWS names them)."""
    name = record[f"{kind.title()}Name"]
    return _managed(view, record["_AttachedPolicies"]) + [
        Source.of(f"{kind}_{name}_{policy}", IDENTITY_TYPE, text)
        for policy, text in record["_InlinePolicies"].items()]


def _entity(view, ctx, arn: str) -> tuple[str, dict]:
    """The user, role or group PolicySourceArn names, or AWS's error."""
    found = ENTITY_ARN.fullmatch(arn)
    if found is None:
        raise invalid(f"Invalid Entity Arn: {arn} does not clearly define entity type and name.")
    account, kind, _, name = found.groups()
    if account != ctx.account_id:
        raise invalid(f"Invalid Policy Source Arn: caller's account {ctx.account_id} does not "
                      f"have access to policies in account {account}")
    if kind == "role":
        record = role_by_arn(view, arn)
    else:
        record = view.get(USERS if kind == "user" else GROUPS, name.lower(), scope=SCOPE)
        record = record if record is not None and record["Arn"] == arn else None
    if record is None:
        raise iam_error(f"{kind}_not_found", name)
    return kind, record


def principal_policies(view, ctx, arn: str) -> tuple[dict, list[Source]]:
    """The record of the entity PolicySourceArn names, and its identity policies (a user's
    groups' too)."""
    kind, record = _entity(view, ctx, arn)
    sources = _entity_policies(view, kind, record)
    if kind == "user":
        for group in user_groups(view, record):
            sources += _entity_policies(view, "group", group)
    return record, sources


def _input_sources(p: dict, field: str, kind: str) -> list[Source]:
    texts = p.get(field) or []
    for text in texts:
        _input_policy(text)
    return [Source.of(f"{field}.{n}", kind, text) for n, text in enumerate(texts, 1)]


# ---- context keys ------------------------------------------------------------------------


def _keys_of(value, out: dict[str, str], condition: bool = False) -> None:
    """Context keys in document order: policy variables (${key}) in any string, and the keys
    of a Condition block's operators."""
    if isinstance(value, str):
        for variable in VARIABLE.findall(value):
            key = variable.split(",", 1)[0].strip()
            if key not in ("*", "?", "$"):
                out.setdefault(key.lower(), key)
    elif isinstance(value, list):
        for item in value:
            _keys_of(item, out)
    elif isinstance(value, dict):
        for name, item in value.items():
            if condition:  # an operator's block: its keys, then its values
                for key, wanted in (item.items() if isinstance(item, dict) else ()):
                    out.setdefault(key.lower(), key)
                    _keys_of(wanted, out)
            else:
                _keys_of(item, out, condition=name == "Condition")


def context_keys(statements) -> list[str]:
    found: dict[str, str] = {}
    for st in statements:
        _keys_of(st, found)
    return list(found.values())


def _condition_keys(st: dict) -> list[str]:
    found: dict[str, str] = {}
    _keys_of({"Condition": st.get("Condition")}, found)
    return list(found.values())


# ---- simulating --------------------------------------------------------------------------


def _context(p: dict) -> dict:
    context = {}
    for entry in p.get("ContextEntries") or []:
        name = entry.get("ContextKeyName")
        if not name:
            continue
        values = entry.get("ContextKeyValues") or []
        context[name] = values[0] if len(values) == 1 else values
    return context


def _missing(sources: list[Source], action: str, resource: str, context: dict) -> list[str]:
    """The condition keys of the statements about this action and resource the context lacks."""
    given = {key.lower() for key in context}
    found: dict[str, str] = {}
    for source in sources:
        for st in document_statements(source.document):
            unconditional = {k: v for k, v in st.items() if k != "Condition"}
            if "Condition" in st and applies(unconditional, action, resource, None):
                for key in _condition_keys(st):
                    if key.lower() not in given:
                        found.setdefault(key.lower(), key)
    return list(found.values())


def _check_resources(p: dict) -> list[str]:
    resources = p.get("ResourceArns") or ["*"]
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise invalid(f"ResourceNames are not in a valid ARN format: {resource}.")
    return resources


def simulate(ctx, p: dict, principal: Principal, identity: list[Source],
             boundary: list[Source]) -> dict:
    """Every action of ActionNames on every resource of ResourceArns, one page of them."""
    if len(p.get("PermissionsBoundaryPolicyInputList") or []) > 1:
        raise invalid("The list of Permissions Boundary policies cannot exceed 1 items.")  # unconfirmed
    owner = p.get("ResourceOwner")
    if owner is not None and not RESOURCE_OWNER.fullmatch(owner):
        raise invalid(f"'{owner}' is not a valid as a Resource Owner.")
    resources = _check_resources(p)
    resource_policy = _resource_policy(p["ResourcePolicy"]) if p.get("ResourcePolicy") else None
    policies = Policies([e for s in identity for e in s.statements()],
                        [e for s in boundary for e in s.statements()] if boundary else None)
    sources = {s.key: s for s in [*identity, *boundary]}
    if resource_policy is not None:
        sources[RESOURCE_SOURCE] = resource_policy
    context = _context(p)
    results = []
    for action in p.get("ActionNames") or []:
        for resource in resources:
            decision = decide(ctx.tx, ctx, principal, Request(action, resource), context,
                              resource_policy.document if resource_policy else None,
                              policies=policies)
            verdict = DECISIONS[decision.allowed, decision.explicit]
            matched = [sources[source].matched(st) for source, st in decision.statements
                       if source in sources] if verdict != "implicitDeny" else []
            missing = _missing(list(sources.values()), action, resource, context)
            result = {"EvalActionName": action, "EvalResourceName": resource,
                      "EvalDecision": verdict, "MatchedStatements": matched,
                      "MissingContextValues": missing}
            detail = None
            if policies.boundary is not None:
                found = applying(policies.boundary, action, resource, context)
                effects = {st.get("Effect") for _, st in found}
                detail = {"AllowedByPermissionsBoundary": ALLOW in effects
                          and DENY not in effects}
                result["PermissionsBoundaryDecisionDetail"] = detail
            if resource != "*":
                specific = {"EvalResourceName": resource, "EvalResourceDecision": verdict,
                            "MatchedStatements": matched, "MissingContextValues": missing}
                if detail is not None:
                    specific["PermissionsBoundaryDecisionDetail"] = detail
                result["EvalDecisionDetails"] = {}
                result["ResourceSpecificResults"] = [specific]
            results.append(result)
    chunk, meta = page(list(enumerate(results)), p, key=lambda item: f"{item[0]:09d}")
    return {"EvaluationResults": [result for _, result in chunk], **meta}


def _caller(arn: str) -> Principal:
    kind = "user" if ":user/" in arn else "role"
    return Principal(arn, kind, None, arn)


class SimulatorOperations:
    def simulate_principal_policy(self, ctx, p):
        source = p["PolicySourceArn"]
        record, identity = principal_policies(ctx.tx, ctx, source)
        identity += _input_sources(p, "PolicyInputList", IDENTITY_TYPE)
        boundary = _input_sources(p, "PermissionsBoundaryPolicyInputList", BOUNDARY_TYPE)
        if not boundary and record.get("_Boundary"):
            boundary = _managed(ctx.tx, [record["_Boundary"]], BOUNDARY_TYPE)  # unconfirmed id
        caller = p.get("CallerArn") or record["Arn"]
        return simulate(ctx, p, _caller(caller), identity, boundary)

    def simulate_custom_policy(self, ctx, p):
        identity = _input_sources(p, "PolicyInputList", IDENTITY_TYPE)
        boundary = _input_sources(p, "PermissionsBoundaryPolicyInputList", BOUNDARY_TYPE)
        return simulate(ctx, p, _caller(p.get("CallerArn") or ""), identity, boundary)

    def get_context_keys_for_principal_policy(self, ctx, p):
        _, sources = principal_policies(ctx.tx, ctx, p["PolicySourceArn"])
        sources += _input_sources(p, "PolicyInputList", IDENTITY_TYPE)
        return {"ContextKeyNames": context_keys(
            st for s in sources for st in document_statements(s.document))}

    def get_context_keys_for_custom_policy(self, ctx, p):
        sources = _input_sources(p, "PolicyInputList", IDENTITY_TYPE)
        return {"ContextKeyNames": context_keys(
            st for s in sources for st in document_statements(s.document))}

