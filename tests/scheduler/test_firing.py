"""Schedules invoking real functions as vpclocal's clock moves: rate, cron in a time zone,
one-time at() with ActionAfterCompletion, flexible windows, start and end dates, and a role
that may not invoke."""

from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.events.conftest import advance, received
from tests.scheduler.conftest import LAMBDA_TRUST_ONLY, OFF, at, clock_now, fn_arn, scheduler_role


def schedule(scheduler, target, expression, **fields) -> str:
    name = unique("fire")
    scheduler.create_schedule(Name=name, ScheduleExpression=expression, Target=target,
                              FlexibleTimeWindow=fields.pop("FlexibleTimeWindow", OFF), **fields)
    return name


def settle() -> None:
    """Time for invocations already queued to be logged."""
    time.sleep(3)


def test_a_rate_schedule_fires_at_once_then_every_period(server, scheduler, target, recorder):
    target = {**target, "Input": json.dumps({"job": "report", "n": [1, 2]})}
    name = schedule(scheduler, target, "rate(5 minutes)")
    assert len(received(server, recorder, 1)) == 1  # a rate schedule starts at once
    advance(server, "15m")
    scheduler.update_schedule(Name=name, ScheduleExpression="rate(5 minutes)", Target=target,
                              FlexibleTimeWindow=OFF, State="DISABLED")
    got = received(server, recorder, 4)
    settle()
    got = received(server, recorder, 4)
    assert got == [{"job": "report", "n": [1, 2]}] * 4  # the Input, verbatim


def test_without_input_the_function_gets_an_empty_object(server, scheduler, target, recorder):
    moment = clock_now(server) + 120
    schedule(scheduler, target, at(moment))
    advance(server, "3m")
    assert received(server, recorder, 1) == [{}]


def test_cron_in_a_time_zone(server, scheduler, target, recorder):
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    now = dt.datetime.fromtimestamp(clock_now(server), tokyo)
    # the next 09:00 in Tokyo (00:00 UTC): read as UTC it would be nine hours later
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if nine <= now + dt.timedelta(minutes=2):
        nine += dt.timedelta(days=1)
    name = schedule(scheduler, target, "cron(0 9 * * ? *)",
                    ScheduleExpressionTimezone="Asia/Tokyo")
    advance(server, f"{int((nine - now).total_seconds()) - 60}s")
    settle()
    assert received(server, recorder, 1, timeout=0) == []
    advance(server, "2m")
    assert len(received(server, recorder, 1)) == 1
    scheduler.delete_schedule(Name=name)


def test_a_one_time_schedule_deletes_itself_after_its_invocation(
        server, scheduler, target, recorder):
    tz = zoneinfo.ZoneInfo("America/New_York")
    moment = clock_now(server) + 600
    name = schedule(scheduler, {**target, "Input": '"once"'}, at(moment, tz),
                    ScheduleExpressionTimezone="America/New_York", ActionAfterCompletion="DELETE")
    advance(server, "9m")
    settle()
    assert received(server, recorder, 1, timeout=0) == []
    assert scheduler.get_schedule(Name=name)["State"] == "ENABLED"
    advance(server, "2m")
    assert received(server, recorder, 1) == ["once"]
    with pytest.raises(ClientError) as caught:
        scheduler.get_schedule(Name=name)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # without DELETE a one-time schedule stays, and fires no more
    kept = schedule(scheduler, target, at(clock_now(server) + 60))
    advance(server, "2m")
    advance(server, "1h")
    settle()
    assert len(received(server, recorder, 2)) == 2
    assert scheduler.get_schedule(Name=kept)["Name"] == kept


def test_a_flexible_window_fires_once_within_it(server, scheduler, target, recorder):
    moment = clock_now(server) + 300
    schedule(scheduler, target, at(moment),
             FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10})
    advance(server, "4m")  # before its time: nothing
    settle()
    assert received(server, recorder, 1, timeout=0) == []
    advance(server, "11m")  # past the end of its window: exactly once
    settle()
    assert len(received(server, recorder, 1)) == 1


def test_start_and_end_dates_bound_the_firings(server, scheduler, target, recorder):
    now = dt.datetime.fromtimestamp(clock_now(server), dt.UTC)
    schedule(scheduler, target, "rate(10 minutes)", StartDate=now + dt.timedelta(minutes=20),
             EndDate=now + dt.timedelta(minutes=45))
    advance(server, "1h")
    settle()
    assert len(received(server, recorder, 4, timeout=2)) == 3  # +20, +30, +40


def test_disabled_schedules_do_not_fire_until_enabled(server, scheduler, target, recorder):
    name = schedule(scheduler, target, "rate(1 hour)", State="DISABLED")
    advance(server, "2h")
    settle()
    assert received(server, recorder, 1, timeout=0) == []
    scheduler.update_schedule(Name=name, ScheduleExpression="rate(1 hour)", Target=target,
                              FlexibleTimeWindow=OFF, State="ENABLED")
    assert len(received(server, recorder, 1)) == 1
    scheduler.delete_schedule(Name=name)


def target_errors(server, group: str) -> float:
    stats = server.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Scheduler", MetricName="TargetErrorCount",
        Dimensions=[{"Name": "ScheduleGroup", "Value": group}],
        StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5), Period=3600,
        Statistics=["Sum"])["Datapoints"]
    return sum(point["Sum"] for point in stats)


@pytest.mark.parametrize("case", ["no trust", "no permission", "other function", "no role"])
def test_a_role_that_may_not_invoke_the_function(server, scheduler, iam, recorder, case):
    group = unique("denied")
    scheduler.create_schedule_group(Name=group)
    roles = {
        "no trust": lambda: scheduler_role(iam, fn_arn(recorder), trust=LAMBDA_TRUST_ONLY),
        "no permission": lambda: scheduler_role(iam, "arn:aws:sns:*:*:*"),
        "other function": lambda: scheduler_role(iam, fn_arn("someone-else")),
        "no role": lambda: "arn:aws:iam::000000000000:role/" + unique("missing"),
    }
    role = roles[case]()
    moment = clock_now(server) + 60
    scheduler.create_schedule(Name="once", GroupName=group, ScheduleExpression=at(moment),
                              Target={"Arn": fn_arn(recorder), "RoleArn": role},
                              FlexibleTimeWindow=OFF)
    advance(server, "2m")
    settle()
    assert received(server, recorder, 1, timeout=0) == []
    assert target_errors(server, group) == 1
