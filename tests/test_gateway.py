"""The gateway over the wire: routing by credential scope / X-Amz-Target / Version / path, and
AWS-shaped errors for whatever a client may send — never a 500, never a hang.

Every service vpclocal serves is listed by the health endpoint (a dropped provider fails
there and in its protocol's tests); a service it does not serve answers UnknownService.
"""

from __future__ import annotations

import http.client
import json
import xml.etree.ElementTree as ET

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

# The services vpclocal serves, by botocore model name, as the health endpoint lists them.
SERVED = ["cloudformation", "cloudwatch", "dynamodb", "ec2", "elasticache", "events", "fis", "iam",
          "lambda", "logs", "rds", "s3", "scheduler", "ssm", "sts"]
EC2_VERSION = "2016-11-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def auth_header(service: str, region: str = "us-east-1") -> str:
    """A SigV4 Authorization header; vpclocal reads the credential scope (it does not check
    signatures)."""
    return (f"AWS4-HMAC-SHA256 Credential=test/20240101/{region}/{service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def call(server, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """One raw HTTP exchange: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def ec2_call(server, body: str | bytes, *, region: str | None = None, signed: bool = True):
    headers = {"Content-Type": FORM}
    if signed:
        headers["Authorization"] = auth_header("ec2", region or "us-east-1")
    raw = body.encode() if isinstance(body, str) else body
    return call(server, "POST", "/", raw, headers)


def ec2_error(body: bytes) -> tuple[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    assert root.findtext("RequestID")
    return root.findtext("Errors/Error/Code"), root.findtext("Errors/Error/Message")


def unvalidated_client(server, service: str):
    """A boto3 client that sends what it is given (no client-side parameter validation)."""
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(parameter_validation=False))


# ---- the internal endpoint --------------------------------------------------------------------


def test_health(server):
    status, headers, body = call(server, "GET", "/_vpclocal/health")
    assert status == 200
    assert headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "running"
    assert health["services"] == SERVED


def test_unknown_internal_path(server):
    status, _, body = call(server, "GET", "/_vpclocal/nope")
    assert status == 404
    assert "/_vpclocal/nope" in json.loads(body)["error"]


# ---- EC2 (ec2 protocol) ------------------------------------------------------------------------


def test_unknown_ec2_action(server):
    status, headers, body = ec2_call(server, f"Action=FlyToTheMoon&Version={EC2_VERSION}")
    assert status == 400
    assert headers["content-type"].startswith("text/xml")
    assert ec2_error(body) == (
        "InvalidAction", "The action FlyToTheMoon is not valid for this web service.")


def test_request_without_action(server):
    status, _, body = ec2_call(server, f"Version={EC2_VERSION}")
    assert status == 400
    code, message = ec2_error(body)
    assert code == "MissingAction"
    assert "Action" in message


def test_empty_request(server):
    status, _, body = ec2_call(server, b"")
    assert status == 400
    assert ec2_error(body)[0] == "MissingAction"


def test_wrong_parameter_type(server):
    status, _, body = ec2_call(server, f"Action=DescribeVpcs&Version={EC2_VERSION}"
                                       "&MaxResults=abc")
    assert status == 400
    assert ec2_error(body) == (
        "InvalidParameterValue", "Value ( abc ) for parameter maxResults is invalid.")


def test_missing_parameter(server):
    status, _, body = ec2_call(server, f"Action=CreateSubnet&Version={EC2_VERSION}"
                                       "&CidrBlock=10.0.0.0/24")
    assert status == 400
    assert ec2_error(body) == (
        "MissingParameter", "The request must contain the parameter VpcId")


@pytest.mark.parametrize("body", [
    b"Action=DescribeVpcs&Filter=abc",
    b"Action=DescribeVpcs&Filter.1.Name.x=abc",
    b"Action=DescribeVpcs&Filter.1=abc",
    b"Action=DescribeVpcs&Filter.x.Name=cidr&Filter.x.Value.1=10.0.0.0/16",
    b"Action=DescribeVpcs&VpcId.99999999999999999999=vpc-1",
    b"Action=DescribeVpcs&DryRun=maybe",
    b"Action=CreateVpc&CidrBlock=",
    b"Action=CreateVpc&CidrBlock=10.0.0.0/16&TagSpecification.1.Tag.1.Key=a",
    b"Action=CreateVpc&CidrBlock=\xff\xfe&Version=2016-11-15",
    b"Action=DescribeVpcs&%%%=&&==",
    b"Action=DescribeVpcs&MaxResults=99999999999999999999999",
    b"Action=DescribeVpcs&MaxResults=1e3",
    b"Action=Describe%00Vpcs",
    b"\x00\x01\x02",
])
def test_malformed_ec2_requests_never_500(server, body):
    status, _, reply = ec2_call(server, body)
    assert status < 500, reply
    ET.fromstring(reply)  # always a well-formed XML document


def test_get_request_with_query_string(server):
    status, _, body = call(server, "GET", f"/?Action=DescribeVpcs&Version={EC2_VERSION}",
                           headers={"Authorization": auth_header("ec2")})
    assert status == 200, body
    assert ET.fromstring(body).tag.endswith("DescribeVpcsResponse")


def test_unsigned_ec2_request_routed_by_version(server):
    status, _, body = ec2_call(server, f"Action=DescribeVpcs&Version={EC2_VERSION}",
                               signed=False)
    assert status == 200, body
    assert ET.fromstring(body).tag.endswith("DescribeVpcsResponse")
    status, _, body = call(server, "GET", f"/?Action=DescribeVpcs&Version={EC2_VERSION}")
    assert status == 200, body


def test_unroutable_request(server):
    status, _, body = call(server, "POST", "/", b"hello", {"Content-Type": "text/plain"})
    assert status == 400
    assert json.loads(body)["__type"] == "UnknownService"


def test_region_comes_from_the_credential_scope(server):
    west = server.client("ec2", region="us-west-2")
    east = server.client("ec2", region="us-east-1")
    vpc_id = west.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    try:
        assert vpc_id in {v["VpcId"] for v in west.describe_vpcs()["Vpcs"]}
        assert vpc_id not in {v["VpcId"] for v in east.describe_vpcs()["Vpcs"]}
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            east.describe_vpcs(VpcIds=[vpc_id])
        assert caught.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"
        # the same raw request, signed for either region
        body = f"Action=DescribeVpcs&Version={EC2_VERSION}&VpcId.1={vpc_id}"
        assert ec2_call(server, body, region="us-west-2")[0] == 200
        assert ec2_call(server, body, region="us-east-1")[0] == 400
    finally:
        west.delete_vpc(VpcId=vpc_id)


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-central-1"])
def test_each_region_has_its_default_vpc(server, region):
    client = server.client("ec2", region=region)
    defaults = client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(defaults) == 1
    assert defaults[0]["CidrBlock"] == "172.31.0.0/16"
    zones = {s["AvailabilityZone"] for s in client.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [defaults[0]["VpcId"]]}])["Subnets"]}
    assert zones and all(z.startswith(region) for z in zones)


