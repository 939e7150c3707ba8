"""Roles: trust policy, attributes, tags, attached managed policies and inline policies."""

from __future__ import annotations

from vpclocal.protocols.base import now_iso
from vpclocal.services.iam.boundaries import boundary_out, checked_arn, checked_boundary
from vpclocal.services.iam.common import (
    ROLE_ID_PREFIX,
    ROLES,
    SCOPE,
    arn_name,
    iam_arn,
    merge_tags,
    page,
    unique_id,
)
from vpclocal.services.iam.documents import check_identity, check_trust, encode, size
from vpclocal.services.iam.errors import iam_error
from vpclocal.services.iam.policies import find_policy

DEFAULT_MAX_SESSION = 3600
POLICIES_PER_ROLE = 10          # AWS's default quota for attached managed policies
INLINE_BYTES_PER_ROLE = 10240   # all of a role's inline policies together, whitespace excluded
TRUST_POLICY_BYTES = 2048       # AWS's default ACLSizePerRole quota, whitespace excluded

# Which Role members each response carries: CreateRole answers with the basics, ListRoles
# leaves out the permissions boundary, tags and last use, GetRole has everything.
CREATE_FIELDS = ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument",
                 "Description", "PermissionsBoundary", "Tags")
LIST_FIELDS = ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument",
               "Description", "MaxSessionDuration")
GET_FIELDS = LIST_FIELDS + ("PermissionsBoundary", "Tags", "RoleLastUsed")


def find_role(view, name: str) -> dict | None:
    return view.get(ROLES, name.lower(), scope=SCOPE)


def role_by_arn(view, arn: str) -> dict | None:
    """A role by its ARN (path included), or None."""
    role = find_role(view, arn_name(arn))
    return role if role is not None and role["Arn"].lower() == arn.lower() else None


def get_role_or_404(view, name: str) -> dict:
    role = find_role(view, name)
    if role is None:
        raise iam_error("role_not_found", name)
    return role


def edit_role(tx, name: str) -> dict:
    return tx.edit(ROLES, get_role_or_404(tx, name)["RoleName"].lower(), scope=SCOPE)


def role_out(role: dict, fields=GET_FIELDS) -> dict:
    full = dict(role, PermissionsBoundary=boundary_out(role))
    out = {k: full[k] for k in fields if full.get(k) not in (None, "", [])}
    out["AssumeRolePolicyDocument"] = encode(role["AssumeRolePolicyDocument"])
    if "RoleLastUsed" in fields:
        out["RoleLastUsed"] = {}  # nothing here ever signs in with a role
    return out


