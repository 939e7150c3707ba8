"""IAM deciding each request, as AWS does for a principal of the same account.

Who asks: the account root (the default `test` credentials, any key vpclocal did not issue)
may do anything. A role session (AssumeRole's, or a Lambda execution environment's) and an
IAM user's access key are principals whose every request is decided here, in AWS's order:
an explicit Deny in any policy wins; a resource-based policy (S3 bucket policy, Lambda
function policy, a role's trust policy) that names the principal itself allows; otherwise an
identity-based policy must allow, and a permissions boundary, if the principal has one, too.
Each denial names the policy type that denied, in AWS's words, so the error tells what to fix;
`explain` gives the same decision with the statement that made it (`vpclocal why`).

`VPCLOCAL_IAM=off` turns deciding off (every principal acts as the root).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from vpclocal.errors import ServiceError
from vpclocal.fabric.relay import Origin
from vpclocal.protocols.base import to_datetime
from vpclocal.services.iam.actions import Request, condition_keys, requests
from vpclocal.services.iam.common import GROUPS, ROLES, SCOPE, USERS
from vpclocal.services.iam.documents import as_list
from vpclocal.services.iam.evaluator import (
    ALLOW,
    DENY,
    action_filter,
    applies,
    document_statements,
    matching,
)
from vpclocal.services.iam.policies import default_document, find_policy
from vpclocal.services.iam.roles import role_by_arn
from vpclocal.services.sts.sessions import ACCESS_KEY_PREFIX, session_for

IDENTITY, RESOURCE, BOUNDARY, TRUST, ENDPOINT = (
    "identity-based policy", "resource-based policy", "permissions boundary",
    "role trust policy", "VPC endpoint policy")
# how an explicit denial reads, per policy type ("with an explicit deny in a ...")
ARTICLE = {IDENTITY: "an", RESOURCE: "a", BOUNDARY: "a", TRUST: "the", ENDPOINT: "a"}
CACHED_KEYS = 10_000
# IAM operations whose UserName defaults to the caller's (a user's own; a role session must
# name one)
CALLER_DEFAULTS = {("iam", op) for op in ("GetUser", "ListAccessKeys", "CreateAccessKey",
                                          "UpdateAccessKey", "DeleteAccessKey")}
# services a gateway endpoint carries (the rest reach the server through a function's relay)
GATEWAY_SERVICES = ("s3", "dynamodb")

# the error each service answers a denial with: (code, HTTP status)
DENIALS = {
    "ec2": ("UnauthorizedOperation", 403),
    "s3": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
    "dynamodb": ("AccessDeniedException", 400),
    "logs": ("AccessDeniedException", 400),
    "ssm": ("AccessDeniedException", 400),
}
DEFAULT_DENIAL = ("AccessDenied", 403)  # the query protocol services: IAM, STS, RDS, ...


def enforced() -> bool:
    return os.environ.get("VPCLOCAL_IAM", "on").lower() != "off"


@dataclass(frozen=True)
class Principal:
    arn: str  # as denials name it: an assumed-role session's ARN, a user's ARN
    kind: str  # "root" | "role" | "user"
    entity: dict | None = None  # the role or user record (None: it no longer exists)
    entity_arn: str = ""  # the role's or user's ARN (aws:PrincipalArn)
    expires: float = math.inf  # a session's credentials' end, epoch seconds


@dataclass
class Decision:
    allowed: bool
    request: Request
    policy_type: str = ""  # which type of policy decided a denial (IDENTITY, ...)
    explicit: bool = False
    statements: list[tuple[str, dict]] = field(default_factory=list)  # (source, statement)

    @property
    def reason(self) -> str:
        """The end of AWS's denial message: why ("" when AWS does not say)."""
        if not self.policy_type:
            return ""
        if self.explicit:
            return f"with an explicit deny in {ARTICLE[self.policy_type]} {self.policy_type}"
        return f"because no {self.policy_type} allows the {self.request.action} action"


