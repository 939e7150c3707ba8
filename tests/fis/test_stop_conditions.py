"""FIS stop conditions on CloudWatch alarms: checked at start, and an alarm in ALARM stops the
experiment, including one evaluated from a real function's Lambda Errors metric."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.conftest import unique
from tests.fis.conftest import ROLE, reaches
from tests.lambda_.conftest import arn, deployed

ALARM = "aws:cloudwatch:alarm"
FAILING = ("def handler(event, context):\n"
           "    if event.get('fail'):\n"
           "        raise RuntimeError('asked to fail')\n"
           "    return {'ok': True}\n")


@pytest.fixture(scope="module")
def cw(server):
    return server.client("cloudwatch")


def error_of(call, **kw) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    e = info.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def guarded(fis, conditions: list[dict], duration: str = "PT30M") -> str:
    return fis.create_experiment_template(
        clientToken=unique("t"), description="guarded", roleArn=ROLE,
        stopConditions=conditions,
        actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": duration}}},
    )["experimentTemplate"]["id"]


def an_alarm(cw, **more) -> str:
    name = unique("guard")
    cw.put_metric_alarm(**{
        "AlarmName": name, "Namespace": f"Test/{name}", "MetricName": "Errors",
        "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "ignore", **more})
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarm["AlarmArn"]


def start(fis, tid: str) -> str:
    return fis.start_experiment(clientToken=unique("c"),
                                experimentTemplateId=tid)["experiment"]["id"]


@pytest.mark.parametrize("condition,words", [
    ({"source": ALARM}, "must be a CloudWatch alarm ARN"),
    ({"source": ALARM, "value": "arn:aws:sns:us-east-1:000000000000:topic"},
     "must be a CloudWatch alarm ARN"),
    ({"source": "aws:cloudwatch:composite"},
     "Stop condition source aws:cloudwatch:composite is not supported."),
    ({"source": "none", "value": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:x"},
     "takes no value"),
])
def test_stop_conditions_checked(fis, condition, words):
    code, message, status = error_of(
        fis.create_experiment_template, clientToken=unique("t"), description="bad",
        roleArn=ROLE, stopConditions=[condition],
        actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}})
    assert (code, status) == ("ValidationException", 400) and words in message, message


def test_the_alarm_must_exist_to_start(fis):
    ghost = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:" + unique("ghost")
    tid = guarded(fis, [{"source": ALARM, "value": ghost}])
    assert fis.get_experiment_template(id=tid)["experimentTemplate"]["stopConditions"] == [
        {"source": ALARM, "value": ghost}]
    assert error_of(fis.start_experiment, clientToken=unique("c"),
                    experimentTemplateId=tid) == (
        "ValidationException", f"The stop condition alarm {ghost} does not exist.", 400)


def test_an_alarm_in_alarm_stops_the_experiment(fis, cw):
    arn = an_alarm(cw)
    other = an_alarm(cw)
    eid = start(fis, guarded(fis, [{"source": ALARM, "value": arn},
                                   {"source": ALARM, "value": other}]))
    reaches(fis, eid, "running", "wait")
    cw.set_alarm_state(AlarmName=arn.rpartition(":")[2], StateValue="OK",
                       StateReason="still fine")
    assert fis.get_experiment(id=eid)["experiment"]["state"]["status"] == "running"
    cw.set_alarm_state(AlarmName=other.rpartition(":")[2], StateValue="ALARM",
                       StateReason="drill")
    exp = reaches(fis, eid, "stopped")
    assert exp["state"]["reason"] == "Experiment stopped by stop condition."
    assert exp["actions"]["wait"]["state"]["status"] == "stopped"
    assert exp["stopConditions"] == [{"source": ALARM, "value": arn},
                                     {"source": ALARM, "value": other}]


def test_an_alarm_already_in_alarm_stops_it_at_once(fis, cw):
    arn = an_alarm(cw)
    cw.set_alarm_state(AlarmName=arn.rpartition(":")[2], StateValue="ALARM",
                       StateReason="already")
    eid = start(fis, guarded(fis, [{"source": ALARM, "value": arn}]))
    exp = reaches(fis, eid, "stopped")
    assert exp["state"]["reason"] == "Experiment stopped by stop condition."


def test_a_manual_stop_keeps_its_reason(fis, cw):
    arn = an_alarm(cw)
    eid = start(fis, guarded(fis, [{"source": ALARM, "value": arn}]))
    reaches(fis, eid, "running", "wait")
    fis.stop_experiment(id=eid)
    assert reaches(fis, eid, "stopped")["state"]["reason"] == "Experiment stopped."


def test_failing_invokes_stop_the_experiment(server, fis, cw):
    """The guide's guard rail: an alarm on the function's Lambda Errors (recorded by the
    runtime) trips while the experiment runs, and the experiment stops."""
    lam = server.client("lambda")
    fn = deployed(server, FAILING, "fis-guard")
    name = unique("errors")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": fn}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0.0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    eid = start(fis, guarded(fis, [{"source": ALARM, "value": arn}]))
    reaches(fis, eid, "running", "wait")
    ok = lam.invoke(FunctionName=fn, Payload=b"{}")
    assert "FunctionError" not in ok
    assert fis.get_experiment(id=eid)["experiment"]["state"]["status"] == "running"
    failed = lam.invoke(FunctionName=fn, Payload=json.dumps({"fail": True}).encode())
    assert failed["FunctionError"] == "Unhandled"
    exp = reaches(fis, eid, "stopped")
    assert exp["state"]["reason"] == "Experiment stopped by stop condition."
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints "
                                           "[1.0 (")


@pytest.mark.parametrize("prevent", ["false", "true"])
def test_injected_errors_trip_the_guard(server, fis, cw, prevent):
    """aws:lambda:invocation-error failures count in Lambda Errors (run or not, as AWS's
    extension fails them): an alarm on them stops the experiment, and the fault is gone."""
    lam = server.client("lambda")
    fn = deployed(server, FAILING, "fis-inject")
    name = unique("injected")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
                        Dimensions=[{"Name": "FunctionName", "Value": fn}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0.0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    alarm_arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    tid = fis.create_experiment_template(
        clientToken=unique("t"), description="inject", roleArn=ROLE,
        stopConditions=[{"source": ALARM, "value": alarm_arn}],
        targets={"fns": {"resourceType": "aws:lambda:function", "selectionMode": "ALL",
                         "resourceArns": [arn(fn)]}},
        actions={"fault": {"actionId": "aws:lambda:invocation-error",
                           "targets": {"Functions": "fns"},
                           "parameters": {"duration": "PT30M", "invocationPercentage": "100",
                                          "preventExecution": prevent}}}
    )["experimentTemplate"]["id"]
    eid = start(fis, tid)
    reaches(fis, eid, "running", "fault")
    failed = lam.invoke(FunctionName=fn, Payload=b"{}")
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "FISInjectedError"
    exp = reaches(fis, eid, "stopped")
    assert exp["state"]["reason"] == "Experiment stopped by stop condition."
    assert exp["actions"]["fault"]["state"]["status"] == "stopped"
    assert "FunctionError" not in lam.invoke(FunctionName=fn, Payload=b"{}")
