"""Server-side input validation: what AWS answers for missing and out-of-bounds parameters.

Requests are built by botocore with its client-side validation switched off (as the aws CLI
with `parameter_validation = false`, or any other SDK, may send them). Expected texts follow
messages AWS services returned in public reports (see the notes in protocols/base.py).
"""

from __future__ import annotations

import pytest
from wire import botocore_parse, model, protocol_of, to_http_request

from vpclocal.errors import ServiceError


def refused(service: str, operation: str, params: dict) -> ServiceError:
    request = to_http_request(service, operation, params, validate=False)
    protocol = protocol_of(service)
    assert protocol.operation_name(request, model(service)) == operation
    with pytest.raises(ServiceError) as caught:
        protocol.parse(request, model(service).operation_model(operation))
    return caught.value


def client_sees(service: str, error: ServiceError) -> dict:
    """The error as botocore reports it to the caller."""
    response = protocol_of(service).serialize_error(model(service), error, "r")
    assert response.status == 400
    return botocore_parse(service, None, response)["Error"]


class TestEc2:
    def test_missing_parameter(self):
        error = refused("ec2", "CreateSubnet", {"CidrBlock": "10.0.0.0/24"})
        assert (error.code, error.message) == (
            "MissingParameter", "The request must contain the parameter VpcId")
        assert client_sees("ec2", error)["Code"] == "MissingParameter"

    def test_missing_parameter_uses_the_wire_name(self):
        error = refused("ec2", "AttachInternetGateway", {"VpcId": "vpc-1"})
        assert error.message == "The request must contain the parameter InternetGatewayId"

    def test_ec2_checks_page_size_against_the_model(self):
        request = to_http_request("ec2", "DescribeVpcs", {"MaxResults": 1}, validate=False)
        with pytest.raises(ServiceError) as caught:
            protocol_of("ec2").parse(request, model("ec2").operation_model("DescribeVpcs"))
        assert caught.value.code == "InvalidParameterValue"
        assert caught.value.message == ("Value ( 1 ) for parameter maxResults is invalid. "
                                        "Expecting a value greater than 5.")
        # other value rules (here a too-short CIDR) are each operation's business
        request = to_http_request("ec2", "CreateVpc", {"CidrBlock": ""}, validate=False)
        parsed = protocol_of("ec2").parse(request, model("ec2").operation_model("CreateVpc"))
        assert parsed == {"CidrBlock": ""}

    def test_wrong_type(self):
        request = to_http_request("ec2", "DescribeVpcs", {}, validate=False)
        request.body += b"&MaxResults=abc"
        with pytest.raises(ServiceError) as caught:
            protocol_of("ec2").parse(request, model("ec2").operation_model("DescribeVpcs"))
        assert caught.value.code == "InvalidParameterValue"
        assert caught.value.message == "Value ( abc ) for parameter maxResults is invalid."

    def test_wrong_boolean(self):
        request = to_http_request("ec2", "CreateVpc", {"CidrBlock": "10.0.0.0/16"})
        request.body += b"&AmazonProvidedIpv6CidrBlock=yes"
        with pytest.raises(ServiceError) as caught:
            protocol_of("ec2").parse(request, model("ec2").operation_model("CreateVpc"))
        assert caught.value.code == "InvalidParameterValue"
        assert "amazonProvidedIpv6CidrBlock" in caught.value.message


