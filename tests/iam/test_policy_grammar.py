"""IAM's policy grammar and tag rules through boto3 against a real server: every malformed
document answered with AWS's MalformedPolicyDocument message (the first of IAM's passes that
finds a problem names it), size quotas, and tag keys checked as IAM checks them."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.errors import error_and_status as error_of

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
BUCKET = "arn:aws:s3:::example_bucket"


@pytest.fixture(scope="module")
def iam(server):
    return server.client("iam")


@pytest.fixture(scope="module")
def role(iam):
    name = unique()
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    return name


def doc(statement, version="2012-10-17", **top) -> dict:
    out = {"Version": version} if version else {}
    return {**out, "Statement": statement, **top}


def allow(**fields) -> dict:
    """An allowing statement; a field given as None is left out."""
    statement = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET, **fields}
    return {k: v for k, v in statement.items() if v is not None}


def create_policy_error(iam, document) -> tuple[str, str, int]:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=unique("bad"), PolicyDocument=text)
    return error_of(exc)


SYNTAX = "Syntax errors in policy."
VERSION = "Policy document must be version 2012-10-17 or greater."
LEGACY = "The policy failed legacy parsing"

# (document, message): documents whose answers AWS gave for CreatePolicy.
MALFORMED = [
    ("This is not a json document", SYNTAX),
    (doc(allow(), version=None), VERSION),
    (doc(allow(), version="2008-10-17"), VERSION),
    (doc(allow(), version="2013-10-17"), SYNTAX),
    ({"Version": "2012-10-17"}, SYNTAX),
    (doc(["afd"]), SYNTAX),
    (doc([]), SYNTAX),
    (doc(allow(), **{"Extra field": "value"}), SYNTAX),
    (doc(allow(**{"Extra field": "value"})), SYNTAX),
    (doc(allow(), Id=["not", "a", "string"]), SYNTAX),
    (doc(allow(Effect="invalid")), SYNTAX),
    (doc({"Action": "s3:ListBucket", "Resource": BUCKET}), SYNTAX),
    (doc(allow(NotAction="iam:dsf")), SYNTAX),
    (doc(allow(NotResource="*")), SYNTAX),
    (doc(allow(Action={})), SYNTAX),
    (doc(allow(Action=[[]])), SYNTAX),
    (doc(allow(Resource={"a": BUCKET})), SYNTAX),
    (doc(allow(Sid={})), SYNTAX),
    (doc(allow(Condition=[])), SYNTAX),
    (doc(allow(Condition={"a": "b"})), SYNTAX),
    (doc(allow(Condition={"DateGreaterThan": {"a": {}}})), SYNTAX),
    (doc(allow(Condition={"x": {"a": "1"}})), SYNTAX),
    (doc(allow(Condition={"ForAnyValue::StringEqualsIfExists": {"a": "asf"}})), SYNTAX),
    (doc(allow(Effect="denY")), LEGACY),
    (doc(allow(Condition={"DateGreaterThan": {"a": "sdfdsf"}})), LEGACY),
    (doc(allow(Condition={"DateLessThanEquals": {"a": "234-13"}})), LEGACY),
    (doc(allow(Condition={"DateLessThan": {"a": "9223372036854775808"}})), LEGACY),
    (doc(allow(Resource="arn:aws:s3::example_bucket")), LEGACY),
    (doc(allow(Resource="arn:aws::fdsasf")), LEGACY),
    (doc([allow(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}]),
     "Statement IDs (SID) in a single policy must be unique."),
    (doc({"Effect": "Allow", "Resource": BUCKET}), "Policy statement must contain actions."),
    (doc(allow(Action=[])), "Policy statement must contain actions."),
    (doc({"Effect": "Allow", "Action": "invalid"}), "Policy statement must contain resources."),
    (doc(allow(Resource=[])), "Policy statement must contain resources."),
    (doc(allow(Principal="*")), "Policy document should not specify a principal."),
    (doc(allow(Resource="invalid resource")),
     'Resource invalid resource must be in ARN format or "*".'),
    (doc(allow(Resource="")), 'Resource  must be in ARN format or "*".'),
    (doc(allow(Resource="a:b:cadfsdf")),
     'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    (doc(allow(Resource="aws:s3:::example_bucket")),
     'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    (doc(allow(Resource="arn:aws")),
     "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc(allow(Resource="arn:aws:iam:us-east-1::example_bucket")),
     "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."),
    (doc(allow(Resource="arn:aws:s3:us-east-1::example_bucket")),
     "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
    (doc(allow(Resource="arn:aws:iam:::example_bucket")),
     ('IAM resource path must either be "*" or start with user/, federated-user/, role/, '
     "group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, "
     "oidc-provider/, report/, access-report/.")),
    (doc(allow(Action="invalid")),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc(allow(Action=None, NotAction="")),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc(allow(Action="s3:List:Bucket")), "Actions/Condition can contain only one colon."),
    (doc(allow(Action="a a:ListBucket")), "Vendor a a is not valid"),
]


@pytest.mark.parametrize("document,message", MALFORMED)
def test_create_policy_refuses_malformed_documents(iam, document, message):
    assert create_policy_error(iam, document) == ("MalformedPolicyDocument", message, 400)


VALID = [
    doc(allow(Resource=[BUCKET, "*"])),
    doc(allow(Action="*")),
    doc([allow()]),
    doc(allow(Action="iam: asdf safdsf af ")),
    doc(allow(Resource="arn:aws:iam:::user/example")),
    doc(allow(Resource="arn:aws:fdsasf")),
    doc(allow(Resource="arn:aws:ec2:us-east-1::example")),
    doc(allow(Condition={})),
    doc(allow(Condition={"a": {}})),
    doc(allow(Condition={"DateGreaterThan": {"a": []}})),
    doc(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}})),
    doc(allow(Condition={"Bool": {"aws:SecureTransport": False},
                         "NumericLessThanIfExists": {"s3:max-keys": 10},
                         "DateGreaterThan": {"aws:CurrentTime": "2017-07-01T00:00:00Z"},
                         "DateLessThan": {"aws:EpochTime": "1700000000"}})),
    doc(allow(Effect="Deny", NotAction=["iam:*"], Action=None, NotResource="*",
              Resource=None), Id="deny-iam"),
]


@pytest.mark.parametrize("document", VALID)
def test_create_policy_accepts_valid_documents(iam, document):
    arn = iam.create_policy(PolicyName=unique("ok"),
                            PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.delete_policy(PolicyArn=arn)


def test_create_policy_version_checks_the_same_grammar(iam):
    arn = iam.create_policy(PolicyName=unique(), PolicyDocument=json.dumps(doc(allow())))[
        "Policy"]["Arn"]
    for document, message in ((doc(allow(), version=None), VERSION),
                              (doc(allow(Resource="bucket")),
                               'Resource bucket must be in ARN format or "*".')):
        with pytest.raises(ClientError) as exc:
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document))
        assert error_of(exc) == ("MalformedPolicyDocument", message, 400)
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 1


def test_inline_policies_may_be_version_2008_or_have_none(iam, role):
    """Only managed policies must be 2012-10-17: an inline policy without a Version is read
    with the 2008-10-17 grammar, as AWS does."""
    for name, version in (("none", None), ("old", "2008-10-17")):
        iam.put_role_policy(RoleName=role, PolicyName=name,
                            PolicyDocument=json.dumps(doc(allow(), version=version)))
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == ["none", "old"]


@pytest.mark.parametrize("document,message", [
    ("not json", SYNTAX),
    (doc(allow(Resource="bucket")), 'Resource bucket must be in ARN format or "*".'),
    (doc(allow(Action="s3:ListBucket", NotAction="s3:GetObject")), SYNTAX),
    (doc(allow(Unknown=1)), SYNTAX),
    (doc({"Action": "s3:*", "Resource": "*"}), SYNTAX),
    (doc(allow(Condition={"StringEqualz": {"aws:username": "x"}})), SYNTAX),
    (doc(allow(Condition={"StringEquals": "x"})), SYNTAX),
])
def test_put_role_policy_refuses_malformed_documents(iam, role, document, message):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=role, PolicyName="bad", PolicyDocument=text)
    assert error_of(exc) == ("MalformedPolicyDocument", message, 400)


@pytest.mark.parametrize("statement,message", [
    ({**TRUST["Statement"][0], "NotAction": "sts:TagSession"}, SYNTAX),
    ({**TRUST["Statement"][0], "Extra": 1}, SYNTAX),
    ({k: v for k, v in TRUST["Statement"][0].items() if k != "Effect"}, SYNTAX),
    ({**TRUST["Statement"][0], "Effect": "Maybe"}, SYNTAX),
    ({**TRUST["Statement"][0], "Condition": {"StringLike": ["x"]}}, SYNTAX),
])
def test_trust_policies_are_checked_on_create_and_update(iam, role, statement, message):
    text = json.dumps(doc([statement]))
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique(), AssumeRolePolicyDocument=text)
    assert error_of(exc) == ("MalformedPolicyDocument", message, 400)
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=text)
    assert error_of(exc) == ("MalformedPolicyDocument", message, 400)


def test_trust_policy_without_version_is_accepted(iam):
    name = unique()
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        {"Statement": TRUST["Statement"]}))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == {
        "Statement": TRUST["Statement"]}


def test_trust_policy_size_quota(iam, role):
    services = [f"service{i:04d}.amazonaws.com" for i in range(80)]  # > 2,048 characters
    big = doc([{**TRUST["Statement"][0], "Principal": {"Service": services}}])
    for call in (lambda: iam.create_role(RoleName=unique(),
                                         AssumeRolePolicyDocument=json.dumps(big)),
                 lambda: iam.update_assume_role_policy(RoleName=role,
                                                       PolicyDocument=json.dumps(big))):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048",
                                 409)


def test_managed_policy_size_quota(iam):
    actions = [f"s3:Action{i:05d}" for i in range(400)]  # > 6,144 characters
    message = create_policy_error(iam, doc(allow(Action=actions)))
    assert message == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144", 409)


# ---- tags --------------------------------------------------------------------------------------

DUPLICATE = ("InvalidInput",
             "Duplicate tag keys found. Please note that Tag keys are case insensitive.", 400)


def test_duplicate_tag_keys_in_one_request_are_refused(iam, role):
    tags = [{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}]
    calls = {
        "CreateRole": lambda: iam.create_role(RoleName=unique(), Tags=tags,
                                              AssumeRolePolicyDocument=json.dumps(TRUST)),
        "TagRole": lambda: iam.tag_role(RoleName=role, Tags=tags),
        "CreatePolicy": lambda: iam.create_policy(PolicyName=unique(), Tags=tags,
                                                  PolicyDocument=json.dumps(doc(allow()))),
    }
    for call in calls.values():
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == DUPLICATE
    assert iam.list_role_tags(RoleName=role)["Tags"] == []
    # one request after another: the later key replaces the earlier one, as on AWS
    iam.tag_role(RoleName=role, Tags=tags[:1])
    iam.tag_role(RoleName=role, Tags=tags[1:])
    assert iam.list_role_tags(RoleName=role)["Tags"] == tags[1:]
    iam.untag_role(RoleName=role, TagKeys=["ENV"])


@pytest.mark.parametrize("tag,expected", [
    ({"Key": "a#b", "Value": "v"},
     ("ValidationError", ("1 validation error detected: Value 'a#b' at 'tags.1.member.key' "
      "failed to satisfy constraint: Member must satisfy regular expression pattern: "
      "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"), 400)),
    ({"Key": "ok", "Value": "semi;colon"},
     ("ValidationError", ("1 validation error detected: Value 'semi;colon' at "
      "'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular "
      "expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"), 400)),
    ({"Key": "aws:owner", "Value": "v"},
     ("InvalidInput", 'User-defined tag keys can\'t start with "aws:".', 400)),
    ({"Key": "k" * 129, "Value": "v"}, ("ValidationError", None, 400)),
])
def test_invalid_tags_are_refused(iam, role, tag, expected):
    for call in (lambda: iam.tag_role(RoleName=role, Tags=[tag]),
                 lambda: iam.create_policy(PolicyName=unique(), Tags=[tag],
                                           PolicyDocument=json.dumps(doc(allow())))):
        with pytest.raises(ClientError) as exc:
            call()
        code, message, status = error_of(exc)
        assert (code, status) == (expected[0], expected[2])
        if expected[1]:
            assert message == expected[1]
        else:
            assert "Member must have length less than or equal to 128" in message
    assert iam.list_role_tags(RoleName=role)["Tags"] == []


def test_unicode_letters_numbers_and_spaces_are_valid_tags(iam, role):
    tags = [{"Key": "Équipe données 2", "Value": "東京 ١٢٣ +-=._:/@"}]
    iam.tag_role(RoleName=role, Tags=tags)
    assert iam.list_role_tags(RoleName=role)["Tags"] == tags
    iam.untag_role(RoleName=role, TagKeys=[tags[0]["Key"]])