def principal_for(view, account_id: str, access_key: str) -> Principal:
    """Who signed a request (raises ExpiredToken / InvalidClientTokenId as AWS does)."""
    root = Principal(f"arn:aws:iam::{account_id}:root", "root")
    if access_key.startswith(ACCESS_KEY_PREFIX):
        session = session_for(view, access_key)
        if session is None:
            return root
        role = role_by_arn(view, session.get("RoleArn") or "")
        return Principal(session["Arn"], "role", role, session.get("RoleArn") or "",
                         to_datetime(session["Expiration"]).timestamp())
    user = _user_for_key(view, access_key)
    if user is not None:
        return Principal(user["Arn"], "user", user, user["Arn"])
    return root


def _user_for_key(view, access_key: str) -> dict | None:
    from vpclocal.services.iam import principals
    status = principals.key_status(view, access_key)
    if status is not None and status != "Active":
        raise ServiceError("The security token included in the request is invalid.",
                           code="InvalidClientTokenId", status=403)
    return principals.user_by_access_key(view, access_key)


# ---- the policies that apply -------------------------------------------------------------


def identity_policies(view, principal: Principal) -> list[tuple[str, str]]:
    """(source, document) of every identity-based policy of the principal."""
    entity = principal.entity
    if entity is None:
        return []
    if principal.kind == "role":
        out = []
        for arn in entity.get("_AttachedPolicies", []):
            policy = find_policy(view, arn)
            if policy is not None:
                out.append((arn, default_document(policy)))
        return out + [(f"{entity['RoleName']} inline policy {name}", doc)
                      for name, doc in entity.get("_InlinePolicies", {}).items()]
    from vpclocal.services.iam import principals
    return [(f"a policy of user {entity.get('UserName')}", doc)
            for doc in principals.user_policy_documents(view, entity)]


def boundary_policy(view, principal: Principal) -> tuple[str, str] | None:
    """(its ARN, its document) of the principal's permissions boundary, if it has one."""
    entity = principal.entity or {}
    arn = entity.get("_Boundary")
    policy = find_policy(view, arn) if arn else None
    return (arn, default_document(policy)) if policy is not None else None


# Resource-based policies, read from their services' state (imported when first needed:
# those services import IAM themselves)


def _bucket_policy(view, ctx, params: dict) -> str | None:
    from vpclocal.services.s3.policy import bucket_policy
    bucket = params.get("Bucket")
    return bucket_policy(view, bucket) if isinstance(bucket, str) else None


def _function_policy(view, ctx, params: dict) -> str | None:
    from vpclocal.services.lambda_.permissions import function_policy
    name = params.get("FunctionName")
    if not isinstance(name, str):
        return None
    return function_policy(view, ctx.region, name, params.get("Qualifier"))


def _trust_policy(view, ctx, params: dict) -> str | None:
    """AssumeRole's role's trust policy, its statements about every resource (trust
    policies name none)."""
    role = role_by_arn(view, params.get("RoleArn") or "") if ctx.operation == "AssumeRole" \
        else None
    if role is None:
        return None
    document = role["AssumeRolePolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    trusted = [dict(st, Resource="*") if isinstance(st, dict) and "NotResource" not in st
               else st for st in as_list(document.get("Statement", []))]
    return json.dumps(dict(document, Statement=trusted))


RESOURCE_POLICIES: dict[str, Callable[..., str | None]] = {
    "s3": _bucket_policy, "lambda": _function_policy, "sts": _trust_policy}


def _names(principal: Principal, account_id: str, account: bool = False
           ) -> Callable[[object], bool]:
    """Whether a resource policy's Principal block names this principal itself, or with
    `account` its account too (which, in the same account, delegates to identity policies)."""
    own = {principal.arn, principal.entity_arn}
    if account:
        own |= {account_id, f"arn:aws:iam::{account_id}:root"}

    def test(block) -> bool:
        if block == "*":
            return True
        if not isinstance(block, dict):
            return False
        return any(value == "*" or value in own for value in as_list(block.get("AWS", [])))
    return test


# ---- deciding ----------------------------------------------------------------------------


Statements = list[tuple[str, dict, "re.Pattern | None"]]  # (source, statement, its actions)


@dataclass(frozen=True)
class Policies:
    """A principal's identity-based statements and its boundary's (None: it has none), each
    with its source and its actions' regex, taken apart once."""

    identity: Statements
    boundary: Statements | None


