"""Long-term access keys: a user's (or the root user's), at most two each.

A key record: the AccessKey members plus "_Owner", the owner's lower-cased user name ("" for the
root user). Where UserName is optional, the key's owner is the caller: an IAM user signing
with its own key, or the root user; a role session must name the user.
"""

from __future__ import annotations

import secrets

from vpclocal.protocols.base import now_iso
from vpclocal.services.iam.common import ACCESS_KEY_ID_PREFIX, ACCESS_KEYS, SCOPE, page
from vpclocal.services.iam.errors import iam_error
from vpclocal.services.iam.identity_policies import USER, get_or_404
from vpclocal.services.iam.principals import ACTIVE
from vpclocal.services.iam.users import calling_user

KEYS_PER_USER = 2
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

METADATA_FIELDS = ("UserName", "AccessKeyId", "Status", "CreateDate")
CREATE_FIELDS = METADATA_FIELDS + ("SecretAccessKey",)
NEVER_USED = {"ServiceName": "N/A", "Region": "N/A"}  # AWS's answer for a key never used


def _owner(view, ctx, p: dict) -> tuple[str, str]:
    """(owner key, UserName to show) of the keys a request acts on: the named user's, else the
    caller's ("" and "" for the root user)."""
    if p.get("UserName"):
        user = get_or_404(view, USER, p["UserName"])
    else:
        user = calling_user(view, ctx)
    return (user["UserName"].lower(), user["UserName"]) if user else ("", "")


def _owned_key(view, ctx, p: dict) -> dict:
    owner, _ = _owner(view, ctx, p)
    key = view.get(ACCESS_KEYS, p["AccessKeyId"], scope=SCOPE)
    if key is None or key["_Owner"] != owner:
        raise iam_error("key_not_found", p["AccessKeyId"])
    return key


def _out(key: dict, fields=METADATA_FIELDS) -> dict:
    return {k: key[k] for k in fields if key.get(k)}


class AccessKeyOperations:
    def create_access_key(self, ctx, p):
        tx = ctx.tx
        owner, user_name = _owner(tx, ctx, p)
        keys = tx.all(ACCESS_KEYS, scope=SCOPE).values()
        if sum(k["_Owner"] == owner for k in keys) >= KEYS_PER_USER:
            raise iam_error("too_many_keys", KEYS_PER_USER)
        key_id = ACCESS_KEY_ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
        key = {"UserName": user_name, "AccessKeyId": key_id, "Status": ACTIVE,
               "SecretAccessKey": "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
               "CreateDate": now_iso(), "_Owner": owner}
        tx.put(ACCESS_KEYS, key_id, key, scope=SCOPE)
        return {"AccessKey": _out(key, CREATE_FIELDS)}

    def list_access_keys(self, ctx, p):
        tx = ctx.tx
        owner, _ = _owner(tx, ctx, p)
        keys = [k for k in tx.all(ACCESS_KEYS, scope=SCOPE).values() if k["_Owner"] == owner]
        chunk, meta = page(keys, p, key=lambda k: f"{k['CreateDate']} {k['AccessKeyId']}")
        return {"AccessKeyMetadata": [_out(k) for k in chunk], **meta}

    def update_access_key(self, ctx, p):
        key = _owned_key(ctx.tx, ctx, p)
        ctx.tx.edit(ACCESS_KEYS, key["AccessKeyId"], scope=SCOPE)["Status"] = p["Status"]
        return {}

    def delete_access_key(self, ctx, p):
        key = _owned_key(ctx.tx, ctx, p)
        ctx.tx.delete(ACCESS_KEYS, key["AccessKeyId"], scope=SCOPE)
        return {}

    def get_access_key_last_used(self, ctx, p):
        key = ctx.tx.get(ACCESS_KEYS, p["AccessKeyId"], scope=SCOPE)
        if key is None:
            raise iam_error("key_not_found", p["AccessKeyId"])  # unconfirmed for this operation
        out = {"AccessKeyLastUsed": dict(NEVER_USED)}
        if key["UserName"]:
            out["UserName"] = key["UserName"]
        return out