class TestQuery:
    def test_missing_member(self):
        error = refused("iam", "CreateRole", {"AssumeRolePolicyDocument": "{}"})
        assert error.code == "ValidationError"
        assert error.message == ("1 validation error detected: Value null at 'roleName' failed "
                                 "to satisfy constraint: Member must not be null")
        seen = client_sees("iam", error)
        assert (seen["Code"], seen["Type"]) == ("ValidationError", "Sender")
        assert seen["Message"] == error.message

    def test_two_errors(self):
        error = refused("iam", "CreateRole", {})
        assert error.message == (
            "2 validation errors detected: "
            "Value null at 'roleName' failed to satisfy constraint: Member must not be null; "
            "Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: "
            "Member must not be null")

    def test_length(self):
        name = "charon-31f85414-3f74-11e5-b275-f23c91ae92d9-DynamoReadOnlyPermission"
        error = refused("iam", "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": "{}"})
        # verbatim what IAM answered in NixOS/nixops#328
        assert error.message == (
            f"1 validation error detected: Value '{name}' at 'roleName' failed to satisfy "
            "constraint: Member must have length less than or equal to 64")

    def test_pattern(self):
        error = refused("iam", "GetRole", {"RoleName": "a b"})
        assert error.message == (
            "1 validation error detected: Value 'a b' at 'roleName' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+")

    def test_sts_length_and_range(self):
        error = refused("sts", "AssumeRole", {
            "RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s",
            "DurationSeconds": 60})
        assert error.code == "ValidationError"
        assert error.message == (
            "2 validation errors detected: "
            "Value 's' at 'roleSessionName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 2; "
            "Value '60' at 'durationSeconds' failed to satisfy constraint: "
            "Member must have value greater than or equal to 900")

    def test_nested_list_member_path(self):
        error = refused("iam", "TagRole", {"RoleName": "r", "Tags": [
            {"Key": "a", "Value": "b"}, {"Key": "c"}]})
        assert error.message == (
            "1 validation error detected: Value null at 'tags.2.member.value' failed to "
            "satisfy constraint: Member must not be null")

    def test_list_size(self):
        tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        error = refused("iam", "TagRole", {"RoleName": "r", "Tags": tags})
        assert error.message.endswith(
            "at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50")

    def test_wrong_type(self):
        request = to_http_request("iam", "ListRoles", {}, validate=False)
        request.body += b"&MaxItems=abc"
        with pytest.raises(ServiceError) as caught:
            protocol_of("iam").parse(request, model("iam").operation_model("ListRoles"))
        assert caught.value.code == "ValidationError"
        assert "Value 'abc' at 'maxItems'" in caught.value.message

    def test_rds_missing_members(self):
        error = refused("rds", "CreateDBInstance", {"DBInstanceIdentifier": "db1"})
        assert error.message == (
            "2 validation errors detected: "
            "Value null at 'dBInstanceClass' failed to satisfy constraint: "
            "Member must not be null; "
            "Value null at 'engine' failed to satisfy constraint: Member must not be null")