def taken_apart(source: str, document) -> Statements:
    return [(source, st, action_filter(st)) for st in document_statements(document)]


def policies_of(view, principal: Principal) -> Policies:
    identity = [entry for source, doc in identity_policies(view, principal)
                for entry in taken_apart(source, doc)]
    boundary = boundary_policy(view, principal)
    return Policies(identity, None if boundary is None else taken_apart(*boundary))


def applying(statements: Statements, action: str, resource: str, context: dict
              ) -> list[tuple[str, dict]]:
    return [(src, st) for src, st, actions in statements
            if (actions is None or actions.fullmatch(action))
            and applies(st, action, resource, context)]


def decide(view, ctx, principal: Principal, request: Request, context: dict,
           resource_policy: str | dict | None, endpoint: str | None = None,
           policies: Policies | None = None) -> Decision:
    """One action on one resource, for a principal that is not the root; `endpoint`: the
    policy of the VPC endpoint the request came through."""
    if endpoint is not None:
        through = matching(endpoint, request.action, request.resource, context,
                           principal=_names(principal, ctx.account_id, account=True))
        denies = [("VPC endpoint policy", st) for st in through if st.get("Effect") == DENY]
        if denies or not through:
            return Decision(False, request, ENDPOINT, explicit=bool(denies), statements=denies)
    policies = policies or policies_of(view, principal)
    action, resource = request
    identity = applying(policies.identity, action, resource, context)
    bounded = applying(policies.boundary or [], action, resource, context)
    granted = [] if resource_policy is None else \
        [("resource-based policy", st) for st in matching(
            resource_policy, request.action, request.resource, context,
            principal=_names(principal, ctx.account_id))]
    if request.action == "sts:AssumeRole" and ctx.operation == "AssumeRole":
        # the trust policy must let the caller in at all (the policy simulator asks about the
        # action alone, its ResourcePolicy as any resource-based policy)
        if resource_policy is None:  # no such role: AWS does not say so (no reason given)
            return Decision(False, request)
        trusted = [("role trust policy", st) for st in matching(
            resource_policy or "{}", request.action, "*", context,
            principal=_names(principal, ctx.account_id, account=True))]
        denies = [(src, st) for src, st in trusted if st.get("Effect") == DENY]
        if denies or not trusted:
            return Decision(False, request, TRUST, explicit=bool(denies), statements=denies)
    for kind, found in ((IDENTITY, identity), (RESOURCE, granted), (BOUNDARY, bounded)):
        denies = [(src, st) for src, st in found if st.get("Effect") == DENY]
        if denies:
            return Decision(False, request, kind, explicit=True, statements=denies)
    allows = {kind: [(src, st) for src, st in found if st.get("Effect") == ALLOW]
              for kind, found in ((IDENTITY, identity), (RESOURCE, granted),
                                  (BOUNDARY, bounded))}
    if allows[RESOURCE] and principal.kind == "user":
        return Decision(True, request, RESOURCE, statements=allows[RESOURCE])
    if not allows[IDENTITY] and not allows[RESOURCE]:
        return Decision(False, request, IDENTITY)
    if policies.boundary is not None and not allows[BOUNDARY]:
        return Decision(False, request, BOUNDARY)
    return Decision(True, request, IDENTITY if allows[IDENTITY] else RESOURCE,
                    statements=allows[IDENTITY] or allows[RESOURCE])


IAM_KINDS = {"role": ROLES, "user": USERS, "group": GROUPS}


def _with_path(view, resource: str) -> str:
    """A role's, user's or group's ARN with its path, when it exists (an ARN made from a
    name alone has none)."""
    kind, _, name = resource.partition(":")[2].rpartition(":")[2].partition("/")
    store_kind = IAM_KINDS.get(kind)
    if not resource.startswith("arn:aws:iam::") or store_kind is None or "/" in name:
        return resource
    entity = view.get(store_kind, name.lower(), scope=SCOPE)
    return entity["Arn"] if entity else resource


