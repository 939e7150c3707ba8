"""IAM groups: attributes, members, attached and inline policies.

A group record: the Group members, plus "_Members" (members' lower-cased user names, in the order
they were added), "_AttachedPolicies" and "_InlinePolicies" (as a user's).
"""

from __future__ import annotations

from vpclocal.protocols.base import now_iso
from vpclocal.services.iam.common import (
    GROUP_ID_PREFIX,
    GROUPS,
    SCOPE,
    USERS,
    iam_arn,
    page,
    unique_id,
)
from vpclocal.services.iam.errors import iam_error
from vpclocal.services.iam.identity_policies import (
    GROUP,
    GROUP_POLICIES,
    USER,
    edit,
    find,
    get_or_404,
)
from vpclocal.services.iam.principals import user_groups
from vpclocal.services.iam.users import LIST_FIELDS as USER_FIELDS
from vpclocal.services.iam.users import user_out

GROUPS_PER_USER = 10  # AWS's default quota
FIELDS = ("Path", "GroupName", "GroupId", "Arn", "CreateDate")


def group_out(group: dict) -> dict:
    return {k: group[k] for k in FIELDS}


class GroupOperations:
    # ---- the group itself -----------------------------------------------------------------

    def create_group(self, ctx, p):
        tx = ctx.tx
        name = p["GroupName"]
        if find(tx, GROUP, name) is not None:
            raise iam_error("group_exists", name)
        path = p.get("Path") or "/"
        group = {
            "Path": path, "GroupName": name, "GroupId": unique_id(GROUP_ID_PREFIX),
            "Arn": iam_arn(ctx.account_id, "group", path, name), "CreateDate": now_iso(),
            "_Members": [], "_AttachedPolicies": [], "_InlinePolicies": {},
        }
        tx.put(GROUPS, name.lower(), group, scope=SCOPE)
        return {"Group": group_out(group)}

    def get_group(self, ctx, p):
        tx = ctx.tx
        group = get_or_404(tx, GROUP, p["GroupName"])
        members = [u for u in (tx.get(USERS, m, scope=SCOPE) for m in group["_Members"]) if u]
        chunk, meta = page(members, p, key=lambda u: u["UserName"].lower())
        return {"Group": group_out(group), "Users": [user_out(u, USER_FIELDS) for u in chunk],
                **meta}

    def list_groups(self, ctx, p):
        prefix = p.get("PathPrefix") or "/"
        groups = [g for g in ctx.tx.all(GROUPS, scope=SCOPE).values()
                  if g["Path"].startswith(prefix)]
        chunk, meta = page(groups, p, key=lambda g: g["GroupName"].lower())
        return {"Groups": [group_out(g) for g in chunk], **meta}

    def list_groups_for_user(self, ctx, p):
        user = get_or_404(ctx.tx, USER, p["UserName"])
        chunk, meta = page(user_groups(ctx.tx, user), p, key=lambda g: g["GroupName"].lower())
        return {"Groups": [group_out(g) for g in chunk], **meta}

    def update_group(self, ctx, p):
        tx = ctx.tx
        group = edit(tx, GROUP, p["GroupName"])  # a private copy, stored again under its new name
        old = group["GroupName"].lower()
        new_name = p.get("NewGroupName") or group["GroupName"]
        if new_name.lower() != old and find(tx, GROUP, new_name) is not None:
            raise iam_error("group_exists", new_name)
        group["GroupName"] = new_name
        group["Path"] = p.get("NewPath") or group["Path"]
        group["Arn"] = iam_arn(ctx.account_id, "group", group["Path"], new_name)
        tx.delete(GROUPS, old, scope=SCOPE)
        tx.put(GROUPS, new_name.lower(), group, scope=SCOPE)
        return {}

    def delete_group(self, ctx, p):
        group = get_or_404(ctx.tx, GROUP, p["GroupName"])
        if group["_Members"]:
            raise iam_error("in_group")
        if group["_AttachedPolicies"]:
            raise iam_error("has_attached")
        if group["_InlinePolicies"]:
            raise iam_error("has_inline")
        ctx.tx.delete(GROUPS, group["GroupName"].lower(), scope=SCOPE)
        return {}

    # ---- members --------------------------------------------------------------------------

    def add_user_to_group(self, ctx, p):
        tx = ctx.tx
        get_or_404(tx, GROUP, p["GroupName"])
        user = get_or_404(tx, USER, p["UserName"])
        member = user["UserName"].lower()
        if member in get_or_404(tx, GROUP, p["GroupName"])["_Members"]:
            return {}  # adding a member again is not an error
        if len(user_groups(tx, user)) >= GROUPS_PER_USER:
            raise iam_error("too_many_groups", GROUPS_PER_USER)
        edit(tx, GROUP, p["GroupName"])["_Members"].append(member)
        return {}

    def remove_user_from_group(self, ctx, p):
        tx = ctx.tx
        group = get_or_404(tx, GROUP, p["GroupName"])
        member = get_or_404(tx, USER, p["UserName"])["UserName"].lower()
        if member not in group["_Members"]:
            raise iam_error("not_in_group", p["UserName"])
        edit(tx, GROUP, p["GroupName"])["_Members"].remove(member)
        return {}

    # ---- policies -------------------------------------------------------------------------

    def attach_group_policy(self, ctx, p):
        return GROUP_POLICIES.attach(ctx.tx, p)

    def detach_group_policy(self, ctx, p):
        return GROUP_POLICIES.detach(ctx.tx, p)

    def list_attached_group_policies(self, ctx, p):
        return GROUP_POLICIES.list_attached(ctx.tx, p)

    def put_group_policy(self, ctx, p):
        return GROUP_POLICIES.put_inline(ctx.tx, p)

    def get_group_policy(self, ctx, p):
        return GROUP_POLICIES.get_inline(ctx.tx, p)

    def delete_group_policy(self, ctx, p):
        return GROUP_POLICIES.delete_inline(ctx.tx, p)

    def list_group_policies(self, ctx, p):
        return GROUP_POLICIES.list_inline(ctx.tx, p)
