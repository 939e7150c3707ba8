"""Events reaching real functions: a scheduled rule firing as vpclocal's clock moves, a
PutEvents event through a pattern and an InputTransformer, and a target the function's policy
does not let EventBridge invoke."""

from __future__ import annotations

import datetime as dt
import itertools
import json

from tests.conftest import unique
from tests.events.conftest import advance, received

ACCOUNT = "000000000000"
REGION = "us-east-1"


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def allow(lam, function: str, rule_arn: str) -> None:
    lam.add_permission(FunctionName=function, StatementId=unique("events"),
                       Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                       SourceArn=rule_arn)


def failed_invocations(server, rule: str) -> float:
    stats = server.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Events", MetricName="FailedInvocations",
        Dimensions=[{"Name": "RuleName", "Value": rule}],
        StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5), Period=3600,
        Statistics=["Sum"])["Datapoints"]
    return sum(point["Sum"] for point in stats)


def scheduled(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("detail-type") == "Scheduled Event"]


def test_a_scheduled_rule_fires_five_times_in_five_minutes(server, events, lam, recorder):
    rule = unique("every-minute")
    arn = events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
    allow(lam, recorder, arn)
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": fn_arn(recorder)}])
    advance(server, "5m")
    events.disable_rule(Name=rule)  # no more firings: exactly those five
    got = scheduled(received(server, recorder, 5))
    assert len(got) == 5
    for event in got:
        assert set(event) == {"version", "id", "detail-type", "source", "account", "time",
                              "region", "resources", "detail"}
        assert (event["version"], event["source"], event["account"], event["region"],
                event["resources"], event["detail"]) == (
            "0", "aws.events", ACCOUNT, REGION, [arn], {})
        assert event["time"].endswith("Z")
    times = sorted(dt.datetime.fromisoformat(e["time"]) for e in got)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [60.0] * 4
    assert len({e["id"] for e in got}) == 5


def test_put_events_reach_a_function_through_a_pattern(server, events, lam, recorder):
    bus = unique("orders")
    events.create_event_bus(Name=bus)
    rule = unique("big-orders")
    arn = events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(
        {"source": ["shop"], "detail": {"total": [{"numeric": [">=", 100]}]}}))["RuleArn"]
    allow(lam, recorder, arn)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{
        "Id": "fn", "Arn": fn_arn(recorder),
        "InputTransformer": {"InputPathsMap": {"order": "$.detail.id", "total": "$.detail.total"},
                             "InputTemplate": '{"message": "order <order>", "total": <total>,'
                                              ' "rule": "<aws.events.rule-name>"}'}}])
    out = events.put_events(Entries=[
        {"EventBusName": bus, "Source": "shop", "DetailType": "Order",
         "Detail": json.dumps({"id": "small", "total": 5})},
        {"EventBusName": bus, "Source": "shop", "DetailType": "Order",
         "Detail": json.dumps({"id": "big", "total": 250})},
        {"Source": "shop", "DetailType": "Order",  # the default bus: not this rule's
         "Detail": json.dumps({"id": "elsewhere", "total": 900})}])
    assert out["FailedEntryCount"] == 0
    got = received(server, recorder, 1)
    assert got == [{"message": "order big", "total": 250, "rule": rule}]


def test_a_target_the_function_policy_does_not_allow_is_not_invoked(
        server, events, lam, recorder):
    rule = unique("unallowed")
    arn = events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": fn_arn(recorder)}])
    other = events.put_rule(Name=unique("other"), ScheduleExpression="rate(1 hour)",
                            State="DISABLED")["RuleArn"]
    allow(lam, recorder, other)  # a permission for another rule does not do
    advance(server, "2m")
    assert failed_invocations(server, rule) == 2
    allow(lam, recorder, arn)
    advance(server, "1m")
    events.disable_rule(Name=rule)
    got = scheduled(received(server, recorder, 1))
    # only the firing after the permission was added reached the function
    assert len(got) == 1
    assert failed_invocations(server, rule) == 2


def test_the_clock_cli(server):
    import subprocess

    from tests.conftest import BIN

    before = json.loads(subprocess.run(
        [str(BIN / "vpclocal"), "clock", "now", "--json", "--endpoint", server.endpoint],
        capture_output=True, text=True, check=True).stdout)
    after = json.loads(subprocess.run(
        [str(BIN / "vpclocal"), "clock", "advance", "90s", "--json", "--endpoint",
         server.endpoint], capture_output=True, text=True, check=True).stdout)
    assert after["OffsetSeconds"] - before["OffsetSeconds"] == 90
    bad = subprocess.run([str(BIN / "vpclocal"), "clock", "advance", "soon", "--endpoint",
                          server.endpoint], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


# The guide's keep-warm handler (section 6, issue 3), logging the event it gets
KEEP_WARM = ("import json\n"
             "def lambda_handler(event, context):\n"
             "    print('EVENT ' + json.dumps(event))\n"
             "    if event.get('source') == 'aws.events':\n"
             "        return {'status': 'warmed'}\n"
             "    return {'status': 'processed'}\n")


def report_lines(server, function: str, count: int, timeout: float = 60.0) -> list[str]:
    import time

    logs = server.client("logs")
    deadline = time.monotonic() + timeout
    while True:
        lines = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/lambda/{function}", filterPattern="REPORT")
            for e in page["events"] if e["message"].startswith("REPORT")]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_the_guides_keep_warm_rule(server, events, lam):
    from tests.lambda_.conftest import BASIC, make_role, wait_state, zipped

    function = unique("keep-warm")
    lam.create_function(FunctionName=function, Runtime="python3.12",
                        Role=make_role(server.client("iam"), BASIC),
                        Handler="index.lambda_handler", Code={"ZipFile": zipped(KEEP_WARM)})
    assert wait_state(lam, function)["State"] == "Active"
    rule = unique("keep-warm")
    arn = events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)")["RuleArn"]
    allow(lam, function, arn)
    events.put_targets(Rule=rule, Targets=[{"Id": "warm", "Arn": fn_arn(function)}])
    for minutes in (5, 10, 15):  # fifteen minutes, five at a time: one firing each
        advance(server, "5m")
        assert len(scheduled(received(server, function, minutes // 5))) == minutes // 5
    events.disable_rule(Name=rule)
    got = scheduled(received(server, function, 3))
    assert len(got) == 3
    for event in got:
        assert set(event) == {"version", "id", "detail-type", "source", "account", "time",
                              "region", "resources", "detail"}
        assert (event["source"], event["detail-type"], event["resources"], event["detail"]) == (
            "aws.events", "Scheduled Event", [arn], {})
    times = sorted(dt.datetime.fromisoformat(e["time"]) for e in got)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [300.0] * 2
    reports = report_lines(server, function, 3)
    assert len(reports) == 3
    # one cold start, then the environment stays warm
    assert "Init Duration" in reports[0]
    assert not any("Init Duration" in line for line in reports[1:])
