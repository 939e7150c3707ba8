"""Managed policies: AWS's (read-only data) and the account's own (records with versions)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from vpclocal.protocols.base import now_iso
from vpclocal.services.iam.common import (
    GROUPS,
    POLICIES,
    POLICY_ID_PREFIX,
    ROLES,
    SCOPE,
    USERS,
    arn_name,
    iam_arn,
    merge_tags,
    page,
    unique_id,
)
from vpclocal.services.iam.documents import check_identity, encode, size
from vpclocal.services.iam.errors import iam_error

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"
MAX_VERSIONS = 5
MAX_POLICY_SIZE = 6144  # characters, whitespace excluded

# Which Policy members each response carries (AWS leaves Description and Tags out of lists).
LIST_FIELDS = ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "AttachmentCount",
               "PermissionsBoundaryUsageCount", "IsAttachable", "CreateDate", "UpdateDate")
GET_FIELDS = LIST_FIELDS + ("Description", "Tags")


@cache
def aws_managed() -> dict[str, dict]:
    """AWS managed policies by ARN, in the record shape of customer policies."""
    data = json.loads((Path(__file__).parent / "aws_managed_policies.json").read_text())
    out = {}
    for item in data["policies"]:
        policy = {k: v for k, v in item.items() if k != "Document"}
        policy["IsAttachable"] = True
        policy["_Versions"] = [{"VersionId": item["DefaultVersionId"],
                                "Document": json.dumps(item["Document"]),
                                "IsDefaultVersion": True, "CreateDate": item["UpdateDate"]}]
        out[item["Arn"]] = policy
    return out


def find_policy(view, arn: str) -> dict | None:
    """A managed policy (AWS's or the account's) by ARN, or None."""
    if arn.startswith(AWS_POLICY_PREFIX):
        return aws_managed().get(arn)
    policy = view.get(POLICIES, arn_name(arn).lower(), scope=SCOPE)
    return policy if policy is not None and policy["Arn"] == arn else None


def get_policy_or_404(view, arn: str) -> dict:
    policy = find_policy(view, arn)
    if policy is None:
        raise iam_error("policy_not_found", arn)
    return policy


def default_document(policy: dict) -> str:
    return next(v["Document"] for v in policy["_Versions"] if v["IsDefaultVersion"])


# The entities a managed policy attaches to: their store kind, label, name and ID members, and
# the ListEntitiesForPolicy member listing them. Roles and users may also have one as their
# permissions boundary.
ENTITY_KINDS = (
    (ROLES, "Role", "RoleName", "RoleId", "PolicyRoles"),
    (USERS, "User", "UserName", "UserId", "PolicyUsers"),
    (GROUPS, "Group", "GroupName", "GroupId", "PolicyGroups"),
)
BOUNDED_KINDS = (ROLES, USERS)


def attachment_count(view, arn: str) -> int:
    """How many roles, users and groups the policy is attached to."""
    return sum(arn in r["_AttachedPolicies"] for kind, *_ in ENTITY_KINDS
               for r in view.all(kind, scope=SCOPE).values())


def boundary_count(view, arn: str) -> int:
    """How many roles and users have the policy as their permissions boundary."""
    return sum(r.get("_Boundary") == arn for kind in BOUNDED_KINDS
               for r in view.all(kind, scope=SCOPE).values())


def policy_out(view, policy: dict, fields=GET_FIELDS) -> dict:
    full = dict(policy, AttachmentCount=attachment_count(view, policy["Arn"]),
                PermissionsBoundaryUsageCount=boundary_count(view, policy["Arn"]))
    return {k: full[k] for k in fields if full.get(k) not in (None, "", [])
            or k in ("AttachmentCount", "PermissionsBoundaryUsageCount")}


def version_out(version: dict, with_document: bool = True) -> dict:
    out = {k: version[k] for k in ("VersionId", "IsDefaultVersion", "CreateDate")}
    if with_document:
        out["Document"] = encode(version["Document"])
    return out


def check_policy_document(text: str) -> None:
    check_identity(text, managed=True)
    if size(text) > MAX_POLICY_SIZE:
        raise iam_error("policy_too_large", MAX_POLICY_SIZE)


class PolicyOperations:
    def create_policy(self, ctx, p):
        tx = ctx.tx
        name = p["PolicyName"]
        if tx.get(POLICIES, name.lower(), scope=SCOPE) is not None:
            raise iam_error("policy_exists", name)
        check_policy_document(p["PolicyDocument"])
        path = p.get("Path") or "/"
        now = now_iso()
        policy = {
            "PolicyName": name, "PolicyId": unique_id(POLICY_ID_PREFIX),
            "Arn": iam_arn(ctx.account_id, "policy", path, name), "Path": path,
            "DefaultVersionId": "v1", "IsAttachable": True, "CreateDate": now, "UpdateDate": now,
            "Description": p.get("Description", ""),
            "Tags": merge_tags([], p.get("Tags") or [], "Policy"),
            "_Versions": [{"VersionId": "v1", "Document": p["PolicyDocument"],
                           "IsDefaultVersion": True, "CreateDate": now}],
            "_NextVersion": 2,
        }
        tx.put(POLICIES, name.lower(), policy, scope=SCOPE)
        return {"Policy": policy_out(tx, policy, LIST_FIELDS + ("Tags",))}

    def get_policy(self, ctx, p):
        return {"Policy": policy_out(ctx.tx, get_policy_or_404(ctx.tx, p["PolicyArn"]))}

    def list_policies(self, ctx, p):
        tx = ctx.tx
        scope = p.get("Scope") or "All"
        found = []
        if scope in ("All", "AWS"):
            found += aws_managed().values()
        if scope in ("All", "Local"):
            found += tx.all(POLICIES, scope=SCOPE).values()
        prefix = p.get("PathPrefix") or "/"
        out = [policy_out(tx, pol, LIST_FIELDS) for pol in found if pol["Path"].startswith(prefix)]
        if p.get("OnlyAttached"):
            out = [pol for pol in out if pol["AttachmentCount"] > 0]
        chunk, meta = page(out, p, key=lambda pol: pol["PolicyName"].lower() + " " + pol["Arn"])
        return {"Policies": chunk, **meta}

    def delete_policy(self, ctx, p):
        tx = ctx.tx
        policy = _customer_policy(tx, p["PolicyArn"])
        if attachment_count(tx, policy["Arn"]) or boundary_count(tx, policy["Arn"]):
            raise iam_error("policy_attached")
        if len(policy["_Versions"]) > 1:
            raise iam_error("policy_has_versions")
        tx.delete(POLICIES, policy["PolicyName"].lower(), scope=SCOPE)
        return {}

    def get_policy_version(self, ctx, p):
        policy = get_policy_or_404(ctx.tx, p["PolicyArn"])
        return {"PolicyVersion": version_out(_version(policy, p["VersionId"]))}

    def list_policy_versions(self, ctx, p):
        policy = get_policy_or_404(ctx.tx, p["PolicyArn"])
        versions = [version_out(v, with_document=False) for v in policy["_Versions"]]
        # Newest first, as AWS lists them.
        chunk, meta = page(versions, p, key=lambda v: f"{10**9 - int(v['VersionId'][1:]):010d}")
        return {"Versions": chunk, **meta}

    def create_policy_version(self, ctx, p):
        tx = ctx.tx
        policy = _customer_policy(tx, p["PolicyArn"])
        check_policy_document(p["PolicyDocument"])
        if len(policy["_Versions"]) >= MAX_VERSIONS:
            raise iam_error("too_many_versions")
        policy = tx.edit(POLICIES, policy["PolicyName"].lower(), scope=SCOPE)
        version_id = f"v{policy['_NextVersion']}"
        policy["_NextVersion"] += 1
        version = {"VersionId": version_id, "Document": p["PolicyDocument"],
                   "IsDefaultVersion": False, "CreateDate": now_iso()}
        policy["_Versions"].append(version)
        if p.get("SetAsDefault"):
            _set_default(policy, version_id)
        return {"PolicyVersion": version_out(version, with_document=False)}

    def set_default_policy_version(self, ctx, p):
        tx = ctx.tx
        policy = _customer_policy(tx, p["PolicyArn"])
        _version(policy, p["VersionId"])
        _set_default(tx.edit(POLICIES, policy["PolicyName"].lower(), scope=SCOPE), p["VersionId"])
        return {}

    def delete_policy_version(self, ctx, p):
        tx = ctx.tx
        policy = _customer_policy(tx, p["PolicyArn"])
        if _version(policy, p["VersionId"])["IsDefaultVersion"]:
            raise iam_error("default_version")
        policy = tx.edit(POLICIES, policy["PolicyName"].lower(), scope=SCOPE)
        policy["_Versions"] = [v for v in policy["_Versions"] if v["VersionId"] != p["VersionId"]]
        return {}

    def list_entities_for_policy(self, ctx, p):
        tx = ctx.tx
        policy = get_policy_or_404(tx, p["PolicyArn"])
        arn = policy["Arn"]
        wanted = p.get("EntityFilter")
        if wanted in ("LocalManagedPolicy", "AWSManagedPolicy"):
            # the entities a policy of that kind is attached to: this one, if of that kind
            wanted = None if (wanted == "AWSManagedPolicy") == arn.startswith(
                AWS_POLICY_PREFIX) else "nothing"
        usage = p.get("PolicyUsageFilter")
        found = []
        for kind, label, name_field, id_field, member in ENTITY_KINDS:
            if wanted not in (None, label):
                continue
            for record in tx.all(kind, scope=SCOPE).values():
                attached = arn in record["_AttachedPolicies"]
                bounded = record.get("_Boundary") == arn
                if (attached and usage in (None, "PermissionsPolicy")) or (
                        bounded and usage in (None, "PermissionsBoundary")):
                    found.append((member, {name_field: record[name_field],
                                           id_field: record[id_field]}))
        chunk, meta = page(found, p, key=lambda f: f"{f[0]} {next(iter(f[1].values())).lower()}")
        out = {member: [] for *_, member in ENTITY_KINDS}
        for member, entity in chunk:
            out[member].append(entity)
        return {**out, **meta}

def _customer_policy(view, arn: str) -> dict:
    policy = get_policy_or_404(view, arn)
    if arn.startswith(AWS_POLICY_PREFIX):
        raise iam_error("aws_policy_readonly", arn)
    return policy


def _version(policy: dict, version_id: str) -> dict:
    for version in policy["_Versions"]:
        if version["VersionId"] == version_id:
            return version
    raise iam_error("version_not_found", policy["Arn"], version_id)


def _set_default(policy: dict, version_id: str) -> None:
    for version in policy["_Versions"]:
        version["IsDefaultVersion"] = version["VersionId"] == version_id
    policy["DefaultVersionId"] = version_id
    policy["UpdateDate"] = now_iso()