def request_context(ctx, principal: Principal, client: tuple | None, origin: Origin | None
                    ) -> dict:
    """The global condition keys of a request; `origin`: where a relayed request came from
    (relay.Origin: on the simulated internet a NAT gateway's or a public address, or a
    router's uplink for a gateway endpoint's traffic; in a VPC through an interface
    endpoint: those carry aws:SourceVpc instead, through_endpoint())."""
    now = time.time()
    context = {"aws:PrincipalArn": principal.entity_arn or principal.arn,
               "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
               "aws:EpochTime": str(int(now)),
               "aws:PrincipalAccount": ctx.account_id, "aws:RequestedRegion": ctx.region,
               "aws:SecureTransport": "true" if origin else "false"}  # relays speak TLS
    if principal.kind == "user" and principal.entity:
        context["aws:username"] = principal.entity.get("UserName", "")
    if origin or client:
        context["aws:SourceIp"] = origin.address if origin else client[0]
    return context


def through_endpoint(app, view, ctx, service: str, context: dict, origin: Origin
                     ) -> str | None:
    """When the request came through a VPC endpoint: its VPC and endpoint into the context
    (aws:SourceVpc, aws:SourceVpce, and for an interface endpoint aws:VpcSourceIp; no
    aws:SourceIp, as on AWS), and the endpoint's policy. A router's traffic cannot tell
    which of its VPC's gateway endpoints for the service carried it: the first, by id."""
    if origin.endpoint is not None:  # an interface endpoint's listener relayed it
        del context["aws:SourceIp"]
        context.update({"aws:SourceVpc": origin.vpc or "", "aws:SourceVpce": origin.endpoint,
                        "aws:VpcSourceIp": origin.address})
        endpoint = view.get("vpc_endpoints", origin.endpoint, scope=ctx.region)
        return endpoint.get("PolicyDocument") if endpoint else None
    fabric = getattr(app, "fabric", None)
    source = context.get("aws:SourceIp")
    if service not in GATEWAY_SERVICES or fabric is None or not source:
        return None
    vpc = fabric.vpc_behind(source)
    if vpc is None:
        return None
    del context["aws:SourceIp"]
    context["aws:SourceVpc"] = vpc
    name = f"com.amazonaws.{ctx.region}.{service}"
    endpoints = sorted(
        (e for e in view.values("vpc_endpoints", scope=ctx.region)
         if e.get("VpcId") == vpc and e.get("ServiceName") == name
         and e.get("VpcEndpointType") == "Gateway"), key=lambda e: e["VpcEndpointId"])
    if not endpoints:
        return None
    context["aws:SourceVpce"] = endpoints[0]["VpcEndpointId"]
    return endpoints[0].get("PolicyDocument")


