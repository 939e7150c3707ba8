"""CloudWatch Logs through boto3 and the aws CLI: groups, streams, events, filters, tags, and
the in-process API the Lambda runtime writes through."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import Server
from vpclocal.config import Config
from vpclocal.server import App
from vpclocal.services.base import RequestContext
from vpclocal.services.logs import api


def now_ms() -> int:
    return int(time.time() * 1000)


def unique(prefix: str = "/test/") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


@pytest.fixture
def group(logs):
    name = unique()
    logs.create_log_group(logGroupName=name)
    return name


@pytest.fixture
def stream(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    return "s1"


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def put(logs, group: str, stream: str, *messages: str, at: int | None = None) -> dict:
    base = at if at is not None else now_ms()
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": base + i, "message": m} for i, m in enumerate(messages)])


# ---- log groups --------------------------------------------------------------------------

def test_create_describe_delete_group(logs, server):
    name = unique()
    before = now_ms()
    logs.create_log_group(logGroupName=name, tags={"team": "a"})
    [g] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert g["logGroupName"] == name
    assert g["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{name}:*"
    assert g["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{name}"
    assert before - 1000 <= g["creationTime"] <= now_ms() + 1000
    assert g["storedBytes"] == 0
    assert g["logGroupClass"] == "STANDARD"
    assert g["metricFilterCount"] == 0
    assert "retentionInDays" not in g
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"team": "a"}
    assert error_of(logs.create_log_group, logGroupName=name) == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    assert error_of(logs.delete_log_group, logGroupName=name) == (
        "ResourceNotFoundException", "The specified log group does not exist.")


def test_group_exceptions_are_modeled(logs, group):
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=group + "-missing")


def test_group_name_validation(logs):
    code, message = error_of(logs.create_log_group, logGroupName="bad:name")
    assert code == "InvalidParameterException"
    assert message.startswith("1 validation error detected: Value 'bad:name' at 'logGroupName'")


def test_describe_groups_prefix_pattern_and_paging(logs):
    base = unique("/page/")
    names = [f"{base}/g{i:02d}" for i in range(7)]
    for name in reversed(names):
        logs.create_log_group(logGroupName=name)
    seen, token = [], None
    while True:
        kwargs = {"logGroupNamePrefix": base, "limit": 3}
        if token:
            kwargs["nextToken"] = token
        page = logs.describe_log_groups(**kwargs)
        assert len(page["logGroups"]) <= 3
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names  # sorted by name
    # the pattern matches anywhere in the name, ignoring case
    found = logs.describe_log_groups(logGroupNamePattern=base.split("/")[-1].upper() + "/G0")
    assert [g["logGroupName"] for g in found["logGroups"]] == names
    paginator = logs.get_paginator("describe_log_groups")
    listed = [g["logGroupName"] for page in paginator.paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}) for g in page["logGroups"]]
    assert listed == names
    code, _ = error_of(logs.describe_log_groups, logGroupNamePrefix=base,
                       logGroupNamePattern="x")
    assert code == "InvalidParameterException"
    assert error_of(logs.describe_log_groups, nextToken="garbage!") == (
        "InvalidParameterException", "The specified nextToken is invalid.")
    code, message = error_of(logs.describe_log_groups, limit=51)
    assert code == "InvalidParameterException" and "limit" in message


def test_retention_policy(logs, group):
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["retentionInDays"] == 7
    logs.delete_retention_policy(logGroupName=group)
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert "retentionInDays" not in g
    code, message = error_of(logs.put_retention_policy, logGroupName=group, retentionInDays=2)
    assert code == "InvalidParameterException"
    assert message.startswith("1 validation error detected: Value '2' at 'retentionInDays' "
                              "failed to satisfy constraint: Member must satisfy enum value set: "
                              "[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,")
    for call in (logs.delete_retention_policy,):
        assert error_of(call, logGroupName=group + "x")[0] == "ResourceNotFoundException"
    assert error_of(logs.put_retention_policy, logGroupName=group + "x",
                    retentionInDays=1)[0] == "ResourceNotFoundException"


# ---- log streams -------------------------------------------------------------------------

def test_create_describe_delete_stream(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="a")
    [s] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert s["logStreamName"] == "a"
    assert s["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:a"
    assert s["storedBytes"] == 0
    assert "lastEventTimestamp" not in s and "firstEventTimestamp" not in s
    assert error_of(logs.create_log_stream, logGroupName=group, logStreamName="a") == (
        "ResourceAlreadyExistsException", "The specified log stream already exists")
    assert error_of(logs.create_log_stream, logGroupName=group + "x", logStreamName="a") == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    logs.delete_log_stream(logGroupName=group, logStreamName="a")
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    assert error_of(logs.delete_log_stream, logGroupName=group, logStreamName="a") == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(logs.describe_log_streams, logGroupName=group + "x") == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    code, _ = error_of(logs.create_log_stream, logGroupName=group, logStreamName="a:b")
    assert code == "InvalidParameterException"


def test_describe_streams_order_and_event_times(logs, group):
    t = now_ms()
    for i, name in enumerate(["c", "a", "b"]):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        put(logs, group, name, f"m{i}", at=t - 10_000 + i * 1000)
    logs.create_log_stream(logGroupName=group, logStreamName="empty")
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["a", "b", "c", "empty"]
    a = streams[0]
    assert a["firstEventTimestamp"] == a["lastEventTimestamp"] == t - 9000
    assert a["lastIngestionTime"] >= t - 1000
    assert len(a["uploadSequenceToken"]) == 56
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                        descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == ["b", "a", "c", "empty"]
    desc = logs.describe_log_streams(logGroupName=group, descending=True)["logStreams"]
    assert [s["logStreamName"] for s in desc] == ["empty", "c", "b", "a"]
    pref = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="e")["logStreams"]
    assert [s["logStreamName"] for s in pref] == ["empty"]
    # paging, both directions
    for descending, expected in ((False, ["a", "b", "c", "empty"]),
                                 (True, ["empty", "c", "b", "a"])):
        seen, token = [], None
        while True:
            kwargs = {"logGroupName": group, "limit": 1, "descending": descending}
            if token:
                kwargs["nextToken"] = token
            page = logs.describe_log_streams(**kwargs)
            seen += [s["logStreamName"] for s in page["logStreams"]]
            token = page.get("nextToken")
            if not token:
                break
        assert seen == expected
    by_name = logs.describe_log_streams(logGroupName=group, limit=1)["nextToken"]
    assert error_of(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                    nextToken=by_name) == (
        "InvalidParameterException", "The specified nextToken is invalid.")
    assert error_of(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                    logStreamNamePrefix="a") == (
        "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    # logGroupIdentifier takes the name or the ARN
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    by_arn = logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"]
    assert len(by_arn) == 4
    code, _ = error_of(logs.describe_log_streams, logGroupName=group, logGroupIdentifier=arn)
    assert code == "InvalidParameterException"


# ---- events ------------------------------------------------------------------------------

def test_put_and_get_events(logs, group, stream):
    t = now_ms()
    reply = put(logs, group, stream, "one", "two", "three", at=t)
    assert len(reply["nextSequenceToken"]) == 56
    assert "rejectedLogEventsInfo" not in reply
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [(e["timestamp"], e["message"]) for e in got["events"]] == [
        (t, "one"), (t + 1, "two"), (t + 2, "three")]
    assert all(e["ingestionTime"] >= t - 1000 for e in got["events"])
    assert got["nextForwardToken"].startswith("f/") and len(got["nextForwardToken"]) == 58
    assert got["nextBackwardToken"].startswith("b/")
    # the end of the stream: the forward token comes back unchanged
    again = logs.get_log_events(logGroupName=group, logStreamName=stream,
                                nextToken=got["nextForwardToken"])
    assert again["events"] == []
    assert again["nextForwardToken"] == got["nextForwardToken"]
    # new events appear after the forward token
    put(logs, group, stream, "four", at=t + 3)
    more = logs.get_log_events(logGroupName=group, logStreamName=stream,
                               nextToken=got["nextForwardToken"])
    assert [e["message"] for e in more["events"]] == ["four"]
    [g] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["storedBytes"] == len("onetwothreefour")


def test_get_events_limit_tail_and_backward(logs, group, stream):
    t = now_ms() - 100_000
    put(logs, group, stream, *[f"e{i}" for i in range(10)], at=t)
    tail = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3)
    assert [e["message"] for e in tail["events"]] == ["e7", "e8", "e9"]  # newest by default
    back = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3,
                               nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["e4", "e5", "e6"]
    head = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=4,
                               startFromHead=True)
    assert [e["message"] for e in head["events"]] == ["e0", "e1", "e2", "e3"]
    nxt = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=4,
                              nextToken=head["nextForwardToken"])
    assert [e["message"] for e in nxt["events"]] == ["e4", "e5", "e6", "e7"]
    window = logs.get_log_events(logGroupName=group, logStreamName=stream, startTime=t + 2,
                                 endTime=t + 5, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["e2", "e3", "e4"]  # end excluded
    assert error_of(logs.get_log_events, logGroupName=group, logStreamName=stream,
                    nextToken="f/123") == (
        "InvalidParameterException", "The specified nextToken is invalid.")
    assert error_of(logs.get_log_events, logGroupName=group, logStreamName="nope") == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(logs.get_log_events, logGroupName=group + "x", logStreamName=stream) == (
        "ResourceNotFoundException", "The specified log group does not exist.")


def test_put_events_errors_and_rejections(logs, group, stream):
    t = now_ms()
    assert error_of(logs.put_log_events, logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}]) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.")
    assert error_of(logs.put_log_events, logGroupName=group + "x", logStreamName=stream,
                    logEvents=[{"timestamp": t, "message": "a"}]) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(logs.put_log_events, logGroupName=group, logStreamName="nope",
                    logEvents=[{"timestamp": t, "message": "a"}]) == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    code, _ = error_of(logs.put_log_events, logGroupName=group, logStreamName=stream,
                       logEvents=[{"timestamp": t - 3 * 86_400_000, "message": "a"},
                                  {"timestamp": t, "message": "b"}])
    assert code == "InvalidParameterException"  # spans more than 24 hours
    reply = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t - 15 * 86_400_000, "message": "old"},
        {"timestamp": t, "message": "ok"},
        {"timestamp": t + 3 * 3_600_000, "message": "future"}])
    assert reply["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0,
                                              "tooNewLogEventStartIndex": 2}
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    reply = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
        {"timestamp": t - 2 * 86_400_000, "message": "expired"},
        {"timestamp": t, "message": "ok2"}])
    assert reply["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["ok", "ok2"]
    # a sequence token is ignored, as AWS does now
    put_again = logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    sequenceToken="whatever",
                                    logEvents=[{"timestamp": t, "message": "x"}])
    assert "nextSequenceToken" in put_again
    unchecked = boto3.client("logs", endpoint_url=logs.meta.endpoint_url, region_name="us-east-1",
                             aws_access_key_id="test", aws_secret_access_key="test",
                             config=BotoConfig(parameter_validation=False))
    code, message = error_of(unchecked.put_log_events, logGroupName=group, logStreamName=stream,
                             logEvents=[])
    assert code == "InvalidParameterException"
    assert "'logEvents'" in message


def test_filter_log_events(logs, group):
    t = now_ms() - 60_000
    for name in ("web-1", "web-2", "worker"):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    put(logs, group, "web-1", "GET /a 200", "GET /b 500 ERROR", at=t)
    put(logs, group, "web-2", "POST /c 201", "WARN slow request", at=t + 1)
    put(logs, group, "worker", '{"level": "error", "ms": 250}', '{"level": "info", "ms": 5}',
        "ERROR timeout", at=t + 10)

    def messages(**kwargs) -> list[str]:
        return [e["message"] for e in
                logs.filter_log_events(logGroupName=group, **kwargs)["events"]]
    # interleaved by time across streams (same millisecond: in arrival order)
    assert messages() == ["GET /a 200", "GET /b 500 ERROR", "POST /c 201", "WARN slow request",
                          '{"level": "error", "ms": 250}', '{"level": "info", "ms": 5}',
                          "ERROR timeout"]
    assert messages(filterPattern="ERROR") == ["GET /b 500 ERROR", "ERROR timeout"]
    assert messages(filterPattern="ERROR -timeout") == ["GET /b 500 ERROR"]
    assert messages(filterPattern="?WARN ?timeout") == ["WARN slow request", "ERROR timeout"]
    assert messages(filterPattern='"slow request"') == ["WARN slow request"]
    assert messages(filterPattern="GET 500") == ["GET /b 500 ERROR"]
    assert messages(filterPattern='{ $.level = "error" && $.ms > 100 }') == [
        '{"level": "error", "ms": 250}']
    assert messages(filterPattern="{ $.ms < 10 }") == ['{"level": "info", "ms": 5}']
    assert messages(logStreamNames=["web-2"]) == ["POST /c 201", "WARN slow request"]
    assert messages(logStreamNamePrefix="web", filterPattern="ERROR") == ["GET /b 500 ERROR"]
    # endTime is inclusive here, unlike GetLogEvents'
    assert messages(startTime=t + 1, endTime=t + 2) == [
        "GET /b 500 ERROR", "POST /c 201", "WARN slow request"]
    reply = logs.filter_log_events(logGroupName=group, limit=1, filterPattern="ERROR")
    [event] = reply["events"]
    assert event["logStreamName"] == "web-1"
    assert event["ingestionTime"] > 0 and len(event["eventId"]) == 56
    assert {s["logStreamName"] for s in reply["searchedLogStreams"]} == {
        "web-1", "web-2", "worker"}
    rest = logs.filter_log_events(logGroupName=group, filterPattern="ERROR",
                                  nextToken=reply["nextToken"])
    assert [e["message"] for e in rest["events"]] == ["ERROR timeout"]
    assert "nextToken" not in rest
    paginator = logs.get_paginator("filter_log_events")
    paged = [e["message"] for page in paginator.paginate(
        logGroupName=group, PaginationConfig={"PageSize": 2}) for e in page["events"]]
    assert len(paged) == 7
    assert error_of(logs.filter_log_events, logGroupName=group + "x") == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    code, _ = error_of(logs.filter_log_events, logGroupName=group, logStreamNames=["a"],
                       logStreamNamePrefix="a")
    assert code == "InvalidParameterException"
    code, _ = error_of(logs.filter_log_events, logGroupName=group, filterPattern="{ $.a = }")
    assert code == "InvalidParameterException"


def test_filter_scans_past_a_chunk(logs, group, stream):
    t = now_ms() - 60_000
    batch = [{"timestamp": t + i, "message": f"noise {i}"} for i in range(2500)]
    batch[2400]["message"] = "needle"
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
    found = logs.filter_log_events(logGroupName=group, filterPattern="needle")
    assert [e["message"] for e in found["events"]] == ["needle"]
    assert "nextToken" not in found


# ---- tags --------------------------------------------------------------------------------

def test_tags(logs, group):
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    logs.tag_log_group(logGroupName=group, tags={"a": "1"})
    logs.tag_resource(resourceArn=arn, tags={"b": "2"})
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"a": "1", "b": "2"}
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    logs.untag_log_group(logGroupName=group, tags=["zzz"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    logs.untag_log_group(logGroupName=group, tags=["b"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {}
    missing = arn + "-missing"
    for call, kwargs in ((logs.tag_resource, {"tags": {"a": "1"}}),
                         (logs.untag_resource, {"tagKeys": ["a"]}),
                         (logs.list_tags_for_resource, {})):
        assert error_of(call, resourceArn=missing, **kwargs)[0] == "ResourceNotFoundException"
    assert error_of(logs.list_tags_log_group, logGroupName=group + "x")[0] == (
        "ResourceNotFoundException")
    assert error_of(logs.tag_log_group, logGroupName=group + "x", tags={"a": "b"})[0] == (
        "ResourceNotFoundException")
    code, _ = error_of(logs.list_tags_for_resource, resourceArn="arn:aws:s3:::bucket")
    assert code == "InvalidParameterException"
    too_many = {f"k{i}": "v" for i in range(51)}
    code, _ = error_of(logs.tag_resource, resourceArn=arn, tags=too_many)
    assert code in ("InvalidParameterException", "TooManyTagsException")
    logs.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert error_of(logs.tag_resource, resourceArn=arn, tags={"one-more": "v"})[0] == (
        "TooManyTagsException")


def test_regions_are_separate(server, group):
    west = server.client("logs", region="us-west-2")
    assert west.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_delete_group_drops_streams_and_events(logs):
    name = unique()
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    put(logs, name, "s", "gone")
    logs.delete_log_group(logGroupName=name)
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    assert logs.get_log_events(logGroupName=name, logStreamName="s")["events"] == []
    assert logs.describe_log_streams(logGroupName=name)["logStreams"][0].get(
        "lastEventTimestamp") is None


# ---- the aws CLI -------------------------------------------------------------------------

def test_cli_end_to_end(server):
    name = unique("/cli/")
    server.aws("logs", "create-log-group", "--log-group-name", name)
    server.aws("logs", "create-log-stream", "--log-group-name", name, "--log-stream-name", "s")
    t = now_ms()
    events = json.dumps([{"timestamp": t, "message": "hello ERROR"},
                         {"timestamp": t + 1, "message": "bye"}])
    server.aws("logs", "put-log-events", "--log-group-name", name, "--log-stream-name", "s",
               "--log-events", events)
    groups = server.aws("logs", "describe-log-groups", "--log-group-name-prefix", name)
    assert groups["logGroups"][0]["logGroupName"] == name
    streams = server.aws("logs", "describe-log-streams", "--log-group-name", name)
    assert streams["logStreams"][0]["lastEventTimestamp"] == t + 1
    got = server.aws("logs", "get-log-events", "--log-group-name", name, "--log-stream-name",
                     "s", "--start-from-head")
    assert [e["message"] for e in got["events"]] == ["hello ERROR", "bye"]
    # what `aws logs tail` (CLI v2) does: filter-log-events from a start time, paginated
    found = server.aws("logs", "filter-log-events", "--log-group-name", name,
                       "--start-time", str(t), "--filter-pattern", "ERROR")
    assert [e["message"] for e in found["events"]] == ["hello ERROR"]
    every = server.aws("logs", "filter-log-events", "--log-group-name", name, "--page-size", "1")
    assert [e["message"] for e in every["events"]] == ["hello ERROR", "bye"]
    text = server.aws("logs", "filter-log-events", "--log-group-name", name, "--query",
                      "events[].message", check=False)
    assert text.returncode == 0 and "bye" in text.stdout
    server.aws("logs", "put-retention-policy", "--log-group-name", name,
               "--retention-in-days", "30")
    server.aws("logs", "tag-log-group", "--log-group-name", name, "--tags", "a=b")
    assert server.aws("logs", "list-tags-log-group", "--log-group-name", name)["tags"] == {
        "a": "b"}
    proc = server.aws("logs", "create-log-group", "--log-group-name", name, check=False)
    assert proc.returncode != 0
    assert "ResourceAlreadyExistsException" in proc.stderr
    server.aws("logs", "delete-log-group", "--log-group-name", name)
    proc = server.aws("logs", "get-log-events", "--log-group-name", name, "--log-stream-name",
                      "s", check=False)
    assert "ResourceNotFoundException" in proc.stderr
    assert "The specified log group does not exist." in proc.stderr


# ---- the in-process API ------------------------------------------------------------------

@pytest.fixture
def app(tmp_path):
    application = App(Config(data_dir=tmp_path))
    yield application
    application.store.close()


def call(app: App, operation: str, **params):
    """An operation of the server's own Logs provider, in-process."""
    ctx = RequestContext("000000000000", "us-east-1", "r", "logs", operation, app)
    with app.store.transaction("us-east-1") as tx:
        ctx.tx = tx
        return app.provider("logs").method_for(operation)(ctx, params)


