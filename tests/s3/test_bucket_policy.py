"""Bucket policies (issue 13): PutBucketPolicy validated as S3 validates, GetBucketPolicy,
DeleteBucketPolicy, GetBucketPolicyStatus, through boto3 and the aws CLI, and the look-up the
authorizer reads them with."""

from __future__ import annotations

import json

import pytest

from tests.conftest import unique
from tests.errors import error
from tests.s3.test_s3 import client
from vpclocal.services.s3.policy import bucket_policy
from vpclocal.store import Store


@pytest.fixture(scope="module")
def s3(server):
    return client(server)


@pytest.fixture
def bucket(s3):
    name = unique("policy")
    s3.create_bucket(Bucket=name)
    return name


def endpoint_only(bucket: str) -> dict:
    """The classic policy: the bucket only through one gateway endpoint."""
    return {"Version": "2012-10-17", "Id": "endpoint-only", "Statement": [{
        "Sid": "Access-to-specific-VPCE-only", "Principal": "*", "Action": "s3:*",
        "Effect": "Deny",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]}


def reads(bucket: str, principal="*") -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": principal, "Action": ["s3:GetObject"],
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}


def test_put_get_delete(s3, bucket):
    document = endpoint_only(bucket)
    put = s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document, indent=4))
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    got = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    # given back compact, members in the order they were written
    assert got == json.dumps(document, separators=(",", ":"))
    status = s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]
    assert status == {"IsPublic": False}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(reads(bucket)))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": True}
    deleted = s3.delete_bucket_policy(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    missing = error(s3.get_bucket_policy, Bucket=bucket)
    assert (missing["Code"], missing["Message"], missing["BucketName"]) == (
        "NoSuchBucketPolicy", "The bucket policy does not exist", bucket)
    assert error(s3.get_bucket_policy_status, Bucket=bucket)["Code"] == "NoSuchBucketPolicy"
    # deleting a policy that is not there is no error
    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_unknown_bucket(s3):
    name = unique("nobucket")
    for call, kwargs in ((s3.get_bucket_policy, {}), (s3.delete_bucket_policy, {}),
                         (s3.put_bucket_policy, {"Policy": json.dumps(reads(name))})):
        assert error(call, Bucket=name, **kwargs)["Code"] == "NoSuchBucket"


FIRST_BYTE = "Policies must be valid JSON and the first byte must be '{'"


@pytest.mark.parametrize("mutate, message", [
    (lambda d, b: "Version: 2012-10-17", FIRST_BYTE),
    (lambda d, b: " " + json.dumps(d), FIRST_BYTE),
    (lambda d, b: json.dumps(d)[:-2], "This policy contains invalid Json"),
    (lambda d, b: d["Statement"][0].pop("Principal") and d,
     "Statement is missing required element"),
    (lambda d, b: d["Statement"][0].pop("Resource") and d,
     "Statement is missing required element"),
    (lambda d, b: d["Statement"][0].update(Effect="hello") or d, "Invalid effect: hello"),
    (lambda d, b: d["Statement"][0].update(Principal={"AWS": "somebody"}) or d,
     "Invalid principal in policy"),
    (lambda d, b: d["Statement"][0].update(Principal={"Nobody": "x"}) or d,
     "Invalid principal in policy"),
    (lambda d, b: d["Statement"][0].update(Action="invalid_action") or d,
     "Policy has invalid action"),
    (lambda d, b: d["Statement"][0].update(Resource="*") or d, "Policy has invalid resource"),
    (lambda d, b: d["Statement"][0].update(Resource="arn:aws:s3:::another-bucket/*") or d,
     "Policy has invalid resource"),
    (lambda d, b: d["Statement"][0].update(Resource=f"arn:aws:s3:::{b}") or d,
     "Action does not apply to any resource(s) in statement"),
    (lambda d, b: d["Statement"][0].update(Action=["s3:GetObject", "s3:ListBucket"]) or d,
     "Action does not apply to any resource(s) in statement"),
])
def test_malformed_policies(s3, bucket, mutate, message):
    changed = mutate(reads(bucket), bucket)
    text = changed if isinstance(changed, str) else json.dumps(changed)
    got = error(s3.put_bucket_policy, Bucket=bucket, Policy=text)
    assert (got["Code"], got["Message"]) == ("MalformedPolicy", message)
    assert error(s3.get_bucket_policy, Bucket=bucket)["Code"] == "NoSuchBucketPolicy"


def test_accepted_forms(s3, bucket):
    statements = [
        {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:role/r", "*"]},
         "Action": ["s3:Get*", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Deny", "Principal": {"Service": "logging.s3.amazonaws.com"},
         "Action": "s3:GetBucketObjectLockConfiguration", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "NotPrincipal": {"AWS": "123456789012"}, "Action": "*",
         "Resource": [f"arn:aws:s3:::{bucket[:4]}*"]},
    ]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": statements}))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"] == statements


def test_policy_size_limit(s3, bucket):
    document = reads(bucket)
    document["Statement"] *= 2 * 20480 // len(json.dumps(document["Statement"][0]))
    got = error(s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(document))
    assert got["Code"] == "MalformedPolicy"
    document["Statement"] = document["Statement"][:10]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))


def test_deleting_the_bucket_deletes_its_policy(s3, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(reads(bucket)))
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    assert error(s3.get_bucket_policy, Bucket=bucket)["Code"] == "NoSuchBucketPolicy"


def test_aws_cli_and_bucket_policy_read_through_the_server(server, s3, bucket, tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(endpoint_only(bucket), indent=2))
    server.aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", f"file://{path}")
    got = server.aws("s3api", "get-bucket-policy", "--bucket", bucket)
    assert json.loads(got["Policy"]) == endpoint_only(bucket)
    wrong = server.aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", str(path),
                       check=False)
    assert wrong.returncode != 0
    assert "MalformedPolicy" in wrong.stderr
    assert "Policies must be valid JSON and the first byte must be '{'" in wrong.stderr
    other = unique("nopolicy")
    s3.create_bucket(Bucket=other)
    store = Store(server.data_dir / "state.db")  # what the server committed
    try:
        view = store.view("us-east-1")  # any view: buckets are read from the global scope
        assert bucket_policy(view, bucket) == got["Policy"]
        assert bucket_policy(view, other) is None
        assert bucket_policy(view, unique("nobucket")) is None
    finally:
        store.close()
