"""CloudWatch metric alarms through boto3 and the aws CLI: the API, and state evaluation over
recorded data points (on arrival, and by vpclocal's clock)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.cloudwatch.test_metrics import cbor_only_session
from tests.errors import error
from tests.events.conftest import RECORDER, received
from tests.fabric.conftest import until
from tests.fis.conftest import advance
from tests.lambda_.conftest import deployed


@pytest.fixture(scope="module")
def cw(server):
    return server.client("cloudwatch")


@pytest.fixture
def ns() -> str:
    return f"Test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def name() -> str:
    return f"alarm-{uuid.uuid4().hex[:10]}"


def alarm(cw, name: str) -> dict:
    [found] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return found


def in_state(cw, name: str, state: str) -> dict:
    """The alarm, once in `state` (a liveness bound: evaluations follow data asynchronously)."""
    return until(lambda: (a := alarm(cw, name))["StateValue"] == state and a, 20,
                 lambda: f"{name} in {state}: {alarm(cw, name)}")


def not_near_minute_end() -> None:
    """Data points put now land in this minute's period: keep the test inside one minute."""
    left = 60 - time.time() % 60
    if left < 3:
        time.sleep(left + 0.1)


def put_alarm(cw, name: str, ns: str, **more) -> None:
    args = {"AlarmName": name, "Namespace": ns, "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "fn"}], "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanThreshold", **more}
    cw.put_metric_alarm(**args)


def put(cw, ns: str, value: float, when: datetime | None = None, metric: str = "Errors"):
    datum = {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": "fn"}],
             "Value": value, "Unit": "Count"}
    if when is not None:
        datum["Timestamp"] = when
    cw.put_metric_data(Namespace=ns, MetricData=[datum])


def when_of(iso: str) -> str:
    """StateReasonData's timestamp as a reason writes it: dd/MM/yy HH:mm:ss."""
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").strftime("%d/%m/%y %H:%M:%S")


# ---- creating and describing -------------------------------------------------------------

def test_new_alarm_is_unchecked(cw, ns, name):
    put_alarm(cw, name, ns, AlarmDescription="errors", TreatMissingData="ignore",
              Tags=[{"Key": "team", "Value": "a"}])
    found = alarm(cw, name)
    assert found["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert found["StateValue"] == "INSUFFICIENT_DATA"
    assert found["StateReason"] == "Unchecked: Initial alarm creation"
    assert "StateReasonData" not in found
    assert found["ActionsEnabled"] is True and found["AlarmActions"] == []
    assert (found["Namespace"], found["MetricName"], found["Statistic"], found["Period"],
            found["EvaluationPeriods"], found["Threshold"], found["ComparisonOperator"],
            found["TreatMissingData"], found["AlarmDescription"]) == (
        ns, "Errors", "Sum", 60, 1, 1.0, "GreaterThanThreshold", "ignore", "errors")
    assert cw.list_tags_for_resource(ResourceARN=found["AlarmArn"])["Tags"] == [
        {"Key": "team", "Value": "a"}]
    [created] = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert created["HistoryItemType"] == "ConfigurationUpdate"
    assert created["HistorySummary"] == f'Alarm "{name}" created'
    assert created["AlarmType"] == "MetricAlarm"
    assert json.loads(created["HistoryData"])["type"] == "Create"


def test_update_keeps_state_and_records_history(cw, ns, name):
    # missing data ignored: no evaluation moves the state the test sets
    put_alarm(cw, name, ns, TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing")
    put_alarm(cw, name, ns, Threshold=100.0, TreatMissingData="ignore")
    found = alarm(cw, name)
    assert found["Threshold"] == 100.0 and found["StateValue"] == "ALARM"
    summaries = [i["HistorySummary"] for i in cw.describe_alarm_history(
        AlarmName=name, HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]]
    assert summaries == [f'Alarm "{name}" updated', f'Alarm "{name}" created']


# ---- evaluation --------------------------------------------------------------------------

def test_threshold_crossed_then_back_to_ok(cw, ns, name):
    not_near_minute_end()
    put_alarm(cw, name, ns)
    put(cw, ns, 5.0)
    found = in_state(cw, name, "ALARM")
    data = json.loads(found["StateReasonData"])
    [point] = data["evaluatedDatapoints"]
    assert found["StateReason"] == (
        f"Threshold Crossed: 1 out of the last 1 datapoints [5.0 ({when_of(point['timestamp'])})"
        "] was greater than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM "
        "transition).")
    assert data["statistic"] == "Sum" and data["period"] == 60 and data["threshold"] == 1.0
    assert data["recentDatapoints"] == [5.0] and point["value"] == 5.0
    assert point["sampleCount"] == 1.0
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    [item] = history["AlarmHistoryItems"]
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    detail = json.loads(item["HistoryData"])
    assert detail["oldState"] == {"stateValue": "INSUFFICIENT_DATA",
                                  "stateReason": "Unchecked: Initial alarm creation"}
    assert detail["newState"]["stateValue"] == "ALARM"
    assert detail["newState"]["stateReasonData"] == data
    # a lower threshold crossed back: the same period's sum is not greater than 10
    put_alarm(cw, name, ns, Threshold=10.0)
    found = in_state(cw, name, "OK")
    assert found["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints "
                                           "[5.0 (")
    assert found["StateReason"].endswith("] was not greater than the threshold (10.0) "
                                         "(minimum 1 datapoint for ALARM -> OK transition).")


def test_m_out_of_n_and_comparison(cw, ns, name):
    not_near_minute_end()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for minutes, value in ((3, 0.0), (2, 7.0), (1, 1.0)):
        put(cw, ns, value, now - timedelta(minutes=minutes))
    put_alarm(cw, name, ns, EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=3.0,
              ComparisonOperator="GreaterThanOrEqualToThreshold")
    found = in_state(cw, name, "OK")  # 1 of 3 breaching; two would be needed
    assert found["StateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints ")
    assert found["StateReason"].endswith(
        "] were not greater than or equal to the threshold (3.0) (minimum 2 datapoints for "
        "ALARM -> OK transition).")
    assert "[1.0 (" in found["StateReason"] and ", 0.0 (" in found["StateReason"]
    put(cw, ns, 4.0)  # the minute in progress: now 2 of the last 3 breach
    found = in_state(cw, name, "ALARM")
    points = json.loads(found["StateReasonData"])["evaluatedDatapoints"]
    assert [p["value"] for p in points] == [4.0, 1.0, 7.0]  # most recent first
    assert found["StateReason"] == (
        "Threshold Crossed: 2 out of the last 3 datapoints "
        f"[4.0 ({when_of(points[0]['timestamp'])}), 7.0 ({when_of(points[2]['timestamp'])})] "
        "were greater than or equal to the threshold (3.0) (minimum 2 datapoints for OK -> "
        "ALARM transition).")


@pytest.mark.parametrize("treat,state,reason", [
    ("missing", "INSUFFICIENT_DATA", "Insufficient Data: 1 datapoint was unknown."),
    ("breaching", "ALARM", ("Threshold Crossed: no datapoints were received for 1 period and "
     "1 missing datapoint was treated as [Breaching].")),
    ("notBreaching", "OK", ("Threshold Crossed: no datapoints were received for 1 period and "
     "1 missing datapoint was treated as [NonBreaching].")),
])
def test_missing_data(cw, ns, name, treat, state, reason):
    put_alarm(cw, name, ns, TreatMissingData=treat)
    cw.set_alarm_state(AlarmName=name, StateValue="OK" if state != "OK" else "ALARM",
                       StateReason="set by the test")
    advance(cw_server(cw), "1m")  # the next evaluation, by vpclocal's clock
    found = in_state(cw, name, state)
    assert found["StateReason"] == reason
    assert json.loads(found["StateReasonData"])["recentDatapoints"] == []


def test_ignore_keeps_the_state(cw, ns, name):
    put_alarm(cw, name, ns, TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="set by the test")
    advance(cw_server(cw), "1m")  # evaluates before it answers
    found = alarm(cw, name)
    assert (found["StateValue"], found["StateReason"]) == ("ALARM", "set by the test")


def test_metric_math_alarm(cw, ns, name):
    not_near_minute_end()
    fn = [{"Name": "FunctionName", "Value": "fn"}]
    cw.put_metric_alarm(
        AlarmName=name, EvaluationPeriods=1, Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold", Metrics=[
            {"Id": "errors", "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": "Errors", "Dimensions": fn},
                "Period": 60, "Stat": "Sum"}},
            {"Id": "calls", "ReturnData": False, "MetricStat": {
                "Metric": {"Namespace": ns, "MetricName": "Invocations", "Dimensions": fn},
                "Period": 60, "Stat": "Sum"}},
            {"Id": "rate", "Expression": "errors / calls * 100", "Label": "error rate"}])
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Invocations", "Dimensions": fn, "Value": 4.0},
        {"MetricName": "Errors", "Dimensions": fn, "Value": 3.0}])
    found = in_state(cw, name, "ALARM")
    assert "[75.0 (" in found["StateReason"]
    assert found["Metrics"][2]["Expression"] == "errors / calls * 100"
    assert "MetricName" not in found


