"""Versions and aliases through boto3."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_and_status as error_of
from tests.lambda_.conftest import arn, unique, wait_state, zipped


def settle(lam, name):
    wait_state(lam, name, "LastUpdateStatus", "Successful")


def test_publish_versions(lam, create):
    name = unique()
    created = create(name, Description="first")
    one = lam.publish_version(FunctionName=name)
    assert one["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (one["Version"], one["FunctionArn"]) == ("1", arn(name, "1"))
    assert one["CodeSha256"] == created["CodeSha256"]
    assert one["Description"] == "first"
    assert one["State"] == "Active"
    # nothing changed: AWS hands back the latest version instead of a new one
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    settle(lam, name)
    two = lam.publish_version(FunctionName=name, Description="second")
    assert (two["Version"], two["Timeout"], two["Description"]) == ("2", 9, "second")
    # versions are immutable snapshots
    lam.update_function_code(FunctionName=name, ZipFile=zipped("z = 3\n"))
    settle(lam, name)
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3
    assert lam.get_function(FunctionName=f"{name}:2")["Configuration"]["CodeSha256"] == \
        created["CodeSha256"]
    listed = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert listed[0]["FunctionArn"] == arn(name, "$LATEST")
    page = lam.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert len(page["Versions"]) == 2
    rest = lam.list_versions_by_function(FunctionName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2"]
    assert "NextMarker" not in rest


def test_publish_checks(lam, create):
    name = unique()
    create(name)
    with pytest.raises(ClientError) as caught:
        lam.publish_version(FunctionName=name, CodeSha256="bm90IHRoZSBoYXNo")
    code, message, _ = error_of(caught)
    assert code == "InvalidParameterValueException"
    assert message.startswith("CodeSHA256 (bm90IHRoZSBoYXNo) is different from current")
    with pytest.raises(ClientError) as caught:
        lam.publish_version(FunctionName=name, RevisionId=str(uuid.uuid4()))
    assert error_of(caught)[:2] == (
        "PreconditionFailedException", ("The Revision Id provided does not match the latest "
        "Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"))
    lam.update_function_configuration(FunctionName=name, Timeout=4)
    with pytest.raises(ClientError) as caught:  # while the update is in progress
        lam.publish_version(FunctionName=name)
    assert error_of(caught)[0] == "ResourceConflictException"


def test_version_numbers_are_never_reused(lam, create):
    name = unique()
    create(name, Publish=True)
    lam.delete_function(FunctionName=name, Qualifier="1")
    lam.update_function_configuration(FunctionName=name, MemorySize=256)
    settle(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def test_delete_version_errors(lam, create):
    name = unique()
    create(name, Publish=True)
    with pytest.raises(ClientError) as caught:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error_of(caught)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as caught:
        lam.delete_function(FunctionName=name, Qualifier="9")
    assert error_of(caught) == ("ResourceNotFoundException",
                                f"Function not found: {arn(name, '9')}", 404)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as caught:
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert error_of(caught)[0] == "ResourceConflictException"
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert lam.get_function(FunctionName=name)["Configuration"]["Version"] == "$LATEST"


def test_aliases(lam, create):
    name = unique()
    create(name, Publish=True)
    lam.update_function_configuration(FunctionName=name, Timeout=7)
    settle(lam, name)
    lam.publish_version(FunctionName=name)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                             Description="prod",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert alias["AliasArn"] == arn(name, "live")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    got = lam.get_alias(FunctionName=name, Name="live")
    assert (got["FunctionVersion"], got["Description"]) == ("1", "prod")
    # GetFunction through the alias: the version it points to, the ARN it was named by
    config = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert (config["Version"], config["FunctionArn"]) == ("1", arn(name, "live"))
    with pytest.raises(ClientError) as caught:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert error_of(caught) == ("ResourceConflictException",
                                f"Alias already exists: {arn(name, 'live')}", 409)
    with pytest.raises(ClientError) as caught:
        lam.create_alias(FunctionName=name, Name="next", FunctionVersion="5")
    assert error_of(caught) == ("ResourceNotFoundException",
                                f"Function not found: {arn(name, '5')}", 404)
    with pytest.raises(ClientError) as caught:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                         RevisionId=str(uuid.uuid4()))
    assert error_of(caught)[0] == "PreconditionFailedException"
    updated = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                               RoutingConfig={"AdditionalVersionWeights": {}},
                               RevisionId=got["RevisionId"])
    assert updated["FunctionVersion"] == "2"
    assert updated["RevisionId"] != got["RevisionId"]
    lam.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["dev", "live"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="2")[
        "Aliases"]] == ["live"]
    assert lam.delete_alias(FunctionName=name, Name="dev")["ResponseMetadata"][
        "HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        lam.get_alias(FunctionName=name, Name="dev")
    assert error_of(caught) == ("ResourceNotFoundException",
                                f"Alias not found: {arn(name, 'dev')}", 404)
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as caught:
        lam.get_alias(FunctionName=name, Name="live")
    assert error_of(caught)[0] == "ResourceNotFoundException"


def test_alias_name_cannot_be_a_number(server, create):
    from tests.test_gateway import unvalidated_client

    name = create(Publish=True)["FunctionName"]
    with pytest.raises(ClientError) as caught:
        unvalidated_client(server, "lambda").create_alias(
            FunctionName=name, Name="123", FunctionVersion="1")
    assert error_of(caught)[0] == "ValidationException"
