"""The Lambda provider: one mixin per concept."""

from __future__ import annotations

from vpclocal.services.base import Provider
from vpclocal.services.lambda_.functions import FunctionOperations
from vpclocal.services.lambda_.invoke import InvokeOperations


class LambdaProvider(FunctionOperations, InvokeOperations, Provider):
    service_name = "lambda"
