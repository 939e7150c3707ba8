"""Round trips through botocore's own serializers and parsers, for every operation we model.

Direction A (requests): botocore serializes example params exactly as a client would send them
(`create_serializer` + `prepare_request_dict` + `AWSRequest.prepare()`), the result is turned
into our `HttpRequest` the way the ASGI gateway does, and our protocol must find the operation
and parse back the very same params.

Direction B (responses): our protocol serializes an example result and botocore's parser
(`create_parser`) must read back the very same dict; errors must come back with their code and
message, and map to the modeled exception class a client would raise.

Example values come from the shapes themselves (tests/protocols/shape_examples.py).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from shape_examples import BLOB, STAMP, Examples
from wire import (
    SERVICES,
    botocore_parse,
    client,
    model,
    normalize,
    protocol_of,
    session,
    to_http_request,
)

from vpclocal.errors import ServiceError
from vpclocal.protocols import PROTOCOLS, HttpRequest, HttpResponse


def has_event_stream(shape) -> bool:
    return shape is not None and any(
        m.serialization.get("eventstream") for m in shape.members.values())


# Operations that share their method, URI and required members with another one: the wire
# cannot tell them apart, and the server answers as the current operation (which parses the
# same request).
SAME_WIRE = {
    ("s3", "GetBucketLifecycle"): "GetBucketLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "PutBucketLifecycleConfiguration",
    ("s3", "GetBucketNotification"): "GetBucketNotificationConfiguration",
    ("s3", "PutBucketNotification"): "PutBucketNotificationConfiguration",
    ("s3", "ListDirectoryBuckets"): "ListBuckets",  # directory buckets: S3 Express endpoints
}
# Requests whose XML has two members of one name (the deprecated notification shapes): left
# out of the request round trip, the model's XML is ambiguous.
REQUEST_SPECIAL = {("s3", "PutBucketNotification")}
# Responses a bare botocore parser cannot read back alone: GetBucketLocation's document is a
# bare <LocationConstraint> element (a botocore handler reads it; see TestRestXml), and the
# deprecated GetBucketNotification names two members "Event".
RESPONSE_SPECIAL = {("s3", "GetBucketLocation"), ("s3", "GetBucketNotification")}


def http_added(parsed: dict, params: dict) -> dict:
    """S3 models Content-Length as a header member: HTTP itself sends it (0 for no body)."""
    if "ContentLength" not in params and parsed.get("ContentLength") == 0:
        parsed = {k: v for k, v in parsed.items() if k != "ContentLength"}
    return parsed


def all_operations(left_out=frozenset()):
    for service in SERVICES:
        for name in model(service).operation_names:
            if (service, name) not in left_out:
                yield pytest.param(service, name, id=f"{service}.{name}")


# Responses this round trip leaves out: RESPONSE_SPECIAL, and event streams (the protocol layer
# does not serialize them).
RESPONSE_LEFT_OUT = RESPONSE_SPECIAL | {
    (service, name) for service in SERVICES for name in model(service).operation_names
    if has_event_stream(model(service).operation_model(name).output_shape)}


# ---- direction A: requests ------------------------------------------------------------------


@pytest.mark.parametrize(("service", "operation"), list(all_operations(REQUEST_SPECIAL)))
def test_request_round_trip(service, operation):
    op = model(service).operation_model(operation)
    examples = Examples()
    params = examples.value(op.input_shape) if op.input_shape is not None else {}
    request = to_http_request(service, operation, params)
    protocol = protocol_of(service)
    request = protocol.prepare(request)
    assert protocol.operation_name(request, model(service)) == SAME_WIRE.get(
        (service, operation), operation)
    assert normalize(http_added(protocol.parse(request, op), params)) == normalize(params)


@pytest.mark.parametrize(("service", "operation"), list(all_operations()))
def test_request_with_only_required_members(service, operation):
    """The smallest valid request (required members only) parses too."""
    op = model(service).operation_model(operation)
    examples = Examples(max_depth=0)
    params = examples.value(op.input_shape) if op.input_shape is not None else {}
    request = to_http_request(service, operation, params)
    protocol = protocol_of(service)
    request = protocol.prepare(request)
    assert protocol.operation_name(request, model(service)) == SAME_WIRE.get(
        (service, operation), operation)
    assert normalize(http_added(protocol.parse(request, op), params)) == normalize(params)


# ---- direction B: responses -----------------------------------------------------------------


@pytest.mark.parametrize(("service", "operation"), list(all_operations(RESPONSE_LEFT_OUT)))
def test_response_round_trip(service, operation):
    op = model(service).operation_model(operation)
    result = Examples().value(op.output_shape) if op.output_shape is not None else {}
    response = protocol_of(service).serialize(op, result, "req-1")
    assert response.status < 300
    assert normalize(botocore_parse(service, operation, response)) == normalize(result)


# ---- errors ---------------------------------------------------------------------------------


def modeled_errors():
    for service in SERVICES:
        for shape in model(service).error_shapes:
            yield pytest.param(service, shape.name, id=f"{service}.{shape.name}")


@pytest.mark.parametrize(("service", "shape_name"), list(modeled_errors()))
def test_modeled_error_reaches_the_client_as_its_exception(service, shape_name):
    shape = model(service).shape_for(shape_name)
    code = shape.error_code  # the code a query(-compatible) client matches, else the name
    status = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    message = "Bad <thing> & 'quotes' é"
    error = ServiceError(message, code=code, status=status)
    response = protocol_of(service).serialize_error(model(service), error, "req-1")
    assert response.status == status
    parsed = botocore_parse(service, None, response)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == message
    exceptions = client(service).exceptions
    # several shapes may share one code (CloudWatch: ResourceNotFound, DashboardNotFoundError)
    sharing = {s.name for s in model(service).error_shapes if s.error_code == code}
    assert exceptions.from_code(parsed["Error"]["Code"]).__name__ in sharing


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("code", "status", "sender"), [
    ("ValidationException", 400, True),
    ("InvalidParameterValue", 400, True),
    ("InvalidVpcID.NotFound", 400, True),
    ("InternalError", 500, False),
])
def test_unmodeled_error_code_and_message(service, code, status, sender):
    message = "1 validation error detected: Value '<x>' at 'a.b' failed & more"
    error = ServiceError(message, code=code, status=status, sender_fault=sender)
    response = protocol_of(service).serialize_error(model(service), error, "req-9")
    assert response.status == status
    parsed = create_parser(model(service).protocol).parse(
        {"status_code": response.status, "headers": HeadersDict(response.headers),
         "body": response.body}, None)
    expected = code
    shape = next((s for s in model(service).error_shapes if s.name == code), None)
    if shape is not None and "awsQueryCompatible" in model(service).metadata:
        expected = shape.error_code  # CloudWatch's ValidationException travels as ValidationError
    assert parsed["Error"]["Code"] == expected
    assert parsed["Error"]["Message"] == message
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


def test_query_compatible_error_carries_the_query_code():
    """CloudWatch (rpc-v2-cbor, awsQueryCompatible): a provider may raise with the shape's name
    or its query code; clients see the query code and the modeled exception either way."""
    service = model("cloudwatch")
    shape = service.shape_for("InvalidParameterValueException")
    assert shape.error_code == "InvalidParameterValue"
    for raised in ("InvalidParameterValue", "InvalidParameterValueException"):
        error = ServiceError("The value is bad.", code=raised)
        response = protocol_of("cloudwatch").serialize_error(service, error, "r")
        assert response.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
        parsed = botocore_parse("cloudwatch", None, response)
        assert parsed["Error"]["Code"] == "InvalidParameterValue"
        assert parsed["Error"]["Type"] == "Sender"
        assert parsed["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
        exceptions = client("cloudwatch").exceptions
        assert exceptions.from_code("InvalidParameterValue") is \
            exceptions.InvalidParameterValueException


def test_query_error_type_follows_the_fault():
    error = ServiceError("boom", code="ServiceFailure", status=500, sender_fault=False)
    response = protocol_of("iam").serialize_error(model("iam"), error, "r")
    parsed = botocore_parse("iam", None, response)
    assert parsed["Error"]["Type"] == "Receiver"
    assert parsed["Error"]["Code"] == "ServiceFailure"


# ---- hand-picked operations, spelled out ------------------------------------------------------


def request_round_trip(service: str, operation: str, params: dict) -> dict:
    request = to_http_request(service, operation, params)
    protocol = protocol_of(service)
    assert protocol.operation_name(request, model(service)) == operation
    parsed = protocol.parse(request, model(service).operation_model(operation))
    assert normalize(parsed) == normalize(params)
    return parsed


def response_round_trip(service: str, operation: str, result: dict) -> HttpResponse:
    op = model(service).operation_model(operation)
    response = protocol_of(service).serialize(op, result, "req-1")
    assert normalize(botocore_parse(service, operation, response)) == normalize(result)
    return response


class TestEc2:
    def test_create_vpc(self):
        parsed = request_round_trip("ec2", "CreateVpc", {
            "CidrBlock": "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock": False,
            "TagSpecifications": [{"ResourceType": "vpc",
                                   "Tags": [{"Key": "Name", "Value": "a&b <c>"}]}]})
        assert parsed["AmazonProvidedIpv6CidrBlock"] is False

    def test_describe_vpcs_filters(self):
        request_round_trip("ec2", "DescribeVpcs", {
            "Filters": [{"Name": "cidr", "Values": ["10.0.0.0/16", "10.1.0.0/16"]},
                        {"Name": "tag:Name", "Values": ["x"]}],
            "VpcIds": ["vpc-1", "vpc-2"], "MaxResults": 5, "NextToken": "t"})

    def test_authorize_security_group_ingress_nested(self):
        request_round_trip("ec2", "AuthorizeSecurityGroupIngress", {
            "GroupId": "sg-1",
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}],
                 "UserIdGroupPairs": [{"GroupId": "sg-2"}, {"GroupId": "sg-3"}]},
                {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                 "PrefixListIds": [{"PrefixListId": "pl-1"}]}]})

    def test_create_tags(self):
        request_round_trip("ec2", "CreateTags", {
            "Resources": ["vpc-1", "subnet-2"],
            "Tags": [{"Key": "Name", "Value": "x"}, {"Key": "env", "Value": ""}]})

    def test_describe_subnets_output(self):
        subnet = {
            "SubnetId": "subnet-1", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24",
            "AvailableIpAddressCount": 251, "MapPublicIpOnLaunch": False,
            "DefaultForAz": True, "State": "available", "AvailabilityZone": "us-east-1a",
            "Tags": [{"Key": "Name", "Value": "<a&b>"}],
            "Ipv6CidrBlockAssociationSet": [{
                "AssociationId": "a", "Ipv6CidrBlock": "2600::/64",
                "Ipv6CidrBlockState": {"State": "associated"}}],
        }
        response = response_round_trip("ec2", "DescribeSubnets",
                                       {"Subnets": [subnet, {**subnet, "SubnetId": "s-2"}]})
        assert b"<requestId>req-1</requestId>" in response.body

    def test_empty_tags_are_left_out(self):
        op = model("ec2").operation_model("DescribeVpcs")
        response = protocol_of("ec2").serialize(
            op, {"Vpcs": [{"VpcId": "vpc-1", "Tags": [], "IsDefault": False}]}, "r")
        assert b"tagSet" not in response.body
        parsed = botocore_parse("ec2", "DescribeVpcs", response)
        assert parsed["Vpcs"] == [{"VpcId": "vpc-1", "IsDefault": False}]

    def test_characters_xml_cannot_carry(self):
        op = model("ec2").operation_model("DescribeTags")
        value = "a\x00b\x1fc\rd\ne\tf \ud800 é <&>"
        response = protocol_of("ec2").serialize(op, {"Tags": [{"Key": "k", "Value": value}]}, "r")
        parsed = botocore_parse("ec2", "DescribeTags", response)  # well-formed, or this raises
        assert parsed["Tags"][0]["Value"] == "a\ufffdb\ufffdc\rd\ne\tf \ufffd é <&>"
        error = ServiceError("The action Describe\x00Vpcs is not valid", code="InvalidAction")
        response = protocol_of("ec2").serialize_error(model("ec2"), error, "r")
        assert botocore_parse("ec2", None, response)["Error"]["Message"] == \
            "The action Describe\ufffdVpcs is not valid"

    def test_empty_list_is_an_empty_wrapper(self):
        response = response_round_trip("ec2", "DescribeSubnets", {"Subnets": []})
        assert b"<subnetSet></subnetSet>" in response.body


class TestQuery:
    def test_iam_create_role(self):
        request_round_trip("iam", "CreateRole", {
            "RoleName": "r1", "Path": "/a/",
            "AssumeRolePolicyDocument": '{"Version":"2012-10-17","Statement":[]}',
            "MaxSessionDuration": 3600,
            "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}]})
        role = {"Path": "/", "RoleName": "r1", "RoleId": "AROA1", "Arn": "arn:aws:iam::1:role/r1",
                "CreateDate": dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
                "MaxSessionDuration": 3600}
        response = response_round_trip("iam", "CreateRole", {"Role": role})
        assert b"<CreateRoleResult>" in response.body
        assert b"2024-01-02T03:04:05.678Z" in response.body
        response_round_trip("iam", "GetRole", {"Role": role})
        response_round_trip("iam", "ListRoles", {"Roles": [role, role], "IsTruncated": False})

    def test_iam_empty_list_request(self):
        request = to_http_request("iam", "TagRole", {"RoleName": "r", "Tags": []})
        assert "Tags=" in request.body.decode()
        op = model("iam").operation_model("TagRole")
        assert protocol_of("iam").parse(request, op) == {"RoleName": "r", "Tags": []}

    def test_rds_create_and_describe_db_instance(self):
        request_round_trip("rds", "CreateDBInstance", {
            "DBInstanceIdentifier": "db1", "DBInstanceClass": "db.t3.micro", "Engine": "mysql",
            "AllocatedStorage": 20, "VpcSecurityGroupIds": ["sg-1", "sg-2"],
            "DBSubnetGroupName": "g", "PubliclyAccessible": False,
            "Tags": [{"Key": "a", "Value": "b"}]})
        instance = {
            "DBInstanceIdentifier": "db1", "DBInstanceStatus": "available",
            "Endpoint": {"Address": "db1.abc.us-east-1.rds.amazonaws.com", "Port": 3306,
                         "HostedZoneId": "Z1"},
            "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1", "Status": "active"}],
            "DBSubnetGroup": {"DBSubnetGroupName": "g", "VpcId": "vpc-1",
                              "SubnetGroupStatus": "Complete",
                              "Subnets": [{"SubnetIdentifier": "subnet-1",
                                           "SubnetAvailabilityZone": {"Name": "us-east-1a"},
                                           "SubnetStatus": "Active"}]},
            "InstanceCreateTime": STAMP, "MultiAZ": False,
        }
        response = response_round_trip("rds", "DescribeDBInstances",
                                       {"DBInstances": [instance], "Marker": "m"})
        # RDS lists name their members (locationName), not "member"
        assert b"<DBInstance>" in response.body and b"<VpcSecurityGroupMembership>" in response.body

    def test_elasticache(self):
        request_round_trip("elasticache", "CreateCacheCluster", {
            "CacheClusterId": "c1", "Engine": "redis", "NumCacheNodes": 1,
            "SecurityGroupIds": ["sg-1"], "CacheSubnetGroupName": "g"})
        response_round_trip("elasticache", "DescribeCacheClusters", {"CacheClusters": [{
            "CacheClusterId": "c1", "CacheNodes": [{
                "CacheNodeId": "0001", "Endpoint": {"Address": "10.0.0.5", "Port": 6379}}],
            "SecurityGroups": [{"SecurityGroupId": "sg-1", "Status": "active"}]}]})

    def test_sts_assume_role(self):
        request_round_trip("sts", "AssumeRole", {
            "RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1",
            "DurationSeconds": 900})
        response_round_trip("sts", "AssumeRole", {
            "Credentials": {"AccessKeyId": "ASIA1", "SecretAccessKey": "s",
                            "SessionToken": "t", "Expiration": STAMP},
            "AssumedRoleUser": {"AssumedRoleId": "AROA:s",
                                "Arn": "arn:aws:sts::1:assumed-role/r/s"}})


class TestJson:
    def test_logs_events(self):
        events = [{"timestamp": 1714979289123, "message": "hello <&> é"},
                  {"timestamp": 1714979289124, "message": "x"}]
        request_round_trip("logs", "PutLogEvents", {
            "logGroupName": "/aws/lambda/f", "logStreamName": "s", "logEvents": events})
        request_round_trip("logs", "GetLogEvents", {
            "logGroupName": "g", "logStreamName": "s", "startTime": 1, "endTime": 1 << 42,
            "startFromHead": True, "limit": 10})
        request_round_trip("logs", "FilterLogEvents", {
            "logGroupName": "g", "filterPattern": "ERROR", "logStreamNames": ["a", "b"],
            "startTime": 0, "interleaved": False})
        response = response_round_trip("logs", "GetLogEvents", {
            "events": [{**e, "ingestionTime": 1714979289999} for e in events],
            "nextForwardToken": "f/1", "nextBackwardToken": "b/1"})
        assert b'"timestamp":1714979289123' in response.body
        response_round_trip("logs", "FilterLogEvents", {"events": [
            {"logStreamName": "s", "timestamp": 1, "message": "m", "eventId": "1"}]})

    def test_dynamodb_attribute_values(self):
        item = {"pk": {"S": "a"}, "n": {"N": "1.5"}, "b": {"B": BLOB},
                "m": {"M": {"inner": {"L": [{"S": "x"}, {"BOOL": False}, {"NULL": True}]}}},
                "ss": {"SS": ["a", "b"]}, "bs": {"BS": [b"1", b"2"]}}
        request = to_http_request("dynamodb", "PutItem", {"TableName": "t", "Item": item})
        assert request.headers["x-amz-target"] == "DynamoDB_20120810.PutItem"
        dynamodb = session().get_service_model("dynamodb")
        parsed = PROTOCOLS["json"].parse(request, dynamodb.operation_model("PutItem"))
        assert parsed == {"TableName": "t", "Item": item}
        op = dynamodb.operation_model("GetItem")
        response = PROTOCOLS["json"].serialize(op, {"Item": item}, "r")
        back = create_parser("json").parse(
            {"status_code": 200, "headers": HeadersDict(response.headers),
             "body": response.body}, op.output_shape)
        assert back["Item"] == item


def test_json_target_of_another_service_is_no_operation():
    request = to_http_request("logs", "DescribeLogGroups", {})
    assert protocol_of("logs").operation_name(request, model("logs")) == "DescribeLogGroups"
    request.headers["x-amz-target"] = "DynamoDB_20120810.DescribeLogGroups"
    name = protocol_of("logs").operation_name(request, model("logs"))
    assert name not in model("logs").operation_names
    del request.headers["x-amz-target"]
    assert protocol_of("logs").operation_name(request, model("logs")) is None


class TestRestJson:
    def test_create_function_zip(self):
        parsed = request_round_trip("lambda", "CreateFunction", {
            "FunctionName": "f", "Runtime": "python3.12",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Handler": "app.handler", "Code": {"ZipFile": b"PK\x03\x04zip"},
            "VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
            "Environment": {"Variables": {"AA": "1", "B_2": ""}}, "Timeout": 3,
            "MemorySize": 128, "Publish": True})
        assert parsed["Code"]["ZipFile"] == b"PK\x03\x04zip"

    def test_invoke(self):
        request = to_http_request("lambda", "Invoke", {
            "FunctionName": "f", "InvocationType": "RequestResponse", "LogType": "Tail",
            "Qualifier": "$LATEST", "Payload": b'{"a": 1}'})
        assert request.path == "/2015-03-31/functions/f/invocations"
        assert request.query == {"Qualifier": ["$LATEST"]}
        assert request.headers["x-amz-invocation-type"] == "RequestResponse"
        assert request.headers["x-amz-log-type"] == "Tail"
        op = model("lambda").operation_model("Invoke")
        assert protocol_of("lambda").parse(request, op) == {
            "FunctionName": "f", "InvocationType": "RequestResponse", "LogType": "Tail",
            "Qualifier": "$LATEST", "Payload": b'{"a": 1}'}
        response = response_round_trip("lambda", "Invoke", {
            "StatusCode": 200, "FunctionError": "Unhandled", "LogResult": "U1RBUlQ=",
            "ExecutedVersion": "$LATEST", "Payload": b'{"errorMessage": "x"}'})
        assert response.status == 200
        assert response.headers["x-amz-function-error"] == "Unhandled"
        assert response.body == b'{"errorMessage": "x"}'
        # an asynchronous invoke answers 202 with an empty body (botocore: an empty stream)
        op = model("lambda").operation_model("Invoke")
        response = protocol_of("lambda").serialize(op, {"StatusCode": 202}, "r")
        assert (response.status, response.body) == (202, b"")
        assert botocore_parse("lambda", "Invoke", response) == {"StatusCode": 202, "Payload": b""}

    def test_get_and_list_functions(self):
        request_round_trip("lambda", "GetFunction", {"FunctionName": "f", "Qualifier": "1"})
        request_round_trip("lambda", "GetFunction", {
            "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f"})
        request = to_http_request("lambda", "ListFunctions", {"Marker": "m/1", "MaxItems": 5})
        assert request.query == {"Marker": ["m/1"], "MaxItems": ["5"]}
        request_round_trip("lambda", "ListFunctions", {"Marker": "m/1", "MaxItems": 5})
        request_round_trip("lambda", "ListFunctions", {})
        config = {"FunctionName": "f", "Runtime": "python3.12", "MemorySize": 128,
                  "LastModified": "2024-05-06T07:08:09.123+0000",
                  "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "",
                                "Ipv6AllowedForDualStack": False},
                  "State": "Active"}
        response_round_trip("lambda", "GetFunction", {
            "Configuration": config, "Code": {"RepositoryType": "S3", "Location": "http://x"},
            "Concurrency": {"ReservedConcurrentExecutions": 5}, "Tags": {"a": "b"}})
        response_round_trip("lambda", "ListFunctions", {"Functions": [config], "NextMarker": "n"})

    def test_concurrency(self):
        request = to_http_request("lambda", "PutFunctionConcurrency", {
            "FunctionName": "f", "ReservedConcurrentExecutions": 0})
        assert (request.method, request.path) == ("PUT", "/2017-10-31/functions/f/concurrency")
        request_round_trip("lambda", "PutFunctionConcurrency", {
            "FunctionName": "f", "ReservedConcurrentExecutions": 0})
        request = to_http_request("lambda", "PutProvisionedConcurrencyConfig", {
            "FunctionName": "f", "Qualifier": "live",
            "ProvisionedConcurrentExecutions": 2})
        assert request.path == "/2019-09-30/functions/f/provisioned-concurrency"
        assert request.query == {"Qualifier": ["live"]}
        request_round_trip("lambda", "PutProvisionedConcurrencyConfig", {
            "FunctionName": "f", "Qualifier": "live", "ProvisionedConcurrentExecutions": 2})
        response = response_round_trip("lambda", "PutProvisionedConcurrencyConfig", {
            "RequestedProvisionedConcurrentExecutions": 2, "Status": "IN_PROGRESS",
            "AllocatedProvisionedConcurrentExecutions": 0,
            "AvailableProvisionedConcurrentExecutions": 0})
        assert response.status == 202
        # GetProvisionedConcurrencyConfig shares the path; the method tells them apart
        request = to_http_request("lambda", "GetProvisionedConcurrencyConfig", {
            "FunctionName": "f", "Qualifier": "live"})
        assert protocol_of("lambda").operation_name(request, model("lambda")) == \
            "GetProvisionedConcurrencyConfig"

    def test_no_content_responses(self):
        response = response_round_trip("lambda", "DeleteFunction", {"StatusCode": 204})
        assert (response.status, response.body) == (204, b"")
        op = model("lambda").operation_model("DeleteFunctionConcurrency")  # no output shape
        response = protocol_of("lambda").serialize(op, {}, "r")
        assert (response.status, response.body) == (204, b"")
        assert botocore_parse("lambda", "DeleteFunctionConcurrency", response) == {}

    def test_uri_label_with_encoded_slash(self):
        arn = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/a/b"
        request = to_http_request("lambda", "GetDurableExecution", {"DurableExecutionArn": arn})
        assert "%2F" in request.raw_path and request.path.count("/") > 4
        request_round_trip("lambda", "GetDurableExecution", {"DurableExecutionArn": arn})
        request_round_trip("lambda", "StopDurableExecution", {"DurableExecutionArn": arn})
        # without the raw path (a hand-built request), the decoded path still routes plain names
        plain = HttpRequest("GET", "/2015-03-31/functions/my-fn", {}, {}, b"")
        assert protocol_of("lambda").operation_name(plain, model("lambda")) == "GetFunction"
        assert protocol_of("lambda").parse(
            plain, model("lambda").operation_model("GetFunction")) == {"FunctionName": "my-fn"}


class TestCbor:
    def test_put_metric_data(self):
        request = to_http_request("cloudwatch", "PutMetricData", {
            "Namespace": "App", "MetricData": [{
                "MetricName": "Latency", "Value": 1.5, "Unit": "Milliseconds",
                "Timestamp": STAMP,
                "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                "Values": [1.0, 2.0], "Counts": [1.0, 3.0]}]})
        assert request.path == "/service/GraniteServiceVersion20100801/operation/PutMetricData"
        assert request.headers["smithy-protocol"] == "rpc-v2-cbor"
        request_round_trip("cloudwatch", "PutMetricData", {
            "Namespace": "App", "MetricData": [{"MetricName": "Latency", "Value": 1.5,
                                                "Timestamp": STAMP}]})

    def test_get_metric_statistics(self):
        request_round_trip("cloudwatch", "GetMetricStatistics", {
            "Namespace": "AWS/Lambda", "MetricName": "Invocations", "StartTime": STAMP,
            "EndTime": STAMP + dt.timedelta(hours=1), "Period": 60,
            "Statistics": ["Sum", "Average"],
            "Dimensions": [{"Name": "FunctionName", "Value": "f"}]})
        response = response_round_trip("cloudwatch", "GetMetricStatistics", {
            "Label": "Invocations", "Datapoints": [
                {"Timestamp": STAMP, "Sum": 3.0, "Unit": "Count"},
                {"Timestamp": STAMP + dt.timedelta(minutes=1), "Sum": 0.0, "Unit": "Count"}]})
        assert response.headers["smithy-protocol"] == "rpc-v2-cbor"

    def test_list_metrics(self):
        request_round_trip("cloudwatch", "ListMetrics", {
            "Namespace": "AWS/Lambda", "Dimensions": [{"Name": "FunctionName", "Value": "f"}]})
        response_round_trip("cloudwatch", "ListMetrics", {"Metrics": [{
            "Namespace": "AWS/Lambda", "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}], "NextToken": "n"})


def test_example_generator_covers_patterns():
    """The generator satisfies nearly every pattern it meets (else requests would fail to
    validate and the sweep above would prove nothing)."""
    unmatched = set()
    for service in SERVICES:
        if service == "ec2":
            continue  # EC2 checks presence only (and one of its patterns can never match)
        for name in model(service).operation_names:
            op = model(service).operation_model(name)
            if op.input_shape is not None:
                examples = Examples()
                examples.value(op.input_shape)
                unmatched.update(examples.unmatched)
    python_patterns = set()
    for pattern in unmatched:  # Java-only patterns (\\p{L}...) our validator skips as well
        try:
            re.compile(pattern)
        except re.error:
            continue
        python_patterns.add(pattern)
    assert not python_patterns, sorted(python_patterns)


class TestRestXml:
    def test_virtual_host_style_becomes_path_style(self):
        for host in ("bkt.localhost:4566", "bkt.s3.us-east-1.amazonaws.com",
                     "bkt.s3.amazonaws.com"):
            request = HttpRequest("GET", "/a/b c.txt", {}, {"host": host}, b"",
                                  raw_path="/a/b%20c.txt")
            request = protocol_of("s3").prepare(request)
            assert (request.path, request.raw_path) == ("/bkt/a/b c.txt", "/bkt/a/b%20c.txt")
            assert protocol_of("s3").operation_name(request, model("s3")) == "GetObject"
        for host in ("localhost:4566", "127.0.0.1:4566", "s3.us-east-1.amazonaws.com",
                     "s3.amazonaws.com"):
            request = protocol_of("s3").prepare(HttpRequest("GET", "/bkt", {}, {"host": host},
                                                            b""))
            assert request.path == "/bkt"

    def test_aws_chunked_body_and_trailer(self):
        body = (b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n")
        request = HttpRequest("PUT", "/bkt/k", {}, {
            "host": "127.0.0.1:4566", "content-encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": "11"},
            body, raw_path="/bkt/k")
        request = protocol_of("s3").prepare(request)
        parsed = protocol_of("s3").parse(request, model("s3").operation_model("PutObject"))
        assert parsed["Body"] == b"hello world"
        assert parsed["ChecksumCRC32"] == "DUoRhQ=="
        assert "ContentEncoding" not in parsed

    def test_copy_and_upload_part_are_told_apart(self):
        request = to_http_request("s3", "CopyObject", {"Bucket": "b", "Key": "k/1",
                                                       "CopySource": "src/key"})
        assert protocol_of("s3").operation_name(request, model("s3")) == "CopyObject"
        request = to_http_request("s3", "UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": 2,
                                                       "UploadId": "u", "Body": b"x"})
        assert protocol_of("s3").operation_name(request, model("s3")) == "UploadPart"
        request = to_http_request("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "p/"})
        assert protocol_of("s3").operation_name(request, model("s3")) == "ListObjectsV2"

    def test_get_bucket_location_is_a_bare_element(self):
        op = model("s3").operation_model("GetBucketLocation")
        response = protocol_of("s3").serialize(op, {"LocationConstraint": "eu-west-1"}, "r")
        assert response.body.endswith(
            b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1'
            b"</LocationConstraint>")
        response = protocol_of("s3").serialize(op, {"LocationConstraint": None}, "r")
        assert b"<LocationConstraint" in response.body

    def test_list_objects_v2_document(self):
        response = response_round_trip("s3", "ListObjectsV2", {
            "Name": "b", "Prefix": "", "KeyCount": 1, "MaxKeys": 1000, "IsTruncated": False,
            "Contents": [{"Key": "a&b", "ETag": '"e"', "Size": 3, "LastModified": STAMP,
                          "StorageClass": "STANDARD"}],
            "CommonPrefixes": [{"Prefix": "d/"}]})
        assert b"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" in \
            response.body
        assert b"<Contents><Key>a&amp;b</Key>" in response.body

    def test_error_document(self):
        error = ServiceError("The specified key does not exist.", code="NoSuchKey",
                             status=404, Key="a/b")
        response = protocol_of("s3").serialize_error(model("s3"), error, "RID")
        assert response.status == 404
        assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
                                        b"<Code>NoSuchKey</Code><Message>The specified key does "
                                        b"not exist.</Message><Key>a/b</Key>"
                                        b"<RequestId>RID</RequestId><HostId>")
        parsed = botocore_parse("s3", "GetObject", response)
        assert parsed["Error"]["Code"] == "NoSuchKey"

    def test_object_metadata_headers(self):
        parsed = request_round_trip("s3", "PutObject", {
            "Bucket": "b", "Key": "dir/k é+1", "Body": b"data", "Metadata": {"owner": "me"},
            "ContentType": "text/plain", "ContentLength": 4})
        assert parsed["Key"] == "dir/k é+1"
        response = response_round_trip("s3", "GetObject", {
            "Body": b"data", "ETag": '"x"', "Metadata": {"owner": "me"},
            "LastModified": STAMP.replace(microsecond=0), "ContentLength": 4})
        assert response.headers["x-amz-meta-owner"] == "me"