def test_api_creates_group_and_stream(app):
    group, stream = "/aws/lambda/fn", "2024/01/01/[$LATEST]" + "a" * 32
    api.put_events(app, "us-east-1", group, stream, [(1000, "START"), (1000, "line"),
                                                     (1001, "END")])
    api.put_events(app, "us-east-1", group, stream, [(1002, "REPORT")])
    # same-millisecond lines keep the order they were logged in
    assert api.get_events(app, "us-east-1", group, stream) == [
        (1000, "START"), (1000, "line"), (1001, "END"), (1002, "REPORT")]
    assert api.get_events(app, "us-west-2", group, stream) == []
    assert api.get_events(app, "us-east-1", group, "other") == []
    api.put_events(app, "us-east-1", group, "empty", [])  # creates the stream only
    view = app.store.view("us-east-1")
    assert view.get("logs.stream", f"{group}:empty") is not None


def test_api_events_survive_restart(tmp_path):
    first = App(Config(data_dir=tmp_path))
    api.put_events(first, "us-east-1", "/g", "s", [(5, "kept")])
    first.store.close()
    second = App(Config(data_dir=tmp_path))
    assert api.get_events(second, "us-east-1", "/g", "s") == [(5, "kept")]
    assert second.store.view("us-east-1").get("logs.group", "/g")["logGroupName"] == "/g"
    second.store.close()


