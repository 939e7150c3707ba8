"""IAM users: attributes, tags, attached and inline policies, permissions boundary.

A user record: the User members, plus "_AttachedPolicies", "_InlinePolicies" and "_Boundary"
(as a role's). Group memberships live on the group, access keys in records of their own: both
name the user by its lower-cased name, renamed with it.
"""

from __future__ import annotations

from vpclocal.protocols.base import now_iso
from vpclocal.services.iam.boundaries import boundary_out, checked_boundary
from vpclocal.services.iam.common import (
    ACCESS_KEYS,
    GROUPS,
    SCOPE,
    USER_ID_PREFIX,
    USERS,
    iam_arn,
    merge_tags,
    page,
    unique_id,
)
from vpclocal.services.iam.errors import iam_error
from vpclocal.services.iam.identity_policies import USER, USER_POLICIES, edit, find, get_or_404
from vpclocal.services.iam.principals import user_by_access_key, user_groups
from vpclocal.services.sts.sessions import session_for

ACCOUNT = "iam_account"  # one record, "root": the root user's CreateDate

# Which User members each response carries: ListUsers leaves out the boundary and tags.
LIST_FIELDS = ("Path", "UserName", "UserId", "Arn", "CreateDate")
GET_FIELDS = LIST_FIELDS + ("PermissionsBoundary", "Tags")


def user_out(user: dict, fields=GET_FIELDS) -> dict:
    full = dict(user, PermissionsBoundary=boundary_out(user))
    return {k: full[k] for k in fields if full.get(k) not in (None, "", [])}


def calling_user(view, ctx) -> dict | None:
    """The IAM user who signed the request, or None for the account's root user.

    Raises ValidationError for a role session, as AWS does where an operation's UserName
    defaults to the caller.
    """
    user = user_by_access_key(view, ctx.access_key)
    if user is None and session_for(view, ctx.access_key) is not None:
        raise iam_error("not_user_credentials")
    return user


def root_user(tx, account: str) -> dict:
    """The root user as GetUser shows it: no name or path, the account ID as its ID."""
    record = tx.get(ACCOUNT, "root", scope=SCOPE)
    if record is None:
        record = tx.put(ACCOUNT, "root", {"CreateDate": now_iso()}, scope=SCOPE)
    return {"UserId": account, "Arn": f"arn:aws:iam::{account}:root",
            "CreateDate": record["CreateDate"]}


