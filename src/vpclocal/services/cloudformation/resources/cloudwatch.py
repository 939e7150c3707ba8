"""AWS::CloudWatch::Alarm over the CloudWatch provider's PutMetricAlarm (alarms.py): Ref is
the alarm's name, Fn::GetAtt Arn its ARN; a property change puts the alarm again in place
(its state kept), a new AlarmName replaces it."""

from __future__ import annotations

from vpclocal.services.cloudformation.resources.base import (
    Handler,
    ignore_missing,
    required,
    tags,
)

# the resource's properties PutMetricAlarm takes as they are (coerced to its input shape)
_PARAMS = ("ActionsEnabled", "AlarmActions", "AlarmDescription", "ComparisonOperator",
           "DatapointsToAlarm", "Dimensions", "EvaluateLowSampleCountPercentile",
           "EvaluationPeriods", "ExtendedStatistic", "InsufficientDataActions", "MetricName",
           "Metrics", "Namespace", "OKActions", "Period", "Statistic", "Threshold",
           "ThresholdMetricId", "TreatMissingData", "Unit")


class Alarm(Handler):
    type_name = "AWS::CloudWatch::Alarm"

    async def _put(self, env, name: str, props: dict, with_tags: bool) -> dict:
        required(props, "ComparisonOperator", "EvaluationPeriods")
        params = {"AlarmName": name, **{k: props[k] for k in _PARAMS if props.get(k) is not None}}
        if with_tags and tags(props):
            params["Tags"] = tags(props)
        await env.call("monitoring", "PutMetricAlarm", params)
        [alarm] = (await env.call("monitoring", "DescribeAlarms",
                                  {"AlarmNames": [name]}))["MetricAlarms"]
        return {"Arn": alarm["AlarmArn"]}

    async def create(self, env, props):
        name = props.get("AlarmName") or env.physical_name(255)
        return name, await self._put(env, name, props, with_tags=True)

    async def update(self, env, physical_id, attrs, old, new):
        return physical_id, await self._put(env, physical_id, new, with_tags=False)

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("monitoring", "DeleteAlarms",
                                      {"AlarmNames": [physical_id]}))


HANDLERS = (Alarm,)
