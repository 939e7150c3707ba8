"""The FIS API against a real server: templates, experiments and their states, errors, the
clock, and Lambda fault actions acting on real invocations."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from tests.conftest import unique
from tests.fis.conftest import NONE, ROLE, action_status, advance, reaches, wait_template
from tests.lambda_.conftest import arn, deployed

ECHO = "def handler(event, context):\n    return {'ok': event}\n"


def error_of(call, **kw) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kw)
    e = info.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def test_templates_round_trip(fis):
    tid = wait_template(fis, "PT1M", tags={"team": "sre"})
    got = fis.get_experiment_template(id=tid)["experimentTemplate"]
    assert got["id"] == tid and got["arn"].endswith(f":experiment-template/{tid}")
    assert got["actions"]["wait"] == {"actionId": "aws:fis:wait",
                                      "parameters": {"duration": "PT1M"}}
    assert got["stopConditions"] == [{"source": "none"}] and got["tags"] == {"team": "sre"}
    assert tid in [t["id"] for t in fis.list_experiment_templates()["experimentTemplates"]]
    updated = fis.update_experiment_template(id=tid, description="changed")["experimentTemplate"]
    assert updated["description"] == "changed" and updated["actions"] == got["actions"]
    fis.tag_resource(resourceArn=got["arn"], tags={"more": "x"})
    assert fis.list_tags_for_resource(resourceArn=got["arn"])["tags"] == {"team": "sre",
                                                                          "more": "x"}
    assert fis.delete_experiment_template(id=tid)["experimentTemplate"]["id"] == tid
    assert error_of(fis.get_experiment_template, id=tid) == (
        "ResourceNotFoundException", f"Experiment template {tid} not found.", 404)


@pytest.mark.parametrize("actions,targets,words", [
    ({"a": {"actionId": "aws:nothing:here"}}, {}, "Action type aws:nothing:here"),
    ({"a": {"actionId": "aws:fis:wait"}}, {}, "missing required parameter duration"),
    ({"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "1minute"}}}, {},
     'Invalid value "1minute" for parameter "duration"'),
    ({"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT13H"}}}, {},
     "exceeds the maximum of 12 hours"),
    ({"a": {"actionId": "aws:network:disrupt-connectivity",
            "parameters": {"duration": "PT1M"}, "targets": {"Subnets": "s"}}},
     {"s": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
            "resourceArns": ["arn:aws:ec2:us-east-1:000000000000:subnet/subnet-1"],
            "resourceTags": {"a": "b"}}},
     "You cannot specify both resource ARNs and resource tags for target s."),
    ({"a": {"actionId": "aws:network:disrupt-connectivity",
            "parameters": {"duration": "PT1M"}, "targets": {"Functions": "s"}}},
     {"s": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL"}},
     'Unexpected target "Functions"'),
    ({"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"},
            "startAfter": ["b"]},
      "b": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"},
            "startAfter": ["a"]}}, {}, "cycle"),
])
def test_templates_refused(fis, actions, targets, words):
    code, message, status = error_of(
        fis.create_experiment_template, clientToken=unique("t"), description="bad",
        roleArn=ROLE, stopConditions=NONE, actions=actions, targets=targets)
    assert (code, status) == ("ValidationException", 400) and words in message, message


def test_an_experiment_runs_to_completed_by_the_clock(server, fis):
    tid = wait_template(fis, "PT30M")
    started = fis.start_experiment(clientToken=unique("c"), experimentTemplateId=tid,
                                   tags={"run": "1"})["experiment"]
    eid = started["id"]
    assert started["state"] == {"status": "initiating", "reason": "Experiment is initiating."}
    assert started["actions"]["wait"]["state"] == {"status": "pending",
                                                   "reason": "Initial state"}
    exp = reaches(fis, eid, "running", "wait")
    assert exp["state"]["status"] == "running" and "startTime" in exp
    assert [e["id"] for e in fis.list_experiments(experimentTemplateId=tid)["experiments"]] == [
        eid]
    advance(server, "31m")  # vpclocal's clock passes the action's end
    exp = reaches(fis, eid, "completed")
    assert exp["state"] == {"status": "completed", "reason": "Experiment completed."}
    assert exp["actions"]["wait"]["state"]["status"] == "completed"
    assert exp["tags"] == {"run": "1"} and exp["endTime"] >= exp["startTime"]


def test_stop_and_errors(fis):
    tid = wait_template(fis)
    token = unique("c")
    eid = fis.start_experiment(clientToken=token, experimentTemplateId=tid)["experiment"]["id"]
    # the same client token: the same experiment
    assert fis.start_experiment(clientToken=token,
                                experimentTemplateId=tid)["experiment"]["id"] == eid
    reaches(fis, eid, "running", "wait")
    assert fis.stop_experiment(id=eid)["experiment"]["state"] == {
        "status": "stopping", "reason": "Stopping Experiment."}
    exp = reaches(fis, eid, "stopped")
    assert exp["state"]["reason"] == "Experiment stopped."
    assert exp["actions"]["wait"]["state"]["status"] == "stopped"
    assert error_of(fis.get_experiment, id="EXPnothere") == (
        "ResourceNotFoundException", "Experiment EXPnothere not found.", 404)
    assert error_of(fis.stop_experiment, id="EXPnothere")[0] == "ResourceNotFoundException"
    assert error_of(fis.start_experiment, clientToken=unique("c"),
                    experimentTemplateId="EXTnothere")[0] == "ResourceNotFoundException"


def test_missing_targets_fail_the_experiment(fis):
    tid = fis.create_experiment_template(
        clientToken=unique("t"), description="ghost", roleArn=ROLE, stopConditions=NONE,
        targets={"fns": {"resourceType": "aws:lambda:function", "selectionMode": "ALL",
                         "resourceTags": {"fis-test": unique("none")}}},
        actions={"err": {"actionId": "aws:lambda:invocation-error",
                         "parameters": {"duration": "PT1M"},
                         "targets": {"Functions": "fns"}}})["experimentTemplate"]["id"]
    eid = fis.start_experiment(clientToken=unique("c"),
                               experimentTemplateId=tid)["experiment"]["id"]
    exp = reaches(fis, eid, "failed")
    assert "empty" in exp["state"]["reason"] and "fns" in exp["state"]["reason"]
    assert exp["actions"]["err"]["state"]["status"] == "cancelled"


def invoke(lam, name: str) -> str | None:
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    payload = json.loads(out["Payload"].read())
    if out.get("FunctionError"):
        assert payload["errorType"] == "FISInjectedError", payload
    return out.get("FunctionError")


def lambda_fault_template(fis, name: str, action: str, **params) -> str:
    return fis.create_experiment_template(
        clientToken=unique("t"), description="lambda", roleArn=ROLE, stopConditions=NONE,
        targets={"fns": {"resourceType": "aws:lambda:function", "selectionMode": "ALL",
                         "resourceArns": [arn(name)]}},
        actions={"fault": {"actionId": action, "targets": {"Functions": "fns"},
                           "parameters": {"duration": "PT30M", **params}}}
    )["experimentTemplate"]["id"]


def test_lambda_invocation_error(server, fis):
    lam = server.client("lambda")
    target, other = deployed(server, ECHO, "fis-err"), deployed(server, ECHO, "fis-ok")
    assert invoke(lam, target) is None
    tid = lambda_fault_template(fis, target, "aws:lambda:invocation-error",
                                invocationPercentage="100")
    eid = fis.start_experiment(clientToken=unique("c"),
                               experimentTemplateId=tid)["experiment"]["id"]
    reaches(fis, eid, "running", "fault")
    assert [invoke(lam, target) for _ in range(5)] == ["Unhandled"] * 5
    assert invoke(lam, f"{target}:$LATEST") == "Unhandled"  # any qualifier: the function
    assert invoke(lam, other) is None  # not a target
    fis.stop_experiment(id=eid)
    reaches(fis, eid, "stopped")
    assert invoke(lam, target) is None


def test_lambda_invocation_error_percentage(server, fis):
    lam = server.client("lambda")
    target = deployed(server, ECHO, "fis-pct")
    tid = lambda_fault_template(fis, target, "aws:lambda:invocation-error",
                                invocationPercentage="50", preventExecution="true")
    eid = fis.start_experiment(clientToken=unique("c"),
                               experimentTemplateId=tid)["experiment"]["id"]
    reaches(fis, eid, "running", "fault")
    outcomes = [invoke(lam, target) for _ in range(60)]
    # about half: both kinds (the chance of either count being 0 is 2 in 10^18)
    assert 0 < outcomes.count("Unhandled") < 60
    advance(server, "31m")
    reaches(fis, eid, "completed")
    assert [invoke(lam, target) for _ in range(5)] == [None] * 5


def test_lambda_add_delay_runs_the_function(server, fis):
    lam = server.client("lambda")
    target = deployed(server, ECHO, "fis-delay")
    tid = lambda_fault_template(fis, target, "aws:lambda:invocation-add-delay",
                                startupDelayMilliseconds="200")
    eid = fis.start_experiment(clientToken=unique("c"),
                               experimentTemplateId=tid)["experiment"]["id"]
    assert action_status(fis, eid, "fault") in ("pending", "initiating", "running")
    reaches(fis, eid, "running", "fault")
    assert invoke(lam, target) is None
    fis.stop_experiment(id=eid)
    reaches(fis, eid, "stopped")


def test_the_aws_cli(server):
    tid = server.aws("fis", "create-experiment-template", "--description", "cli",
                     "--role-arn", ROLE, "--stop-conditions", "source=none",
                     "--actions", json.dumps({"w": {"actionId": "aws:fis:wait",
                                                    "parameters": {"duration": "PT5M"}}})
                     )["experimentTemplate"]["id"]
    eid = server.aws("fis", "start-experiment", "--experiment-template-id",
                     tid)["experiment"]["id"]
    stopped = server.aws("fis", "stop-experiment", "--id", eid)["experiment"]
    assert stopped["state"]["status"] in ("stopping", "stopped")
    listed = server.aws("fis", "list-experiments")["experiments"]
    assert eid in [e["id"] for e in listed]
    proc = server.aws("fis", "get-experiment", "--id", "EXPmissing", check=False)
    assert proc.returncode != 0 and "ResourceNotFoundException" in proc.stderr