class UserOperations:
    # ---- the user itself ------------------------------------------------------------------

    def create_user(self, ctx, p):
        tx = ctx.tx
        name = p["UserName"]
        if find(tx, USER, name) is not None:
            raise iam_error("user_exists", name)
        boundary = p.get("PermissionsBoundary")
        if boundary:
            checked_boundary(tx, boundary)
        path = p.get("Path") or "/"
        user = {
            "Path": path, "UserName": name, "UserId": unique_id(USER_ID_PREFIX),
            "Arn": iam_arn(ctx.account_id, "user", path, name), "CreateDate": now_iso(),
            "Tags": merge_tags([], p.get("Tags") or [], "User"),
            "_AttachedPolicies": [], "_InlinePolicies": {}, "_Boundary": boundary or "",
        }
        tx.put(USERS, name.lower(), user, scope=SCOPE)
        return {"User": user_out(user)}

    def get_user(self, ctx, p):
        tx = ctx.tx
        if p.get("UserName"):
            return {"User": user_out(get_or_404(tx, USER, p["UserName"]))}
        user = calling_user(tx, ctx)
        return {"User": user_out(user) if user else root_user(tx, ctx.account_id)}

    def list_users(self, ctx, p):
        prefix = p.get("PathPrefix") or "/"
        users = [u for u in ctx.tx.all(USERS, scope=SCOPE).values() if u["Path"].startswith(prefix)]
        chunk, meta = page(users, p, key=lambda u: u["UserName"].lower())
        return {"Users": [user_out(u, LIST_FIELDS) for u in chunk], **meta}

    def update_user(self, ctx, p):
        tx = ctx.tx
        user = edit(tx, USER, p["UserName"])  # a private copy, stored again under its new name
        old = user["UserName"].lower()
        new_name = p.get("NewUserName") or user["UserName"]
        new = new_name.lower()
        if new != old and find(tx, USER, new_name) is not None:
            raise iam_error("user_exists", new_name)
        user["UserName"] = new_name
        user["Path"] = p.get("NewPath") or user["Path"]
        user["Arn"] = iam_arn(ctx.account_id, "user", user["Path"], new_name)
        tx.delete(USERS, old, scope=SCOPE)
        tx.put(USERS, new, user, scope=SCOPE)
        for key_id, key in tx.all(ACCESS_KEYS, scope=SCOPE).items():
            if key["_Owner"] == old:
                key = tx.edit(ACCESS_KEYS, key_id, scope=SCOPE)
                key["_Owner"], key["UserName"] = new, new_name
        for group_key, group in tx.all(GROUPS, scope=SCOPE).items():
            if old in group["_Members"]:
                group = tx.edit(GROUPS, group_key, scope=SCOPE)
                group["_Members"] = [new if m == old else m for m in group["_Members"]]
        return {}

    def delete_user(self, ctx, p):
        tx = ctx.tx
        user = get_or_404(tx, USER, p["UserName"])
        name = user["UserName"].lower()
        if any(k["_Owner"] == name for k in tx.all(ACCESS_KEYS, scope=SCOPE).values()):
            raise iam_error("user_has_keys")
        if user["_AttachedPolicies"]:
            raise iam_error("has_attached")
        if user["_InlinePolicies"]:
            raise iam_error("has_inline")
        if user_groups(tx, user):
            raise iam_error("in_group")
        tx.delete(USERS, name, scope=SCOPE)
        return {}

    # ---- tags -----------------------------------------------------------------------------

    def tag_user(self, ctx, p):
        user = edit(ctx.tx, USER, p["UserName"])
        user["Tags"] = merge_tags(user["Tags"], p["Tags"], "User")
        return {}

    def untag_user(self, ctx, p):
        user = edit(ctx.tx, USER, p["UserName"])
        gone = {k.lower() for k in p["TagKeys"]}
        user["Tags"] = [t for t in user["Tags"] if t["Key"].lower() not in gone]
        return {}

    def list_user_tags(self, ctx, p):
        user = get_or_404(ctx.tx, USER, p["UserName"])
        chunk, meta = page(user["Tags"], p, key=lambda t: t["Key"].lower())
        return {"Tags": chunk, **meta}

    # ---- permissions boundary -------------------------------------------------------------

    def put_user_permissions_boundary(self, ctx, p):
        get_or_404(ctx.tx, USER, p["UserName"])
        arn = checked_boundary(ctx.tx, p["PermissionsBoundary"])
        edit(ctx.tx, USER, p["UserName"])["_Boundary"] = arn
        return {}

    def delete_user_permissions_boundary(self, ctx, p):
        # Deleting a boundary the user does not have is not an error (as for roles).
        edit(ctx.tx, USER, p["UserName"])["_Boundary"] = ""
        return {}

    # ---- policies -------------------------------------------------------------------------

    def attach_user_policy(self, ctx, p):
        return USER_POLICIES.attach(ctx.tx, p)

    def detach_user_policy(self, ctx, p):
        return USER_POLICIES.detach(ctx.tx, p)

    def list_attached_user_policies(self, ctx, p):
        return USER_POLICIES.list_attached(ctx.tx, p)

    def put_user_policy(self, ctx, p):
        return USER_POLICIES.put_inline(ctx.tx, p)

    def get_user_policy(self, ctx, p):
        return USER_POLICIES.get_inline(ctx.tx, p)

    def delete_user_policy(self, ctx, p):
        return USER_POLICIES.delete_inline(ctx.tx, p)

    def list_user_policies(self, ctx, p):
        return USER_POLICIES.list_inline(ctx.tx, p)
