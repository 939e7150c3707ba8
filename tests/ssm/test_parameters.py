"""Parameter Store over HTTP with boto3 (and the aws CLI): versions, selectors, hierarchies,
history, labels, tags, AWS's errors, and IAM deciding on the parameter's ARN."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique


@pytest.fixture(scope="module")
def ssm(server):
    return server.client("ssm")


def error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_put_get_overwrite_versions(ssm, server):
    name = f"/{unique('app')}/db/host"
    out = ssm.put_parameter(Name=name, Value="db-1", Type="String")
    assert (out["Version"], out["Tier"]) == (1, "Standard")
    got = ssm.get_parameter(Name=name)["Parameter"]
    assert got["Name"] == name and got["Value"] == "db-1" and got["Version"] == 1
    assert got["Type"] == "String" and got["DataType"] == "text"
    assert got["ARN"] == f"arn:aws:ssm:us-east-1:000000000000:parameter{name}"
    assert "Selector" not in got
    assert error(lambda: ssm.put_parameter(Name=name, Value="x", Type="String")) == (
        "ParameterAlreadyExists", ("The parameter already exists. To overwrite this value, set "
        "the overwrite option in the request to true."))
    out = ssm.put_parameter(Name=name, Value="db-2", Overwrite=True)  # the type is kept
    assert (out["Version"], out["Tier"]) == (2, "Standard")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "db-2"
    first = ssm.get_parameter(Name=f"{name}:1")["Parameter"]
    assert (first["Value"], first["Version"], first["Selector"], first["Name"]) == (
        "db-1", 1, ":1", name)
    assert error(lambda: ssm.get_parameter(Name=f"{name}:7")) == (
        "ParameterVersionNotFound",
        (f"Systems Manager could not find version 7 of {name}. Verify the version and try "
        "again."))
    # by ARN too
    assert ssm.get_parameter(Name=got["ARN"])["Parameter"]["Value"] == "db-2"


def test_string_list_and_secure_string(ssm):
    base = f"/{unique('kinds')}"
    ssm.put_parameter(Name=f"{base}/zones", Value="a,b,c", Type="StringList")
    assert ssm.get_parameter(Name=f"{base}/zones")["Parameter"]["Value"] == "a,b,c"
    ssm.put_parameter(Name=f"{base}/pw", Value="s3cret", Type="SecureString")
    hidden = ssm.get_parameter(Name=f"{base}/pw")["Parameter"]
    assert hidden["Type"] == "SecureString" and hidden["Value"] != "s3cret"
    assert "s3cret" not in hidden["Value"]
    shown = ssm.get_parameter(Name=f"{base}/pw", WithDecryption=True)["Parameter"]
    assert shown["Value"] == "s3cret"
    meta = ssm.describe_parameters(ParameterFilters=[
        {"Key": "Name", "Values": [f"{base}/pw"]}])["Parameters"]
    assert len(meta) == 1 and meta[0]["KeyId"] == "alias/aws/ssm"
    assert meta[0]["LastModifiedUser"] == "arn:aws:iam::000000000000:root"


def test_missing_parameters(ssm):
    name = f"/{unique('none')}"
    assert error(lambda: ssm.get_parameter(Name=name)) == ("ParameterNotFound", "")
    assert error(lambda: ssm.delete_parameter(Name=name)) == ("ParameterNotFound", "")
    assert error(lambda: ssm.get_parameter_history(Name=name)) == ("ParameterNotFound", "")
    ssm.put_parameter(Name=f"{name}/a", Value="1", Type="String")
    out = ssm.get_parameters(Names=[f"{name}/a", f"{name}/b", f"{name}/a:9"])
    assert [p["Name"] for p in out["Parameters"]] == [f"{name}/a"]
    assert out["InvalidParameters"] == [f"{name}/b", f"{name}/a:9"]
    out = ssm.delete_parameters(Names=[f"{name}/a", f"{name}/b"])
    assert (out["DeletedParameters"], out["InvalidParameters"]) == ([f"{name}/a"],
                                                                    [f"{name}/b"])
    assert error(lambda: ssm.get_parameter(Name=f"{name}/a"))[0] == "ParameterNotFound"


BAD_NAME = ("Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a "
            "path, it can consist of sub-paths divided by slash symbol; each sub-path can be "
            "formed as a mix of letters, numbers and the following 3 symbols .-_")


@pytest.mark.parametrize("name", ["has space", "a/b", "/a//b", "/aws/x", "ssm-thing", "/a/b/"])
def test_bad_names(ssm, name):
    assert error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String")) == (
        "ValidationException", BAD_NAME)
    reserved = name.lstrip("/").lower().startswith(("aws", "ssm"))
    # reads refuse a malformed name too; the reserved hierarchies are only not found
    assert error(lambda: ssm.get_parameter(Name=name)) == (
        ("ParameterNotFound", "") if reserved else ("ValidationException", BAD_NAME))


def test_validation_and_tiers(ssm):
    name = unique("plain")  # a name outside any hierarchy
    assert error(lambda: ssm.put_parameter(Name=name, Value="v")) == (
        "ValidationException", "A parameter type is required when you create a parameter.")
    code, message = error(lambda: ssm.put_parameter(Name=name, Value="v", Type="Nope"))
    assert code == "ValidationException" and "Member must satisfy enum value set" in message
    assert error(lambda: ssm.put_parameter(Name=name, Value="x" * 4097, Type="String"))[0] == \
        "ValidationException"
    assert ssm.put_parameter(Name=name, Value="x" * 4097, Type="String",
                             Tier="Intelligent-Tiering")["Tier"] == "Advanced"
    code, message = error(lambda: ssm.put_parameter(Name=name, Value="v", Overwrite=True,
                                                    Tier="Standard"))
    assert code == "ValidationException" and "can't downgrade" in message
    assert error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", Overwrite=True,
                                           Tags=[{"Key": "k", "Value": "v"}]))[1].startswith(
        "Invalid request: tags and overwrite can't be used together.")
    levels = "/" + "/".join("l" for _ in range(16))
    assert error(lambda: ssm.put_parameter(Name=levels, Value="v", Type="String"))[0] == \
        "HierarchyLevelLimitExceededException"


def test_allowed_pattern(ssm):
    name = f"/{unique('pat')}"
    assert error(lambda: ssm.put_parameter(Name=name, Value="abc", Type="String",
                                           AllowedPattern=r"^\d+$")) == (
        "ParameterPatternMismatchException",
        r"Parameter value, cannot be validated against allowedPattern: ^\d+$")
    ssm.put_parameter(Name=name, Value="42", Type="String", AllowedPattern=r"^\d+$")
    # the pattern stays with the parameter
    assert error(lambda: ssm.put_parameter(Name=name, Value="x", Overwrite=True))[0] == \
        "ParameterPatternMismatchException"


def test_by_path_recursive_and_paging(ssm):
    root = f"/{unique('tree')}"
    names = [f"{root}/a", f"{root}/b", f"{root}/sub/c", f"{root}/sub/deep/d"]
    for name in names:
        ssm.put_parameter(Name=name, Value=name[-1], Type="String")
    one = ssm.get_parameters_by_path(Path=root)["Parameters"]
    assert [p["Name"] for p in one] == [f"{root}/a", f"{root}/b"]
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=root + "/", Recursive=True, PaginationConfig={"PageSize": 3})
    seen = [[p["Name"] for p in page["Parameters"]] for page in pages]
    assert seen == [names[:3], names[3:]]
    typed = ssm.get_parameters_by_path(Path=root, Recursive=True, ParameterFilters=[
        {"Key": "Type", "Values": ["StringList"]}])["Parameters"]
    assert typed == []
    code, message = error(lambda: ssm.get_parameters_by_path(Path="no-slash"))
    assert code == "ValidationException"
    assert message.startswith("The parameter doesn't meet the parameter name requirements.")
    assert error(lambda: ssm.get_parameters_by_path(Path=root, NextToken="bogus"))[0] == \
        "InvalidNextToken"


def test_describe_filters(ssm):
    root = f"/{unique('desc')}"
    ssm.put_parameter(Name=f"{root}/x", Value="1", Type="String", Description="the x")
    ssm.put_parameter(Name=f"{root}/y", Value="1,2", Type="StringList",
                      Tags=[{"Key": "team", "Value": "blue"}])
    ssm.put_parameter(Name=f"{root}/deeper/z", Value="1", Type="String")

    def names(**kw):
        pages = ssm.get_paginator("describe_parameters").paginate(**kw)
        return [p["Name"] for page in pages for p in page["Parameters"]]

    assert names(ParameterFilters=[{"Key": "Path", "Values": [root]}]) == [f"{root}/x",
                                                                           f"{root}/y"]
    assert len(names(ParameterFilters=[{"Key": "Path", "Option": "Recursive",
                                        "Values": [root]}])) == 3
    assert names(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [root]},
                                   {"Key": "Type", "Values": ["StringList"]}]) == [f"{root}/y"]
    assert names(ParameterFilters=[{"Key": "tag:team", "Values": ["blue"]}]) == [f"{root}/y"]
    x = ssm.describe_parameters(ParameterFilters=[
        {"Key": "Name", "Values": [f"{root}/x"]}])["Parameters"][0]
    assert (x["Description"], x["Version"], x["Tier"], x["DataType"]) == (
        "the x", 1, "Standard", "text")
    code, message = error(lambda: ssm.describe_parameters(ParameterFilters=[
        {"Key": "Colour", "Values": ["x"]}]))  # the model's key pattern refuses it
    assert code == "ValidationException" and "parameterFilters.1.member.key" in message
    assert error(lambda: ssm.describe_parameters(ParameterFilters=[
        {"Key": "Type", "Option": "BeginsWith", "Values": ["x"]}])) == (
        "InvalidFilterOption", ("The following filter option is not valid: BeginsWith. Valid "
        "options include: [Equals]."))
    assert error(lambda: ssm.describe_parameters(
        Filters=[{"Key": "Name", "Values": ["x"]}],
        ParameterFilters=[{"Key": "Name", "Values": ["x"]}])) == (
        "ValidationException", ("You can use either Filters or ParameterFilters in a single "
        "request."))


def test_history_and_labels(ssm):
    name = f"/{unique('hist')}"
    for value in ("one", "two", "three"):
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [(h["Version"], h["Value"], h["Labels"]) for h in history] == [
        (1, "one", []), (2, "two", []), (3, "three", [])]
    pages = ssm.get_paginator("get_parameter_history").paginate(
        Name=name, PaginationConfig={"PageSize": 2})
    assert [len(p["Parameters"]) for p in pages] == [2, 1]
    out = ssm.label_parameter_version(Name=name, ParameterVersion=1,
                                      Labels=["prod", "aws-nope", "123"])
    assert (out["ParameterVersion"], out["InvalidLabels"]) == (1, ["aws-nope", "123"])
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "one"
    ssm.label_parameter_version(Name=name, Labels=["prod"])  # moves to the latest
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "three"
    assert ssm.get_parameter_history(Name=name)["Parameters"][0]["Labels"] == []
    out = ssm.unlabel_parameter_version(Name=name, ParameterVersion=3,
                                        Labels=["prod", "other"])
    assert (out["RemovedLabels"], out["InvalidLabels"]) == (["prod"], ["other"])
    assert error(lambda: ssm.get_parameter(Name=f"{name}:prod"))[0] == \
        "ParameterVersionNotFound"


def test_tags(ssm):
    name = f"/{unique('tags')}"
    ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "a", "Value": "1"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                             Tags=[{"Key": "b", "Value": "2"}])
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["a"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)[
        "TagList"] == [{"Key": "b", "Value": "2"}]
    assert error(lambda: ssm.list_tags_for_resource(ResourceType="Parameter",
                                                    ResourceId=name + "x"))[0] == \
        "InvalidResourceId"


def test_unserved_operation(ssm):
    assert error(lambda: ssm.list_documents()) == (
        "UnknownOperationException", "Operation ListDocuments is not supported.")


def test_aws_cli(server):
    name = f"/{unique('cli')}/greeting"
    out = server.aws("ssm", "put-parameter", "--name", name, "--value", "hello",
                     "--type", "String")
    assert out == {"Version": 1, "Tier": "Standard"}
    got = server.aws("ssm", "get-parameters-by-path", "--path", name.rsplit("/", 1)[0])
    assert [p["Value"] for p in got["Parameters"]] == ["hello"]
    proc = server.aws("ssm", "get-parameter", "--name", name + "-x", check=False)
    assert proc.returncode == 255  # awscli v1: a service error
    assert "An error occurred (ParameterNotFound) when calling the GetParameter operation" \
        in proc.stderr


def test_iam_decides_on_the_parameter_arn(server, ssm):
    iam = server.client("iam")
    user = unique("ssmuser")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    app = f"/{unique('iamapp')}"
    ssm.put_parameter(Name=f"{app}/visible", Value="ok", Type="String")
    ssm.put_parameter(Name=f"{app}/hidden", Value="no", Type="String")
    iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": f"arn:aws:ssm:us-east-1:000000000000:parameter{app}/visible"}]}))
    mine = boto3.client("ssm", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"])
    assert mine.get_parameter(Name=f"{app}/visible")["Parameter"]["Value"] == "ok"
    assert mine.get_parameter(Name=f"{app}/visible:1")["Parameter"]["Value"] == "ok"
    code, message = error(lambda: mine.get_parameter(Name=f"{app}/hidden"))
    assert code == "AccessDeniedException"
    assert (f"is not authorized to perform: ssm:GetParameter on resource: "
            f"arn:aws:ssm:us-east-1:000000000000:parameter{app}/hidden") in message
    assert error(lambda: mine.get_parameters(Names=[f"{app}/visible", f"{app}/hidden"]))[0] == \
        "AccessDeniedException"
    assert error(lambda: mine.put_parameter(Name=f"{app}/visible", Value="x",
                                            Overwrite=True))[0] == "AccessDeniedException"
