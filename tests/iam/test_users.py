"""IAM users and their access keys through boto3 and the `aws` CLI against a real server: shapes,
IDs, the caller as GetUser's and the keys' default user, tags, renames, and AWS's errors."""

from __future__ import annotations

import datetime as dt
import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.errors import error_and_status as error_of

ACCOUNT = "000000000000"
LOGS_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


def client_as(server, key: dict, service: str = "iam"):
    """A client signing with a user's access key (and a session's token, if any)."""
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                        aws_session_token=key.get("SessionToken"))


def refused(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error_of(exc)


def new_user(iam, name=None, **extra) -> dict:
    return iam.create_user(UserName=name or unique("u"), **extra)["User"]


# ---- users -------------------------------------------------------------------------------------


def test_create_user_shape(iam):
    name = unique("u")
    user = new_user(iam, name, Path="/team/a/", Tags=[{"Key": "env", "Value": "dev"}])
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", user["UserId"])
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/a/{name}"
    assert (user["Path"], user["UserName"]) == ("/team/a/", name)
    assert user["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert "PermissionsBoundary" not in user and "PasswordLastUsed" not in user
    age = dt.datetime.now(dt.UTC) - user["CreateDate"]
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)
    got = iam.get_user(UserName=name.upper())["User"]  # names are case-insensitive
    assert got == user


def test_create_user_defaults_and_duplicates(iam):
    name = unique("Mixed")
    user = new_user(iam, name)
    assert user["Path"] == "/" and user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert "Tags" not in user
    assert refused(iam.create_user, UserName=name.lower()) == (
        "EntityAlreadyExists", f"User with name {name.lower()} already exists.", 409)


def test_user_not_found_everywhere(iam):
    missing = unique("nobody")
    message = ("NoSuchEntity", f"The user with name {missing} cannot be found.", 404)
    for call, extra in [
        (iam.get_user, {}), (iam.delete_user, {}), (iam.update_user, {"NewPath": "/x/"}),
        (iam.tag_user, {"Tags": [{"Key": "a", "Value": "b"}]}),
        (iam.untag_user, {"TagKeys": ["a"]}), (iam.list_user_tags, {}),
        (iam.create_access_key, {}), (iam.list_access_keys, {}),
        (iam.attach_user_policy, {"PolicyArn": BASIC}),
        (iam.detach_user_policy, {"PolicyArn": BASIC}), (iam.list_attached_user_policies, {}),
        (iam.put_user_policy, {"PolicyName": "p", "PolicyDocument": LOGS_POLICY}),
        (iam.get_user_policy, {"PolicyName": "p"}), (iam.list_user_policies, {}),
        (iam.list_groups_for_user, {}),
        (iam.put_user_permissions_boundary, {"PermissionsBoundary": BASIC}),
        (iam.delete_user_permissions_boundary, {}),
    ]:
        assert refused(call, UserName=missing, **extra) == message, call.__name__


def test_list_users_path_prefix_and_pagination(iam):
    path = f"/{unique('p')}/"
    names = sorted(unique("u") for _ in range(5))
    for name in names:
        new_user(iam, name, Path=path, Tags=[{"Key": "k", "Value": "v"}])
    new_user(iam, Path=f"{path}deeper/")
    listed = iam.list_users(PathPrefix=path)
    assert len(listed["Users"]) == 6 and listed["IsTruncated"] is False
    first = next(u for u in listed["Users"] if u["UserName"] == names[0])
    assert set(first) == {"Path", "UserName", "UserId", "Arn", "CreateDate"}  # no tags listed
    seen, marker, pages = [], None, 0
    while True:
        page = iam.list_users(PathPrefix=path, MaxItems=2, **({"Marker": marker} if marker else {}))
        pages += 1
        seen += [u["UserName"] for u in page["Users"] if u["Path"] == path]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert pages == 3 and seen == names
    everything = iam.get_paginator("list_users").paginate(
        PaginationConfig={"PageSize": 4}).build_full_result()["Users"]
    assert set(names) <= {u["UserName"] for u in everything}


def test_update_user_renames_and_moves(iam):
    name, new_name = unique("u"), unique("renamed")
    user = new_user(iam, name)
    group = iam.create_group(GroupName=unique("g"))["Group"]["GroupName"]
    iam.add_user_to_group(GroupName=group, UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.update_user(UserName=name, NewUserName=new_name, NewPath="/moved/")
    assert refused(iam.get_user, UserName=name)[0] == "NoSuchEntity"
    moved = iam.get_user(UserName=new_name)["User"]
    assert moved["UserId"] == user["UserId"] and moved["Path"] == "/moved/"
    assert moved["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/moved/{new_name}"
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [new_name]
    assert [k["UserName"] for k in iam.list_access_keys(UserName=new_name)[
        "AccessKeyMetadata"]] == [new_name]
    assert iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["UserName"] == new_name
    other = new_user(iam)["UserName"]
    assert refused(iam.update_user, UserName=new_name, NewUserName=other) == (
        "EntityAlreadyExists", f"User with name {other} already exists.", 409)


def test_delete_user_conflicts_in_order(iam):
    name = unique("u")
    new_user(iam, name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.attach_user_policy(UserName=name, PolicyArn=BASIC)
    iam.put_user_policy(UserName=name, PolicyName="logs", PolicyDocument=LOGS_POLICY)
    group = iam.create_group(GroupName=unique("g"))["Group"]["GroupName"]
    iam.add_user_to_group(GroupName=group, UserName=name)
    steps = [
        ("Cannot delete entity, must delete access keys first.",
         lambda: iam.delete_access_key(UserName=name, AccessKeyId=key)),
        ("Cannot delete entity, must detach all policies first.",
         lambda: iam.detach_user_policy(UserName=name, PolicyArn=BASIC)),
        ("Cannot delete entity, must delete policies first.",
         lambda: iam.delete_user_policy(UserName=name, PolicyName="logs")),
        ("Cannot delete entity, must remove users from group first.",
         lambda: iam.remove_user_from_group(GroupName=group, UserName=name)),
    ]
    for message, clear in steps:
        assert refused(iam.delete_user, UserName=name) == ("DeleteConflict", message, 409)
        clear()
    iam.delete_user(UserName=name)
    assert refused(iam.get_user, UserName=name)[0] == "NoSuchEntity"


def test_user_tags(iam):
    name = unique("u")
    new_user(iam, name, Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_user(UserName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "3"}])
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "A", "Value": "3"},
                                                         {"Key": "b", "Value": "2"}]
    iam.untag_user(UserName=name, TagKeys=["a"])
    tags = iam.list_user_tags(UserName=name)
    assert tags["Tags"] == [{"Key": "b", "Value": "2"}] and tags["IsTruncated"] is False
    assert iam.get_user(UserName=name)["User"]["Tags"] == [{"Key": "b", "Value": "2"}]
    code, message, status = refused(iam.tag_user, UserName=name, Tags=[
        {"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert (code, message, status) == ("LimitExceeded", "Cannot exceed quota for TagsPerUser: 50",
                                       409)
    assert refused(iam.tag_user, UserName=name, Tags=[{"Key": "aws:x", "Value": "1"}])[0::2] == (
        "InvalidInput", 400)


def test_create_user_validates_inputs_against_the_model(iam):
    code, message, status = refused(iam.create_user, UserName="bad name!")
    assert (code, status) == ("ValidationError", 400) and "userName" in message


# ---- the caller --------------------------------------------------------------------------------


def test_get_user_of_the_root_caller(iam):
    user = iam.get_user()["User"]
    assert set(user) == {"UserId", "Arn", "CreateDate"}
    assert (user["UserId"], user["Arn"]) == (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")
    assert iam.get_user()["User"]["CreateDate"] == user["CreateDate"]  # the account's, stable


def test_a_users_key_acts_as_the_user(server, iam):
    name = unique("u")
    user = new_user(iam, name, Path="/keys/")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = client_as(server, key)
    # IAM decides what the key may do: a user that may manage itself
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*",
                                                "Resource": user["Arn"]}]}))
    assert as_user.get_user()["User"] == user
    identity = client_as(server, key, "sts").get_caller_identity()
    assert (identity["UserId"], identity["Account"], identity["Arn"]) == (
        user["UserId"], ACCOUNT, user["Arn"])
    # UserName defaults to the caller for its own keys
    second = as_user.create_access_key()["AccessKey"]
    assert second["UserName"] == name
    assert {k["AccessKeyId"] for k in as_user.list_access_keys()["AccessKeyMetadata"]} == {
        key["AccessKeyId"], second["AccessKeyId"]}
    as_user.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Inactive")
    as_user.delete_access_key(AccessKeyId=second["AccessKeyId"])
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)[
        "AccessKeyMetadata"]] == [key["AccessKeyId"]]
    # an inactive key is refused, whatever it asks
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert refused(client_as(server, key, "sts").get_caller_identity) == (
        "InvalidClientTokenId", "The security token included in the request is invalid.", 403)