class RoleOperations:
    # ---- the role itself ------------------------------------------------------------------

    def create_role(self, ctx, p):
        tx = ctx.tx
        name = p["RoleName"]
        if find_role(tx, name) is not None:
            raise iam_error("role_exists", name)
        check_trust_policy(p["AssumeRolePolicyDocument"])
        boundary = p.get("PermissionsBoundary")
        if boundary:
            checked_boundary(tx, boundary)
        path = p.get("Path") or "/"
        role = {
            "Path": path, "RoleName": name, "RoleId": unique_id(ROLE_ID_PREFIX),
            "Arn": iam_arn(ctx.account_id, "role", path, name), "CreateDate": now_iso(),
            "AssumeRolePolicyDocument": p["AssumeRolePolicyDocument"],
            "Description": p.get("Description", ""),
            "MaxSessionDuration": p.get("MaxSessionDuration") or DEFAULT_MAX_SESSION,
            "Tags": merge_tags([], p.get("Tags") or []),
            "_AttachedPolicies": [],   # managed policy ARNs, in attachment order
            "_InlinePolicies": {},     # name -> document, as sent
            "_Boundary": boundary or "",  # the permissions boundary's policy ARN
        }
        tx.put(ROLES, name.lower(), role, scope=SCOPE)
        return {"Role": role_out(role, CREATE_FIELDS)}

    def get_role(self, ctx, p):
        return {"Role": role_out(get_role_or_404(ctx.tx, p["RoleName"]))}

    def list_roles(self, ctx, p):
        prefix = p.get("PathPrefix") or "/"
        roles = [r for r in ctx.tx.all(ROLES, scope=SCOPE).values() if r["Path"].startswith(prefix)]
        chunk, meta = page(roles, p, key=lambda r: r["RoleName"].lower())
        return {"Roles": [role_out(r, LIST_FIELDS) for r in chunk], **meta}

    def delete_role(self, ctx, p):
        role = get_role_or_404(ctx.tx, p["RoleName"])
        if role["_AttachedPolicies"]:
            raise iam_error("has_attached")
        if role["_InlinePolicies"]:
            raise iam_error("has_inline")
        ctx.tx.delete(ROLES, role["RoleName"].lower(), scope=SCOPE)
        return {}

    def update_role(self, ctx, p):
        role = edit_role(ctx.tx, p["RoleName"])
        for key in ("Description", "MaxSessionDuration"):
            if p.get(key) is not None:
                role[key] = p[key]
        return {}

    def update_role_description(self, ctx, p):
        role = edit_role(ctx.tx, p["RoleName"])
        role["Description"] = p["Description"]
        return {"Role": role_out(role)}

    def update_assume_role_policy(self, ctx, p):
        role = edit_role(ctx.tx, p["RoleName"])
        check_trust_policy(p["PolicyDocument"])
        role["AssumeRolePolicyDocument"] = p["PolicyDocument"]
        return {}

    # ---- permissions boundary -------------------------------------------------------------

    def put_role_permissions_boundary(self, ctx, p):
        get_role_or_404(ctx.tx, p["RoleName"])
        arn = checked_boundary(ctx.tx, p["PermissionsBoundary"])
        edit_role(ctx.tx, p["RoleName"])["_Boundary"] = arn
        return {}

    def delete_role_permissions_boundary(self, ctx, p):
        # Deleting a boundary the role does not have is not an error: Terraform did so on every
        # role it deleted, and only permissions ever refused it.
        edit_role(ctx.tx, p["RoleName"])["_Boundary"] = ""
        return {}

    # ---- tags -----------------------------------------------------------------------------

    def tag_role(self, ctx, p):
        role = edit_role(ctx.tx, p["RoleName"])
        role["Tags"] = merge_tags(role["Tags"], p["Tags"])
        return {}

    def untag_role(self, ctx, p):
        role = edit_role(ctx.tx, p["RoleName"])
        gone = {k.lower() for k in p["TagKeys"]}
        role["Tags"] = [t for t in role["Tags"] if t["Key"].lower() not in gone]
        return {}

    def list_role_tags(self, ctx, p):
        role = get_role_or_404(ctx.tx, p["RoleName"])
        chunk, meta = page(role["Tags"], p, key=lambda t: t["Key"].lower())
        return {"Tags": chunk, **meta}

    # ---- attached managed policies --------------------------------------------------------

    def attach_role_policy(self, ctx, p):
        tx = ctx.tx
        arn = checked_arn(p["PolicyArn"])
        get_role_or_404(tx, p["RoleName"])
        policy = find_policy(tx, arn)
        if policy is None or not policy.get("IsAttachable", True):
            raise iam_error("not_attachable", arn)
        role = edit_role(tx, p["RoleName"])
        if arn not in role["_AttachedPolicies"]:  # attaching twice is not an error
            if len(role["_AttachedPolicies"]) >= POLICIES_PER_ROLE:
                raise iam_error("too_many_attached", "Role", POLICIES_PER_ROLE)
            role["_AttachedPolicies"].append(arn)
        return {}

    def detach_role_policy(self, ctx, p):
        tx = ctx.tx
        arn = checked_arn(p["PolicyArn"])
        if arn not in get_role_or_404(tx, p["RoleName"])["_AttachedPolicies"]:
            raise iam_error("policy_not_found", arn)
        role = edit_role(tx, p["RoleName"])
        role["_AttachedPolicies"].remove(arn)
        return {}

    def list_attached_role_policies(self, ctx, p):
        tx = ctx.tx
        role = get_role_or_404(tx, p["RoleName"])
        prefix = p.get("PathPrefix") or "/"
        attached = []
        for arn in role["_AttachedPolicies"]:
            policy = find_policy(tx, arn)
            if policy is not None and policy["Path"].startswith(prefix):
                attached.append({"PolicyName": policy["PolicyName"], "PolicyArn": arn})
        chunk, meta = page(attached, p, key=lambda a: f"{a['PolicyName'].lower()} {a['PolicyArn']}")
        return {"AttachedPolicies": chunk, **meta}

    # ---- inline policies ------------------------------------------------------------------

    def put_role_policy(self, ctx, p):
        role = edit_role(ctx.tx, p["RoleName"])
        check_identity(p["PolicyDocument"])
        inline = dict(role["_InlinePolicies"], **{p["PolicyName"]: p["PolicyDocument"]})
        if sum(size(doc) for doc in inline.values()) > INLINE_BYTES_PER_ROLE:
            raise iam_error("inline_too_large", INLINE_BYTES_PER_ROLE, "role",
                            role["RoleName"])
        role["_InlinePolicies"] = inline
        return {}

    def get_role_policy(self, ctx, p):
        role = get_role_or_404(ctx.tx, p["RoleName"])
        doc = role["_InlinePolicies"].get(p["PolicyName"])
        if doc is None:
            raise iam_error("role_policy_not_found", p["PolicyName"])
        return {"RoleName": role["RoleName"], "PolicyName": p["PolicyName"],
                "PolicyDocument": encode(doc)}

    def delete_role_policy(self, ctx, p):
        if p["PolicyName"] not in get_role_or_404(ctx.tx, p["RoleName"])["_InlinePolicies"]:
            raise iam_error("role_policy_not_found", p["PolicyName"])
        del edit_role(ctx.tx, p["RoleName"])["_InlinePolicies"][p["PolicyName"]]
        return {}

    def list_role_policies(self, ctx, p):
        role = get_role_or_404(ctx.tx, p["RoleName"])
        chunk, meta = page(list(role["_InlinePolicies"]), p, key=str.lower)
        return {"PolicyNames": chunk, **meta}


def check_trust_policy(text: str) -> None:
    check_trust(text)
    if size(text) > TRUST_POLICY_BYTES:
        raise iam_error("trust_too_large", TRUST_POLICY_BYTES)

