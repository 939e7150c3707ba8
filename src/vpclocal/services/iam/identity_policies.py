"""Attached managed policies and inline policies of users and groups, one implementation for
both: an `Entity` says where its records live and which names, errors and quotas apply.

A record keeps "_AttachedPolicies" (managed policy ARNs, in attachment order) and
"_InlinePolicies" (name -> document as sent), as roles do.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpclocal.services.iam.boundaries import checked_arn
from vpclocal.services.iam.common import GROUPS, SCOPE, USERS, page
from vpclocal.services.iam.documents import check_identity, encode, size
from vpclocal.services.iam.errors import iam_error
from vpclocal.services.iam.policies import default_document, find_policy


@dataclass(frozen=True)
class Entity:
    kind: str              # the store kind its records live in
    label: str             # "User" / "Group": quotas' names ("PoliciesPerUser")
    name_field: str        # its name parameter and member ("UserName")
    not_found: str         # error keys
    policy_not_found: str
    attached_quota: int    # AWS's default quotas
    inline_bytes: int      # all inline policies together, whitespace excluded


USER = Entity(USERS, "User", "UserName", "user_not_found", "user_policy_not_found",
              attached_quota=10, inline_bytes=2048)
GROUP = Entity(GROUPS, "Group", "GroupName", "group_not_found", "group_policy_not_found",
               attached_quota=10, inline_bytes=5120)


def find(view, entity: Entity, name: str) -> dict | None:
    return view.get(entity.kind, name.lower(), scope=SCOPE)


def get_or_404(view, entity: Entity, name: str) -> dict:
    record = find(view, entity, name)
    if record is None:
        raise iam_error(entity.not_found, name)
    return record


def edit(tx, entity: Entity, name: str) -> dict:
    get_or_404(tx, entity, name)
    return tx.edit(entity.kind, name.lower(), scope=SCOPE)


def attached_documents(view, record: dict) -> list[str]:
    """The default-version document of each managed policy attached to the record."""
    docs = []
    for arn in record["_AttachedPolicies"]:
        policy = find_policy(view, arn)
        if policy is not None:
            docs.append(default_document(policy))
    return docs


class IdentityPolicies:
    """The operations, given the entity they act on and the request's parameters."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity

    def _name(self, p: dict) -> str:
        return p[self.entity.name_field]

    # ---- attached managed policies --------------------------------------------------------

    def attach(self, tx, p: dict) -> dict:
        arn = checked_arn(p["PolicyArn"])
        get_or_404(tx, self.entity, self._name(p))
        policy = find_policy(tx, arn)
        if policy is None or not policy.get("IsAttachable", True):
            raise iam_error("not_attachable", arn)
        record = edit(tx, self.entity, self._name(p))
        if arn not in record["_AttachedPolicies"]:  # attaching twice is not an error
            if len(record["_AttachedPolicies"]) >= self.entity.attached_quota:
                raise iam_error("too_many_attached", self.entity.label,
                                self.entity.attached_quota)
            record["_AttachedPolicies"].append(arn)
        return {}

    def detach(self, tx, p: dict) -> dict:
        arn = checked_arn(p["PolicyArn"])
        if arn not in get_or_404(tx, self.entity, self._name(p))["_AttachedPolicies"]:
            raise iam_error("policy_not_found", arn)
        edit(tx, self.entity, self._name(p))["_AttachedPolicies"].remove(arn)
        return {}

    def list_attached(self, view, p: dict) -> dict:
        record = get_or_404(view, self.entity, self._name(p))
        prefix = p.get("PathPrefix") or "/"
        attached = []
        for arn in record["_AttachedPolicies"]:
            policy = find_policy(view, arn)
            if policy is not None and policy["Path"].startswith(prefix):
                attached.append({"PolicyName": policy["PolicyName"], "PolicyArn": arn})
        chunk, meta = page(attached, p, key=lambda a: f"{a['PolicyName'].lower()} {a['PolicyArn']}")
        return {"AttachedPolicies": chunk, **meta}

    # ---- inline policies ------------------------------------------------------------------

    def put_inline(self, tx, p: dict) -> dict:
        record = get_or_404(tx, self.entity, self._name(p))
        check_identity(p["PolicyDocument"])
        inline = dict(record["_InlinePolicies"], **{p["PolicyName"]: p["PolicyDocument"]})
        if sum(size(doc) for doc in inline.values()) > self.entity.inline_bytes:
            raise iam_error("inline_too_large", self.entity.inline_bytes,
                            self.entity.label.lower(), record[self.entity.name_field])
        edit(tx, self.entity, self._name(p))["_InlinePolicies"] = inline
        return {}

    def get_inline(self, view, p: dict) -> dict:
        record = get_or_404(view, self.entity, self._name(p))
        doc = record["_InlinePolicies"].get(p["PolicyName"])
        if doc is None:
            raise iam_error(self.entity.policy_not_found, p["PolicyName"])
        return {self.entity.name_field: record[self.entity.name_field],
                "PolicyName": p["PolicyName"], "PolicyDocument": encode(doc)}

    def delete_inline(self, tx, p: dict) -> dict:
        if p["PolicyName"] not in get_or_404(tx, self.entity, self._name(p))["_InlinePolicies"]:
            raise iam_error(self.entity.policy_not_found, p["PolicyName"])
        del edit(tx, self.entity, self._name(p))["_InlinePolicies"][p["PolicyName"]]
        return {}

    def list_inline(self, view, p: dict) -> dict:
        record = get_or_404(view, self.entity, self._name(p))
        chunk, meta = page(list(record["_InlinePolicies"]), p, key=str.lower)
        return {"PolicyNames": chunk, **meta}


USER_POLICIES = IdentityPolicies(USER)
GROUP_POLICIES = IdentityPolicies(GROUP)