class Authorizer:
    """The app's decider: who each access key is and that principal's statements, kept until
    IAM's state changes (decided on every request, it must cost little)."""

    def __init__(self, app) -> None:
        self.app = app
        self._principals: dict[str, Principal] = {}  # access key -> who it is
        self._policies: dict[str, Policies] = {}  # principal ARN -> its statements
        # called (access key, log line) on each denial: Lambda adds the line to the log of
        # the environment whose credentials were denied
        self.denied: list[Callable[[str, str], None]] = []
        app.store.watch(self._changed)

    def _changed(self, kinds) -> None:
        if any(scope == SCOPE for scope, _ in kinds):  # any IAM or session change
            self._principals.clear()
            self._policies.clear()

    def principal(self, view, account_id: str, access_key: str) -> Principal:
        cached = self._principals.get(access_key)
        if cached is not None and cached.expires > time.time():
            return cached
        principal = principal_for(view, account_id, access_key)
        if len(self._principals) >= CACHED_KEYS:  # any string is a key: keep it bounded
            self._principals.clear()
        self._principals[access_key] = principal
        return principal

    def policies(self, view, principal: Principal) -> Policies:
        found = self._policies.get(principal.arn)
        if found is None:
            found = self._policies[principal.arn] = policies_of(view, principal)
        return found

    def authorize(self, ctx, service: str, params: dict, client: tuple | None = None,
                  origin: Origin | None = None) -> list[Decision]:
        """Decide a parsed request (every action it needs); raise AWS's denial for the first
        that is not allowed, after telling the `denied` hooks. The decisions (none for the
        root)."""
        try:
            return self._decide(ctx, service, params, client, origin)
        except Denied as denied:
            if self.denied and denied.principal.kind == "role":
                line = log_line(denied)
                for hook in self.denied:
                    hook(ctx.access_key, line)
            raise

    def _decide(self, ctx, service: str, params: dict, client: tuple | None,
                origin: Origin | None) -> list[Decision]:
        app = self.app
        view = app.store.view(SCOPE)
        principal = self.principal(view, ctx.account_id, ctx.access_key)
        if principal.kind == "root":
            return []
        if (service, ctx.operation) in CALLER_DEFAULTS and "UserName" not in params:
            if principal.kind != "user":  # IAM answers it ValidationError itself, unauthorized
                return []
            params = dict(params, UserName=(principal.entity or {}).get("UserName"))
        needed = requests(ctx, service, ctx.operation, params)
        if not needed:
            return []
        if service == "iam":
            needed = [Request(r.action, _with_path(view, r.resource)) for r in needed]
        context = request_context(ctx, principal, client, origin)
        context.update(condition_keys(app.store.view(ctx.region), ctx, service, params))
        endpoint = through_endpoint(app, view, ctx, service, context, origin) if origin else None
        finder = RESOURCE_POLICIES.get(service)
        resource_policy = finder(view, ctx, params) if finder else None
        policies = self.policies(view, principal)
        decisions = [decide(view, ctx, principal, r, context, resource_policy, endpoint, policies)
                     for r in needed]
        for decision in decisions:
            if not decision.allowed:
                raise denial(service, principal, decision)
        return decisions


# ---- AWS's denials -----------------------------------------------------------------------


def message(service: str, principal: Principal, decision: Decision) -> str:
    request = decision.request
    resource = f'"{request.resource}"' if service == "s3" else request.resource
    return (f"User: {principal.arn} is not authorized to perform: {request.action} on "
            f"resource: {resource} {decision.reason}").rstrip()


class Denied(ServiceError):
    """AWS's denial of a request, with what decided it."""

    def __init__(self, text: str, code: str, status: int, service: str, principal: Principal,
                 decision: Decision) -> None:
        super().__init__(text, code=code, status=status)
        self.service, self.principal, self.decision = service, principal, decision


def denial(service: str, principal: Principal, decision: Decision) -> Denied:
    code, status = DENIALS.get(service, DEFAULT_DENIAL)
    text = message(service, principal, decision)
    if service == "ec2":
        text = (f"You are not authorized to perform this operation. {text}. Encoded "
                f"authorization failure message: {encode(principal, decision)}")
    return Denied(text, code, status, service, principal, decision)


def log_line(denied: Denied) -> str:
    """The line a function's log gets for a call IAM denied its role: the decision, and the
    fix where the role's own policies are what is missing."""
    principal, request = denied.principal, denied.decision.request
    line = f"vpclocal: IAM denied: {message(denied.service, principal, denied.decision)}."
    role = (principal.entity or {}).get("RoleName")
    if denied.decision.policy_type == IDENTITY and not denied.decision.explicit and role:
        document = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": request.action, "Resource": request.resource}]},
            separators=(",", ":"))
        return (f"{line} Fix: aws iam put-role-policy --role-name {role} --policy-name "
                f"allow-{request.action.replace(':', '-')} --policy-document '{document}'")
    return (f"{line} Which statement: vpclocal why {principal.entity_arn or principal.arn} "
            f"{request.action} {request.resource}")


def encode(principal: Principal, decision: Decision) -> str:
    """EC2's encoded authorization failure message (what sts decode-authorization-message
    opens): the decision as JSON, compressed and base64-encoded."""
    document = {
        "allowed": decision.allowed, "explicitDeny": decision.explicit,
        "matchedStatements": {"items": [
            {"statementId": st.get("Sid", ""), "effect": st.get("Effect"),
             "source": source} for source, st in decision.statements]},
        "failures": {"items": []},
        "context": {"principal": {"arn": principal.arn},
                    "action": decision.request.action,
                    "resource": decision.request.resource, "conditions": {"items": []}},
    }
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(document).encode())).decode()


