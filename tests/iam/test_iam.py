"""IAM through boto3 and the `aws` CLI against a real server: roles, managed and inline
policies, AWS managed policies, errors as AWS words them, and the guide's exercise step 5."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import guide_step, unique
from tests.errors import error_and_status as error_of

ACCOUNT = "000000000000"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
LOGS_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
AWS_MANAGED = {
    BASIC: "/service-role/",
    VPC_ACCESS: "/service-role/",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaENIManagementAccess": "/service-role/",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaRole": "/service-role/",
    "arn:aws:iam::aws:policy/AWSLambda_FullAccess": "/",
    "arn:aws:iam::aws:policy/AdministratorAccess": "/",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess": "/",
    "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess": "/",
    "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess": "/",
}


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")






def new_role(iam, name=None, **extra) -> dict:
    return iam.create_role(RoleName=name or unique(), AssumeRolePolicyDocument=json.dumps(
        LAMBDA_TRUST), **extra)["Role"]


def raw_query(server, **params) -> str:
    """The server's XML answer to an unsigned IAM query request (routed by its Version)."""
    body = urllib.parse.urlencode(dict(params, Version="2010-05-08")).encode()
    request = urllib.request.Request(server.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


# ---- roles -------------------------------------------------------------------------------------


def test_create_role_shape(iam):
    name = unique()
    role = new_role(iam, name, Path="/app/team/", Description="runs things",
                    Tags=[{"Key": "env", "Value": "dev"}])
    assert re.fullmatch(r"AROA[A-Z2-7]{17}", role["RoleId"])
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/app/team/{name}"
    assert role["Path"] == "/app/team/" and role["RoleName"] == name
    assert role["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    assert role["Description"] == "runs things"
    assert role["Tags"] == [{"Key": "env", "Value": "dev"}]
    age = dt.datetime.now(dt.UTC) - role["CreateDate"]
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)
    got = iam.get_role(RoleName=name)["Role"]
    assert got["MaxSessionDuration"] == 3600
    assert got["RoleLastUsed"] == {}
    assert got["RoleId"] == role["RoleId"] and got["Tags"] == role["Tags"]


def test_role_defaults_and_case_insensitive_names(iam):
    name = unique("Mixed")
    role = new_role(iam, name, MaxSessionDuration=7200)
    assert role["Path"] == "/" and role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    assert "Description" not in role and "Tags" not in role
    assert iam.get_role(RoleName=name.upper())["Role"]["RoleName"] == name
    assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 7200
    with pytest.raises(ClientError) as exc:
        new_role(iam, name.lower())
    assert error_of(exc) == ("EntityAlreadyExists",
                             f"Role with name {name.lower()} already exists.", 409)


def test_create_role_duplicate(iam):
    name = unique()
    new_role(iam, name)
    with pytest.raises(ClientError) as exc:
        new_role(iam, name)
    assert error_of(exc) == ("EntityAlreadyExists", f"Role with name {name} already exists.", 409)


@pytest.mark.parametrize("document,message", [
    ("not json", "This policy contains invalid Json"),
    ('{"Version": "2012-10-17", "Statement": [', "This policy contains invalid Json"),
    ('["a"]', "This policy contains invalid Json"),
    (json.dumps({"Version": "2012-10-17", "Statement": [dict(
        LAMBDA_TRUST["Statement"][0], Resource="*")]}), "Has prohibited field Resource"),
    (json.dumps({"Version": "2012-10-17", "Statement": [dict(
        LAMBDA_TRUST["Statement"][0], Effect="allow")]}), "The policy failed legacy parsing"),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}),
     "Policy statement must contain actions."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "AssumeRole"}]}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (json.dumps({"Version": "2019-01-01", "Statement": LAMBDA_TRUST["Statement"]}),
     "The policy failed legacy parsing"),
])
def test_create_role_malformed_trust_policy(iam, document, message):
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=document)
    assert error_of(exc) == ("MalformedPolicyDocument", message, 400)


def test_create_role_validates_inputs_against_the_model(server):
    unchecked = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                             aws_access_key_id="test", aws_secret_access_key="test",
                             config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as exc:
        new_role(unchecked, MaxSessionDuration=60)
    code, message, status = error_of(exc)
    assert (code, status) == ("ValidationError", 400)
    assert "maxSessionDuration" in message


