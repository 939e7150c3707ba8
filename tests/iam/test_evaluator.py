"""The policy evaluator: identity-policy decisions, trust checks and the store adapters Lambda
uses. Pure functions, driven by tables of cases; the adapters run on an in-memory store."""

from __future__ import annotations

import json

import pytest

from vpclocal.services.base import RequestContext
from vpclocal.services.iam import LAMBDA_ENI_ACTIONS, role_allows, role_trusts
from vpclocal.services.iam.evaluator import (
    ALLOW,
    DENY,
    IMPLICIT_DENY,
    can_assume,
    decide,
    wildcard_match,
)
from vpclocal.services.iam.policies import aws_managed, default_document
from vpclocal.services.iam.provider import IamProvider
from vpclocal.store import Store


def allow(action, resource="*", **extra):
    return dict({"Effect": "Allow", "Action": action, "Resource": resource}, **extra)


def deny(action, resource="*", **extra):
    return dict({"Effect": "Deny", "Action": action, "Resource": resource}, **extra)


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


LAMBDA_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/fn"

# (policies, action, resource, expected)
DECISIONS = [
    ([doc(allow("ec2:CreateNetworkInterface"))], "ec2:CreateNetworkInterface", "*", ALLOW),
    ([doc(allow("ec2:CreateNetworkInterface"))], "ec2:DeleteNetworkInterface", "*", IMPLICIT_DENY),
    # actions match case-insensitively
    ([doc(allow("EC2:createnetworkinterface"))], "ec2:CreateNetworkInterface", "*", ALLOW),
    # `*` and `?` wildcards
    ([doc(allow("ec2:*"))], "ec2:AssignPrivateIpAddresses", "*", ALLOW),
    ([doc(allow("ec2:Describe*"))], "ec2:DescribeSubnets", "*", ALLOW),
    ([doc(allow("ec2:Describe*"))], "ec2:CreateNetworkInterface", "*", IMPLICIT_DENY),
    ([doc(allow("ec2:?escribeSubnets"))], "ec2:DescribeSubnets", "*", ALLOW),
    ([doc(allow("ec2:?Subnets"))], "ec2:DescribeSubnets", "*", IMPLICIT_DENY),
    ([doc(allow("*"))], "iam:CreateRole", "*", ALLOW),
    # Action as a list; Statement as a single object
    ([doc(allow(["logs:PutLogEvents", "ec2:DescribeSubnets"]))], "ec2:DescribeSubnets", "*",
     ALLOW),
    ([{"Version": "2012-10-17", "Statement": allow("s3:GetObject")}], "s3:GetObject", "*", ALLOW),
    # an explicit Deny wins, whatever the order and wherever it is
    ([doc(allow("*"), deny("ec2:CreateNetworkInterface"))], "ec2:CreateNetworkInterface", "*",
     DENY),
    ([doc(deny("ec2:Create*")), doc(allow("ec2:CreateNetworkInterface"))],
     "ec2:CreateNetworkInterface", "*", DENY),
    ([doc(allow("*"), deny("ec2:CreateNetworkInterface"))], "ec2:DescribeSubnets", "*", ALLOW),
    # NotAction
    ([doc({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})], "ec2:DescribeVpcs",
     "*", ALLOW),
    ([doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], "iam:CreateRole", "*",
     IMPLICIT_DENY),
    ([doc(allow("*"), {"Effect": "Deny", "NotAction": "logs:*", "Resource": "*"})],
     "ec2:DescribeVpcs", "*", DENY),
    ([doc(allow("*"), {"Effect": "Deny", "NotAction": "logs:*", "Resource": "*"})],
     "logs:PutLogEvents", "*", ALLOW),
    # resources: wildcards, case-sensitive, lists, NotResource
    ([doc(allow("logs:PutLogEvents", "arn:aws:logs:*:*:log-group:/aws/lambda/*"))],
     "logs:PutLogEvents", LAMBDA_ARN, ALLOW),
    ([doc(allow("logs:PutLogEvents", "arn:aws:logs:*:*:log-group:/aws/lambda/*"))],
     "logs:PutLogEvents", "arn:aws:logs:us-east-1:000000000000:log-group:/other", IMPLICIT_DENY),
    ([doc(allow("logs:PutLogEvents", "arn:aws:logs:*:*:log-group:/AWS/lambda/*"))],
     "logs:PutLogEvents", LAMBDA_ARN, IMPLICIT_DENY),
    ([doc(allow("logs:PutLogEvents", ["arn:aws:s3:::b", LAMBDA_ARN]))], "logs:PutLogEvents",
     LAMBDA_ARN, ALLOW),
    ([doc({"Effect": "Allow", "Action": "logs:*", "NotResource": LAMBDA_ARN})],
     "logs:PutLogEvents", LAMBDA_ARN, IMPLICIT_DENY),
    ([doc({"Effect": "Allow", "Action": "logs:*", "NotResource": LAMBDA_ARN})],
     "logs:PutLogEvents", "arn:aws:logs:us-east-1:000000000000:log-group:/x", ALLOW),
    # a specific resource pattern does not cover the "any resource" question
    ([doc(allow("ec2:CreateNetworkInterface", "arn:aws:ec2:*:*:network-interface/*"))],
     "ec2:CreateNetworkInterface", "*", IMPLICIT_DENY),
    # nothing at all
    ([], "ec2:DescribeSubnets", "*", IMPLICIT_DENY),
    ([doc()], "ec2:DescribeSubnets", "*", IMPLICIT_DENY),
    # documents as JSON text, as IAM stores them
    ([json.dumps(doc(allow("ec2:DescribeSubnets")))], "ec2:DescribeSubnets", "*", ALLOW),
]


