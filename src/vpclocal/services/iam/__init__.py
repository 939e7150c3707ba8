"""IAM: roles, users, groups, access keys, managed and inline policies, permissions boundaries,
and the policy evaluator other services use (principals.py: what the authorizer reads)."""

from vpclocal.services.iam.evaluator import (
    LAMBDA_ENI_ACTIONS,
    can_assume,
    decide,
    is_allowed,
    role_allows,
    role_trusts,
)
from vpclocal.services.iam.roles import role_by_arn

__all__ = ["LAMBDA_ENI_ACTIONS", "can_assume", "decide", "is_allowed", "role_allows",
           "role_by_arn", "role_trusts"]
