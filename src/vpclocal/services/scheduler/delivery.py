"""A schedule invoking its target: a Lambda function, as an asynchronous invocation on Lambda's
durable Event queue (the one EventBridge rules use), made with the target's role. The role must
trust scheduler.amazonaws.com and allow lambda:InvokeFunction on the function; the function
needs no resource policy (Scheduler calls Lambda as the role). The function receives the
target's Input verbatim ("{}" without one).

Each firing counts in AWS/Scheduler: InvocationAttemptCount, and TargetErrorCount when the
invocation fails; both for the account and per ScheduleGroup.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING

from vpclocal.services.cloudwatch import api as metrics_api
from vpclocal.services.events.delivery import LAMBDA_ARN, function_exists
from vpclocal.services.iam import evaluator

if TYPE_CHECKING:
    from vpclocal.server import App

log = logging.getLogger("vpclocal.scheduler")
PRINCIPAL = "scheduler.amazonaws.com"


def problem(app: App, region: str, account: str, schedule: dict, payload: str) -> str | None:
    """Why the schedule's target cannot be invoked, or None."""
    target = schedule["Target"]
    arn, role = target["Arn"], target["RoleArn"]
    view = app.store.view(region)
    context = {"aws:SourceArn": schedule["Arn"], "aws:SourceAccount": account}
    if not evaluator.role_trusts(view, role, PRINCIPAL, context):
        return f"role {role} does not exist or does not trust {PRINCIPAL}"
    if LAMBDA_ARN.fullmatch(arn) is None or "lambda" not in app.providers:
        return f"{arn} is not a Lambda function (the only target vpclocal invokes)"
    if evaluator.role_allows(view, role, ["lambda:InvokeFunction"], arn):
        return f"role {role} is not allowed lambda:InvokeFunction on {arn}"
    if not function_exists(app, arn):
        return f"function {arn} does not exist"
    try:
        json.loads(payload)
    except (ValueError, RecursionError):
        return "the Input is not JSON (Lambda refuses the payload)"
    return None


def invoke(app: App, region: str, schedule: dict) -> bool:
    """Invoke the schedule's target once; whether the invocation was made."""
    account = schedule["Arn"].split(":")[4]
    payload = schedule["Target"].get("Input") or "{}"
    why = problem(app, region, account, schedule, payload)
    points = _points("InvocationAttemptCount", schedule["GroupName"])
    if why is None:
        _, fn_account, name, qualifier = LAMBDA_ARN.fullmatch(schedule["Target"]["Arn"]).groups()
        app.providers["lambda"].queue_event(region, fn_account, str(uuid.uuid4()), name,
                                            qualifier, payload.encode())
    else:
        log.info("schedule %s: target not invoked: %s", schedule["Arn"], why)
        points += _points("TargetErrorCount", schedule["GroupName"])
    metrics_api.put_datapoints(app, region, "AWS/Scheduler", points)
    return why is None


def _points(name: str, group: str) -> list[dict]:
    return [{"MetricName": name, "Dimensions": dims, "Value": 1.0, "Unit": "Count"}
            for dims in ([], [{"Name": "ScheduleGroup", "Value": group}])]
