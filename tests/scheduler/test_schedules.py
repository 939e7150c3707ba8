"""Schedules and schedule groups through boto3 and the aws CLI: their shapes, defaults, listing
and paging, tags, and the errors AWS answers."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.scheduler.conftest import ACCOUNT, OFF, REGION, clock_now

TARGET = {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nothing",
          "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/nobody"}
START_EARLY = ("The StartDate you specify cannot be earlier than 5 minutes prior to the current "
               "time.")
ON_DEFAULT = "This operation cannot be performed on schedule group default."


def error(caught) -> tuple[str, str, int]:
    response = caught.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def test_create_get_update_delete(scheduler):
    name = unique("sch")
    arn = scheduler.create_schedule(Name=name, ScheduleExpression="rate(5 minutes)",
                                    Target=TARGET, FlexibleTimeWindow=OFF)["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    got = scheduler.get_schedule(Name=name)
    got.pop("ResponseMetadata")
    created = got.pop("CreationDate")
    assert isinstance(created, dt.datetime) and got.pop("LastModificationDate") >= created
    assert got == {
        "Arn": arn, "Name": name, "GroupName": "default", "ScheduleExpression": "rate(5 minutes)",
        "State": "ENABLED", "FlexibleTimeWindow": OFF, "ActionAfterCompletion": "NONE",
        "Target": {**TARGET, "RetryPolicy": {"MaximumEventAgeInSeconds": 86400,
                                             "MaximumRetryAttempts": 185}}}
    scheduler.update_schedule(
        Name=name, ScheduleExpression="cron(0 9 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Paris", State="DISABLED", Description="weekdays",
        Target={**TARGET, "Input": '{"hello": 1}'},
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
    got = scheduler.get_schedule(Name=name, GroupName="default")
    assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"], got["State"],
            got["Description"], got["Target"]["Input"], got["FlexibleTimeWindow"],
            got["CreationDate"]) == (
        "cron(0 9 ? * MON-FRI *)", "Europe/Paris", "DISABLED", "weekdays", '{"hello": 1}',
        {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, created)
    with pytest.raises(ClientError) as caught:
        scheduler.create_schedule(Name=name, ScheduleExpression="rate(1 hour)", Target=TARGET,
                                  FlexibleTimeWindow=OFF)
    assert error(caught) == ("ConflictException", f"Schedule {name} already exists.", 409)
    scheduler.delete_schedule(Name=name)
    for call in (scheduler.get_schedule, scheduler.delete_schedule):
        with pytest.raises(ClientError) as caught:
            call(Name=name)
        assert error(caught) == ("ResourceNotFoundException", f"Schedule {name} does not exist.",
                                 404)
    with pytest.raises(ClientError) as caught:
        scheduler.update_schedule(Name=name, ScheduleExpression="rate(1 hour)", Target=TARGET,
                                  FlexibleTimeWindow=OFF)
    assert error(caught)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("fields, message", [
    ({"ScheduleExpression": "rate(0 minutes)"}, "Invalid Schedule Expression rate(0 minutes)."),
    ({"ScheduleExpression": "rate(5 weeks)"}, "Invalid Schedule Expression rate(5 weeks)."),
    ({"ScheduleExpression": "cron(0 9 * * * *)"}, "Invalid Schedule Expression cron(0 9 * * * *)."),
    ({"ScheduleExpression": "at(2030-02-30T10:00:00)"},
     "Invalid Schedule Expression at(2030-02-30T10:00:00)."),
    ({"ScheduleExpression": "at(2030-01-01 10:00)"},
     "Invalid Schedule Expression at(2030-01-01 10:00)."),
    ({"ScheduleExpressionTimezone": "Mars/Olympus"},
     "Invalid Schedule Expression Timezone Mars/Olympus."),
    ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}},
     "MaximumWindowInMinutes must be provided when FlexibleTimeWindow Mode is FLEXIBLE."),
    ({"FlexibleTimeWindow": {"Mode": "OFF", "MaximumWindowInMinutes": 5}},
     "MaximumWindowInMinutes must not be provided when FlexibleTimeWindow Mode is OFF."),
])
def test_invalid_schedules(scheduler, fields, message):
    args = {"Name": unique("bad"), "ScheduleExpression": "rate(1 hour)", "Target": TARGET,
            "FlexibleTimeWindow": OFF, **fields}
    with pytest.raises(ClientError) as caught:
        scheduler.create_schedule(**args)
    assert error(caught) == ("ValidationException", message, 400)


def test_start_and_end_dates(server, scheduler):
    now = dt.datetime.fromtimestamp(clock_now(server), dt.UTC)
    base = {"ScheduleExpression": "rate(1 hour)", "Target": TARGET, "FlexibleTimeWindow": OFF}
    with pytest.raises(ClientError) as caught:
        scheduler.create_schedule(Name=unique("early"), StartDate=now - dt.timedelta(hours=1),
                                  **base)
    assert error(caught) == ("ValidationException", START_EARLY, 400)
    with pytest.raises(ClientError) as caught:
        scheduler.create_schedule(Name=unique("backwards"), StartDate=now + dt.timedelta(hours=2),
                                  EndDate=now + dt.timedelta(hours=1), **base)
    assert error(caught) == ("ValidationException",
                             "The EndDate must be later than the StartDate.", 400)
    name = unique("dated")
    start, end = now + dt.timedelta(hours=1), now + dt.timedelta(days=1)
    scheduler.create_schedule(Name=name, StartDate=start, EndDate=end, **base)
    got = scheduler.get_schedule(Name=name)
    assert abs((got["StartDate"] - start).total_seconds()) < 0.001
    assert abs((got["EndDate"] - end).total_seconds()) < 0.001


def test_schedule_groups_and_their_tags(scheduler):
    group = unique("grp")
    arn = scheduler.create_schedule_group(
        Name=group, Tags=[{"Key": "team", "Value": "a"}])["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"
    got = scheduler.get_schedule_group(Name=group)
    assert (got["Arn"], got["Name"], got["State"]) == (arn, group, "ACTIVE")
    assert scheduler.get_schedule_group(Name="default")["Arn"].endswith("schedule-group/default")
    with pytest.raises(ClientError) as caught:
        scheduler.create_schedule_group(Name=group)
    assert error(caught) == ("ConflictException", f"Schedule group {group} already exists.", 409)
    for call in (scheduler.create_schedule_group, scheduler.delete_schedule_group):
        with pytest.raises(ClientError) as caught:
            call(Name="default")
        assert error(caught) == ("ValidationException", ON_DEFAULT, 400)
    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}]
    names = [g["Name"] for g in scheduler.get_paginator("list_schedule_groups").paginate(
        PaginationConfig={"PageSize": 1}).build_full_result()["ScheduleGroups"]]
    assert "default" in names and group in names and names == sorted(names)
    assert [g["Name"] for g in scheduler.list_schedule_groups(NamePrefix=group)[
        "ScheduleGroups"]] == [group]
    # a group's schedules go with it
    scheduler.create_schedule(Name="in-group", GroupName=group, ScheduleExpression="rate(1 hour)",
                              Target=TARGET, FlexibleTimeWindow=OFF)
    scheduler.delete_schedule_group(Name=group)
    for call, args in ((scheduler.get_schedule_group, {"Name": group}),
                       (scheduler.list_schedules, {"GroupName": group}),
                       (scheduler.list_tags_for_resource, {"ResourceArn": arn}),
                       (scheduler.get_schedule, {"Name": "in-group", "GroupName": group}),
                       (scheduler.create_schedule, {
                           "Name": "x", "GroupName": group, "ScheduleExpression": "rate(1 hour)",
                           "Target": TARGET, "FlexibleTimeWindow": OFF})):
        with pytest.raises(ClientError) as caught:
            call(**args)
        assert error(caught) == ("ResourceNotFoundException",
                                 f"Schedule group {group} does not exist.", 404)


def test_list_schedules_filters_and_pages(scheduler):
    group = unique("lst")
    scheduler.create_schedule_group(Name=group)
    for i in range(5):
        scheduler.create_schedule(Name=f"s{i}", GroupName=group,
                                  ScheduleExpression="rate(1 hour)", Target=TARGET,
                                  FlexibleTimeWindow=OFF,
                                  State="DISABLED" if i % 2 else "ENABLED")
    scheduler.create_schedule(Name="other", GroupName=group, ScheduleExpression="rate(1 hour)",
                              Target=TARGET, FlexibleTimeWindow=OFF)
    pages = list(scheduler.get_paginator("list_schedules").paginate(
        GroupName=group, NamePrefix="s", PaginationConfig={"PageSize": 2}))
    assert [len(p["Schedules"]) for p in pages] == [2, 2, 1]
    listed = [s for p in pages for s in p["Schedules"]]
    assert [s["Name"] for s in listed] == ["s0", "s1", "s2", "s3", "s4"]
    assert set(listed[0]) == {"Arn", "Name", "GroupName", "State", "CreationDate",
                              "LastModificationDate", "Target"}
    assert listed[0]["Target"] == {"Arn": TARGET["Arn"]}
    disabled = scheduler.list_schedules(GroupName=group, State="DISABLED")["Schedules"]
    assert [s["Name"] for s in disabled] == ["s1", "s3"]


def test_the_aws_cli(server):
    name = unique("cli")
    out = server.aws("scheduler", "create-schedule", "--name", name,
                     "--schedule-expression", "at(2031-05-01T08:30:00)",
                     "--schedule-expression-timezone", "Asia/Tokyo",
                     "--action-after-completion", "DELETE",
                     "--flexible-time-window", '{"Mode": "OFF"}',
                     "--target", f'{{"Arn": "{TARGET["Arn"]}", "RoleArn": "{TARGET["RoleArn"]}",'
                                 ' "Input": "{\\"job\\": 7}"}')
    assert out["ScheduleArn"].endswith(f":schedule/default/{name}")
    got = server.aws("scheduler", "get-schedule", "--name", name)
    assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"],
            got["ActionAfterCompletion"], got["Target"]["Input"]) == (
        "at(2031-05-01T08:30:00)", "Asia/Tokyo", "DELETE", '{"job": 7}')
    listed = server.aws("scheduler", "list-schedules", "--name-prefix", name)
    assert [s["Name"] for s in listed["Schedules"]] == [name]
    bad = server.aws("scheduler", "get-schedule", "--name", unique("none"), check=False)
    assert bad.returncode != 0 and "ResourceNotFoundException" in bad.stderr
