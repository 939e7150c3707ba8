"""The STS provider: GetCallerIdentity and AssumeRole."""

from __future__ import annotations

from vpclocal.errors import ServiceError
from vpclocal.services.base import Provider
from vpclocal.services.iam.authorization import decode
from vpclocal.services.iam.common import SCOPE
from vpclocal.services.iam.roles import role_by_arn
from vpclocal.services.sts.sessions import (
    SESSIONS,
    caller_arn,
    caller_identity,
    forget_expired,
    new_credentials,
)

DEFAULT_DURATION = 3600


class StsProvider(Provider):
    service_name = "sts"
    global_scope = True  # credentials work in every region, and roles are global

    def get_caller_identity(self, ctx, p):
        return caller_identity(ctx.tx, ctx)

    def assume_role(self, ctx, p):
        tx = ctx.tx
        role = role_by_arn(tx, p["RoleArn"])
        if role is None:
            # AWS does not say the role is missing: it refuses like for any untrusted caller.
            raise ServiceError(f"User: {caller_arn(tx, ctx)} is not authorized to perform: "
                               f"sts:AssumeRole on resource: {p['RoleArn']}",
                               code="AccessDenied", status=403)
        # The trust policy was checked before (iam/authorization.py) for callers vpclocal
        # issued credentials to; the account's root, which the default credentials are, may
        # assume any of its roles here (AWS refuses the root: a local cloud's convenience).
        duration = p.get("DurationSeconds") or DEFAULT_DURATION
        if duration > role["MaxSessionDuration"]:
            raise ServiceError("The requested DurationSeconds exceeds the MaxSessionDuration "
                               "set for this role.", code="ValidationError", status=400)
        name = p["RoleSessionName"]
        user = {"AssumedRoleId": f"{role['RoleId']}:{name}",
                "Arn": f"arn:aws:sts::{ctx.account_id}:assumed-role/{role['RoleName']}/{name}"}
        credentials = new_credentials(duration)
        forget_expired(tx)
        tx.put(SESSIONS, credentials["AccessKeyId"],
               dict(credentials, **user, Account=ctx.account_id, RoleArn=role["Arn"]),
               scope=SCOPE)
        out = {"Credentials": credentials, "AssumedRoleUser": user}
        if p.get("SourceIdentity"):
            out["SourceIdentity"] = p["SourceIdentity"]
        return out

    def decode_authorization_message(self, ctx, p):
        try:
            return {"DecodedMessage": decode(p["EncodedMessage"])}
        except ValueError:
            # (AWS's wording unconfirmed; the code is the model's)
            raise ServiceError("The encoded authorization message is not valid.",
                               code="InvalidAuthorizationMessageException",
                               status=400) from None
