"""IAM groups through boto3 and the `aws` CLI against a real server: shapes, members, renames,
attached and inline policies, and AWS's errors."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.errors import error_and_status as error_of

ACCOUNT = "000000000000"
LOGS_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]})
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


def refused(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error_of(exc)


def new_group(iam, name=None, **extra) -> dict:
    return iam.create_group(GroupName=name or unique("g"), **extra)["Group"]


def new_user(iam) -> str:
    return iam.create_user(UserName=unique("u"))["User"]["UserName"]


def test_create_group_shape(iam):
    name = unique("g")
    group = new_group(iam, name, Path="/division/")
    assert re.fullmatch(r"AGPA[A-Z2-7]{17}", group["GroupId"])
    assert group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/division/{name}"
    assert set(group) == {"Path", "GroupName", "GroupId", "Arn", "CreateDate"}
    age = dt.datetime.now(dt.UTC) - group["CreateDate"]
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)
    got = iam.get_group(GroupName=name.upper())
    assert got["Group"] == group and got["Users"] == [] and got["IsTruncated"] is False
    assert refused(iam.create_group, GroupName=name.upper()) == (
        "EntityAlreadyExists", f"Group with name {name.upper()} already exists.", 409)


def test_group_not_found_everywhere(iam):
    missing = unique("nogroup")
    user = new_user(iam)
    message = ("NoSuchEntity", f"The group with name {missing} cannot be found.", 404)
    for call, extra in [
        (iam.get_group, {}), (iam.delete_group, {}), (iam.update_group, {"NewPath": "/x/"}),
        (iam.add_user_to_group, {"UserName": user}),
        (iam.remove_user_from_group, {"UserName": user}),
        (iam.attach_group_policy, {"PolicyArn": BASIC}),
        (iam.detach_group_policy, {"PolicyArn": BASIC}), (iam.list_attached_group_policies, {}),
        (iam.put_group_policy, {"PolicyName": "p", "PolicyDocument": LOGS_POLICY}),
        (iam.get_group_policy, {"PolicyName": "p"}), (iam.delete_group_policy, {"PolicyName": "p"}),
        (iam.list_group_policies, {}),
    ]:
        assert refused(call, GroupName=missing, **extra) == message, call.__name__


def test_members(iam):
    group = new_group(iam)["GroupName"]
    other = new_group(iam)["GroupName"]
    users = sorted(new_user(iam) for _ in range(3))
    for user in reversed(users):
        iam.add_user_to_group(GroupName=group, UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=users[0])  # again: no error
    iam.add_user_to_group(GroupName=other, UserName=users[0])
    got = iam.get_group(GroupName=group)
    assert [u["UserName"] for u in got["Users"]] == users
    assert set(got["Users"][0]) == {"Path", "UserName", "UserId", "Arn", "CreateDate"}
    page = iam.get_group(GroupName=group, MaxItems=2)
    assert page["IsTruncated"] is True and len(page["Users"]) == 2
    rest = iam.get_group(GroupName=group, Marker=page["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == users[2:]
    assert sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=users[0])[
        "Groups"]) == sorted([group, other])
    iam.remove_user_from_group(GroupName=group, UserName=users[0])
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=users[0])["Groups"]] == [
        other]
    assert refused(iam.remove_user_from_group, GroupName=group, UserName=users[0])[0::2] == (
        "NoSuchEntity", 404)
    missing = unique("nobody")
    assert refused(iam.add_user_to_group, GroupName=group, UserName=missing) == (
        "NoSuchEntity", f"The user with name {missing} cannot be found.", 404)


def test_groups_per_user_quota(iam):
    user = new_user(iam)
    groups = [new_group(iam)["GroupName"] for _ in range(11)]
    for group in groups[:10]:
        iam.add_user_to_group(GroupName=group, UserName=user)
    assert refused(iam.add_user_to_group, GroupName=groups[10], UserName=user) == (
        "LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10", 409)


def test_list_groups_path_prefix_and_pagination(iam):
    path = f"/{unique('p')}/"
    names = sorted(unique("g") for _ in range(3))
    for name in names:
        new_group(iam, name, Path=path)
    listed = iam.list_groups(PathPrefix=path)
    assert [g["GroupName"] for g in listed["Groups"]] == names
    page = iam.list_groups(PathPrefix=path, MaxItems=2)
    assert page["IsTruncated"] is True
    rest = iam.list_groups(PathPrefix=path, Marker=page["Marker"])
    assert [g["GroupName"] for g in page["Groups"] + rest["Groups"]] == names


def test_update_group_renames_and_keeps_members(iam):
    name, new_name = unique("g"), unique("renamed")
    group = new_group(iam, name)
    user = new_user(iam)
    iam.add_user_to_group(GroupName=name, UserName=user)
    iam.update_group(GroupName=name, NewGroupName=new_name, NewPath="/moved/")
    assert refused(iam.get_group, GroupName=name)[0] == "NoSuchEntity"
    got = iam.get_group(GroupName=new_name)
    assert got["Group"]["GroupId"] == group["GroupId"]
    assert got["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/moved/{new_name}"
    assert [u["UserName"] for u in got["Users"]] == [user]
    taken = new_group(iam)["GroupName"]
    assert refused(iam.update_group, GroupName=new_name, NewGroupName=taken) == (
        "EntityAlreadyExists", f"Group with name {taken} already exists.", 409)


def test_delete_group_conflicts_in_order(iam):
    name = unique("g")
    new_group(iam, name)
    user = new_user(iam)
    iam.add_user_to_group(GroupName=name, UserName=user)
    iam.attach_group_policy(GroupName=name, PolicyArn=BASIC)
    iam.put_group_policy(GroupName=name, PolicyName="logs", PolicyDocument=LOGS_POLICY)
    steps = [
        ("Cannot delete entity, must remove users from group first.",
         lambda: iam.remove_user_from_group(GroupName=name, UserName=user)),
        ("Cannot delete entity, must detach all policies first.",
         lambda: iam.detach_group_policy(GroupName=name, PolicyArn=BASIC)),
        ("Cannot delete entity, must delete policies first.",
         lambda: iam.delete_group_policy(GroupName=name, PolicyName="logs")),
    ]
    for message, clear in steps:
        assert refused(iam.delete_group, GroupName=name) == ("DeleteConflict", message, 409)
        clear()
    iam.delete_group(GroupName=name)
    assert refused(iam.get_group, GroupName=name)[0] == "NoSuchEntity"
    assert iam.list_groups_for_user(UserName=user)["Groups"] == []


def test_group_policies(iam):
    name = unique("g")
    new_group(iam, name)
    iam.attach_group_policy(GroupName=name, PolicyArn=BASIC)
    assert iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    iam.detach_group_policy(GroupName=name, PolicyArn=BASIC)
    assert refused(iam.detach_group_policy, GroupName=name, PolicyArn=BASIC) == (
        "NoSuchEntity", f"Policy {BASIC} was not found.", 404)
    iam.put_group_policy(GroupName=name, PolicyName="logs", PolicyDocument=LOGS_POLICY)
    got = iam.get_group_policy(GroupName=name, PolicyName="logs")
    assert (got["GroupName"], got["PolicyName"], got["PolicyDocument"]) == (
        name, "logs", json.loads(LOGS_POLICY))
    assert iam.list_group_policies(GroupName=name)["PolicyNames"] == ["logs"]
    iam.delete_group_policy(GroupName=name, PolicyName="logs")
    for call in (iam.get_group_policy, iam.delete_group_policy):
        assert refused(call, GroupName=name, PolicyName="logs") == (
            "NoSuchEntity", "The group policy with name logs cannot be found.", 404)
    assert refused(iam.put_group_policy, GroupName=name, PolicyName="bad",
                   PolicyDocument="{not json") == (
        "MalformedPolicyDocument", "Syntax errors in policy.", 400)
    big = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": [f"s3:GetObject{i:04d}" for i in range(300)],
        "Resource": "*"}]})
    assert refused(iam.put_group_policy, GroupName=name, PolicyName="big", PolicyDocument=big) == (
        "LimitExceeded", f"Maximum policy size of 5120 bytes exceeded for group {name}", 409)
    arns = [iam.create_policy(PolicyName=unique("q"), PolicyDocument=LOGS_POLICY)["Policy"]["Arn"]
            for _ in range(11)]
    for arn in arns[:10]:
        iam.attach_group_policy(GroupName=name, PolicyArn=arn)
    assert refused(iam.attach_group_policy, GroupName=name, PolicyArn=arns[10]) == (
        "LimitExceeded", "Cannot exceed quota for PoliciesPerGroup: 10", 409)


def test_cli_groups(server):
    group, user = unique("g"), unique("u")
    server.aws("iam", "create-group", "--group-name", group)
    server.aws("iam", "create-user", "--user-name", user)
    server.aws("iam", "add-user-to-group", "--group-name", group, "--user-name", user)
    shown = server.aws("iam", "get-group", "--group-name", group)
    assert [u["UserName"] for u in shown["Users"]] == [user]
    refused_delete = server.aws("iam", "delete-group", "--group-name", group, check=False)
    assert ("An error occurred (DeleteConflict) when calling the DeleteGroup operation: Cannot "
            "delete entity, must remove users from group first.") in refused_delete.stderr
    server.aws("iam", "remove-user-from-group", "--group-name", group, "--user-name", user)
    server.aws("iam", "delete-group", "--group-name", group)
    assert group not in {g["GroupName"] for g in server.aws("iam", "list-groups")["Groups"]}
