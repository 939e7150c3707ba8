"""In-process CloudWatch metrics for the rest of vpclocal (the Lambda runtime emits AWS/Lambda).

    put_datapoints(app, "us-east-1", "AWS/Lambda", [{"MetricName": "Duration",
        "Dimensions": [{"Name": "FunctionName", "Value": "fn"}], "Value": 26.7,
        "Unit": "Milliseconds", "Timestamp": datetime.now(UTC)}])

Timestamp is a datetime or epoch seconds (default now). Thread-safe; each metric's points are
one small SQLite transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpclocal.services.cloudwatch import model

if TYPE_CHECKING:
    from vpclocal.server import App


def put_datapoints(app: App, region: str, namespace: str, points: list[dict]) -> None:
    """Record data points (PutMetricData's MetricDatum shape; Value, Unit, Timestamp)."""
    model.put_points(app.store, region, namespace, points)
    provider = app.providers.get("monitoring")
    if provider is not None:  # the alarms watching these metrics evaluate now
        provider.metrics_arrived(region, model.keys_of(namespace, points))