def test_default_vpcs_differ_between_regions(server):
    ids = set()
    for region in ("us-east-1", "us-west-2"):
        vpcs = server.client("ec2", region=region).describe_vpcs(
            Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        ids.add(vpcs[0]["VpcId"])
    assert len(ids) == 2


def test_request_ids_are_unique(server):
    seen = set()
    for _ in range(3):
        body = ec2_call(server, f"Action=Nope&Version={EC2_VERSION}")[2]
        seen.add(ET.fromstring(body).findtext("RequestID"))
    assert len(seen) == 3


def test_keep_alive_connection_serves_many_requests(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(5):
            conn.request("POST", "/", body=f"Action=DescribeVpcs&Version={EC2_VERSION}",
                         headers={"Content-Type": FORM, "Authorization": auth_header("ec2")})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
    finally:
        conn.close()


# ---- services not served --------------------------------------------------------------------


@pytest.mark.parametrize("signing_name", ["sqs", "sns", "kinesis", "secretsmanager"])
def test_unserved_service(server, signing_name):
    assert signing_name not in SERVED
    status, _, body = call(server, "POST", "/", b"{}", {
        "Authorization": auth_header(signing_name), "Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body) == {
        "__type": "UnknownService",
        "message": f"vpclocal does not serve the service '{signing_name}'."}


def test_unserved_service_through_boto3(server):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        server.client("sqs").list_queues()
    assert caught.value.response["Error"]["Code"] == "UnknownService"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unsigned_unknown_target(server):
    status, _, body = call(server, "POST", "/", b"{}", {
        "X-Amz-Target": "NoSuchService_20200101.DoThing",
        "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400
    assert json.loads(body)["__type"] == "UnknownService"


# ---- query services (IAM, STS) ------------------------------------------------------------------


def test_query_unknown_action(server):
    status, _, body = call(server, "POST", "/", b"Action=Nope&Version=2010-05-08", {
        "Content-Type": FORM, "Authorization": auth_header("iam")})
    assert status == 400
    root = ET.fromstring(body)
    ns = {"a": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"a": ""}
    code = root.find("a:Error/a:Code", ns) if ns["a"] else root.find("Error/Code")
    assert code is not None and code.text == "InvalidAction"


def test_query_validation_error_over_the_wire(server):
    status, _, body = call(server, "POST", "/", b"Action=GetRole&Version=2010-05-08", {
        "Content-Type": FORM, "Authorization": auth_header("iam")})
    assert status == 400
    text = body.decode()
    assert "<Code>ValidationError</Code>" in text
    assert ("1 validation error detected: Value null at 'roleName' failed to satisfy "
            "constraint: Member must not be null") in text


def test_query_validation_error_through_boto3(server):
    client = unvalidated_client(server, "sts")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="x")
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy "
        "constraint: Member must have length greater than or equal to 2")


# ---- json services (CloudWatch Logs) -------------------------------------------------------------

LOGS_TARGET = "Logs_20140328"
LOGS_JSON = "application/x-amz-json-1.1"


def test_json_unknown_target_operation(server):
    status, _, body = call(server, "POST", "/", b"{}", {
        "X-Amz-Target": f"{LOGS_TARGET}.FlyToTheMoon", "Content-Type": LOGS_JSON,
        "Authorization": auth_header("logs")})
    assert status == 400
    assert json.loads(body)["__type"].endswith("UnknownOperationException")


def test_json_unsigned_request_routed_by_target(server):
    status, _, body = call(server, "POST", "/", b"{}", {
        "X-Amz-Target": f"{LOGS_TARGET}.DescribeLogGroups", "Content-Type": LOGS_JSON})
    assert status == 200, body
    assert "logGroups" in json.loads(body)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"logGroupNamePrefix": 5}',
                                  b"\xff\xfe"])
