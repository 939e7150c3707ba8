"""Reserved and provisioned concurrency through boto3 and the aws CLI."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_and_status as error_of
from tests.lambda_.conftest import arn, unique

TOO_HIGH = ("Specified ReservedConcurrentExecutions for function decreases account's "
            "UnreservedConcurrentExecution below its minimum value of [100].")


def test_reserved_concurrency(lam, create):
    name = create()["FunctionName"]
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=10)
    assert put["ReservedConcurrentExecutions"] == 10
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 10
    assert lam.get_function(FunctionName=name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 10}
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == \
        unreserved - 10
    response = lam.delete_function_concurrency(FunctionName=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert "Concurrency" not in lam.get_function(FunctionName=name)


def test_reserved_concurrency_keeps_100_unreserved(lam, create):
    name = create()["FunctionName"]
    with pytest.raises(ClientError) as caught:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    assert error_of(caught) == ("InvalidParameterValueException", TOO_HIGH, 400)
    with pytest.raises(ClientError) as caught:
        lam.put_function_concurrency(FunctionName=unique(), ReservedConcurrentExecutions=1)
    assert error_of(caught)[0] == "ResourceNotFoundException"


def test_reserved_concurrency_zero_is_allowed(server, create):
    name = create()["FunctionName"]
    result = server.aws("lambda", "put-function-concurrency", "--function-name", name,
                        "--reserved-concurrent-executions", "0")
    assert result == {"ReservedConcurrentExecutions": 0}
    server.aws("lambda", "delete-function-concurrency", "--function-name", name)


def test_provisioned_concurrency(lam, create):
    name = create(Publish=True)["FunctionName"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                 ProvisionedConcurrentExecutions=3)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 3
    assert put["AllocatedProvisionedConcurrentExecutions"] == 0
    assert put["AvailableProvisionedConcurrentExecutions"] == 0
    assert put["Status"] == "IN_PROGRESS"
    deadline = time.monotonic() + 5
    while True:
        got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        if got["Status"] == "READY" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert got["Status"] == "READY"
    assert got["AllocatedProvisionedConcurrentExecutions"] == 3
    assert got["AvailableProvisionedConcurrentExecutions"] == 3
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                           ProvisionedConcurrentExecutions=1)
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    assert sorted(c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]) == \
        [arn(name, "1"), arn(name, "live")]
    assert lam.delete_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert error_of(caught) == ("ProvisionedConcurrencyConfigNotFoundException",
                                "No Provisioned Concurrency Config found for this function",
                                404)


def test_provisioned_concurrency_errors(lam, create):
    name = create(Publish=True)["FunctionName"]
    with pytest.raises(ClientError) as caught:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert error_of(caught)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as caught:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="4",
                                               ProvisionedConcurrentExecutions=1)
    assert error_of(caught) == ("ResourceNotFoundException",
                                f"Function not found: {arn(name, '4')}", 404)
    with pytest.raises(ClientError) as caught:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="nope",
                                               ProvisionedConcurrentExecutions=1)
    assert error_of(caught)[0] == "ResourceNotFoundException"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    with pytest.raises(ClientError) as caught:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                               ProvisionedConcurrentExecutions=3)
    assert error_of(caught)[0] == "InvalidParameterValueException"
    lam.delete_function_concurrency(FunctionName=name)
