"""STS through boto3 and the `aws` CLI: the caller's identity, AssumeRole credentials, and
requests signed with those credentials acting as the assumed role (also after a restart)."""

from __future__ import annotations

import datetime as dt
import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, unique
from tests.errors import error_and_status as error_of

ACCOUNT = "000000000000"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def sts(server):
    return server.client("sts")


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")






def new_role(iam, **extra) -> dict:
    return iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=TRUST, **extra)["Role"]


def client_for(server, credentials: dict, service: str = "sts"):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="eu-west-1",
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def test_caller_identity_of_the_account(sts):
    identity = sts.get_caller_identity()
    assert (identity["Account"], identity["Arn"], identity["UserId"]) == (ACCOUNT, ROOT, ACCOUNT)


def test_caller_identity_through_the_cli(server):
    assert server.aws("sts", "get-caller-identity") == {
        "UserId": ACCOUNT, "Account": ACCOUNT, "Arn": ROOT}


def test_assume_role_shape(sts, iam):
    role = new_role(iam)
    before = dt.datetime.now(dt.UTC)
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42")
    creds = out["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds["AccessKeyId"])
    assert len(creds["SecretAccessKey"]) == 40 and len(creds["SessionToken"]) > 100
    lifetime = creds["Expiration"] - before
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(hours=1, seconds=5)
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:build-42",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/build-42"}
    again = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42")["Credentials"]
    assert again["AccessKeyId"] != creds["AccessKeyId"]


def test_assume_role_duration(sts, iam):
    role = new_role(iam, MaxSessionDuration=7200)
    short = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=900)
    lifetime = short["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < lifetime <= dt.timedelta(minutes=15)
    sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7200)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7201)
    message = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    assert error_of(exc) == ("ValidationError", message, 400)


def test_assumed_role_arn_leaves_out_the_path(sts, iam):
    role = new_role(iam, Path="/service/")
    user = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="pp")["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/pp"


def test_credentials_act_as_the_assumed_role(server, sts, iam):
    role = new_role(iam)
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="worker")
    identity = client_for(server, out["Credentials"]).get_caller_identity()
    assert identity["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert identity["UserId"] == f"{role['RoleId']}:worker"
    assert identity["Account"] == ACCOUNT
    assert sts.get_caller_identity()["Arn"] == ROOT  # the default keys are still the account


def test_assume_missing_role_is_access_denied(server, sts, iam):
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('ghost')}"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=missing, RoleSessionName="s1")
    message = f"User: {ROOT} is not authorized to perform: sts:AssumeRole on resource: {missing}"
    assert error_of(exc) == ("AccessDenied", message, 403)
    # The refusal names the caller: here a session of another role.
    role = new_role(iam)
    out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="hop")
    with pytest.raises(ClientError) as exc:
        client_for(server, out["Credentials"]).assume_role(RoleArn=missing, RoleSessionName="s1")
    assert error_of(exc)[1] == (f"User: {out['AssumedRoleUser']['Arn']} is not authorized to "
                                f"perform: sts:AssumeRole on resource: {missing}")
    # A role's ARN must match in full, path and account included.
    wrong_path = role["Arn"].replace(":role/", ":role/elsewhere/")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=wrong_path, RoleSessionName="s1")
    assert error_of(exc)[0::2] == ("AccessDenied", 403)


def test_assume_role_through_the_cli(server, iam):
    role = new_role(iam)
    out = server.aws("sts", "assume-role", "--role-arn", role["Arn"],
                     "--role-session-name", "cli")
    assert out["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{role['RoleName']}/cli")
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_sessions_survive_a_restart(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        iam, sts = server.client("iam"), server.client("sts")
        role = new_role(iam)
        out = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="durable")
    finally:
        server.stop()
    server = Server(tmp_path / "data", port=server.port).start()
    try:
        identity = client_for(server, out["Credentials"]).get_caller_identity()
        assert identity["Arn"] == out["AssumedRoleUser"]["Arn"]
    finally:
        server.stop()
