"""The IAM provider: roles, users, groups, access keys and managed policies, one state for every
region."""

from __future__ import annotations

from vpclocal.services.base import Provider
from vpclocal.services.iam.access_keys import AccessKeyOperations
from vpclocal.services.iam.groups import GroupOperations
from vpclocal.services.iam.policies import PolicyOperations
from vpclocal.services.iam.roles import RoleOperations
from vpclocal.services.iam.simulator import SimulatorOperations
from vpclocal.services.iam.users import UserOperations


class IamProvider(RoleOperations, UserOperations, GroupOperations, AccessKeyOperations,
                  PolicyOperations, SimulatorOperations, Provider):
    service_name = "iam"
    global_scope = True