def decode(encoded: str) -> str:
    """The JSON text `encode` made; ValueError if it is not one of ours."""
    try:
        return zlib.decompress(base64.urlsafe_b64decode(encoded.encode())).decode()
    except (zlib.error, ValueError, UnicodeError) as exc:
        raise ValueError(str(exc)) from None


# ---- explaining a decision (vpclocal why) ------------------------------------------------


def principal_named(view, account_id: str, region: str, name: str) -> Principal:
    """A principal from what a user would type: a role's, user's or assumed-role session's
    ARN, or function:NAME (its execution role's session). ValueError if there is none."""
    if name.startswith("function:"):
        from vpclocal.services.lambda_.model import FUNCTIONS
        function = view.get(FUNCTIONS, name[len("function:"):], scope=region)
        if function is None:
            raise ValueError(f"no function {name[len('function:'):]} in {region}")
        role = role_by_arn(view, function.get("Role") or "")
        session = (f"arn:aws:sts::{account_id}:assumed-role/{function['Role'].rsplit('/', 1)[1]}"
                   f"/{function['FunctionName']}")
        return Principal(session, "role", role, function.get("Role") or "")
    parts = name.split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        role = view.get(ROLES, role_name.lower(), scope=SCOPE)
        if role is None:
            raise ValueError(f"no role {role_name}")
        return Principal(name, "role", role, role["Arn"])
    role = role_by_arn(view, name)
    if role is not None:
        return Principal(name, "role", role, role["Arn"])
    user = next((u for u in view.values(USERS, scope=SCOPE) if u["Arn"] == name), None)
    if user is not None:
        return Principal(name, "user", user, user["Arn"])
    raise ValueError(f"no role, user or session {name} (function:NAME names a function's)")


def _resource_policy_for(view, region: str, action: str, resource: str) -> str | None:
    """The resource-based policy a request for `resource` meets, if its service has them."""
    service = action.partition(":")[0].lower()
    if service == "s3" and resource.startswith("arn:aws:s3:::"):
        from vpclocal.services.s3.policy import bucket_policy
        return bucket_policy(view, resource[len("arn:aws:s3:::"):].split("/", 1)[0])
    if service == "lambda" and ":function:" in resource:
        from vpclocal.services.lambda_.permissions import function_policy
        return function_policy(view, region, resource, None)
    if action.lower() == "sts:assumerole":
        return _trust_policy(view, _Asking("AssumeRole"), {"RoleArn": resource})
    return None


@dataclass
class _Asking:
    """What `decide` reads of a request's context when nobody made one (vpclocal why)."""

    operation: str
    account_id: str = ""
    region: str = ""


def explain(app, principal_name: str, action: str, resource: str = "*", region: str = "",
            context: dict | None = None) -> dict:
    """The decision IAM would make, and what made it (for `vpclocal why`)."""
    region = region or app.config.region
    view = app.store.view(SCOPE)
    principal = principal_named(view, app.config.account_id, region, principal_name)
    ctx = _Asking(action.partition(":")[2], app.config.account_id, region)
    request = Request(action, resource)
    merged = dict(request_context(ctx, principal, None, None), **(context or {}))
    decision = decide(view, ctx, principal, request, merged,
                      _resource_policy_for(view, region, action, resource))
    service = action.partition(":")[0].lower()
    # statements that would have allowed it but for their conditions: what to look at first
    near = [] if decision.allowed else [
        {"source": src, "statement": st}
        for src, st, _ in policies_of(view, principal).identity
        if st.get("Effect") == ALLOW and st.get("Condition")
        and applies(dict(st, Condition=None), action, resource, merged)]
    return {
        "principal": principal.arn, "action": action, "resource": resource,
        "unmet_conditions": near,
        "decision": ("allowed" if decision.allowed else
                     "explicitDeny" if decision.explicit else "implicitDeny"),
        "decided_by": decision.policy_type,
        "statements": [{"source": src, "statement": st} for src, st in decision.statements],
        "message": "" if decision.allowed else message(service, principal, decision),
        "context": merged,
    }
