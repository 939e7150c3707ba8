"""EventBridge and Scheduler timing on the real clock: how close to their due time schedules
invoke a function, and how soon after PutEvents a rule's target starts.

Same run, same machine, a warm function that logs the time its handler starts:
- firing accuracy: one-time Scheduler schedules `at(...)` a few seconds ahead (second
  precision); the figure is the handler's start minus the due time;
- PutEvents -> invoke start: events matching a rule whose target is the function, 100 ms apart
  (each finds the environment idle; nothing polls the server meanwhile); the figure is the
  handler's start minus the time just before the PutEvents call (median, p99).
Goals (issue 16): accuracy within 1 s, PutEvents -> invoke start <= 20 ms.
Run: PYTHONPATH=src .venv/bin/python bench/eventbridge.py
"""

from __future__ import annotations

import datetime as dt
import io
import json
import statistics
import sys
import time
import zipfile
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from common import start_vpclocal, stop

FIRINGS = 6  # one-time schedules, two seconds apart
EVENTS = 100  # PutEvents, one at a time
WARMUP = 3  # the first events (the rule's first use) are not counted
ACCOUNT, REGION = "000000000000", "us-east-1"
HANDLER = ("import json, time\n"
           "def handler(event, context):\n"
           "    started = time.time()\n"
           "    print('START ' + json.dumps({'at': started, 'event': event}))\n"
           "    return {}\n")


def client(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def role(iam, service: str, policy: dict | None = None) -> str:
    name = f"bench-{service.split('.')[0]}"
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if policy:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


class Starts:
    """The handler starts the function has logged, in order."""

    def __init__(self, logs, function: str) -> None:
        self.logs, self.group = logs, f"/aws/lambda/{function}"

    def read(self) -> list[dict]:
        out = []
        try:
            for page in self.logs.get_paginator("filter_log_events").paginate(
                    logGroupName=self.group, filterPattern="START"):
                out += [json.loads(e["message"][len("START "):]) for e in page["events"]
                        if e["message"].startswith("START {")]
        except self.logs.exceptions.ResourceNotFoundException:
            pass
        return sorted(out, key=lambda s: s["at"])

    def wait(self, count: int, timeout: float = 30.0, poll: float = 0.01) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.read()
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(poll)


def main() -> None:
    proc, url = start_vpclocal()
    try:
        iam, lam, logs = client(url, "iam"), client(url, "lambda"), client(url, "logs")
        events, scheduler = client(url, "events"), client(url, "scheduler")
        function = "bench-timing"
        fn_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        lam.create_function(
            FunctionName=function, Runtime="python3.12", Handler="index.handler",
            Role=role(iam, "lambda.amazonaws.com", {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Resource": "*",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}]}),
            Code={"ZipFile": zipped(HANDLER)})
        while lam.get_function_configuration(FunctionName=function)["State"] != "Active":
            time.sleep(0.05)
        starts = Starts(logs, function)
        lam.invoke(FunctionName=function, Payload=b'{"warm": true}')  # the cold start
        starts.wait(1)

        # ---- firing accuracy: one-time schedules a few seconds ahead --------------------
        runner = role(iam, "scheduler.amazonaws.com", {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn_arn}]})
        first = int(time.time()) + 3
        dues = [first + 2 * i for i in range(FIRINGS)]
        for i, due in enumerate(dues):
            moment = dt.datetime.fromtimestamp(due, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            scheduler.create_schedule(
                Name=f"at-{i}", ScheduleExpression=f"at({moment})",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={"Arn": fn_arn, "RoleArn": runner, "Input": json.dumps({"due": due})})
        fired = [s for s in starts.wait(1 + FIRINGS, timeout=dues[-1] - time.time() + 30)
                 if "due" in s["event"]]
        errors = [s["at"] - s["event"]["due"] for s in fired]

        # ---- PutEvents -> invoke start ------------------------------------------------------
        rule = events.put_rule(Name="bench", EventPattern=json.dumps({"source": ["bench"]}))
        lam.add_permission(FunctionName=function, StatementId="events", Principal=
                           "events.amazonaws.com", Action="lambda:InvokeFunction",
                           SourceArn=rule["RuleArn"])
        events.put_targets(Rule="bench", Targets=[{"Id": "fn", "Arn": fn_arn}])
        seen = len(starts.read())
        sent_times = []
        for _ in range(EVENTS + WARMUP):  # 100 ms apart: each finds the environment idle
            sent = time.time()
            events.put_events(Entries=[{"Source": "bench", "DetailType": "t",
                                        "Detail": json.dumps({"sent": sent})}])
            sent_times.append(sent)
            time.sleep(0.1)
        started = {s["event"]["detail"]["sent"]: s["at"] for s in starts.wait(
            seen + EVENTS + WARMUP)[seen:] if "detail" in s["event"]}
        latencies = [started[sent] - sent for sent in sent_times if sent in started]
        latencies = latencies[WARMUP:]
    finally:
        stop(proc)

    print(f"Scheduler at() firings on the real clock ({len(errors)} of {FIRINGS} made): handler "
          "start minus due time")
    for due, error in zip(dues, errors, strict=False):
        print(f"  due {dt.datetime.fromtimestamp(due, dt.UTC):%H:%M:%S}Z  +{error * 1000:7.1f} ms")
    if errors:
        print(f"  max {max(errors) * 1000:.1f} ms, median {statistics.median(errors) * 1000:.1f} "
              f"ms  (goal: within 1 s)")
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"PutEvents -> invoke start ({len(latencies)} events, 100 ms apart, warm function): "
          f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms  (goal: <= 20 ms)")
    print("  slowest: " + ", ".join(f"{x * 1000:.1f}" for x in ordered[-5:]) + " ms")


if __name__ == "__main__":
    main()