def test_get_role_missing(iam):
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="no-such-role")
    assert error_of(exc) == ("NoSuchEntity", "The role with name no-such-role cannot be found.",
                             404)


def test_delete_role_conflicts_then_deletes(iam):
    name = unique()
    new_role(iam, name)
    iam.attach_role_policy(RoleName=name, PolicyArn=BASIC)
    iam.put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=json.dumps(LOGS_POLICY))
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert error_of(exc) == ("DeleteConflict",
                             "Cannot delete entity, must detach all policies first.", 409)
    iam.detach_role_policy(RoleName=name, PolicyArn=BASIC)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert error_of(exc) == ("DeleteConflict", "Cannot delete entity, must delete policies first.",
                             409)
    iam.delete_role_policy(RoleName=name, PolicyName="logs")
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert error_of(exc)[0] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert error_of(exc) == ("NoSuchEntity", f"The role with name {name} cannot be found.", 404)


def test_list_roles_path_prefix_and_pagination(iam):
    path = f"/{unique('p')}/"
    names = sorted(unique() for _ in range(5))
    for name in names:
        new_role(iam, name, Path=path, Description="listed")
    new_role(iam, Path=f"{path}deeper/")
    listed = iam.list_roles(PathPrefix=path)
    assert len(listed["Roles"]) == 6 and listed["IsTruncated"] is False
    assert "Marker" not in listed
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = iam.list_roles(PathPrefix=path, MaxItems=2, **kwargs)
        pages += 1
        seen += [r["RoleName"] for r in page["Roles"] if r["Path"] == path]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert pages == 3 and seen == names
    role = next(r for r in listed["Roles"] if r["RoleName"] == names[0])
    assert role["Description"] == "listed" and role["MaxSessionDuration"] == 3600
    assert "Tags" not in role and "RoleLastUsed" not in role
    assert role["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    everything = [r["RoleName"] for r in iam.get_paginator("list_roles").paginate(
        PaginationConfig={"PageSize": 3}).build_full_result()["Roles"]]
    assert set(names) <= set(everything)


def test_update_role_and_trust_policy(iam):
    name = unique()
    new_role(iam, name)
    iam.update_role(RoleName=name, Description="new words", MaxSessionDuration=43200)
    role = iam.get_role(RoleName=name)["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("new words", 43200)
    ec2_trust = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]},
        "Action": ["sts:AssumeRole"]}}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(ec2_trust))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == ec2_trust
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument="{")
    assert error_of(exc) == ("MalformedPolicyDocument", "This policy contains invalid Json", 400)
    with pytest.raises(ClientError) as exc:
        iam.update_role(RoleName="no-such-role", Description="x")
    assert error_of(exc)[0] == "NoSuchEntity"


def test_role_tags(iam):
    name = unique()
    new_role(iam, name, Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_role(RoleName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "3"}])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "A", "Value": "3"},
                                                         {"Key": "b", "Value": "2"}]
    iam.untag_role(RoleName=name, TagKeys=["a"])
    tags = iam.list_role_tags(RoleName=name)
    assert tags["Tags"] == [{"Key": "b", "Value": "2"}] and tags["IsTruncated"] is False
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        iam.tag_role(RoleName=name, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert error_of(exc)[0::2] == ("LimitExceeded", 409)


# ---- attached managed policies -----------------------------------------------------------------


def test_attach_detach_and_list(iam):
    name = unique()
    new_role(iam, name)
    iam.attach_role_policy(RoleName=name, PolicyArn=BASIC)
    iam.attach_role_policy(RoleName=name, PolicyArn=VPC_ACCESS)
    iam.attach_role_policy(RoleName=name, PolicyArn=BASIC)  # twice is fine
    attached = iam.list_attached_role_policies(RoleName=name)
    assert attached["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC},
        {"PolicyName": "AWSLambdaVPCAccessExecutionRole", "PolicyArn": VPC_ACCESS}]
    assert attached["IsTruncated"] is False
    assert iam.list_attached_role_policies(RoleName=name, PathPrefix="/other/")[
        "AttachedPolicies"] == []
    page = iam.list_attached_role_policies(RoleName=name, MaxItems=1)
    assert page["IsTruncated"] is True and len(page["AttachedPolicies"]) == 1
    iam.detach_role_policy(RoleName=name, PolicyArn=BASIC)
    assert [a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=name)[
        "AttachedPolicies"]] == [VPC_ACCESS]
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName=name, PolicyArn=BASIC)
    assert error_of(exc) == ("NoSuchEntity", f"Policy {BASIC} was not found.", 404)