def test_set_alarm_state(cw, ns, name):
    put_alarm(cw, name, ns, TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill",
                       StateReasonData='{"why": "drill"}')
    found = alarm(cw, name)
    assert (found["StateValue"], found["StateReason"], found["StateReasonData"]) == (
        "ALARM", "drill", '{"why": "drill"}')
    assert found["StateTransitionedTimestamp"] >= found["AlarmConfigurationUpdatedTimestamp"]
    [item] = until(lambda: cw.describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"], 5, "history")
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert error(cw.set_alarm_state, AlarmName=name, StateValue="OK", StateReason="x",
                 StateReasonData="{not json")["Code"] == "InvalidFormat"
    err = error(cw.set_alarm_state, AlarmName=name + "-none", StateValue="OK", StateReason="x")
    assert err["Code"] == "ResourceNotFound"


def test_describe_filters_and_pages(cw, ns):
    prefix = f"page-{uuid.uuid4().hex[:8]}-"
    for i in range(3):
        put_alarm(cw, f"{prefix}{i}", ns, TreatMissingData="ignore",
                  AlarmActions=[f"arn:aws:sns:us-east-1:000000000000:topic-{i}"])
    cw.set_alarm_state(AlarmName=f"{prefix}1", StateValue="ALARM", StateReason="x")
    first = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == [f"{prefix}0", f"{prefix}1"]
    rest = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2,
                              NextToken=first["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == [f"{prefix}2"]
    assert "NextToken" not in rest
    alarmed = cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in alarmed] == [f"{prefix}1"]
    by_action = cw.describe_alarms(
        ActionPrefix="arn:aws:sns:us-east-1:000000000000:topic-2")["MetricAlarms"]
    assert [a["AlarmName"] for a in by_action] == [f"{prefix}2"]
    composite = cw.describe_alarms(AlarmNamePrefix=prefix, AlarmTypes=["CompositeAlarm"])
    assert composite["CompositeAlarms"] == [] and composite["MetricAlarms"] == []
    for_metric = cw.describe_alarms_for_metric(
        Namespace=ns, MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": "fn"}])
    assert sorted(a["AlarmName"] for a in for_metric["MetricAlarms"]) == [
        f"{prefix}{i}" for i in range(3)]
    assert cw.describe_alarms_for_metric(Namespace=ns, MetricName="Errors",
                                         Period=300)["MetricAlarms"] == []
    cw.disable_alarm_actions(AlarmNames=[f"{prefix}0"])
    assert alarm(cw, f"{prefix}0")["ActionsEnabled"] is False
    cw.enable_alarm_actions(AlarmNames=[f"{prefix}0"])
    assert alarm(cw, f"{prefix}0")["ActionsEnabled"] is True
    cw.delete_alarms(AlarmNames=[f"{prefix}0", f"{prefix}1", f"{prefix}missing"])
    left = cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    assert [a["AlarmName"] for a in left] == [f"{prefix}2"]
    deleted = cw.describe_alarm_history(AlarmName=f"{prefix}0",
                                        HistoryItemType="ConfigurationUpdate")
    assert deleted["AlarmHistoryItems"][0]["HistorySummary"] == f'Alarm "{prefix}0" deleted'


def test_tags(cw, ns, name):
    put_alarm(cw, name, ns, TreatMissingData="ignore")
    arn = alarm(cw, name)["AlarmArn"]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"},
                                           {"Key": "b", "Value": "2"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    err = error(cw.list_tags_for_resource, ResourceARN=arn + "-none")
    assert err["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("change,code,message", [
    ({"Period": 45}, "InvalidParameterValue",
     "The parameter Period must be 10, 20, 30 or a multiple of 60."),
    ({"ExtendedStatistic": "p99"}, "InvalidParameterCombination",
     "Exactly one of Statistic or ExtendedStatistic must be specified."),
    ({"DatapointsToAlarm": 2}, "ValidationError",
     "DatapointsToAlarm must be less than or equal to EvaluationPeriods."),
    ({"TreatMissingData": "sometimes"}, "InvalidParameterValue",
     "The value sometimes for parameter TreatMissingData is invalid."),
    ({"Threshold": None}, "MissingParameter", "The parameter Threshold is required."),
    ({"Namespace": None}, "MissingParameter", "The parameter Namespace is required."),
    ({"Metrics": [{"Id": "m1", "Expression": "1"}]}, "InvalidParameterCombination",
     ("The parameters Metrics and MetricName are mutually exclusive and you have specified "
     "both.")),
    ({"EvaluationPeriods": 1441}, "ValidationError",
     ("The evaluation period of the alarm is too long: EvaluationPeriods multiplied by Period "
     "must not exceed 86400 seconds (604800 for periods of an hour or more).")),
])
def test_put_metric_alarm_errors(cw, ns, name, change, code, message):
    args = {"AlarmName": name, "Namespace": ns, "MetricName": "Errors", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanThreshold", **change}
    err = error(cw.put_metric_alarm, **{k: v for k, v in args.items() if v is not None})
    assert (err["Code"], err["Message"]) == (code, message)
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_metrics_need_one_returned_series(cw, name, ns):
    stat = {"Metric": {"Namespace": ns, "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}
    err = error(cw.put_metric_alarm, AlarmName=name, EvaluationPeriods=1, Threshold=1.0,
                ComparisonOperator="GreaterThanThreshold",
                Metrics=[{"Id": "a", "MetricStat": stat}, {"Id": "b", "MetricStat": stat}])
    assert (err["Code"], err["Message"]) == (
        "ValidationError", "Exactly one element of the metrics list should return data.")


def test_metrics_expressions_are_checked(cw, name, ns):
    stat = {"Metric": {"Namespace": ns, "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}
    err = error(cw.put_metric_alarm, AlarmName=name, EvaluationPeriods=1, Threshold=1.0,
                ComparisonOperator="GreaterThanThreshold",
                Metrics=[{"Id": "a", "MetricStat": stat, "ReturnData": False},
                         {"Id": "e", "Expression": "a + nothere"}])
    assert err["Code"] == "ValidationError"
    assert err["Message"] == "Error in expression e: Unrecognized metric or expression id: nothere"


def test_describe_errors(cw):
    err = error(cw.describe_alarms, AlarmNames=["a"], AlarmNamePrefix="a")
    assert err["Code"] == "InvalidParameterCombination"
    assert error(cw.describe_alarms, NextToken="not-a-token")["Code"] == "InvalidNextToken"


def test_cli(server, ns, name):
    server.aws("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--namespace", ns,
               "--metric-name", "Errors", "--statistic", "Sum", "--period", "60",
               "--evaluation-periods", "1", "--threshold", "0",
               "--comparison-operator", "GreaterThanThreshold",
               "--treat-missing-data", "ignore")
    shown = server.aws("cloudwatch", "describe-alarms", "--alarm-names", name)
    assert shown["MetricAlarms"][0]["AlarmName"] == name
    server.aws("cloudwatch", "set-alarm-state", "--alarm-name", name, "--state-value",
               "ALARM", "--state-reason", "cli")
    assert alarm(server.client("cloudwatch"), name)["StateReason"] == "cli"


def cw_server(cw):
    """The server a client talks to (the clock is advanced through its admin API)."""
    return type("Endpoint", (), {"endpoint": cw.meta.endpoint_url})


def test_through_cbor(server, tmp_path, ns, name):
    """The alarm operations through smithy-rpc-v2-cbor too (timestamps, doubles, lists)."""
    cbor = cbor_only_session(tmp_path).client(
        "cloudwatch", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test")
    assert cbor.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    put_alarm(cbor, name, ns, TreatMissingData="ignore")
    cbor.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="cbor")
    found = alarm(cbor, name)
    assert (found["StateValue"], found["Threshold"]) == ("ALARM", 1.0)
    assert isinstance(found["StateUpdatedTimestamp"], datetime)
    [item] = until(lambda: cbor.describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"], 5, "history")
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"


# ---- actions -----------------------------------------------------------------------------

def test_a_lambda_alarm_action_gets_the_alarm_event(server, cw, ns, name):
    lam = server.client("lambda")
    fn = deployed(server, RECORDER, prefix="alarm-rec")
    fn_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{fn}"
    denied = deployed(server, RECORDER, prefix="alarm-deny")  # no resource policy
    denied_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{denied}"
    sns = "arn:aws:sns:us-east-1:000000000000:alerts"
    lam.add_permission(FunctionName=fn, StatementId="AlarmAction",
                       Action="lambda:InvokeFunction",
                       Principal="lambda.alarms.cloudwatch.amazonaws.com",
                       SourceAccount="000000000000",
                       SourceArn=f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}")
    put_alarm(cw, name, ns, TreatMissingData="ignore", AlarmDescription="errors!",
              AlarmActions=[fn_arn, denied_arn, sns])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill")
    [event] = received(server, fn, 1)
    assert event["source"] == "aws.cloudwatch"
    assert event["alarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert (event["accountId"], event["region"]) == ("000000000000", "us-east-1")
    data = event["alarmData"]
    assert data["alarmName"] == name
    assert (data["state"]["value"], data["state"]["reason"]) == ("ALARM", "drill")
    assert data["previousState"] == {"value": "INSUFFICIENT_DATA",
                                     "reason": "Unchecked: Initial alarm creation"}
    assert data["configuration"]["description"] == "errors!"
    [metric] = data["configuration"]["metrics"]
    assert metric["metricStat"] == {
        "metric": {"namespace": ns, "name": "Errors", "dimensions": {"FunctionName": "fn"}},
        "period": 60, "stat": "Sum"}
    actions = {i["HistorySummary"] for i in cw.describe_alarm_history(
        AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]}
    assert f"Successfully executed action {fn_arn}" in actions
    assert any(s.startswith(f"Failed to execute action {denied_arn}.") for s in actions)
    assert any(s.startswith(f"Failed to execute action {sns}.") for s in actions)
    # actions disabled: a change runs none (actions are taken as the change commits)
    cw.disable_alarm_actions(AlarmNames=[name])
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="calm")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="again")
    assert alarm(cw, name)["StateReason"] == "again"
    assert len(cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")[
        "AlarmHistoryItems"]) == 3


def test_state_changes_go_to_eventbridge(server, cw, ns, name):
    lam, events = server.client("lambda"), server.client("events")
    fn = deployed(server, RECORDER, prefix="alarm-bus")
    rule = events.put_rule(Name=f"r-{name}", EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"],
        "detail": {"state": {"value": ["ALARM"]}}}))["RuleArn"]
    lam.add_permission(FunctionName=fn, StatementId="bus", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule)
    events.put_targets(Rule=f"r-{name}", Targets=[{
        "Id": "fn", "Arn": f"arn:aws:lambda:us-east-1:000000000000:function:{fn}"}])
    put_alarm(cw, name, ns, TreatMissingData="ignore", ActionsEnabled=False)
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="calm")  # not matched
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill")
    [event] = received(server, fn, 1)
    assert (event["source"], event["detail-type"]) == ("aws.cloudwatch",
                                                       "CloudWatch Alarm State Change")
    assert event["resources"] == [alarm(cw, name)["AlarmArn"]]
    assert event["detail"]["alarmName"] == name
    assert (event["detail"]["state"]["value"], event["detail"]["state"]["reason"]) == (
        "ALARM", "drill")
    assert event["detail"]["previousState"]["value"] == "OK"
