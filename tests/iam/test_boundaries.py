"""Permissions boundaries of roles and users, managed policies' counts and entities across roles,
users and groups, and what principals.py tells the authorizer, read from a real server's store."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.errors import error_and_status as error_of
from vpclocal.services.iam import principals
from vpclocal.store import Store

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
IAM_FULL = "arn:aws:iam::aws:policy/IAMFullAccess"


def doc(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": action, "Resource": "*"}]})


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


def refused(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error_of(exc)


def new_policy(iam, action: str = "s3:GetObject") -> str:
    return iam.create_policy(PolicyName=unique("pol"), PolicyDocument=doc(action))["Policy"]["Arn"]


def boundary(arn: str) -> dict:
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


# ---- roles -------------------------------------------------------------------------------------


def test_role_boundary_lifecycle(iam):
    arn = new_policy(iam)
    name = unique()
    created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST,
                              PermissionsBoundary=arn)["Role"]
    assert created["PermissionsBoundary"] == boundary(arn)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == boundary(arn)
    listed = next(r for r in iam.get_paginator("list_roles").paginate().build_full_result()[
        "Roles"] if r["RoleName"] == name)
    assert "PermissionsBoundary" not in listed  # ListRoles leaves it out, as AWS documents
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=S3_FULL)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == boundary(S3_FULL)
    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]
    iam.delete_role_permissions_boundary(RoleName=name)  # none to delete: not an error
    iam.delete_role(RoleName=name)  # a boundary never blocks deleting the role


def test_role_boundary_errors(iam):
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{unique('none')}"
    not_attachable = ("NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable.",
                      404)
    assert refused(iam.create_role, RoleName=unique(), AssumeRolePolicyDocument=TRUST,
                   PermissionsBoundary=missing) == not_attachable
    name = iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=TRUST)["Role"]["RoleName"]
    assert refused(iam.put_role_permissions_boundary, RoleName=name,
                   PermissionsBoundary=missing) == not_attachable
    assert refused(iam.put_role_permissions_boundary, RoleName=name,
                   PermissionsBoundary="AWSLambdaBasicExecutionRole") == (
        "InvalidInput", "ARN AWSLambdaBasicExecutionRole is not valid.", 400)
    for call, extra in [(iam.put_role_permissions_boundary, {"PermissionsBoundary": S3_FULL}),
                        (iam.delete_role_permissions_boundary, {})]:
        assert refused(call, RoleName="no-such-role", **extra) == (
            "NoSuchEntity", "The role with name no-such-role cannot be found.", 404)


# ---- users -------------------------------------------------------------------------------------


def test_user_boundary_lifecycle(iam):
    arn = new_policy(iam)
    name = unique("u")
    created = iam.create_user(UserName=name, PermissionsBoundary=arn)["User"]
    assert created["PermissionsBoundary"] == boundary(arn)
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"] == boundary(arn)
    listed = next(u for u in iam.list_users()["Users"] if u["UserName"] == name)
    assert "PermissionsBoundary" not in listed
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=S3_FULL)
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"] == boundary(S3_FULL)
    iam.delete_user_permissions_boundary(UserName=name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{unique('none')}"
    expected = ("NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable.", 404)
    assert refused(iam.create_user, UserName=unique("u"), PermissionsBoundary=missing) == expected
    assert refused(iam.put_user_permissions_boundary, UserName=name,
                   PermissionsBoundary=missing) == expected


# ---- managed policies count every entity -------------------------------------------------------


def test_attachment_and_boundary_counts_and_delete_conflicts(iam):
    arn = new_policy(iam)
    user = iam.create_user(UserName=unique("u"))["User"]
    group = iam.create_group(GroupName=unique("g"))["Group"]
    role = iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=TRUST,
                           PermissionsBoundary=arn)["Role"]
    iam.attach_user_policy(UserName=user["UserName"], PolicyArn=arn)
    iam.attach_group_policy(GroupName=group["GroupName"], PolicyArn=arn)
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert (policy["AttachmentCount"], policy["PermissionsBoundaryUsageCount"]) == (2, 1)
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert entities["PolicyUsers"] == [{"UserName": user["UserName"], "UserId": user["UserId"]}]
    assert entities["PolicyGroups"] == [{"GroupName": group["GroupName"],
                                         "GroupId": group["GroupId"]}]
    assert entities["PolicyRoles"] == [{"RoleName": role["RoleName"], "RoleId": role["RoleId"]}]
    assert iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsPolicy")[
        "PolicyRoles"] == []
    only_boundaries = iam.list_entities_for_policy(PolicyArn=arn,
                                                   PolicyUsageFilter="PermissionsBoundary")
    assert (only_boundaries["PolicyUsers"], len(only_boundaries["PolicyRoles"])) == ([], 1)
    only_groups = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Group")
    assert (only_groups["PolicyUsers"], len(only_groups["PolicyGroups"])) == ([], 1)
    assert iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="AWSManagedPolicy")[
        "PolicyUsers"] == []
    page = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=2)
    assert page["IsTruncated"] is True
    conflict = ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    for clear in (lambda: iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn),
                  lambda: iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=arn),
                  lambda: iam.delete_role_permissions_boundary(RoleName=role["RoleName"])):
        assert refused(iam.delete_policy, PolicyArn=arn) == conflict
        clear()
    iam.delete_policy(PolicyArn=arn)
    assert refused(iam.get_policy, PolicyArn=arn)[0] == "NoSuchEntity"


def test_only_attached_lists_policies_attached_to_users(iam):
    arn = new_policy(iam)
    user = iam.create_user(UserName=unique("u"))["User"]["UserName"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    attached = iam.get_paginator("list_policies").paginate(
        Scope="Local", OnlyAttached=True).build_full_result()["Policies"]
    assert arn in {p["Arn"] for p in attached}


# ---- what principals.py answers the authorizer, from the server's own store --------------------


def test_principals_read_the_servers_store(server, iam):
    attached, inline, group_attached, group_inline, bound = (
        doc("s3:GetObject"), doc("s3:PutObject"), doc("ec2:Describe*"), doc("lambda:Get*"),
        doc("s3:*"))
    arns = {}
    for name, text in (("attached", attached), ("group_attached", group_attached),
                       ("bound", bound)):
        arns[name] = iam.create_policy(PolicyName=unique(name), PolicyDocument=text)[
            "Policy"]["Arn"]
    user = iam.create_user(UserName=unique("u"), PermissionsBoundary=arns["bound"])["User"]
    name = user["UserName"]
    iam.attach_user_policy(UserName=name, PolicyArn=arns["attached"])
    iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=inline)
    group = iam.create_group(GroupName=unique("g"))["Group"]["GroupName"]
    iam.add_user_to_group(GroupName=group, UserName=name)
    iam.attach_group_policy(GroupName=group, PolicyArn=arns["group_attached"])
    iam.put_group_policy(GroupName=group, PolicyName="inline", PolicyDocument=group_inline)
    # a newer default version is what applies
    newer = doc("s3:GetObjectVersion")
    iam.create_policy_version(PolicyArn=arns["attached"], PolicyDocument=newer, SetAsDefault=True)
    active = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    inactive = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=name, AccessKeyId=inactive, Status="Inactive")
    role = iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=TRUST)["Role"]["RoleName"]
    root_key = iam.create_access_key()["AccessKey"]["AccessKeyId"]
    session = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="sess")["Credentials"]

    store = Store(server.data_dir / "state.db")  # a second reader: a snapshot of what is saved
    try:
        view = store.view("global")
        assert principals.key_status(view, active) == "Active"
        assert principals.key_status(view, inactive) == "Inactive"
        assert principals.key_status(view, root_key) == "Active"
        for other in ("test", session["AccessKeyId"], "AKIAAAAAAAAAAAAAAAAA", ""):
            assert principals.key_status(view, other) is None
            assert principals.user_by_access_key(view, other) is None
        assert principals.user_by_access_key(view, inactive) is None
        assert principals.user_by_access_key(view, root_key) is None
        found = principals.user_by_access_key(view, active)
        assert (found["UserName"], found["UserId"], found["Arn"]) == (
            name, user["UserId"], user["Arn"])
        assert principals.user_policy_documents(view, found) == [
            newer, inline, group_attached, group_inline]
        assert principals.boundary_document(view, found) == bound
        role_record = view.get("iam_roles", role.lower())
        assert principals.boundary_document(view, role_record) is None
    finally:
        store.close()
    # the boundary of a role, by AWS managed policy, reads the policy's default version
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=S3_FULL)
    store = Store(server.data_dir / "state.db")
    try:
        role_record = store.view("global").get("iam_roles", role.lower())
        document = json.loads(principals.boundary_document(store.view("global"), role_record))
        assert document["Statement"][0]["Action"] == ["s3:*", "s3-object-lambda:*"]
    finally:
        store.close()


def test_the_boundary_is_shown_to_a_user_signing_with_its_key(server, iam):
    name = unique("u")
    iam.create_user(UserName=name, PermissionsBoundary=BASIC)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    # IAM decides: its policy and its boundary must both allow (BASIC allows logs only)
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                "Resource": "*"}]}))

    own = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    denied = pytest.raises(ClientError, own.get_user)
    assert "because no permissions boundary allows the iam:GetUser action" in str(denied.value)
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=IAM_FULL)
    assert own.get_user()["User"]["PermissionsBoundary"] == boundary(IAM_FULL)


def test_cli_boundaries(server):
    name = unique()
    server.aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", TRUST,
               "--permissions-boundary", S3_FULL)
    assert server.aws("iam", "get-role", "--role-name", name)["Role"][
        "PermissionsBoundary"] == boundary(S3_FULL)
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{unique('none')}"
    out = server.aws("iam", "put-role-permissions-boundary", "--role-name", name,
                     "--permissions-boundary", missing, check=False)
    assert ("An error occurred (NoSuchEntity) when calling the PutRolePermissionsBoundary "
            f"operation: Scope ARN: {missing} does not exist or is not attachable.") in out.stderr
    server.aws("iam", "delete-role-permissions-boundary", "--role-name", name)
    assert "PermissionsBoundary" not in server.aws("iam", "get-role", "--role-name", name)["Role"]