def test_attach_errors(iam):
    name = unique()
    new_role(iam, name)
    missing = "arn:aws:iam::aws:policy/NoSuchPolicyAnywhere"
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=name, PolicyArn=missing)
    assert error_of(exc) == ("NoSuchEntity",
                             f"Policy {missing} does not exist or is not attachable.", 404)
    local = f"arn:aws:iam::{ACCOUNT}:policy/not-created-{name}"
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=name, PolicyArn=local)
    assert error_of(exc) == ("NoSuchEntity",
                             f"Policy {local} does not exist or is not attachable.", 404)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="no-such-role", PolicyArn=BASIC)
    assert error_of(exc) == ("NoSuchEntity", "The role with name no-such-role cannot be found.",
                             404)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=name, PolicyArn="AWSLambdaBasicExecutionRole")
    assert error_of(exc) == ("InvalidInput", "ARN AWSLambdaBasicExecutionRole is not valid.", 400)


def test_attach_quota(iam):
    name = unique()
    new_role(iam, name)
    arns = [iam.create_policy(PolicyName=unique("q"), PolicyDocument=json.dumps(LOGS_POLICY))[
        "Policy"]["Arn"] for _ in range(11)]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=name, PolicyArn=arns[10])
    assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 10", 409)


# ---- AWS managed policies ----------------------------------------------------------------------


@pytest.mark.parametrize("arn,path", sorted(AWS_MANAGED.items()))
def test_aws_managed_policies_exist(iam, arn, path):
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["Arn"] == arn and policy["Path"] == path
    assert policy["PolicyName"] == arn.rsplit("/", 1)[1]
    assert re.fullmatch(r"ANPA[A-Z0-9]{17}", policy["PolicyId"])
    assert policy["IsAttachable"] is True and policy["Description"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    assert version["PolicyVersion"]["IsDefaultVersion"] is True
    assert version["PolicyVersion"]["Document"]["Statement"]


def test_vpc_access_execution_role_document(iam):
    policy = iam.get_policy(PolicyArn=VPC_ACCESS)["Policy"]
    assert (policy["PolicyId"], policy["DefaultVersionId"]) == ("ANPAJVTME3YLVNL72YR2K", "v3")
    document = iam.get_policy_version(PolicyArn=VPC_ACCESS, VersionId="v3")[
        "PolicyVersion"]["Document"]
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
    assert statement["Action"] == [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses"]
    basic = iam.get_policy_version(PolicyArn=BASIC, VersionId="v1")["PolicyVersion"]["Document"]
    assert basic["Statement"][0]["Action"] == [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    with pytest.raises(ClientError) as exc:
        iam.get_policy_version(PolicyArn=VPC_ACCESS, VersionId="v1")
    assert error_of(exc)[0::2] == ("NoSuchEntity", 404)


def test_list_policies_scopes_and_only_attached(iam):
    aws = {p["Arn"] for p in iam.get_paginator("list_policies").paginate(
        Scope="AWS").build_full_result()["Policies"]}
    assert set(AWS_MANAGED) <= aws
    local_arn = iam.create_policy(PolicyName=unique("local"),
                                  PolicyDocument=json.dumps(LOGS_POLICY))["Policy"]["Arn"]
    local = {p["Arn"] for p in iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]}
    assert local_arn in local and not local & aws
    name = unique()
    new_role(iam, name)
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    attached = iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    s3 = next(p for p in attached if p["PolicyName"] == "AmazonS3FullAccess")
    assert s3["AttachmentCount"] >= 1
    assert all(p["AttachmentCount"] > 0 for p in attached)
    assert "Description" not in s3
    service_role = iam.list_policies(Scope="AWS", PathPrefix="/service-role/")["Policies"]
    assert {p["Path"] for p in service_role} == {"/service-role/"}


# ---- customer managed policies -----------------------------------------------------------------


def test_customer_policy_lifecycle(iam):
    name = unique("pol")
    policy = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(LOGS_POLICY),
                               Path="/team/", Description="logs only")["Policy"]
    assert policy["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/team/{name}"
    assert re.fullmatch(r"ANPA[A-Z2-7]{17}", policy["PolicyId"])
    assert (policy["DefaultVersionId"], policy["AttachmentCount"], policy["IsAttachable"]) == (
        "v1", 0, True)
    got = iam.get_policy(PolicyArn=policy["Arn"])["Policy"]
    assert got["Description"] == "logs only" and got["Path"] == "/team/"
    assert iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v1")["PolicyVersion"][
        "Document"] == LOGS_POLICY
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(LOGS_POLICY))
    message = f"A policy called {name} already exists. Duplicate names are not allowed."
    assert error_of(exc) == ("EntityAlreadyExists", message, 409)

    role = unique()
    new_role(iam, role)
    iam.attach_role_policy(RoleName=role, PolicyArn=policy["Arn"])
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    entities = iam.list_entities_for_policy(PolicyArn=policy["Arn"])
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == [role]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=policy["Arn"])
    assert error_of(exc) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    iam.detach_role_policy(RoleName=role, PolicyArn=policy["Arn"])
    iam.delete_policy(PolicyArn=policy["Arn"])
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=policy["Arn"])
    assert error_of(exc) == ("NoSuchEntity", f"Policy {policy['Arn']} was not found.", 404)


