"""Who signed a request with a key IAM issued, and which policies apply to them: what the
authorizer asks IAM. Pure functions over a store view (any transaction or view: IAM records are
read from the global scope); no HTTP.

- `key_status(view, access_key)`: "Active", "Inactive", or None for a key IAM did not issue.
- `user_by_access_key(view, access_key)`: the IAM user whose ACTIVE long-term key it is.
- `user_policy_documents(view, user)`: the user's identity policies, its groups' included.
- `boundary_document(view, entity)`: a role's or user's permissions boundary document.

A role session's policies come from `evaluator.role_documents` (the session's RoleArn).
"""

from __future__ import annotations

from vpclocal.services.iam.common import ACCESS_KEYS, GROUPS, SCOPE, USERS
from vpclocal.services.iam.identity_policies import attached_documents
from vpclocal.services.iam.policies import default_document, find_policy

ACTIVE, INACTIVE = "Active", "Inactive"


def access_key(view, key_id: str) -> dict | None:
    """The record of a long-term access key (any status, a user's or the root's), or None."""
    return view.get(ACCESS_KEYS, key_id, scope=SCOPE) if key_id else None


def key_status(view, access_key_id: str) -> str | None:
    """"Active" or "Inactive" for a key CreateAccessKey issued; None for any other key (the
    default `test` credentials, any key vpclocal did not issue, an STS session's key).

    A request signed with an Inactive key is refused before any policy is read: AWS answers
    403 InvalidClientTokenId "The security token included in the request is invalid." (an EC2
    request: AuthFailure, same words). The root user's own keys are Inactive-able too: they
    belong to no IAM user, so `user_by_access_key` answers None for them.
    """
    record = access_key(view, access_key_id)
    return record["Status"] if record is not None else None


def user_by_access_key(view, access_key_id: str) -> dict | None:
    """The user record (UserName, UserId, Arn, Path, ...) whose ACTIVE access key this is.

    None for an unknown key, an inactive one (see `key_status` for how to answer that), a
    root user's key (the root keeps full access) and a key whose user is gone.
    """
    record = access_key(view, access_key_id)
    if record is None or record["Status"] != ACTIVE or not record["_Owner"]:
        return None
    return view.get(USERS, record["_Owner"], scope=SCOPE)


def user_groups(view, user: dict) -> list[dict]:
    """The groups the user is a member of, by group name."""
    name = user["UserName"].lower()
    groups = [g for g in view.all(GROUPS, scope=SCOPE).values() if name in g["_Members"]]
    return sorted(groups, key=lambda g: g["GroupName"].lower())


def user_policy_documents(view, user: dict) -> list[str]:
    """Every identity policy document that applies to the user: the default version of each
    attached managed policy, its inline policies, then the same for each of its groups."""
    docs = []
    for record in [user, *user_groups(view, user)]:
        docs += attached_documents(view, record)
        docs += record["_InlinePolicies"].values()
    return docs


def boundary_document(view, entity: dict) -> str | None:
    """The default-version document of a role's or user's permissions boundary, or None when
    it has none (or its policy is gone)."""
    arn = entity.get("_Boundary")
    policy = find_policy(view, arn) if arn else None
    return default_document(policy) if policy is not None else None