def test_api_is_thread_safe(app):
    def writer(n: int) -> None:
        for i in range(50):
            api.put_events(app, "us-east-1", "/threads", f"s{n % 3}", [(i, f"{n}-{i}")])
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(len(api.get_events(app, "us-east-1", "/threads", f"s{k}")) for k in range(3))
    assert total == 400


def test_api_events_read_by_the_provider(app):
    """What the runtime writes is what GetLogEvents / FilterLogEvents / DescribeLogStreams see."""
    api.put_events(app, "us-east-1", "/aws/lambda/f", "s", [(now_ms(), "hello")])
    got = call(app, "GetLogEvents", logGroupName="/aws/lambda/f", logStreamName="s")
    assert [e["message"] for e in got["events"]] == ["hello"]
    found = call(app, "FilterLogEvents", logGroupName="/aws/lambda/f", filterPattern="hello")
    assert found["events"][0]["logStreamName"] == "s"
    [stream] = call(app, "DescribeLogStreams", logGroupName="/aws/lambda/f")["logStreams"]
    assert stream["lastEventTimestamp"] == got["events"][0]["timestamp"]


def test_retention_hides_expired_events(app):
    t = now_ms()
    api.put_events(app, "us-east-1", "/r", "s", [(t - 3 * 86_400_000, "old"), (t, "new")])
    call(app, "PutRetentionPolicy", logGroupName="/r", retentionInDays=1)
    got = call(app, "GetLogEvents", logGroupName="/r", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["new"]
    found = call(app, "FilterLogEvents", logGroupName="/r", startTime=0)
    assert [e["message"] for e in found["events"]] == ["new"]


def test_events_survive_sigkill(tmp_path):
    srv = Server(tmp_path / "data").start()
    t = now_ms()
    try:
        client = srv.client("logs")
        client.create_log_group(logGroupName="/durable")
        client.create_log_stream(logGroupName="/durable", logStreamName="s")
        put(client, "/durable", "s", "a", "b", at=t)
    finally:
        srv.stop(signal.SIGKILL)
    srv = Server(tmp_path / "data").start()
    try:
        got = srv.client("logs").get_log_events(logGroupName="/durable", logStreamName="s")
        assert [(e["timestamp"], e["message"]) for e in got["events"]] == [(t, "a"),
                                                                          (t + 1, "b")]
    finally:
        srv.stop()