class TestJson:
    def test_logs_answers_invalid_parameter_exception(self):
        error = refused("logs", "DescribeLogGroups", {"logGroupNamePrefix": ""})
        # verbatim what CloudWatch Logs answered in fluent-plugin-cloudwatch-logs#223
        assert error.code == "InvalidParameterException"
        assert error.message == (
            "2 validation errors detected: Value '' at 'logGroupNamePrefix' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+; "
            "Value '' at 'logGroupNamePrefix' failed to satisfy constraint: Member must have "
            "length greater than or equal to 1")
        assert client_sees("logs", error)["Code"] == "InvalidParameterException"

    def test_logs_pattern(self):
        error = refused("logs", "CreateLogGroup", {"logGroupName": "testServiceName:latest"})
        assert error.message == (
            "1 validation error detected: Value 'testServiceName:latest' at 'logGroupName' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            r"[\.\-_/#A-Za-z0-9]+")

    def test_logs_list_of_structures(self):
        error = refused("logs", "PutLogEvents", {
            "logGroupName": "g", "logStreamName": "s",
            "logEvents": [{"timestamp": 1, "message": "m"}, {"timestamp": 2}]})
        assert error.message == (
            "1 validation error detected: Value null at 'logEvents.2.member.message' failed "
            "to satisfy constraint: Member must not be null")

    def test_logs_empty_list(self):
        error = refused("logs", "PutLogEvents", {
            "logGroupName": "g", "logStreamName": "s", "logEvents": []})
        assert error.message == (
            "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1")

    def test_wrong_type_is_a_serialization_error(self):
        request = to_http_request("logs", "GetLogEvents", {"logGroupName": "g",
                                                           "logStreamName": "s"})
        request.body = b'{"logGroupName": "g", "logStreamName": "s", "limit": "ten"}'
        with pytest.raises(ServiceError) as caught:
            protocol_of("logs").parse(request, model("logs").operation_model("GetLogEvents"))
        assert caught.value.code == "SerializationException"

    def test_malformed_json(self):
        request = to_http_request("logs", "DescribeLogGroups", {})
        request.body = b'{"logGroupNamePrefix": '
        with pytest.raises(ServiceError) as caught:
            protocol_of("logs").parse(request, model("logs").operation_model("DescribeLogGroups"))
        assert (caught.value.code, caught.value.status) == ("SerializationException", 400)


class TestRestJson:
    def test_missing_members(self):
        error = refused("lambda", "CreateFunction", {"FunctionName": "f"})
        assert error.code == "ValidationException"
        assert error.message == (
            "2 validation errors detected: "
            "Value null at 'role' failed to satisfy constraint: Member must not be null; "
            "Value null at 'code' failed to satisfy constraint: Member must not be null")

    def base(self, **extra):
        return {"FunctionName": "f", "Role": "arn:aws:iam::123456789012:role/r",
                "Code": {"ZipFile": b"zip"}, **extra}

    def test_list_size(self):
        subnets = [f"subnet-{i}" for i in range(17)]
        error = refused("lambda", "CreateFunction", self.base(
            VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": ["sg-1"]}))
        assert error.message == (
            f"1 validation error detected: Value '[{', '.join(subnets)}]' at "
            "'vpcConfig.subnetIds' failed to satisfy constraint: "
            "Member must have length less than or equal to 16")

    def test_list_member_constraints(self):
        error = refused("lambda", "CreateFunction", self.base(
            VpcConfig={"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1", "default"]}))
        assert error.message == (
            "1 validation error detected: Value '[sg-1, default]' at "
            "'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must satisfy "
            "constraint: [Member must have length less than or equal to 1024, Member must have "
            "length greater than or equal to 0, Member must satisfy regular expression pattern: "
            "sg-[0-9a-zA-Z]*, Member must not be null]")

    def test_enum_list_member(self):
        error = refused("lambda", "CreateFunction", self.base(Architectures=["foo"]))
        assert error.message == (
            "1 validation error detected: Value '[foo]' at 'architectures' failed to satisfy "
            "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
            "[x86_64, arm64], Member must not be null]")

    def test_enum(self):
        error = refused("lambda", "CreateFunction", self.base(PackageType="Jar"))
        assert error.message == (
            "1 validation error detected: Value 'Jar' at 'packageType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Zip, Image]")

    def test_range(self):
        error = refused("lambda", "CreateFunction", self.base(Timeout=0, MemorySize=40000))
        assert error.message == (
            "2 validation errors detected: "
            "Value '0' at 'timeout' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1; "
            "Value '40000' at 'memorySize' failed to satisfy constraint: "
            "Member must have value less than or equal to 32768")

    def test_sensitive_map_keys(self):
        error = refused("lambda", "CreateFunction", self.base(
            Environment={"Variables": {"a": "1", "OK": "2"}}))
        # verbatim what Lambda answered in trek10inc/serverless-secrets#39: the variables are
        # sensitive, so their value is not shown
        assert error.message == (
            "1 validation error detected: Value at 'environment.variables' failed to satisfy "
            "constraint: Map keys must satisfy constraint: [Member must satisfy regular "
            "expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")

    def test_uri_label(self):
        request = to_http_request("lambda", "GetFunction", {"FunctionName": "a b"},
                                  validate=False)
        with pytest.raises(ServiceError) as caught:
            protocol_of("lambda").parse(request, model("lambda").operation_model("GetFunction"))
        assert caught.value.message.startswith(
            "1 validation error detected: Value 'a b' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: ")

    def test_querystring_wrong_type(self):
        request = to_http_request("lambda", "ListFunctions", {})
        request.query["MaxItems"] = ["lots"]
        with pytest.raises(ServiceError) as caught:
            protocol_of("lambda").parse(request, model("lambda").operation_model("ListFunctions"))
        assert caught.value.code == "SerializationException"

    def test_malformed_json(self):
        request = to_http_request("lambda", "CreateFunction", self.base())
        request.body = b"{not json"
        with pytest.raises(ServiceError) as caught:
            protocol_of("lambda").parse(request,
                                        model("lambda").operation_model("CreateFunction"))
        assert (caught.value.code, caught.value.status) == ("SerializationException", 400)


class TestCbor:
    def test_missing_namespace(self):
        error = refused("cloudwatch", "PutMetricData", {"MetricData": []})
        assert error.message == (
            "1 validation error detected: Value null at 'namespace' failed to satisfy "
            "constraint: Member must not be null")
        # CloudWatch is query-compatible: clients see the query code of ValidationException
        seen = client_sees("cloudwatch", error)
        assert seen["Code"] == "ValidationError"

    def test_malformed_cbor(self):
        request = to_http_request("cloudwatch", "ListMetrics", {})
        request.body = b"\xff\xff\x00"
        with pytest.raises(ServiceError) as caught:
            protocol_of("cloudwatch").parse(
                request, model("cloudwatch").operation_model("ListMetrics"))
        assert caught.value.code == "SerializationException"
