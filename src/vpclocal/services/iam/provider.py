"""The IAM provider: roles and managed policies, one state for every region."""

from __future__ import annotations

from vpclocal.services.base import Provider
from vpclocal.services.iam.policies import PolicyOperations
from vpclocal.services.iam.roles import RoleOperations


class IamProvider(RoleOperations, PolicyOperations, Provider):
    service_name = "iam"
    global_scope = True