def test_a_role_session_must_name_the_user(server, iam):
    role = iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=TRUST)["Role"]
    credentials = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess")[
        "Credentials"]
    session = client_as(server, credentials)
    expected = ("ValidationError", "Must specify userName when calling with non-User credentials",
                400)
    for call in (session.get_user, session.list_access_keys, session.create_access_key):
        assert refused(call) == expected, call.__name__
    name = new_user(iam)["UserName"]
    code, message, _ = refused(lambda: session.get_user(UserName=name))
    assert code == "AccessDenied" and "iam:GetUser" in message  # IAM decides
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                 "Resource": "*"}]}))
    assert session.get_user(UserName=name)["User"]["UserName"] == name


# ---- access keys -------------------------------------------------------------------------------


def test_access_key_shape_and_quota(iam):
    name = unique("u")
    new_user(iam, name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key["AccessKeyId"])
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", key["SecretAccessKey"])
    assert (key["UserName"], key["Status"]) == (name, "Active")
    age = dt.datetime.now(dt.UTC) - key["CreateDate"]
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)
    second = iam.create_access_key(UserName=name)["AccessKey"]
    assert second["AccessKeyId"] != key["AccessKeyId"]
    assert refused(iam.create_access_key, UserName=name) == (
        "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    listed = iam.list_access_keys(UserName=name)
    assert listed["IsTruncated"] is False
    assert [set(k) for k in listed["AccessKeyMetadata"]] == [
        {"UserName", "AccessKeyId", "Status", "CreateDate"}] * 2
    page = iam.list_access_keys(UserName=name, MaxItems=1)
    assert page["IsTruncated"] is True and len(page["AccessKeyMetadata"]) == 1


def test_update_and_delete_access_key(iam):
    name, other = unique("u"), unique("u")
    new_user(iam, name)
    new_user(iam, other)
    key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    iam.update_access_key(UserName=name, AccessKeyId=key_id, Status="Active")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Active"
    not_found = ("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.", 404)
    # another user's key, and the root's own keys (no UserName), do not include it
    assert refused(iam.update_access_key, UserName=other, AccessKeyId=key_id,
                   Status="Inactive") == not_found
    assert refused(iam.delete_access_key, UserName=other, AccessKeyId=key_id) == not_found
    assert refused(iam.delete_access_key, AccessKeyId=key_id) == not_found
    code, message, status = refused(iam.update_access_key, UserName=name, AccessKeyId=key_id,
                                    Status="Disabled")
    assert (code, status) == ("ValidationError", 400) and "enum value set" in message
    iam.delete_access_key(UserName=name, AccessKeyId=key_id)
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    assert refused(iam.delete_access_key, UserName=name, AccessKeyId=key_id) == not_found


def test_get_access_key_last_used(iam):
    name = unique("u")
    new_user(iam, name)
    key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    used = iam.get_access_key_last_used(AccessKeyId=key_id)
    assert used["UserName"] == name
    assert used["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    missing = "AKIAAAAAAAAAAAAAAAAA"
    assert refused(iam.get_access_key_last_used, AccessKeyId=missing) == (
        "NoSuchEntity", f"The Access Key with id {missing} cannot be found.", 404)


def test_root_keys_without_user_name(iam):
    before = {k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]}
    key = iam.create_access_key()["AccessKey"]
    assert "UserName" not in key and key["AccessKeyId"].startswith("AKIA")
    listed = iam.list_access_keys()["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == before | {key["AccessKeyId"]}
    iam.delete_access_key(AccessKeyId=key["AccessKeyId"])
    assert {k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]} == before


# ---- user policies -----------------------------------------------------------------------------


def test_user_attached_policies(iam):
    name = unique("u")
    new_user(iam, name)
    vpc_access = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    iam.attach_user_policy(UserName=name, PolicyArn=BASIC)
    iam.attach_user_policy(UserName=name, PolicyArn=vpc_access)
    iam.attach_user_policy(UserName=name, PolicyArn=BASIC)  # twice is fine
    attached = iam.list_attached_user_policies(UserName=name)
    assert attached["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC},
        {"PolicyName": "AWSLambdaVPCAccessExecutionRole", "PolicyArn": vpc_access}]
    assert iam.list_attached_user_policies(UserName=name, PathPrefix="/other/")[
        "AttachedPolicies"] == []
    iam.detach_user_policy(UserName=name, PolicyArn=BASIC)
    assert refused(iam.detach_user_policy, UserName=name, PolicyArn=BASIC) == (
        "NoSuchEntity", f"Policy {BASIC} was not found.", 404)
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{unique('none')}"
    assert refused(iam.attach_user_policy, UserName=name, PolicyArn=missing) == (
        "NoSuchEntity", f"Policy {missing} does not exist or is not attachable.", 404)
    assert refused(iam.attach_user_policy, UserName=name, PolicyArn="AWSLambdaBasicExecutionRole") == (
        "InvalidInput", "ARN AWSLambdaBasicExecutionRole is not valid.", 400)


def test_user_attached_policy_quota(iam):
    name = unique("u")
    new_user(iam, name)
    arns = [iam.create_policy(PolicyName=unique("q"), PolicyDocument=LOGS_POLICY)["Policy"]["Arn"]
            for _ in range(11)]
    for arn in arns[:10]:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    assert refused(iam.attach_user_policy, UserName=name, PolicyArn=arns[10]) == (
        "LimitExceeded", "Cannot exceed quota for PoliciesPerUser: 10", 409)


def test_user_inline_policies(iam):
    name = unique("u")
    new_user(iam, name)
    iam.put_user_policy(UserName=name, PolicyName="logs", PolicyDocument=LOGS_POLICY)
    iam.put_user_policy(UserName=name, PolicyName="AAA", PolicyDocument=LOGS_POLICY)
    got = iam.get_user_policy(UserName=name, PolicyName="logs")
    assert (got["UserName"], got["PolicyName"], got["PolicyDocument"]) == (
        name, "logs", json.loads(LOGS_POLICY))
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["AAA", "logs"]
    iam.delete_user_policy(UserName=name, PolicyName="AAA")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["logs"]
    for call in (iam.get_user_policy, iam.delete_user_policy):
        assert refused(call, UserName=name, PolicyName="AAA") == (
            "NoSuchEntity", "The user policy with name AAA cannot be found.", 404)
    assert refused(iam.put_user_policy, UserName=name, PolicyName="bad",
                   PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",'
                   ' "Action": "s3:*"}]}') == (
        "MalformedPolicyDocument", "Policy statement must contain resources.", 400)
    big = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": [f"s3:GetObject{i:04d}" for i in range(120)],
        "Resource": "*"}]})
    assert refused(iam.put_user_policy, UserName=name, PolicyName="big", PolicyDocument=big) == (
        "LimitExceeded", f"Maximum policy size of 2048 bytes exceeded for user {name}", 409)


# ---- the aws CLI -------------------------------------------------------------------------------


def test_cli_user_lifecycle(server):
    name = unique("u")
    created = server.aws("iam", "create-user", "--user-name", name, "--path", "/cli/")
    assert created["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/cli/{name}"
    key = server.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    refused_delete = server.aws("iam", "delete-user", "--user-name", name, check=False)
    assert refused_delete.returncode != 0
    assert ("An error occurred (DeleteConflict) when calling the DeleteUser operation: Cannot "
            "delete entity, must delete access keys first.") in refused_delete.stderr
    server.aws("iam", "delete-access-key", "--user-name", name, "--access-key-id",
               key["AccessKeyId"])
    server.aws("iam", "delete-user", "--user-name", name)
    missing = server.aws("iam", "get-user", "--user-name", name, check=False)
    assert ("An error occurred (NoSuchEntity) when calling the GetUser operation: The user with "
            f"name {name} cannot be found.") in missing.stderr
