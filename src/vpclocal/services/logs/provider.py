"""The CloudWatch Logs provider."""

from __future__ import annotations

from vpclocal.services.base import Provider


class LogsProvider(Provider):
    service_name = "logs"
