"""Bad input answered as AWS answers it (a 4xx in the protocol's error shape), never with a 500.

Each test sends what a client may send through boto3; where no serializer writes the bad value
(a timestamp of 1e300, a JSON null in a list, nesting 1,200 levels deep), a `before-send` hook
swaps it in for what botocore wrote, so the request still travels boto3's way and the error is
read by botocore's own parser.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.errors import error_and_status
from tests.test_gateway import auth_header, call

STAMP = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
# STAMP as botocore writes it: ISO 8601 (EC2), HTTP-date (S3: headers, query, XML), epoch (JSON)
ISO, HTTP_DATE, EPOCH = "2001-02-03T04:05:06Z", "Sat, 03 Feb 2001 04:05:06 GMT", "981173106"


def client(server, service: str, region: str = "us-east-1", **config):
    """A boto3 client sending what it is given (no client-side validation, no retries)."""
    return boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(parameter_validation=False,
                                      retries={"total_max_attempts": 1}, **config))


def rewriting(c, old: str, new: str | bytes, *, body: bytes | None = None):
    """The client's requests carry `new` wherever botocore wrote `old` (the URL, a header, the
    body), or `body` as their whole body."""
    def swap(request, **_):
        request.url = request.url.replace(old, new if isinstance(new, str) else new.decode())
        for name, value in list(request.headers.items()):
            text = value.decode() if isinstance(value, bytes) else value
            if old in text:
                request.headers[name] = text.replace(old, new)
        payload = request.body
        if isinstance(payload, str):
            payload = payload.encode()
        if body is not None:
            payload = body
        elif isinstance(payload, bytes):
            payload = payload.replace(old.encode(), new.encode() if isinstance(new, str) else new)
        if isinstance(payload, bytes):
            request.body = payload
            request.headers["Content-Length"] = str(len(payload))

    c.meta.events.register("before-send", swap)
    return c


def refused(call_, **kwargs) -> tuple[str, str, int, dict]:
    with pytest.raises(ClientError) as caught:
        call_(**kwargs)
    return (*error_and_status(caught), caught.value.response["Error"])


# ---- timestamps out of range -------------------------------------------------------------------

# a timestamp as text (query parameters, headers, XML) and as a JSON number
OUT_OF_RANGE = {"1e300": "1e300", "inf": "1e400", "-1e20": "-1e20",
                "99999999999999999999": "99999999999999999999"}


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_timestamps_out_of_range_in_query_parameters(server, text):
    ec2 = rewriting(client(server, "ec2"), quote(ISO, safe=""), quote(text))
    code, message, status, _ = refused(ec2.describe_network_insights_analyses,
                                       AnalysisStartTime=STAMP)
    assert (code, message, status) == (
        "InvalidParameterValue", f"Value ( {text} ) for parameter analysisStartTime is invalid.",
        400)


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_timestamps_out_of_range_in_s3_headers_and_query_strings(server, text):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="stamps")
    s3.put_object(Bucket="stamps", Key="k", Body=b"x")
    header = rewriting(client(server, "s3"), HTTP_DATE, text)
    code, _, status, error = refused(header.get_object, Bucket="stamps", Key="k",
                                     IfUnmodifiedSince=STAMP)
    assert (code, status, error["ArgumentName"], error["ArgumentValue"]) == (
        "InvalidArgument", 400, "If-Unmodified-Since", text)
    query = rewriting(client(server, "s3"), quote(HTTP_DATE, safe=""), quote(text))
    code, _, status, error = refused(query.get_object, Bucket="stamps", Key="k",
                                     ResponseExpires=STAMP)
    assert (code, status, error["ArgumentName"]) == ("InvalidArgument", 400, "response-expires")


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_timestamps_out_of_range_in_xml_and_json_bodies(server, text):
    server.client("s3").create_bucket(Bucket="stamps-xml")
    s3 = rewriting(client(server, "s3"), HTTP_DATE, text)
    code, _, status, _ = refused(s3.delete_objects, Bucket="stamps-xml", Delete={
        "Objects": [{"Key": "k", "LastModifiedTime": STAMP}]})
    assert (code, status) == ("MalformedXML", 400)
    cw = rewriting(client(server, "cloudwatch"), EPOCH, OUT_OF_RANGE[text])
    code, _, status, _ = refused(cw.get_metric_statistics, Namespace="n", MetricName="m",
                                 StartTime=STAMP, EndTime=dt.datetime.now(dt.UTC), Period=60,
                                 Statistics=["Sum"])
    assert (code, status) == ("SerializationException", 400)


# ---- page sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1])
def test_page_size_below_one_over_a_non_empty_list(server, size):
    ec2 = client(server, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    try:
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "page", "Value": "size"}])
        code, message, status, _ = refused(ec2.describe_tags, MaxResults=size)
        assert (code, message, status) == (
            "InvalidParameterValue", (f"Value ( {size} ) for parameter maxResults is invalid. "
            "Expecting a value greater than 1."), 400)
    finally:
        ec2.delete_vpc(VpcId=vpc)
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="pages")
    code, message, status, error = refused(s3.list_buckets, MaxBuckets=size)
    assert (code, message, status, error["ArgumentName"]) == (
        "InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000", 400,
        "max-buckets")


# ---- JSON documents: nesting, nulls, lone surrogates --------------------------------------------

# in a member no model names (which a parser skips), nested past vpclocal's limit (256 levels),
# past Python's recursion limit, and never closed
DEEP = [b'{"a":' * 300 + b"{}" + b"}" * 300, b'{"a":' + b"[" * 1200 + b"]" * 1200 + b"}",
        b"[" * 100_000]


@pytest.mark.parametrize("deep", DEEP, ids=["300 levels", "1200 levels", "unclosed"])
def test_json_nested_too_deeply(server, deep):
    calls = [
        ("dynamodb", lambda c: c.get_item(TableName="t", Key={"k": {"S": "v"}})),
        ("logs", lambda c: c.describe_log_groups()),
        ("cloudwatch", lambda c: c.list_metrics()),
        ("lambda", lambda c: c.create_alias(FunctionName="f", Name="a", FunctionVersion="1")),
    ]
    for service, send in calls:
        c = rewriting(client(server, service), "", "", body=deep)
        with pytest.raises(ClientError) as caught:
            send(c)
        assert error_and_status(caught)[::2] == ("SerializationException", 400), service


def test_cbor_nested_too_deeply(server, tmp_path):
    from tests.cloudwatch.test_metrics import cbor_only_session

    session = cbor_only_session(tmp_path)
    for deep in (b"\xa1\x61a" + b"\x81" * 300 + b"\x80",  # {"a": [[[...]]]}
                 b"\xa1\x61a" + b"\x81" * 100_000 + b"\x80"):
        cw = rewriting(session.client(
            "cloudwatch", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1})), "", "", body=deep)
        with pytest.raises(ClientError) as caught:
            cw.list_metrics()
        assert error_and_status(caught)[::2] == ("SerializationException", 400)


def test_json_null_where_a_value_is_expected(server):
    logs = rewriting(client(server, "logs"), '"logEvents": []', '"logEvents": [null]')
    assert refused(logs.put_log_events, logGroupName="g", logStreamName="s",
                   logEvents=[])[:3] == (
        "InvalidParameterException", ("1 validation error detected: Value null at "
        "'logEvents.1.member' failed to satisfy constraint: Member must not be null"), 400)
    ddb = rewriting(client(server, "dynamodb"), '"RequestItems": {}',
                    '"RequestItems": {"t": null}')
    assert refused(ddb.batch_write_item, RequestItems={})[:3] == (
        "ValidationException", ("1 validation error detected: Value null at 'requestItems.t' "
        "failed to satisfy constraint: Member must not be null"), 400)
    cw = rewriting(client(server, "cloudwatch"), '"Dimensions": []', '"Dimensions": [null]')
    assert refused(cw.list_metrics, Dimensions=[])[1:3] == (
        ("1 validation error detected: Value null at 'dimensions.1.member' failed to satisfy "
        "constraint: Member must not be null"), 400)
    for body in (b"null", b"[]", b"1"):
        ddb = rewriting(client(server, "dynamodb"), "", "", body=body)
        assert refused(ddb.list_tables)[::2] == ("SerializationException", 400)


def test_lone_surrogates_never_reach_the_store(server):
    ddb = client(server, "dynamodb")
    table = unique("t")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for item in ({"pk": {"S": "\ud800"}}, {"pk": {"S": "ok"}, "\udfff": {"N": "1"}}):
        assert refused(ddb.put_item, TableName=table, Item=item)[::2] == (
            "SerializationException", 400)
    assert ddb.scan(TableName=table)["Items"] == []
    logs = client(server, "logs")
    assert refused(logs.create_log_group, logGroupName="g\ud800")[::2] == (
        "SerializationException", 400)
    assert not [g for g in logs.describe_log_groups()["logGroups"]
                if g["logGroupName"].startswith("g") and len(g["logGroupName"]) == 2]


def test_cloudwatch_number_beyond_a_double(server):
    cw = rewriting(client(server, "cloudwatch"), '"Value": 7', '"Value": 1' + "0" * 400)
    assert refused(cw.put_metric_data, Namespace="n",
                   MetricData=[{"MetricName": "m", "Value": 7}])[::2] == (
        "SerializationException", 400)


# ---- S3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("member, wire, value, message", [
    ("ResponseContentDisposition", "response-content-disposition",
     'attachment; filename="\u0103.txt"', "Header value cannot be represented using ISO-8859-1."),
    ("ResponseContentType", "response-content-type", "text/plain\r\nX-Injected: 1",
     "Header value cannot hold control characters."),
    ("ResponseCacheControl", "response-cache-control", "no-\x00cache",
     "Header value cannot hold control characters."),
])
def test_s3_response_overrides_a_header_cannot_carry(server, member, wire, value, message):
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="overrides")
    s3.put_object(Bucket="overrides", Key="k", Body=b"x")
    code, got, status, error = refused(s3.get_object, Bucket="overrides", Key="k",
                                       **{member: value})
    assert (code, got, status) == ("InvalidArgument", message, 400)
    # (XML carries no NUL: S3's document shows U+FFFD for it)
    assert (error["ArgumentName"], error["ArgumentValue"]) == (wire, value.replace("\0", "\ufffd"))
    # a Latin-1 value is a header's
    fine = s3.get_object(Bucket="overrides", Key="k",
                         ResponseContentDisposition='attachment; filename="\u00e9.txt"')
    assert fine["ContentDisposition"] == 'attachment; filename="\u00e9.txt"'


def test_s3_bucket_tagging_without_a_tag_set(server):
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="tagging")
    for tagging in ({}, {"TagSet": [{"Key": "k"}]}):
        assert refused(s3.put_bucket_tagging, Bucket="tagging", Tagging=tagging)[:3] == (
            "MalformedXML", ("The XML you provided was not well-formed or did not validate "
            "against our published schema"), 400)
    assert refused(s3.put_bucket_tagging, Bucket="tagging")[:3] == (
        "MissingRequestBodyError", "Request Body is empty", 400)
    assert refused(s3.get_bucket_tagging, Bucket="tagging")[0] == "NoSuchTagSet"


# ---- the SigV4 scope's region ------------------------------------------------------------------


@pytest.mark.parametrize("service, operation, code, status", [
    ("ec2", "describe_vpcs", "SignatureDoesNotMatch", 403),
    ("sts", "get_caller_identity", "SignatureDoesNotMatch", 403),
    ("dynamodb", "list_tables", "InvalidSignatureException", 403),
    ("lambda", "list_functions", "InvalidSignatureException", 403),
    ("s3", "list_buckets", "AuthorizationHeaderMalformed", 400),
])
def test_a_credential_scoped_to_no_region(server, service, operation, code, status):
    c = client(server, service, region="mars-north-1")
    got_code, message, got_status, error = refused(getattr(c, operation))
    assert (got_code, got_status) == (code, status)
    if service == "s3":
        assert message == ("The authorization header is malformed; the region 'mars-north-1' "
                           "is wrong; expecting 'us-east-1'")
        assert error["Region"] == "us-east-1"
    else:
        assert message == "Credential should be scoped to a valid region, not 'mars-north-1'. "


@pytest.mark.parametrize("region", ["..", "", "US-EAST-1", "us-east-1 "])
def test_a_region_that_is_no_name_is_refused(server, region):
    status, _, body = call(server, "POST", "/", b"Action=CreateVpc&Version=2016-11-15"
                                                b"&CidrBlock=10.0.0.0/16",
                           {"Content-Type": "application/x-www-form-urlencoded",
                            "Authorization": auth_header("ec2", region)})
    assert status == 403, body
    assert b"<Code>SignatureDoesNotMatch</Code>" in body
