"""CloudWatch alarms and FIS stop conditions: how long from a breaching data point to the alarm
in ALARM, and to an experiment stopped by it with its disruption gone from the kernel.

A `vpclocal up --fabric` server (root: the probe and the listener enter ENI namespaces, as in
bench/fis.py). Two measurements, --rounds each:

  evaluation: an alarm (Sum > 0 over 60 s, missing data not breaching: OK) and a PutMetricData
    of a breaching point; the time from the call to the alarm's StateUpdatedTimestamp (the
    server's clock) and to a DescribeAlarms that shows ALARM (the client's polling, 5 ms).
  stop condition: an experiment disrupting subnet a (scope all) guarded by such an alarm,
    running (the probe in subnet a fails to reach the listener in subnet b); the breaching
    PutMetricData; the time to the experiment's endTime (stopped) and to the probe's first
    succeeding connect (the disruption gone from the kernel).

Run (root): .venv/bin/python bench/alarms.py [--rounds 10] [--wait 0.005]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import start_fabric_vpclocal, stop
from fabric_api_latency import fabric_status
from fis import across_zones, arguments, experiment, summary


def new_alarm(cw, name: str) -> str:
    cw.put_metric_alarm(AlarmName=name, Namespace="Bench/Alarms", MetricName="Errors",
                        Dimensions=[{"Name": "Alarm", "Value": name}], Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0.0,
                        ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    deadline = time.monotonic() + 10
    while (alarm := cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0])[
            "StateValue"] != "OK":
        if time.monotonic() > deadline:
            sys.exit(f"{name} never evaluated to OK: {alarm['StateReason']}")
        time.sleep(0.005)
    return alarm["AlarmArn"]


def breach(cw, name: str) -> float:
    """Put a breaching point for the alarm; the time of the call."""
    t = time.time()
    cw.put_metric_data(Namespace="Bench/Alarms", MetricData=[{
        "MetricName": "Errors", "Dimensions": [{"Name": "Alarm", "Value": name}],
        "Value": 1.0}])
    return t


def in_alarm(cw, name: str, timeout: float = 30) -> tuple[float, dict]:
    deadline = time.monotonic() + timeout
    while True:
        alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        if alarm["StateValue"] == "ALARM":
            return time.time(), alarm
        if time.monotonic() > deadline:
            sys.exit(f"{name} never went ALARM: {alarm['StateReason']}")
        time.sleep(0.005)


def main() -> None:
    args = arguments(__doc__)
    proc, url = start_fabric_vpclocal()
    started: list = []
    r: dict[str, list[float]] = {k: [] for k in ("eval", "seen", "stopped", "gone")}
    try:
        if not fabric_status(url).get("running"):
            sys.exit(f"the server's fabric is not running: {fabric_status(url)}")
        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test"}
        ec2, fis, cw = (boto3.client(s, **kw) for s in ("ec2", "fis", "cloudwatch"))

        for i in range(args.rounds):  # evaluation alone
            name = f"eval-{i}"
            new_alarm(cw, name)
            t_call = breach(cw, name)
            t_seen, alarm = in_alarm(cw, name)
            r["eval"].append(alarm["StateUpdatedTimestamp"].timestamp() - t_call)
            r["seen"].append(t_seen - t_call)

        _vpc, (a, _b), stream = across_zones(ec2, url, started, args.wait)
        for i in range(args.rounds):  # a stop condition ends a disruption
            name = f"guard-{i}"
            arn = new_alarm(cw, name)
            tid = fis.create_experiment_template(
                description="guarded", roleArn="arn:aws:iam::000000000000:role/fis",
                stopConditions=[{"source": "aws:cloudwatch:alarm", "value": arn}],
                targets={"a": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                               "resourceArns": [
                                   f"arn:aws:ec2:us-east-1:000000000000:subnet/{a}"]}},
                actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                                 "parameters": {"duration": "PT10M", "scope": "all"},
                                 "targets": {"Subnets": "a"}}})["experimentTemplate"]["id"]
            t_start = time.time()
            eid = fis.start_experiment(experimentTemplateId=tid)["experiment"]["id"]
            experiment(fis, eid, lambda e: e["actions"]["cut"]["state"]["status"] == "running")
            stream.next("fail", t_start)
            t_call = breach(cw, name)
            exp = experiment(fis, eid, lambda e: e["state"]["status"] in ("stopped",
                                                                          "completed"))
            if exp["state"]["reason"] != "Experiment stopped by stop condition.":
                sys.exit(f"{eid} ended {exp['state']}")
            r["gone"].append(stream.next("ok", t_call) - t_call)
            r["stopped"].append(exp["endTime"].timestamp() - t_call)
        status = fabric_status(url)
    finally:
        for p in started:
            p.stop()
        stop(proc)
    print(f"CloudWatch alarms and FIS stop conditions ({args.rounds} rounds each; probe "
          f"resolution {args.wait * 1000:g} ms + 2 ms; fabric variant "
          f"{(status.get('variant') or {}).get('name')})")
    print(f"  breaching PutMetricData -> alarm state updated (server)   {summary(r['eval'])}")
    print(f"  breaching PutMetricData -> DescribeAlarms shows ALARM     {summary(r['seen'])}")
    print(f"  breaching PutMetricData -> experiment stopped (endTime)   {summary(r['stopped'])}")
    print(f"  breaching PutMetricData -> disruption gone in the kernel  {summary(r['gone'])}   "
          "goal <= 100 ms after the state change")


if __name__ == "__main__":
    main()
