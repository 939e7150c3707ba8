"""Event buses, rules, targets, PutEvents and tags: AWS's shapes and errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique

ACCOUNT = "000000000000"
REGION = "us-east-1"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:target-fn"


def error(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def test_default_bus_and_custom_buses(events):
    default = events.describe_event_bus()
    assert default["Name"] == "default"
    assert default["Arn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    name = unique("bus")
    created = events.create_event_bus(Name=name, Description="orders")
    assert created["EventBusArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"
    assert events.describe_event_bus(Name=created["EventBusArn"])["Name"] == name
    listed = events.list_event_buses(NamePrefix=name)["EventBuses"]
    assert [b["Name"] for b in listed] == [name]
    assert error(events.create_event_bus, Name=name) == (
        "ResourceAlreadyExistsException", f"Event bus {name} already exists.", 400)
    events.delete_event_bus(Name=name)
    assert error(events.describe_event_bus, Name=name) == (
        "ResourceNotFoundException", f"Event bus {name} does not exist.", 400)
    assert error(events.delete_event_bus, Name="default")[0] == "ValidationException"


def test_rule_lifecycle(events):
    name = unique("rule")
    arn = events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)",
                          Description="keep warm")["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
    rule = events.describe_rule(Name=name)
    assert {k: rule[k] for k in ("Name", "Arn", "ScheduleExpression", "State", "Description",
                                 "EventBusName", "CreatedBy")} == {
        "Name": name, "Arn": arn, "ScheduleExpression": "rate(5 minutes)", "State": "ENABLED",
        "Description": "keep warm", "EventBusName": "default", "CreatedBy": ACCOUNT}
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "ENABLED"
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": FN}])
    assert error(events.delete_rule, Name=name) == (
        "ValidationException", "Rule can't be deleted since it has targets.", 400)
    assert events.list_rule_names_by_target(TargetArn=FN)["RuleNames"].count(name) == 1
    events.remove_targets(Rule=name, Ids=["fn"])
    events.delete_rule(Name=name)
    assert error(events.describe_rule, Name=name) == (
        "ResourceNotFoundException", f"Rule {name} does not exist on EventBus default.", 400)


def test_rule_on_a_custom_bus(events):
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    name = unique("rule")
    arn = events.put_rule(Name=name, EventBusName=bus,
                          EventPattern='{"source": ["shop"]}')["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{bus}/{name}"
    assert error(events.describe_rule, Name=name) == (
        "ResourceNotFoundException", f"Rule {name} does not exist on EventBus default.", 400)
    assert events.describe_rule(Name=name, EventBusName=bus)["EventBusName"] == bus
    assert error(events.put_rule, Name=unique("rule"), EventBusName=bus,
                 ScheduleExpression="rate(1 minute)") == (
        "ValidationException", "ScheduleExpression is supported only on the default event bus.",
        400)
    assert error(events.put_rule, Name=name, EventBusName=unique("nobus"),
                 EventPattern='{"source": ["x"]}')[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("expression", [
    "rate(1 minute)", "rate(2 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)",
    "rate(7 days)", "cron(0 12 * * ? *)", "cron(0/15 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 6#3 *)", "cron(15 10 ? * 6L 2030-2035)", "cron(0 0 L * ? *)",
    "cron(0 0 15W * ? *)", "cron(5,35 14 * JAN-MAR ? *)"])
def test_valid_schedule_expressions(events, expression):
    name = unique("rule")
    events.put_rule(Name=name, ScheduleExpression=expression, State="DISABLED")
    assert events.describe_rule(Name=name)["ScheduleExpression"] == expression


@pytest.mark.parametrize("expression", [
    "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 weeks)", "rate(five minutes)",
    "cron(* * * * * *)", "cron(7 20 * * 1-7 *)", "cron(0 0 ? * ? *)", "cron(60 0 * * ? *)",
    "cron(0 0 * * ?)", "cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 ? * 8 *)",
    "cron(0 0 ? 13 MON *)", "every 5 minutes"])
def test_invalid_schedule_expressions(events, expression):
    assert error(events.put_rule, Name=unique("rule"), ScheduleExpression=expression) == (
        "ValidationException", "Parameter ScheduleExpression is not valid.", 400)


def test_rule_needs_a_pattern_or_a_schedule(events):
    assert error(events.put_rule, Name=unique("rule")) == (
        "ValidationException",
        "Parameter(s) EventPattern or ScheduleExpression must be specified.", 400)


def test_list_rules_prefix_and_paging(events):
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        events.put_rule(Name=name, EventPattern='{"source": ["a"]}')
    seen, token = [], None
    while True:
        kwargs = {"NamePrefix": prefix, "Limit": 2, **({"NextToken": token} if token else {})}
        page = events.list_rules(**kwargs)
        assert len(page["Rules"]) <= 2
        seen += [r["Name"] for r in page["Rules"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names


def test_targets(events):
    name = unique("rule")
    events.put_rule(Name=name, EventPattern='{"source": ["a"]}')
    transformer = {"InputPathsMap": {"who": "$.detail.who"},
                   "InputTemplate": '{"greeting": "hello <who>"}'}
    out = events.put_targets(Rule=name, Targets=[
        {"Id": "b", "Arn": FN, "Input": '{"fixed": 1}'},
        {"Id": "a", "Arn": FN, "InputPath": "$.detail"},
        {"Id": "c", "Arn": FN, "InputTransformer": transformer}])
    assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == []
    targets = events.list_targets_by_rule(Rule=name)["Targets"]
    assert [t["Id"] for t in targets] == ["a", "b", "c"]
    assert targets[2]["InputTransformer"] == transformer
    bad = events.put_targets(Rule=name, Targets=[
        {"Id": "d", "Arn": FN, "Input": "not json"}])
    assert bad["FailedEntryCount"] == 1 and bad["FailedEntries"][0]["TargetId"] == "d"
    assert error(events.put_targets, Rule=name, Targets=[{"Id": "e", "Arn": "nope"}]) == (
        "ValidationException",
        "Parameter nope is not valid. Reason: Provided Arn is not in correct format.", 400)
    assert error(events.put_targets, Rule=unique("none"), Targets=[{"Id": "e", "Arn": FN}]
                 )[0] == "ResourceNotFoundException"


def test_put_events_results(events):
    good = {"Source": "shop", "DetailType": "Order", "Detail": '{"id": 1}'}
    out = events.put_events(Entries=[
        good, {"Source": "shop", "DetailType": "Order", "Detail": "[1]"},
        {"DetailType": "Order", "Detail": "{}"},
        {"Source": "shop", "DetailType": "Order", "Detail": "{not json"}])
    assert out["FailedEntryCount"] == 3
    first, array, missing, broken = out["Entries"]
    assert set(first) == {"EventId"}
    assert array == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert broken == array
    assert missing == {"ErrorCode": "InvalidArgument", "ErrorMessage":
                       "Parameter Source is not valid. Reason: Source is a required argument."}
    # an unknown bus is not reported (AWS accepts the entry)
    unknown = events.put_events(Entries=[dict(good, EventBusName=unique("nobus"))])
    assert unknown["FailedEntryCount"] == 0


def test_put_events_limits(events):
    entry = {"Source": "shop", "DetailType": "Order", "Detail": "{}"}
    code, message, status = error(events.put_events, Entries=[entry] * 11)
    assert (code, status) == ("ValidationException", 400)
    assert "Member must have length less than or equal to 10" in message
    big = dict(entry, Detail=json.dumps({"x": "y" * (200 * 1024)}))
    assert error(events.put_events, Entries=[big, big]) == (
        "ValidationException", "Total size of the entries in the request is over the limit.",
        400)


def test_tags(events):
    name = unique("rule")
    arn = events.put_rule(Name=name, EventPattern='{"source": ["a"]}',
                          Tags=[{"Key": "team", "Value": "a"}])["RuleArn"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}]
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}]
    missing = arn + "-gone"
    assert error(events.list_tags_for_resource, ResourceARN=missing) == (
        "ResourceNotFoundException", f"Rule {name}-gone does not exist on EventBus default.",
        400)


def test_the_cli(server):
    name = unique("rule")
    out = server.aws("events", "put-rule", "--name", name, "--schedule-expression",
                     "rate(1 hour)", "--state", "DISABLED")
    assert out["RuleArn"].endswith(f":rule/{name}")
    listed = server.aws("events", "list-rules", "--name-prefix", name)
    assert [r["Name"] for r in listed["Rules"]] == [name]
    refused = server.aws("events", "delete-event-bus", "--name", "default", check=False)
    assert refused.returncode != 0 and "ValidationException" in refused.stderr