@pytest.mark.parametrize("policies,action,resource,expected", DECISIONS)
def test_decide(policies, action, resource, expected):
    assert decide(policies, action, resource) == expected


# (condition block, request context, whether an Allow under it applies)
CONDITIONS = [
    ({"StringEquals": {"aws:SourceAccount": "111"}}, {"aws:SourceAccount": "111"}, True),
    ({"StringEquals": {"aws:SourceAccount": "111"}}, {"aws:SourceAccount": "222"}, False),
    ({"StringEquals": {"aws:SourceAccount": "111"}}, {}, False),
    ({"StringEquals": {"aws:sourceaccount": ["222", "111"]}}, {"aws:SourceAccount": "111"}, True),
    ({"StringNotEquals": {"aws:SourceAccount": "111"}}, {"aws:SourceAccount": "222"}, True),
    ({"StringNotEquals": {"aws:SourceAccount": "111"}}, {}, True),
    ({"StringLike": {"iam:PassedToService": "lambda.*"}},
     {"iam:PassedToService": "lambda.amazonaws.com"}, True),
    ({"StringEqualsIfExists": {"aws:SourceAccount": "111"}}, {}, True),
    ({"Null": {"aws:SourceArn": "true"}}, {}, True),
    ({"Null": {"aws:SourceArn": "false"}}, {}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:lambda:*:111:function:*"}},
     {"aws:SourceArn": "arn:aws:lambda:us-east-1:111:function:f"}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     {"aws:CurrentTime": "2030-01-01T00:00:00Z"}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     {"aws:CurrentTime": "2030-01-01T00:00:00Z"}, False),
    ({"DateLessThan": {"aws:EpochTime": "1577836800"}}, {"aws:EpochTime": "1500000000"}, True),
    ({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "10.0.0.0/8"]}},
     {"aws:SourceIp": "10.1.2.3"}, True),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "10.1.2.3"}, False),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "10.1.2.3"}, True),
    ({"IpAddress": {"aws:SourceIp": "not-a-network"}}, {"aws:SourceIp": "10.1.2.3"}, False),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, False),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, True),
    ({"SomeUnknownOperator": {"a": "1"}}, {"a": "1"}, False),  # not applied
    ({"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}}, {"a": "1", "b": "xy"}, True),
    ({"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}}, {"a": "1", "b": "yy"}, False),
]


@pytest.mark.parametrize("block,context,applies", CONDITIONS)
def test_conditions(block, context, applies):
    policy = doc(allow("iam:PassRole", Condition=block))
    assert decide([policy], "iam:PassRole", "*", context) == (ALLOW if applies else IMPLICIT_DENY)


@pytest.mark.parametrize("pattern,value,expected", [
    ("a*c", "abbbc", True), ("a*c", "ac", True), ("a?c", "abc", True), ("a?c", "abbc", False),
    ("a.c", "abc", False),    # only * and ? are special
    ("[ab]", "a", False), ("[ab]", "[ab]", True),
    ("*", "", True), ("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/l", True),
])
def test_wildcard_match(pattern, value, expected):
    assert wildcard_match(pattern, value) is expected


LAMBDA = "lambda.amazonaws.com"


def trust(*statements):
    return doc(*statements)


def trusts(principal, action="sts:AssumeRole", effect="Allow", **extra):
    return dict({"Effect": effect, "Principal": principal, "Action": action}, **extra)


# (trust policy, service, expected)
TRUSTS = [
    (trust(trusts({"Service": LAMBDA})), LAMBDA, True),
    (trust(trusts({"Service": [LAMBDA, "ec2.amazonaws.com"]})), LAMBDA, True),
    (trust(trusts({"Service": "ec2.amazonaws.com"})), LAMBDA, False),
    (trust(trusts({"Service": [LAMBDA]}, ["sts:AssumeRole", "sts:TagSession"])), LAMBDA, True),
    (trust(trusts({"Service": LAMBDA}, "sts:*")), LAMBDA, True),
    (trust(trusts({"Service": LAMBDA}, "sts:AssumeRoleWithSAML")), LAMBDA, False),
    (trust(trusts("*")), LAMBDA, True),
    (trust(trusts({"AWS": "*"})), LAMBDA, True),
    (trust(trusts({"AWS": "arn:aws:iam::111111111111:root"})), LAMBDA, False),
    (trust(trusts({"Service": LAMBDA}, effect="Deny")), LAMBDA, False),
    (trust(trusts("*"), trusts({"Service": LAMBDA}, effect="Deny")), LAMBDA, False),
    ({"Version": "2012-10-17", "Statement": trusts({"Service": LAMBDA})}, LAMBDA, True),
    (trust({"Effect": "Allow", "NotPrincipal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"}), LAMBDA, True),
    (trust(trusts({"Service": LAMBDA},
                  Condition={"StringEquals": {"aws:SourceAccount": "111"}})), LAMBDA, False),
    (trust(), LAMBDA, False),
    (json.dumps(trust(trusts({"Service": LAMBDA}))), LAMBDA, True),
]


@pytest.mark.parametrize("policy,service,expected", TRUSTS)
def test_can_assume(policy, service, expected):
    assert can_assume(policy, service) is expected


def test_can_assume_defaults_to_lambda_and_takes_a_context():
    policy = trust(trusts({"Service": LAMBDA},
                          Condition={"StringEquals": {"aws:SourceAccount": "111"}}))
    assert can_assume(policy, context={"aws:SourceAccount": "111"}) is True


# ---- AWS managed policies as data ---------------------------------------------------------------

VPC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
BASIC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.mark.parametrize("arn,action,expected", [
    (VPC_POLICY, "ec2:CreateNetworkInterface", ALLOW),
    (VPC_POLICY, "ec2:DescribeSubnets", ALLOW),
    (VPC_POLICY, "logs:PutLogEvents", ALLOW),
    (VPC_POLICY, "ec2:CreateVpc", IMPLICIT_DENY),
    (BASIC_POLICY, "logs:CreateLogStream", ALLOW),
    (BASIC_POLICY, "ec2:CreateNetworkInterface", IMPLICIT_DENY),
    ("arn:aws:iam::aws:policy/service-role/AWSLambdaENIManagementAccess",
     "ec2:UnassignPrivateIpAddresses", ALLOW),
    ("arn:aws:iam::aws:policy/AdministratorAccess", "ec2:CreateNetworkInterface", ALLOW),
    ("arn:aws:iam::aws:policy/PowerUserAccess", "ec2:CreateNetworkInterface", ALLOW),
    ("arn:aws:iam::aws:policy/PowerUserAccess", "iam:CreateRole", IMPLICIT_DENY),
    ("arn:aws:iam::aws:policy/AWSLambda_FullAccess", "ec2:CreateNetworkInterface", IMPLICIT_DENY),
    ("arn:aws:iam::aws:policy/service-role/AWSLambdaRole", "lambda:InvokeFunction", ALLOW),
])
def test_aws_managed_documents(arn, action, expected):
    assert decide([default_document(aws_managed()[arn])], action) == expected


# ---- store adapters: what Lambda calls ----------------------------------------------------------

ACCOUNT = "000000000000"
TRUST_LAMBDA = json.dumps(trust(trusts({"Service": LAMBDA})))


@pytest.fixture
def iam_store():
    """An in-memory store and a function that runs IAM operations against it."""
    store = Store()
    provider = IamProvider(app=None)

    def call(operation: str, **params):
        with store.transaction("global") as tx:
            ctx = RequestContext(ACCOUNT, "us-east-1", "rid", "iam", operation, app=None, tx=tx)
            return getattr(provider, operation)(ctx, params)

    yield store, call
    store.close()


def role_arn(name):
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_role_allows_with_managed_and_inline_policies(iam_store):
    store, call = iam_store
    call("create_role", RoleName="fn-role", AssumeRolePolicyDocument=TRUST_LAMBDA)
    with store.transaction("us-east-1") as tx:  # Lambda's transaction is regional
        assert role_allows(tx, role_arn("fn-role"), list(LAMBDA_ENI_ACTIONS)) == list(
            LAMBDA_ENI_ACTIONS)
    call("attach_role_policy", RoleName="fn-role", PolicyArn=BASIC_POLICY)
    call("attach_role_policy", RoleName="fn-role", PolicyArn=VPC_POLICY)
    with store.transaction("us-east-1") as tx:
        assert role_allows(tx, role_arn("fn-role"), list(LAMBDA_ENI_ACTIONS)) == []
        assert role_allows(tx, role_arn("fn-role"), ["ec2:CreateVpc"]) == ["ec2:CreateVpc"]
    call("put_role_policy", RoleName="fn-role", PolicyName="no-delete",
         PolicyDocument=json.dumps(doc(deny("ec2:DeleteNetworkInterface"))))
    with store.transaction("us-east-1") as tx:
        assert role_allows(tx, role_arn("fn-role"), list(LAMBDA_ENI_ACTIONS)) == [
            "ec2:DeleteNetworkInterface"]


def test_role_allows_with_a_customer_policy_follows_its_default_version(iam_store):
    store, call = iam_store
    call("create_role", RoleName="r2", AssumeRolePolicyDocument=TRUST_LAMBDA)
    arn = call("create_policy", PolicyName="eni",
               PolicyDocument=json.dumps(doc(allow("ec2:*NetworkInterface*"))))["Policy"]["Arn"]
    call("attach_role_policy", RoleName="r2", PolicyArn=arn)
    with store.transaction("us-east-1") as tx:
        assert role_allows(tx, role_arn("r2"), list(LAMBDA_ENI_ACTIONS)) == [
            "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    call("create_policy_version", PolicyArn=arn, SetAsDefault=True,
         PolicyDocument=json.dumps(doc(allow("ec2:*"))))
    with store.transaction("us-east-1") as tx:
        assert role_allows(tx, role_arn("r2"), list(LAMBDA_ENI_ACTIONS)) == []


def test_role_allows_unknown_role_allows_nothing(iam_store):
    store, _ = iam_store
    with store.transaction("us-east-1") as tx:
        assert role_allows(tx, role_arn("ghost"), ["logs:PutLogEvents"]) == ["logs:PutLogEvents"]


def test_role_trusts(iam_store):
    store, call = iam_store
    call("create_role", RoleName="lam", AssumeRolePolicyDocument=TRUST_LAMBDA, Path="/svc/")
    call("create_role", RoleName="ec2", AssumeRolePolicyDocument=json.dumps(
        trust(trusts({"Service": "ec2.amazonaws.com"}))))
    with store.transaction("us-east-1") as tx:
        assert role_trusts(tx, f"arn:aws:iam::{ACCOUNT}:role/svc/lam", LAMBDA) is True
        assert role_trusts(tx, role_arn("lam"), LAMBDA) is False  # the path is part of the ARN
        assert role_trusts(tx, role_arn("ec2"), LAMBDA) is False
        assert role_trusts(tx, role_arn("ec2"), "ec2.amazonaws.com") is True
        assert role_trusts(tx, role_arn("ghost"), LAMBDA) is False