def test_json_malformed_body(server, body):
    status, _, reply = call(server, "POST", "/", body, {
        "X-Amz-Target": f"{LOGS_TARGET}.DescribeLogGroups", "Content-Type": LOGS_JSON,
        "Authorization": auth_header("logs")})
    assert status == 400
    assert json.loads(reply)["__type"].endswith("SerializationException")


def test_json_validation_error(server):
    status, _, reply = call(server, "POST", "/", b'{"logGroupName": "a:b"}', {
        "X-Amz-Target": f"{LOGS_TARGET}.CreateLogGroup", "Content-Type": LOGS_JSON,
        "Authorization": auth_header("logs")})
    assert status == 400
    error = json.loads(reply)
    assert error["__type"].endswith("InvalidParameterException")
    assert error["message"].startswith(
        "1 validation error detected: Value 'a:b' at 'logGroupName' failed to satisfy")


# ---- rest-json services (Lambda) -----------------------------------------------------------------


def lambda_call(server, method: str, path: str, body: bytes = b""):
    return call(server, method, path, body, {
        "Authorization": auth_header("lambda"), "Content-Type": "application/json"})


def test_rest_json_unknown_path(server):
    status, headers, _ = lambda_call(server, "GET", "/2015-03-31/no-such-thing")
    assert status == 404
    assert headers["x-amzn-errortype"].startswith("UnknownOperationException")


def test_rest_json_wrong_method(server):
    status, headers, _ = lambda_call(server, "PATCH", "/2015-03-31/functions/")
    assert 400 <= status < 500
    assert "x-amzn-errortype" in headers


def test_rest_json_malformed_body(server):
    status, headers, _ = lambda_call(server, "POST", "/2015-03-31/functions", b"{oops")
    assert status == 400
    assert headers["x-amzn-errortype"].startswith("SerializationException")


def test_rest_json_validation_error_through_boto3(server):
    client = unvalidated_client(server, "lambda")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.get_function(FunctionName="a b")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'functionName' failed to satisfy constraint" in \
        caught.value.response["Error"]["Message"]
