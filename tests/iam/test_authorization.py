"""IAM deciding requests made with credentials vpclocal issued (issue 13): a role session's
requests are allowed by its policies only, refused in each protocol's words; the account's
root (the default `test` key) keeps full access."""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import BIN, unique

ACCOUNT = "000000000000"
TRUST_ACCOUNT = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "sts:AssumeRole"}]}
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*") -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


class Session:
    """A role (trusting the account) and a session of it, with clients on its credentials."""

    def __init__(self, server, *inline: dict, trust: dict = TRUST_ACCOUNT) -> None:
        self.server = server
        iam = server.client("iam")
        self.role = unique("role")
        self.arn = iam.create_role(RoleName=self.role,
                                   AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        if inline:
            iam.put_role_policy(RoleName=self.role, PolicyName="p",
                                PolicyDocument=policy(*inline))
        self.credentials = server.client("sts").assume_role(
            RoleArn=self.arn, RoleSessionName="sess")["Credentials"]
        self.session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role}/sess"

    def client(self, service: str):
        c = self.credentials
        return boto3.client(service, endpoint_url=self.server.endpoint, region_name="us-east-1",
                            aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"])

    def env(self) -> dict[str, str]:
        c = self.credentials
        return dict(self.server.env(), AWS_ACCESS_KEY_ID=c["AccessKeyId"],
                    AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
                    AWS_SESSION_TOKEN=c["SessionToken"])


def refused(call) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def because(action: str) -> str:
    return f"because no identity-based policy allows the {action} action"


def test_a_session_without_policies_is_refused_in_each_protocols_words(server):
    s = Session(server)
    who = f"User: {s.session_arn} is not authorized to perform:"
    assert refused(lambda: s.client("lambda").list_functions()) == (
        "AccessDeniedException",
        f"{who} lambda:ListFunctions on resource: * {because('lambda:ListFunctions')}", 403)
    assert refused(lambda: s.client("dynamodb").describe_table(TableName="t")) == (
        "AccessDeniedException",
        (f"{who} dynamodb:DescribeTable on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:"
        f"table/t {because('dynamodb:DescribeTable')}"), 400)
    assert refused(lambda: s.client("s3").list_objects_v2(Bucket="b")) == (
        "AccessDenied",
        f'{who} s3:ListBucket on resource: "arn:aws:s3:::b" {because("s3:ListBucket")}', 403)
    assert refused(lambda: s.client("iam").get_role(RoleName=s.role)) == (
        "AccessDenied", (f"{who} iam:GetRole on resource: arn:aws:iam::{ACCOUNT}:role/{s.role} "
        f"{because('iam:GetRole')}"), 403)
    code, message, status = refused(lambda: s.client("ec2").describe_vpcs())
    assert (code, status) == ("UnauthorizedOperation", 403)
    prefix = (f"You are not authorized to perform this operation. {who} ec2:DescribeVpcs on "
              f"resource: * {because('ec2:DescribeVpcs')}. Encoded authorization failure "
              "message: ")
    assert message.startswith(prefix), message
    # the account's root may decode it
    decoded = json.loads(server.client("sts").decode_authorization_message(
        EncodedMessage=message[len(prefix):])["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "ec2:DescribeVpcs"
    assert decoded["context"]["principal"]["arn"] == s.session_arn
    # who it is needs no permission
    assert s.client("sts").get_caller_identity()["Arn"] == s.session_arn


def test_identity_policies_allow_and_an_explicit_deny_wins(server):
    s = Session(server, allow("ec2:Describe*"), allow("lambda:*"),
                deny("lambda:DeleteFunction"))
    assert isinstance(s.client("ec2").describe_vpcs()["Vpcs"], list)
    assert isinstance(s.client("lambda").list_functions()["Functions"], list)
    code, message, _ = refused(lambda: s.client("lambda").delete_function(FunctionName="f"))
    assert code == "AccessDeniedException"
    assert message.endswith("lambda:DeleteFunction on resource: arn:aws:lambda:us-east-1:"
                            f"{ACCOUNT}:function:f with an explicit deny in an identity-based "
                            "policy"), message
    code, _, _ = refused(lambda: s.client("ec2").create_vpc(CidrBlock="10.9.0.0/16"))
    assert code == "UnauthorizedOperation"  # only Describe* was allowed


def test_resources_and_conditions_narrow_what_is_allowed(server):
    s3 = server.client("s3")
    mine, other = unique("mine"), unique("other")
    for bucket in (mine, other):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s = Session(server, allow("s3:GetObject", f"arn:aws:s3:::{mine}/*"),
                allow("ec2:DescribeVpcs", Condition={
                    "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}))
    assert s.client("s3").get_object(Bucket=mine, Key="k")["Body"].read() == b"v"
    code, message, _ = refused(lambda: s.client("s3").get_object(Bucket=other, Key="k"))
    assert code == "AccessDenied" and f'"arn:aws:s3:::{other}/k"' in message
    code, _, _ = refused(lambda: s.client("ec2").describe_vpcs())  # us-east-1: not allowed
    assert code == "UnauthorizedOperation"


def test_assume_role_follows_the_trust_policy(server):
    s = Session(server, allow("sts:AssumeRole"))
    iam = server.client("iam")
    trusting = iam.create_role(RoleName=unique("trusting"), AssumeRolePolicyDocument=json.dumps(
        TRUST_ACCOUNT))["Role"]["Arn"]
    lambda_only = iam.create_role(RoleName=unique("fn"), AssumeRolePolicyDocument=json.dumps(
        TRUST_LAMBDA))["Role"]["Arn"]
    sts = s.client("sts")
    out = sts.assume_role(RoleArn=trusting, RoleSessionName="chain")
    assert out["AssumedRoleUser"]["Arn"].endswith("/chain")
    assert refused(lambda: sts.assume_role(RoleArn=lambda_only, RoleSessionName="chain")) == (
        "AccessDenied", (f"User: {s.session_arn} is not authorized to perform: sts:AssumeRole "
        f"on resource: {lambda_only} because no role trust policy allows the sts:AssumeRole "
        "action"), 403)
    # trusted by the account, but this session's own policies do not allow it
    bare = Session(server)
    assert refused(lambda: bare.client("sts").assume_role(
        RoleArn=trusting, RoleSessionName="chain"))[1].endswith(because("sts:AssumeRole"))


def test_the_cli_shows_the_denial(server):
    s = Session(server)
    proc = subprocess.run([str(BIN / "aws"), "lambda", "list-functions"], env=s.env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 255, proc  # awscli (v1, from PyPI): a service error
    assert ("An error occurred (AccessDeniedException) when calling the ListFunctions "
            f"operation: User: {s.session_arn} is not authorized to perform: "
            "lambda:ListFunctions on resource: * because no identity-based policy allows the "
            "lambda:ListFunctions action") in proc.stderr


def test_iam_off_lets_every_key_do_anything(tmp_path):
    from tests.conftest import Server

    env = dict(os.environ, VPCLOCAL_IAM="off")
    old = os.environ.copy()
    os.environ.update(env)
    try:
        server = Server(tmp_path / "data").start()
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        s = Session(server)
        assert isinstance(s.client("ec2").describe_vpcs()["Vpcs"], list)
    finally:
        server.stop()


def user_client(server, service: str, key: dict):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"])


def test_a_users_keys_are_decided_by_its_and_its_groups_policies(server):
    iam = server.client("iam")
    name, group = unique("user"), unique("group")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    ec2 = user_client(server, "ec2", key)
    code, message, _ = refused(lambda: ec2.describe_vpcs())
    assert code == "UnauthorizedOperation" and f"User: {arn} is not authorized" in message
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="describe",
                         PolicyDocument=policy(allow("ec2:DescribeVpcs")))
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert isinstance(ec2.describe_vpcs()["Vpcs"], list)  # through its group
    assert user_client(server, "sts", key).get_caller_identity()["Arn"] == arn
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert refused(lambda: ec2.describe_vpcs())[0] == "InvalidClientTokenId"


def test_a_permissions_boundary_caps_what_policies_allow(server):
    iam = server.client("iam")
    boundary = iam.create_policy(PolicyName=unique("boundary"), PolicyDocument=policy(
        allow("s3:*")))["Policy"]["Arn"]
    s = Session(server, allow(["ec2:*", "s3:*"]))
    assert isinstance(s.client("ec2").describe_vpcs()["Vpcs"], list)
    iam.put_role_permissions_boundary(RoleName=s.role, PermissionsBoundary=boundary)
    code, message, _ = refused(lambda: s.client("ec2").describe_vpcs())
    assert code == "UnauthorizedOperation"
    assert ("because no permissions boundary allows the ec2:DescribeVpcs action. Encoded "
            in message), message
    assert isinstance(s.client("s3").list_buckets()["Buckets"], list)  # both allow S3


def test_resource_policies_grant_and_deny(server):
    s3, lam = server.client("s3"), server.client("lambda")
    s = Session(server)  # no identity policy at all
    bucket = unique("shared")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": s.arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/secret"}))
    assert s.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    code, message, _ = refused(lambda: s.client("s3").get_object(Bucket=bucket, Key="secret"))
    assert code == "AccessDenied"
    assert message.endswith("with an explicit deny in a resource-based policy"), message
    # a function policy that names the role lets its sessions invoke
    from tests.lambda_.conftest import BASIC, make_role, wait_state, zipped
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.12",
                        Role=make_role(server.client("iam"), BASIC), Handler="index.handler",
                        Code={"ZipFile": zipped()})
    wait_state(lam, name)
    mine = s.client("lambda")
    assert refused(lambda: mine.invoke(FunctionName=name))[0] == "AccessDeniedException"
    lam.add_permission(FunctionName=name, StatementId="role", Action="lambda:InvokeFunction",
                       Principal=s.arn)
    assert mine.invoke(FunctionName=name)["StatusCode"] == 200


def test_ec2_condition_keys_name_the_resources_vpc(server):
    ec2 = server.client("ec2")
    mine, other = (ec2.create_vpc(CidrBlock=block)["Vpc"]["VpcId"]
                   for block in ("10.20.0.0/16", "10.21.0.0/16"))
    groups = {vpc: ec2.create_security_group(VpcId=vpc, GroupName=unique("group"),
                                             Description="sg")["GroupId"]
              for vpc in (mine, other)}
    s = Session(server, allow("ec2:AuthorizeSecurityGroupIngress", Condition={"ArnEquals": {
        "ec2:Vpc": f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{mine}"}}))
    rule = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8"}
    s.client("ec2").authorize_security_group_ingress(GroupId=groups[mine], **rule)
    code, message, _ = refused(lambda: s.client("ec2").authorize_security_group_ingress(
        GroupId=groups[other], **rule))
    assert code == "UnauthorizedOperation"
    assert (f"ec2:AuthorizeSecurityGroupIngress on resource: arn:aws:ec2:us-east-1:{ACCOUNT}:"
            f"security-group/{groups[other]} because no identity-based policy") in message


def test_vpclocal_why_names_the_statement(server):
    s = Session(server, {"Sid": "ThroughMyEndpoint", "Effect": "Allow", "Action": "s3:GetObject",
                         "Resource": "arn:aws:s3:::data/*",
                         "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0abc"}}})

    def why(*args: str):
        return subprocess.run([str(BIN / "vpclocal"), "why", s.arn, *args],
                              env=server.env(), capture_output=True, text=True, timeout=60,
                              check=False)

    denied = why("s3:GetObject", "arn:aws:s3:::data/k")
    assert denied.returncode == 1, denied
    assert denied.stdout.splitlines() == [
        f"{s.arn} -> s3:GetObject on arn:aws:s3:::data/k: DENIED (implicit deny)",
        "  decided by: identity-based policy",
        (f"  AWS would answer: User: {s.arn} is not authorized to perform: s3:GetObject on "
        'resource: "arn:aws:s3:::data/k" because no identity-based policy allows the '
        "s3:GetObject action"),
        (f"  would allow it but for its condition ({s.role} inline policy p, "
        'ThroughMyEndpoint): {"StringEquals":{"aws:SourceVpce":"vpce-0abc"}}')]
    allowed = why("s3:GetObject", "arn:aws:s3:::data/k", "--context", "aws:SourceVpce=vpce-0abc",
                  "--json")
    assert allowed.returncode == 0, allowed
    got = json.loads(allowed.stdout)
    assert got["decision"] == "allowed"
    assert [x["statement"]["Sid"] for x in got["statements"]] == ["ThroughMyEndpoint"]
    missing = why("s3:GetObject", "--endpoint", "http://127.0.0.1:1")
    assert missing.returncode == 2 and "cannot reach the server" in missing.stderr


def test_ip_date_and_numeric_conditions(server):
    s = Session(server,
                allow("ec2:DescribeVpcs", Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                                                    "DateGreaterThan": {
                                                        "aws:CurrentTime": "2020-01-01T00:00:00Z"},
                                                    "NumericGreaterThan": {
                                                        "aws:EpochTime": "1577836800"}}),
                allow("ec2:DescribeSubnets", Condition={
                    "NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))
    assert isinstance(s.client("ec2").describe_vpcs()["Vpcs"], list)  # from loopback, now
    assert refused(lambda: s.client("ec2").describe_subnets())[0] == "UnauthorizedOperation"


def test_giving_a_function_a_role_needs_iam_pass_role(server):
    from tests.lambda_.conftest import BASIC, make_role, zipped

    execution = make_role(server.client("iam"), BASIC)
    s = Session(server, allow("lambda:CreateFunction"))
    create = {"Runtime": "python3.12", "Role": execution, "Handler": "index.handler",
              "Code": {"ZipFile": zipped()}}
    code, message, status = refused(lambda: s.client("lambda").create_function(
        FunctionName=unique("fn"), **create))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (f"User: {s.session_arn} is not authorized to perform: iam:PassRole on "
                       f"resource: {execution} {because('iam:PassRole')}")
    can = Session(server, allow("lambda:CreateFunction"), allow("iam:PassRole", execution,
                  Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}))
    name = unique("fn")
    assert can.client("lambda").create_function(FunctionName=name, **create)[
        "FunctionName"] == name
