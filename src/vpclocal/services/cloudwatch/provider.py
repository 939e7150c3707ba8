"""The CloudWatch (metrics) provider."""

from __future__ import annotations

from vpclocal.services.base import Provider


class CloudWatchProvider(Provider):
    service_name = "cloudwatch"
