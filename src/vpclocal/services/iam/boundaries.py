"""Permissions boundaries: the managed policy that caps what a role's or user's identity policies
can allow. A role or user record keeps the policy's ARN in "_Boundary" (absent: none)."""

from __future__ import annotations

from vpclocal.services.iam.errors import iam_error
from vpclocal.services.iam.policies import find_policy

BOUNDARY_TYPE = "Policy"  # the only kind of permissions boundary IAM has


def checked_arn(arn: str) -> str:
    """A policy ARN as IAM checks it before looking it up."""
    if not arn.startswith("arn:") or arn.count(":") < 5:
        raise iam_error("bad_arn", arn)
    return arn


def checked_boundary(view, arn: str) -> str:
    """The ARN of an existing managed policy (AWS's or the account's), or AWS's NoSuchEntity."""
    policy = find_policy(view, checked_arn(arn))
    if policy is None or not policy.get("IsAttachable", True):
        raise iam_error("boundary_not_found", arn)
    return arn


def boundary_out(entity: dict) -> dict | None:
    """The PermissionsBoundary member of a Role or User, or None when it has none."""
    arn = entity.get("_Boundary")
    if not arn:
        return None
    return {"PermissionsBoundaryType": BOUNDARY_TYPE, "PermissionsBoundaryArn": arn}

