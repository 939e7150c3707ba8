"""Role sessions: the temporary credentials AssumeRole issues, remembered by access key ID.

Any signature is accepted (vpclocal does not check secrets), so a request signed with a key
issued here acts as the assumed role; any other key acts as the account's root user.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso, to_datetime, to_iso
from vpclocal.services.iam.common import SCOPE
from vpclocal.services.iam.principals import user_by_access_key

SESSIONS = "sts_sessions"  # keyed by AccessKeyId
ACCESS_KEY_PREFIX = "ASIA"  # temporary credentials; long-term keys start with AKIA
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
KEEP_EXPIRED = dt.timedelta(days=1)  # expired sessions still answer ExpiredToken this long


def new_credentials(duration: int) -> dict:
    expires = to_datetime(now_iso()) + dt.timedelta(seconds=duration)
    return {
        "AccessKeyId": ACCESS_KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET)
                                                   for _ in range(16)),
        "SecretAccessKey": "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
        "SessionToken": base64.b64encode(secrets.token_bytes(300)).decode(),
        "Expiration": to_iso(expires),
    }


def session_for(view, access_key: str) -> dict | None:
    """The role session a request's access key belongs to, or None (the root user).

    Raises ExpiredToken when the session's credentials have expired.
    """
    if not access_key.startswith(ACCESS_KEY_PREFIX):
        return None
    session = view.get(SESSIONS, access_key, scope=SCOPE)
    if session is None:
        return None
    # both in the store's one ISO format (now_iso): compared as text, as every request does
    if session["Expiration"] <= now_iso():
        raise ServiceError("The security token included in the request is expired",
                           code="ExpiredToken", status=403)
    return session


def caller_identity(view, ctx) -> dict:
    """Whoever signed the request, as GetCallerIdentity shows them: UserId, Account, Arn."""
    session = session_for(view, ctx.access_key)
    if session is not None:
        return {"UserId": session["AssumedRoleId"], "Account": session["Account"],
                "Arn": session["Arn"]}
    user = user_by_access_key(view, ctx.access_key)
    if user is not None:
        return {"UserId": user["UserId"], "Account": ctx.account_id, "Arn": user["Arn"]}
    return {"UserId": ctx.account_id, "Account": ctx.account_id,
            "Arn": f"arn:aws:iam::{ctx.account_id}:root"}


def caller_arn(view, ctx) -> str:
    """The ARN of whoever signed the request."""
    return caller_identity(view, ctx)["Arn"]


def forget_expired(tx) -> None:
    cutoff = to_datetime(now_iso()) - KEEP_EXPIRED
    for key, session in list(tx.all(SESSIONS, scope=SCOPE).items()):
        if to_datetime(session["Expiration"]) < cutoff:
            tx.delete(SESSIONS, key, scope=SCOPE)
