"""Delivering an event to a rule's targets: Lambda functions, as asynchronous invocations on
Lambda's durable Event queue (with its retries), only when the function's resource policy lets
events.amazonaws.com invoke it for that rule (AWS:SourceArn), as on AWS. Each delivery counts
in AWS/Events: TriggeredRules once per rule, Invocations or FailedInvocations per target.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING

from vpclocal.services.cloudwatch import api as metrics_api
from vpclocal.services.events import inputs, model
from vpclocal.services.iam import evaluator
from vpclocal.services.iam.documents import as_list
from vpclocal.services.lambda_ import model as lambda_model
from vpclocal.services.lambda_.permissions import function_policy

if TYPE_CHECKING:
    from vpclocal.server import App

log = logging.getLogger("vpclocal.events")
PRINCIPAL = "events.amazonaws.com"
LAMBDA_ARN = re.compile(r"arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([^:]+)(?::(.+))?")


def _names_events(principal) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and (
        PRINCIPAL in as_list(principal.get("Service", [])) or "*" in as_list(
            principal.get("AWS", [])))


def may_invoke(app: App, function_arn: str, rule_arn: str, account: str) -> bool:
    """Whether the function's resource policy allows events.amazonaws.com to invoke it for
    this rule."""
    found = LAMBDA_ARN.fullmatch(function_arn)
    if found is None:
        return False
    region, _, name, qualifier = found.groups()
    policy = function_policy(app.store.view(region), region, name, qualifier)
    if policy is None:
        return False
    context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": account}
    statements = evaluator.matching(policy, "lambda:InvokeFunction", function_arn, context,
                                    principal=_names_events)
    return any(st.get("Effect") == "Allow" for st in statements) and not any(
        st.get("Effect") == "Deny" for st in statements)


def function_exists(app: App, function_arn: str) -> bool:
    found = LAMBDA_ARN.fullmatch(function_arn)
    if found is None:
        return False
    region, account, name, qualifier = found.groups()
    try:
        lambda_model.resolve(app.store.view(region), name, qualifier, account)
    except Exception:  # noqa: BLE001 - any refusal: the function cannot be invoked
        return False
    return True


def deliver(app: App, region: str, account: str, rule: dict, event: dict) -> None:
    """Send one event to every target of a rule that matched it (or fired)."""
    targets = rule.get("_Targets") or []
    dimensions = [{"Name": "RuleName", "Value": rule["Name"]}]
    if rule["EventBusName"] != model.DEFAULT:
        dimensions.insert(0, {"Name": "EventBusName", "Value": rule["EventBusName"]})
    points = [_point("TriggeredRules", dimensions)]
    lam = app.providers.get("lambda")
    for target in targets:
        arn = target["Arn"]
        found = LAMBDA_ARN.fullmatch(arn)
        ok = (found is not None and lam is not None and function_exists(app, arn)
              and may_invoke(app, arn, rule["Arn"], account))
        if ok:
            _, fn_account, name, qualifier = found.groups()
            payload = inputs.transform(target, event, rule["Arn"], rule["Name"])
            lam.queue_event(found.group(1), fn_account, str(uuid.uuid4()), name, qualifier,
                            payload)
            points.append(_point("Invocations", dimensions))
        else:
            log.info("rule %s: target %s not invoked (no such function, or its policy does "
                     "not allow %s for the rule)", rule["Arn"], arn, PRINCIPAL)
            points.append(_point("FailedInvocations", dimensions))
    metrics_api.put_datapoints(app, region, "AWS/Events", points)


def _point(name: str, dimensions: list[dict]) -> dict:
    return {"MetricName": name, "Dimensions": dimensions, "Value": 1.0, "Unit": "Count"}