def test_policy_versions(iam):
    arn = iam.create_policy(PolicyName=unique("ver"),
                            PolicyDocument=json.dumps(LOGS_POLICY))["Policy"]["Arn"]
    wider = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*",
                                                     "Resource": "*"}]}
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(wider),
                                   SetAsDefault=True)["PolicyVersion"]
    assert (v2["VersionId"], v2["IsDefaultVersion"]) == ("v2", True)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [
        ("v2", True), ("v1", False)]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc)[0::2] == ("DeleteConflict", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert error_of(exc) == ("DeleteConflict", "Cannot delete the default version of a policy.",
                             409)
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(LOGS_POLICY))
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(LOGS_POLICY))
    message = ("A managed policy can have up to 5 versions. Before you create a new version, "
               "you must delete an existing version.")
    assert error_of(exc) == ("LimitExceeded", message, 409)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v5")
    for version in ("v1", "v2", "v3", "v4"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version)
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v5"]
    iam.delete_policy(PolicyArn=arn)


@pytest.mark.parametrize("document,message", [
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]},
     "Policy statement must contain resources."),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]},
     "Policy statement must contain actions."),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                              "Resource": "*", "Principal": "*"}]},
     "Policy document should not specify a principal."),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get:Object",
                                              "Resource": "*"}]},
     "Actions/Condition can contain only one colon."),
])
def test_malformed_identity_policies(iam, document, message):
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=unique("bad"), PolicyDocument=json.dumps(document))
    assert error_of(exc) == ("MalformedPolicyDocument", message, 400)
    name = unique()
    new_role(iam, name)
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    assert error_of(exc) == ("MalformedPolicyDocument", message, 400)


# ---- inline policies ---------------------------------------------------------------------------


def test_inline_policies(iam):
    name = unique()
    new_role(iam, name)
    iam.put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=json.dumps(LOGS_POLICY))
    iam.put_role_policy(RoleName=name, PolicyName="AAA", PolicyDocument=json.dumps(LOGS_POLICY))
    got = iam.get_role_policy(RoleName=name, PolicyName="logs")
    assert (got["RoleName"], got["PolicyName"], got["PolicyDocument"]) == (
        name, "logs", LOGS_POLICY)
    listed = iam.list_role_policies(RoleName=name)
    assert listed["PolicyNames"] == ["AAA", "logs"] and listed["IsTruncated"] is False
    replaced = dict(LOGS_POLICY, Statement=[dict(LOGS_POLICY["Statement"][0], Action="logs:*")])
    iam.put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=json.dumps(replaced))
    assert iam.get_role_policy(RoleName=name, PolicyName="logs")["PolicyDocument"] == replaced
    iam.delete_role_policy(RoleName=name, PolicyName="AAA")
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["logs"]
    for call in (iam.get_role_policy, iam.delete_role_policy):
        with pytest.raises(ClientError) as exc:
            call(RoleName=name, PolicyName="AAA")
        assert error_of(exc) == ("NoSuchEntity", "The role policy with name AAA cannot be found.",
                                 404)
    with pytest.raises(ClientError) as exc:
        iam.list_role_policies(RoleName="no-such-role")
    assert error_of(exc)[0::2] == ("NoSuchEntity", 404)


