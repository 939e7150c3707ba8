"""Fixtures for the EventBridge Scheduler tests: clients, a role Scheduler may invoke functions
with, and helpers reading vpclocal's clock."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import pytest

from tests.conftest import unique
from tests.events.conftest import RECORDER
from tests.lambda_.conftest import deployed

ACCOUNT = "000000000000"
REGION = "us-east-1"
SCHEDULER_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
OFF = {"Mode": "OFF"}


@pytest.fixture(scope="session")
def scheduler(server):
    return server.client("scheduler")


@pytest.fixture(scope="session")
def iam(server):
    return server.client("iam")


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def scheduler_role(iam, resource: str = "*", trust: dict = SCHEDULER_TRUST) -> str:
    """A role trusting `trust`'s principal, allowed lambda:InvokeFunction on `resource`."""
    name = unique("sched-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": resource}]}))
    return arn


@pytest.fixture
def recorder(server) -> str:
    """A deployed function that logs each event it receives ('EVENT {json}')."""
    return deployed(server, RECORDER, prefix="srec")


@pytest.fixture
def target(iam, recorder) -> dict:
    """A Target invoking the recorder with a role allowed to."""
    return {"Arn": fn_arn(recorder), "RoleArn": scheduler_role(iam, fn_arn(recorder))}


def clock_now(server) -> float:
    """vpclocal's scheduler clock, epoch seconds."""
    with urllib.request.urlopen(server.endpoint + "/_vpclocal/clock", timeout=30) as response:
        return json.load(response)["Epoch"]


def at(epoch: float, tz: dt.tzinfo = dt.UTC) -> str:
    """An at() expression for that moment, as a wall-clock time in `tz`."""
    return "at(" + dt.datetime.fromtimestamp(int(epoch), tz).strftime("%Y-%m-%dT%H:%M:%S") + ")"


LAMBDA_TRUST_ONLY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
