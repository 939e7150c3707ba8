"""Resource type name -> its handler (one module per service family)."""

from __future__ import annotations

from vpclocal.services.cloudformation.resources import (
    cloudwatch,
    data,
    ec2,
    elasticache,
    iam,
    lambda_,
    ssm,
)
from vpclocal.services.cloudformation.resources.base import Handler

HANDLERS: dict[str, Handler] = {cls.type_name: cls()
                                for module in (ec2, iam, lambda_, data, elasticache, cloudwatch,
                                               ssm)
                                for cls in module.HANDLERS}