# ---- documents are URL-encoded on the wire, as AWS sends them ----------------------------------


def test_documents_are_url_encoded_on_the_wire(server, iam):
    name = unique()
    trust = json.dumps(LAMBDA_TRUST)
    new_role(iam, name)
    iam.put_role_policy(RoleName=name, PolicyName="logs", PolicyDocument=json.dumps(LOGS_POLICY))
    encoded = urllib.parse.quote(trust, safe="")
    assert encoded.startswith("%7B%22Version%22%3A%20%222012-10-17%22")
    get_role = raw_query(server, Action="GetRole", RoleName=name)
    assert f"<AssumeRolePolicyDocument>{encoded}</AssumeRolePolicyDocument>" in get_role
    inline = raw_query(server, Action="GetRolePolicy", RoleName=name, PolicyName="logs")
    assert (f"<PolicyDocument>{urllib.parse.quote(json.dumps(LOGS_POLICY), safe='')}"
            "</PolicyDocument>") in inline
    version = raw_query(server, Action="GetPolicyVersion", PolicyArn=BASIC, VersionId="v1")
    assert "<Document>%7B%22Version%22%3A" in version
    assert "logs%3ACreateLogGroup" in version


# ---- the guide's exercise through the real aws CLI ---------------------------------------------


def run_bash(server, script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], check=False, env=server.env(), cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_exercise_step5_and_iam_cleanup(server, iam, tmp_path):
    # Step 5 verbatim; only `sleep` is stubbed (roles propagate at once here).
    step5 = guide_step(5)
    out = run_bash(server, "set -e\nsleep() { :; }\n" + step5, tmp_path)
    assert out.returncode == 0, out.stderr
    arn = f"arn:aws:iam::{ACCOUNT}:role/lambda-vpc-rds-role"
    assert f"Role ARN: {arn}\n" in out.stdout
    assert json.loads((tmp_path / "trust-policy.json").read_text()) == LAMBDA_TRUST
    role = iam.get_role(RoleName="lambda-vpc-rds-role")["Role"]
    assert role["Arn"] == arn and role["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    attached = iam.list_attached_role_policies(RoleName="lambda-vpc-rds-role")["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [BASIC, VPC_ACCESS]
    shown = server.aws("iam", "get-role", "--role-name", "lambda-vpc-rds-role")["Role"]
    assert shown["AssumeRolePolicyDocument"] == LAMBDA_TRUST

    cleanup = guide_step(8, "# Delete IAM role", "# Remove local files")
    out = run_bash(server, "set -e\n" + cleanup, tmp_path)
    assert out.returncode == 0, out.stderr
    missing = server.aws("iam", "get-role", "--role-name", "lambda-vpc-rds-role", check=False)
    assert missing.returncode != 0
    assert ("An error occurred (NoSuchEntity) when calling the GetRole operation: The role with "
            "name lambda-vpc-rds-role cannot be found.") in missing.stderr


def test_cli_create_role_then_delete_with_policies_attached(server, tmp_path):
    name = unique()
    (tmp_path / "trust.json").write_text(json.dumps(LAMBDA_TRUST))
    created = server.aws("iam", "create-role", "--role-name", name,
                         "--assume-role-policy-document", f"file://{tmp_path / 'trust.json'}")
    assert created["Role"]["RoleName"] == name
    server.aws("iam", "attach-role-policy", "--role-name", name, "--policy-arn", VPC_ACCESS)
    refused = server.aws("iam", "delete-role", "--role-name", name, check=False)
    assert refused.returncode != 0
    assert ("An error occurred (DeleteConflict) when calling the DeleteRole operation: Cannot "
            "delete entity, must detach all policies first.") in refused.stderr
