"""Functions through boto3: create, read, list, update, delete, and the errors AWS gives."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import urllib.request
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_and_status as error_of
from tests.lambda_.conftest import (
    HANDLER,
    LAMBDA_TRUST,
    arn,
    make_role,
    unique,
    wait_state,
    zipped,
)

LAST_MODIFIED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
NO_VPC = {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": False}


def test_create_function_shape(lam, create, role):
    code = zipped()
    name = unique()
    config = create(name, Code={"ZipFile": code}, Description="hello",
                    Environment={"Variables": {"AB": "1"}})
    assert config["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert config["FunctionName"] == name
    assert config["FunctionArn"] == arn(name)
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert config["CodeSize"] == len(code)
    assert (config["Runtime"], config["Handler"], config["Role"]) == (
        "python3.12", "index.handler", role)
    assert (config["Timeout"], config["MemorySize"]) == (3, 128)
    assert config["Version"] == "$LATEST"
    assert config["VpcConfig"] == NO_VPC
    assert config["Environment"] == {"Variables": {"AB": "1"}}
    assert config["Description"] == "hello"
    assert config["PackageType"] == "Zip"
    assert config["Architectures"] == ["x86_64"]
    assert config["EphemeralStorage"] == {"Size": 512}
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert LAST_MODIFIED.fullmatch(config["LastModified"])
    assert uuid.UUID(config["RevisionId"])
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"


def test_create_with_options(create):
    config = create(Timeout=900, MemorySize=10240, Architectures=["arm64"],
                    EphemeralStorage={"Size": 1024},
                    LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/group"})
    assert (config["Timeout"], config["MemorySize"]) == (900, 10240)
    assert config["Architectures"] == ["arm64"]
    assert config["EphemeralStorage"] == {"Size": 1024}
    assert config["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/custom/group",
                                       "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}


def test_get_function(lam, create, server):
    code = zipped("def handler(e, c):\n    return 42\n")
    name = unique()
    create(name, Code={"ZipFile": code}, Tags={"team": "a"})
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["FunctionName"] == name
    assert got["Code"]["RepositoryType"] == "S3"
    assert got["Tags"] == {"team": "a"}
    assert "Concurrency" not in got
    with urllib.request.urlopen(got["Code"]["Location"], timeout=5) as response:
        assert response.read() == code
    assert lam.get_function_configuration(FunctionName=name) | {"ResponseMetadata": None} == \
        got["Configuration"] | {"ResponseMetadata": None}


@pytest.mark.parametrize("form", ["name", "arn", "partial"])
def test_function_name_forms(lam, create, form):
    name = unique()
    create(name)
    given = {"name": name, "arn": arn(name), "partial": f"000000000000:function:{name}"}[form]
    assert lam.get_function(FunctionName=given)["Configuration"]["FunctionName"] == name
    assert lam.get_function_configuration(FunctionName=given)["FunctionArn"] == arn(name)


def test_qualifier_in_name_and_parameter(lam, create):
    name = unique()
    create(name)
    config = lam.get_function_configuration(FunctionName=f"{name}:$LATEST")
    assert config["FunctionArn"] == arn(name, "$LATEST")
    with pytest.raises(ClientError) as caught:
        lam.get_function(FunctionName=f"{name}:1", Qualifier="2")
    assert error_of(caught)[0] == "InvalidParameterValueException"
    assert "derived qualifier" in error_of(caught)[1]


def test_not_found(lam):
    name = unique()
    for call in (lam.get_function, lam.get_function_configuration, lam.delete_function):
        with pytest.raises(ClientError) as caught:
            call(FunctionName=name)
        assert error_of(caught) == ("ResourceNotFoundException",
                                    f"Function not found: {arn(name)}", 404)
    with pytest.raises(ClientError) as caught:
        lam.get_function(FunctionName=name, Qualifier="7")
    assert error_of(caught)[1] == f"Function not found: {arn(name, '7')}"


def test_already_exists(create):
    name = unique()
    create(name)
    with pytest.raises(ClientError) as caught:
        create(name)
    assert error_of(caught) == ("ResourceConflictException",
                                f"Function already exist: {name}", 409)


@pytest.mark.parametrize("runtime", ["python3.9", "python3.10", "python3.11", "python3.13",
                                     "python3.14", "provided.al2", "provided.al2023"])
def test_supported_runtimes(create, runtime):
    assert create(Runtime=runtime)["Runtime"] == runtime


def test_update_to_python314(lam, create):
    """python3.14, an AWS runtime since late 2025, is accepted by updates too."""
    name = create(Runtime="python3.13")["FunctionName"]
    wait_state(lam, name)
    updated = lam.update_function_configuration(FunctionName=name, Runtime="python3.14")
    assert updated["Runtime"] == "python3.14"
    wait_state(lam, name, "LastUpdateStatus", "Successful")
    assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.14"


def test_deprecated_runtime(create):
    with pytest.raises(ClientError) as caught:
        create(Runtime="python3.7")
    code, message, status = error_of(caught)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("The runtime parameter of python3.7 is no longer supported for "
                              "creating or updating AWS Lambda functions.")


def test_runtime_vpclocal_cannot_run(create):
    with pytest.raises(ClientError) as caught:
        create(Runtime="nodejs22.x")
    assert error_of(caught)[0] == "InvalidParameterValueException"
    assert "nodejs22.x" in error_of(caught)[1]


def test_unknown_runtime_fails_model_validation(server, role):
    from tests.test_gateway import unvalidated_client

    with pytest.raises(ClientError) as caught:
        unvalidated_client(server, "lambda").create_function(
            FunctionName=unique(), Runtime="cobol", Role=role, Handler="index.handler",
            Code={"ZipFile": zipped()})
    code, message, _ = error_of(caught)
    assert code == "ValidationException"
    assert "Value 'cobol' at 'runtime' failed to satisfy constraint: Member must satisfy enum" \
        in message


def test_role_must_exist_and_trust_lambda(create, iam):
    missing = "arn:aws:iam::000000000000:role/no-such-role"
    ec2_only = make_role(iam, trust={**LAMBDA_TRUST, "Statement": [
        {**LAMBDA_TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}]})
    for role_arn in (missing, ec2_only):
        with pytest.raises(ClientError) as caught:
            create(Role=role_arn)
        assert error_of(caught) == ("InvalidParameterValueException",
                                    ("The role defined for the function cannot be assumed by "
                                    "Lambda."), 400)


@pytest.mark.parametrize(("member", "value", "expected"), [
    ("Timeout", 901, ("Value '901' at 'timeout' failed to satisfy constraint: Member must have "
                     "value less than or equal to 900")),
    ("Timeout", 0, ("Value '0' at 'timeout' failed to satisfy constraint: Member must have "
                   "value greater than or equal to 1")),
    ("MemorySize", 10241, ("Value '10241' at 'memorySize' failed to satisfy constraint: Member "
                          "must have value less than or equal to 10240")),
    ("MemorySize", 127, ("Value '127' at 'memorySize' failed to satisfy constraint: Member "
                        "must have value greater than or equal to 128")),
])
def test_limits(server, role, member, value, expected):
    from tests.test_gateway import unvalidated_client

    client = unvalidated_client(server, "lambda")
    with pytest.raises(ClientError) as caught:
        client.create_function(FunctionName=unique(), Runtime="python3.12", Role=role,
                               Handler="index.handler", Code={"ZipFile": zipped()},
                               **{member: value})
    code, message, status = error_of(caught)
    assert (code, status) == ("ValidationException", 400)
    assert message == f"1 validation error detected: {expected}"


def _broken_zip(how: str) -> bytes:
    """A zip whose listing reads, but which cannot be unpacked."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # stored: the bytes as written
        archive.writestr("index.py", HANDLER)
        if how == "file and directory":
            archive.writestr("index.py/inner.py", HANDLER)
    data = buffer.getvalue()
    if how == "bad CRC":
        return data.replace(b"return", b"RETURN", 1)
    if how == "unknown compression":
        return _method(data, 97)
    return data


