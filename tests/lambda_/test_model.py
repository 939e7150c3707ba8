"""The look-ups Invoke and the runtime use (model.resolve & co.), on a store of their own, and
interrupted work settled after a restart."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import Server
from tests.lambda_.conftest import BASIC, make_role, unique, wait_state, zipped
from vpclocal.errors import ServiceError
from vpclocal.services.lambda_ import lifecycle
from vpclocal.services.lambda_.model import (
    ALIASES,
    FUNCTIONS,
    VERSIONS,
    function_arn,
    provisioned_concurrency,
    reserved_concurrency,
    resolve,
    split_name,
)
from vpclocal.store import Store

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def record(version: str = "$LATEST", **extra) -> dict:
    arn = ARN if version == "$LATEST" else f"{ARN}:{version}"
    return {"FunctionName": "fn", "FunctionArn": arn, "Version": version, "Timeout": 3,
            "State": "Active", "LastUpdateStatus": "Successful", "_CodePath": f"/c/{version}",
            **extra}


@pytest.fixture
def store():
    store = Store()
    with store.transaction("us-east-1") as tx:
        tx.put(FUNCTIONS, "fn", record(_ReservedConcurrentExecutions=5, _Provisioned={
            "1": {"RequestedProvisionedConcurrentExecutions": 2, "Status": "READY"},
            "live": {"RequestedProvisionedConcurrentExecutions": 1, "Status": "IN_PROGRESS"}}))
        tx.put(VERSIONS, "fn:1", record("1"))
        tx.put(VERSIONS, "fn:2", record("2", Timeout=9))
        tx.put(ALIASES, "fn:live", {"Name": "live", "FunctionVersion": "1"})
        tx.put(ALIASES, "fn:canary", {"Name": "canary", "FunctionVersion": "1",
                                      "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.0}}})
    yield store
    store.close()


@pytest.mark.parametrize(("given", "qualifier", "version"), [
    ("fn", None, "$LATEST"), (ARN, None, "$LATEST"), ("000000000000:function:fn", None, "$LATEST"),
    ("fn", "$LATEST", "$LATEST"), ("fn:1", None, "1"), ("fn", "2", "2"), (f"{ARN}:2", None, "2"),
    ("fn", "live", "1"), (f"{ARN}:live", "live", "1"), ("fn", "canary", "2"),
])
def test_resolve(store, given, qualifier, version):
    with store.transaction("us-east-1") as tx:
        found, executed = resolve(tx, given, qualifier)
    assert executed == version
    assert found["Version"] == version
    assert found["_CodePath"] == f"/c/{version}"


@pytest.mark.parametrize(("given", "qualifier", "arn"), [
    ("nope", None, "arn:aws:lambda:us-east-1:000000000000:function:nope"),
    ("fn", "7", f"{ARN}:7"), ("fn", "dark", f"{ARN}:dark"),
    ("nope", "3", "arn:aws:lambda:us-east-1:000000000000:function:nope:3"),
])
def test_resolve_not_found(store, given, qualifier, arn):
    with store.transaction("us-east-1") as tx, pytest.raises(ServiceError) as caught:
        resolve(tx, given, qualifier)
    assert (caught.value.code, caught.value.status) == ("ResourceNotFoundException", 404)
    assert caught.value.message == f"Function not found: {arn}"


def test_resolve_during_an_update_runs_the_previous_configuration(store):
    with store.transaction("us-east-1") as tx:
        fn = tx.edit(FUNCTIONS, "fn")
        lifecycle.start_update(fn, dict(fn))
        fn.update(Timeout=60, _CodePath="/c/new")
    with store.transaction("us-east-1") as tx:
        found, executed = resolve(tx, "fn")
    assert (found["Timeout"], found["_CodePath"], executed) == (3, "/c/$LATEST", "$LATEST")


def test_qualifier_mismatch():
    with pytest.raises(ServiceError) as caught:
        split_name("fn:1", "2")
    assert caught.value.code == "InvalidParameterValueException"


def test_concurrency_lookups(store):
    view = store.view("us-east-1")
    assert reserved_concurrency(view, "fn") == 5
    assert reserved_concurrency(view, "other") is None
    assert provisioned_concurrency(view, "fn") == {"1": 2, "live": 1}
    assert provisioned_concurrency(view, "other") == {}


def test_function_arn():
    ctx = SimpleNamespace(region="eu-west-1")
    assert function_arn(ctx, "123456789012", "f") == \
        "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert function_arn("us-east-1", "123456789012", "f", "live") == \
        "arn:aws:lambda:us-east-1:123456789012:function:f:live"


def test_settle_all_finishes_interrupted_work(store):
    with store.transaction("us-east-1") as tx:
        fn = tx.edit(FUNCTIONS, "fn")
        lifecycle.start_update(fn, dict(fn))
    provider = SimpleNamespace(app=SimpleNamespace(store=store))
    lifecycle.settle_all(provider, store.scopes(FUNCTIONS), "000000000000")
    fn = store.view("us-east-1").get(FUNCTIONS, "fn")
    assert fn["LastUpdateStatus"] == "Successful"
    assert "_Live" not in fn
    assert fn["_Provisioned"]["live"]["Status"] == "READY"
    assert fn["_Provisioned"]["live"]["AvailableProvisionedConcurrentExecutions"] == 1


def test_restart_settles_an_update_in_progress(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        lam = srv.client("lambda")
        role = make_role(srv.client("iam"), BASIC)
        name = unique()
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped()})
        lam.update_function_configuration(FunctionName=name, Timeout=11)
        srv.stop(9)  # most likely inside the settle window
        srv.start()
        config = wait_state(lam, name, "LastUpdateStatus", "Successful")
        assert (config["LastUpdateStatus"], config["Timeout"]) == ("Successful", 11)
    finally:
        srv.stop()