def _method(data: bytes, method: int) -> bytes:
    """`data` with every member's compression method (local and central headers) set."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset:at + offset + 2] = method.to_bytes(2, "little")
            at = out.find(signature, at + 4)
    return bytes(out)


UNZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."


@pytest.mark.parametrize("code", [b"not a zip", "bad CRC", "unknown compression",
                                  "file and directory"])
def test_bad_code(create, code):
    """AWS unpacks a package at upload: one it cannot unpack is refused then."""
    with pytest.raises(ClientError) as caught:
        create(Code={"ZipFile": code if isinstance(code, bytes) else _broken_zip(code)})
    assert error_of(caught) == ("InvalidParameterValueException", UNZIP, 400)


def test_code_only_as_zip(create):
    with pytest.raises(ClientError) as caught:
        create(Code={"S3Bucket": "bucket", "S3Key": "key"})
    assert error_of(caught)[0] == "InvalidParameterValueException"
    assert "ZipFile" in error_of(caught)[1]


def test_environment_checks(create):
    with pytest.raises(ClientError) as caught:
        create(Environment={"Variables": {"AWS_REGION": "x"}})
    assert error_of(caught)[0] == "InvalidParameterValueException"
    assert error_of(caught)[1].endswith("Reserved keys used in this request: AWS_REGION")
    with pytest.raises(ClientError) as caught:
        create(Environment={"Variables": {"BIG": "x" * 5000}})
    assert "exceeded the 4KB limit" in error_of(caught)[1]


def test_list_functions_paging(lam, create):
    names = {create()["FunctionName"] for _ in range(3)}
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"MaxItems": 2} | ({"Marker": marker} if marker else {})
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 2
    listed = next(f for f in lam.list_functions(MaxItems=10000)["Functions"]
                  if f["FunctionName"] in names)
    assert "State" not in listed  # ListFunctions leaves the state fields out, as on AWS
    paginated = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 2}) for f in p["Functions"]]
    assert names <= set(paginated)


def test_list_functions_all_versions(lam, create):
    """FunctionVersion=ALL lists $LATEST and every published version, each ARN qualified;
    without it, only $LATEST with the unqualified ARN."""
    name = create(Publish=True)["FunctionName"]
    wait_state(lam, name)
    lam.publish_version(FunctionName=name, Description="second")  # same code: still 1
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    wait_state(lam, name, "LastUpdateStatus", "Successful")
    lam.publish_version(FunctionName=name)
    everything = lam.list_functions(FunctionVersion="ALL", MaxItems=10000)["Functions"]
    mine = [(f["Version"], f["FunctionArn"]) for f in everything if f["FunctionName"] == name]
    assert mine == [("$LATEST", arn(name, "$LATEST")), ("1", arn(name, "1")),
                    ("2", arn(name, "2"))]
    latest = [(f["Version"], f["FunctionArn"]) for f in lam.list_functions(
        MaxItems=10000)["Functions"] if f["FunctionName"] == name]
    assert latest == [("$LATEST", arn(name))]


def test_delete_function(lam, create):
    name = create()["FunctionName"]
    response = lam.delete_function(FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)
    create(name)  # the name is free again


def test_update_function_code(lam, create):
    name = unique()
    before = create(name)
    code = zipped("def handler(e, c):\n    return 2\n")
    after = lam.update_function_code(FunctionName=name, ZipFile=code)
    assert after["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert after["CodeSize"] == len(code)
    assert after["RevisionId"] != before["RevisionId"]
    assert (after["State"], after["LastUpdateStatus"]) == ("Active", "InProgress")
    with pytest.raises(ClientError) as caught:
        lam.update_function_code(FunctionName=name, ZipFile=code)
    assert error_of(caught) == (
        "ResourceConflictException", ("The operation cannot be performed at this time. An "
        f"update is in progress for resource: {arn(name)}"), 409)
    settled = wait_state(lam, name, "LastUpdateStatus", "Successful")
    assert settled["LastUpdateStatus"] == "Successful"
    assert "LastUpdateStatusReason" not in settled


def test_update_function_code_publish_and_revision(lam, create):
    name = unique()
    before = create(name)
    with pytest.raises(ClientError) as caught:
        lam.update_function_code(FunctionName=name, ZipFile=zipped("x = 1\n"),
                                 RevisionId=str(uuid.uuid4()))
    assert error_of(caught)[0] == "PreconditionFailedException"
    assert error_of(caught)[2] == 412
    version = lam.update_function_code(FunctionName=name, ZipFile=zipped("x = 2\n"),
                                       Publish=True, RevisionId=before["RevisionId"])
    assert version["Version"] == "1"
    assert version["FunctionArn"] == arn(name, "1")


def test_update_function_configuration(lam, create, role):
    name = unique()
    before = create(name)
    after = lam.update_function_configuration(
        FunctionName=name, Timeout=30, MemorySize=256, Description="d", Handler="app.main",
        Runtime="python3.13", Environment={"Variables": {"KEY": "v"}})
    assert (after["Timeout"], after["MemorySize"], after["Description"]) == (30, 256, "d")
    assert (after["Handler"], after["Runtime"]) == ("app.main", "python3.13")
    assert after["Environment"] == {"Variables": {"KEY": "v"}}
    assert after["LastUpdateStatus"] == "InProgress"
    assert after["RevisionId"] != before["RevisionId"]
    assert after["CodeSha256"] == before["CodeSha256"]
    wait_state(lam, name, "LastUpdateStatus", "Successful")
    cleared = lam.update_function_configuration(FunctionName=name,
                                                Environment={"Variables": {}})
    assert "Environment" not in cleared
    wait_state(lam, name, "LastUpdateStatus", "Successful")
    with pytest.raises(ClientError) as caught:
        lam.update_function_configuration(FunctionName=name, Runtime="python3.8")
    assert "no longer supported" in error_of(caught)[1]


def test_account_settings(lam, create):
    settings = lam.get_account_settings()
    limit, usage = settings["AccountLimit"], settings["AccountUsage"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["CodeSizeZipped"] == 52428800
    assert limit["CodeSizeUnzipped"] == 262144000
    assert limit["TotalCodeSize"] == 80530636800
    assert 100 <= limit["UnreservedConcurrentExecutions"] <= 1000
    config = create()
    after = lam.get_account_settings()["AccountUsage"]
    assert after["FunctionCount"] >= usage["FunctionCount"] + 1
    assert after["TotalCodeSize"] >= usage["TotalCodeSize"] + config["CodeSize"]


def test_tags(lam, create):
    name = create(Tags={"a": "1"})["FunctionName"]
    lam.tag_resource(Resource=arn(name), Tags={"b": "2", "a": "3"})
    assert lam.list_tags(Resource=arn(name))["Tags"] == {"a": "3", "b": "2"}
    lam.untag_resource(Resource=arn(name), TagKeys=["a"])
    assert lam.list_tags(Resource=arn(name))["Tags"] == {"b": "2"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"b": "2"}
    with pytest.raises(ClientError) as caught:
        lam.list_tags(Resource=arn(unique()))
    assert error_of(caught)[0] == "ResourceNotFoundException"


def test_cli_create_and_waiters(server, role, tmp_path):
    package = tmp_path / "fn.zip"
    package.write_bytes(zipped())
    name = unique()
    created = server.aws("lambda", "create-function", "--function-name", name,
                         "--runtime", "python3.12", "--role", role, "--handler", "index.handler",
                         "--zip-file", f"fileb://{package}")
    assert created["FunctionArn"] == arn(name)
    server.aws("lambda", "wait", "function-active-v2", "--function-name", name)
    server.aws("lambda", "update-function-configuration", "--function-name", name,
               "--timeout", "20")
    server.aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    got = server.aws("lambda", "get-function", "--function-name", name)
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Configuration"]["Timeout"] == 20
