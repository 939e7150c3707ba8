"""Invoke against a live server through boto3 and the aws CLI: the function runs for real
(awslambdaric or a bootstrap), its logs and metrics land in CloudWatch."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
import threading
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.errors import error_and_status as error_of
from tests.lambda_.conftest import BASIC, arn, make_role, unique, zipped

COUNTER = """
import json, os, time
count = 0
print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])

def handler(event, context):
    global count
    count += 1
    if event.get("fail"):
        raise ValueError("asked to fail")
    time.sleep(event.get("sleep", 0))
    print("event", json.dumps(event))
    return {"count": count, "arn": context.invoked_function_arn,
            "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""

# Runs until the file event["release"] exists, after creating event["started"] (/tmp: the
# function's user may write there, and see what the test writes)
# Environments share nothing but the network (each has its own /tmp): a held invocation and
# the test meet in an S3 bucket of the server's
HOLD = """
import time
import boto3

def handler(event, context):
    if "started" not in event:
        return "not held"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=event["bucket"], Key=event["started"], Body=b"")
    deadline = time.monotonic() + 50
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket=event["bucket"], Prefix=event["release"])["KeyCount"]:
            return "released"
        time.sleep(0.05)
    return "never released"
"""
S3_FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonS3FullAccess"

START = re.compile(r"START RequestId: ([0-9a-f-]{36}) Version: (\$LATEST|\d+)$")
REPORT = re.compile(
    r"REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: \d+ MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?"
    r"(Status: \w+(\tError Type: [\w.]+)?)?$")


@pytest.fixture(scope="module")
def logs(server):
    return server.client("logs")


@pytest.fixture
def function(lam, role):
    """function(source=COUNTER, **CreateFunction arguments) -> the function's name."""
    def make(source: str = COUNTER, files: dict | None = None, **kwargs) -> str:
        name = kwargs.pop("FunctionName", None) or unique()
        code = zipped(source, "index.py") if files is None else package(files)
        lam.create_function(FunctionName=name, Runtime=kwargs.pop("Runtime", "python3.12"),
                            Role=kwargs.pop("Role", role),
                            Handler=kwargs.pop("Handler", "index.handler"),
                            Code={"ZipFile": code}, **kwargs)
        return name
    return make


def package(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name == "bootstrap" else 0o100644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def invoke(lam, name: str, event=None, **kwargs) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


def tail(response) -> list[str]:
    return base64.b64decode(response["LogResult"]).decode().splitlines()


def messages(logs, group: str, done=lambda found: bool(found), timeout: float = 10) -> list[str]:
    """The group's log messages, polled until `done(messages)` (logs land a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            found = [e["message"] for page in pages for e in page["events"]]
        except ClientError:
            found = []
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_request_response_warm_state_and_tail(lam, function):
    name = function()
    first, out1 = invoke(lam, name, {"n": 1}, LogType="Tail")
    second, out2 = invoke(lam, name, {"n": 2}, LogType="Tail")
    assert first["StatusCode"] == 200 and first["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in first
    assert (out1["count"], out2["count"]) == (1, 2)  # module state lives on between calls
    assert out1["arn"] == arn(name)
    lines = tail(first)
    assert f"init of {name}" in lines
    start = next(x for x in lines if x.startswith("START"))
    # the invocation's request id is the response's x-amzn-RequestId
    assert START.match(start)[1] == first["ResponseMetadata"]["RequestId"]
    assert 'event {"n": 1}' in lines
    assert lines[-2] == f"END RequestId: {START.match(start)[1]}"
    assert REPORT.match(lines[-1]) and "Init Duration" in lines[-1]
    assert "Init Duration" not in tail(second)[-1]
    assert lines[-1].endswith(" ms\t")


def test_aws_cli_invoke(server, function, tmp_path):
    name = function()
    outfile = tmp_path / "out.json"
    result = server.aws("lambda", "invoke", "--function-name", name, "--payload", '{"n": 5}',
                        "--log-type", "Tail", str(outfile))
    assert result["StatusCode"] == 200 and result["ExecutedVersion"] == "$LATEST"
    assert json.loads(outfile.read_text())["count"] == 1
    assert 'event {"n": 5}' in base64.b64decode(result["LogResult"]).decode()
    failed = server.aws("lambda", "invoke", "--function-name", name, "--payload",
                        '{"fail": true}', str(outfile))
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(outfile.read_text())["errorType"] == "ValueError"


def test_dry_run_event_and_bad_requests(lam, logs, function):
    name = function()
    dry = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204 and dry["Payload"].read() == b""
    queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async": 1}')
    assert queued["StatusCode"] == 202 and queued["Payload"].read() == b""
    request_id = queued["ResponseMetadata"]["RequestId"]
    found = messages(logs, f"/aws/lambda/{name}",
                     lambda m: any(x.startswith(f"END RequestId: {request_id}") for x in m))
    assert f"START RequestId: {request_id} Version: $LATEST" in found
    assert 'event {"async": 1}' in found
    for payload in (b"not json", b"[" * 1200 + b"]" * 1200, b"[" * 100_000):
        with pytest.raises(ClientError) as caught:
            lam.invoke(FunctionName=name, Payload=payload)
        code, message, status = error_of(caught)
        assert (code, status) == ("InvalidRequestContentException", 400)
        assert message.startswith("Could not parse request body into json")
    # the payload is the function's: nesting AWS's parser takes is passed on
    deep = lam.invoke(FunctionName=name, InvocationType="DryRun",
                      Payload=b"[" * 300 + b"]" * 300)
    assert deep["StatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName="no-such-function")
    assert error_of(caught) == ("ResourceNotFoundException",
                                f"Function not found: {arn('no-such-function')}", 404)


def test_unhandled_error_payload(lam, function):
    name = function()
    response, error = invoke(lam, name, {"fail": True}, LogType="Tail")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "asked to fail"
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any('raise ValueError("asked to fail")' in frame for frame in error["stackTrace"])
    assert any(x.startswith("[ERROR] ValueError: asked to fail") for x in tail(response))


def test_timeout(lam, logs, function):
    name = function(Timeout=1)
    response, error = invoke(lam, name, {"sleep": 3}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    after = re.fullmatch(rf"RequestId: {request_id} Error: Task timed out after (\d+\.\d\d) "
                         "seconds", error["errorMessage"])
    assert after and float(after[1]) >= 1.0  # how soon after: bench/lambda_limits.py
    found = messages(logs, f"/aws/lambda/{name}",
                     lambda m: any(x.startswith("REPORT") for x in m))
    assert any(re.fullmatch(rf"\d{{4}}-\d\d-\d\dT[\d:.]+Z {request_id} Task timed out after "
                            + re.escape(after[1]) + " seconds", x) for x in found)
    report = next(x for x in found if x.startswith("REPORT"))
    assert REPORT.match(report) and report.endswith("\tStatus: timeout")
    _, out = invoke(lam, name)
    assert out["count"] == 1  # a new environment after the timeout killed the old one


def test_memory_limit(lam, function):
    source = "def handler(e, c):\n    data = b'x' * (300 * 1024 * 1024)\n    return len(data)\n"
    name = function(source, MemorySize=128)
    response, error = invoke(lam, name)
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Runtime.OutOfMemory", "errorMessage":
                     f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"}


def test_init_error(lam, function):
    name = function("import not_installed_module\n")
    response, error = invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorMessage": "Unable to import module 'index': No module named "
                                     "'not_installed_module'",
                     "errorType": "Runtime.ImportModuleError", "requestId": "",
                     "stackTrace": []}


def test_logs_in_cloudwatch(lam, logs, function):
    name = function()
    invoke(lam, name, {"n": 1})
    invoke(lam, name, {"n": 2})
    group = f"/aws/lambda/{name}"
    found = messages(logs, group, lambda m: len([x for x in m if x.startswith("REPORT")]) == 2)
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", streams[0]["logStreamName"])
    events = logs.get_log_events(logGroupName=group,
                                 logStreamName=streams[0]["logStreamName"])["events"]
    assert [e["message"] for e in events] == found
    body = [x for x in found if not x.startswith("vpclocal:")]
    assert body[0] == f"init of {name}"
    assert START.match(body[1]) and body[2] == 'event {"n": 1}'
    assert body[3] == f"END RequestId: {START.match(body[1])[1]}"
    assert REPORT.match(body[4]) and "Init Duration" in body[4]
    assert REPORT.match(body[8]) and "Init Duration" not in body[8]


def test_custom_log_group(lam, logs, function):
    name = function(LoggingConfig={"LogGroup": "/custom/group", "LogFormat": "Text"})
    invoke(lam, name)
    found = messages(logs, "/custom/group", lambda m: any(x.startswith("REPORT") for x in m))
    assert any(x.startswith("REPORT") for x in found)


def test_metrics(server, lam, function):
    name = function()
    for event in ({}, {}, {"fail": True}):
        invoke(lam, name, event)
    cw = server.client("cloudwatch")
    now = datetime.now(UTC)

    def stat(metric: str, statistic: str = "Sum") -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5), Period=600, Statistics=[statistic],
            Dimensions=[{"Name": "FunctionName", "Value": name}])["Datapoints"]
        return sum(p[statistic] for p in points)

    deadline = time.monotonic() + 5
    while stat("Invocations") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stat("Invocations") == 3
    assert stat("Errors") == 1
    assert stat("Duration", "SampleCount") == 3
    assert stat("ConcurrentExecutions", "Maximum") == 1


def test_throttling(server, iam, function):
    # botocore retries throttling errors by itself: see each answer
    lam = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=BotoConfig(retries={"total_max_attempts": 1}))
    name = function(HOLD, Timeout=60, Role=make_role(iam, BASIC, S3_FULL_ACCESS))
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as caught:
        invoke(lam, name)
    response = caught.value.response
    assert error_of(caught) == ("TooManyRequestsException", "Rate Exceeded.", 429)
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    # a call that holds the only slot: it runs until the test lets it go
    s3, bucket = server.client("s3"), unique("hold")
    s3.create_bucket(Bucket=bucket)
    held = []
    slow = threading.Thread(target=lambda: held.append(invoke(lam, name, {
        "bucket": bucket, "started": "started", "release": "release"})))
    slow.start()
    try:
        deadline = time.monotonic() + 30
        while not s3.list_objects_v2(Bucket=bucket, Prefix="started")["KeyCount"]:
            assert time.monotonic() < deadline and slow.is_alive(), held
            time.sleep(0.02)
        with pytest.raises(ClientError) as caught:
            invoke(lam, name)
        assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    finally:
        s3.put_object(Bucket=bucket, Key="release", Body=b"")
        slow.join()
    assert held[0][1] == "released"
    assert invoke(lam, name)[0]["StatusCode"] == 200


def test_versions_and_aliases(lam, function):
    name = function()
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    by_version, out = invoke(lam, name, Qualifier=version)
    assert by_version["ExecutedVersion"] == version and out["arn"] == arn(name, version)
    by_alias, out = invoke(lam, name, Qualifier="live", LogType="Tail")
    assert by_alias["ExecutedVersion"] == version and out["arn"] == arn(name, "live")
    assert any(x == f"START RequestId: {by_alias['ResponseMetadata']['RequestId']} Version: "
               f"{version}" for x in tail(by_alias))
    by_arn, out = invoke(lam, arn(name, "live"))
    assert by_arn["ExecutedVersion"] == version
    assert invoke(lam, name, Qualifier="$LATEST")[0]["ExecutedVersion"] == "$LATEST"


def test_provisioned_concurrency(lam, logs, function):
    name = function()
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                           ProvisionedConcurrentExecutions=1)
    # the runtime's reconcile loop starts the environment: its init lands in the function's log
    assert f"init of {name}" in messages(logs, f"/aws/lambda/{name}",
                                         lambda m: f"init of {name}" in m, timeout=30)
    response, out = invoke(lam, name, Qualifier=version, LogType="Tail")
    assert out == {"count": 1, "arn": arn(name, version), "init": "provisioned-concurrency"}
    assert "Init Duration" not in tail(response)[-1]
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)


def test_environment_variables_and_boto3_inside(server, lam, iam, function):
    source = """
import os, boto3

def handler(event, context):
    identity = boto3.client("sts").get_caller_identity()
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    keys = ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "GREETING", "TZ",
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER"]
    return {"env": {k: os.environ.get(k) for k in keys}, "arn": identity["Arn"],
            "sees_itself": context.function_name in names,
            "token": bool(os.environ.get("AWS_SESSION_TOKEN"))}
"""
    # its role lets it list functions (IAM decides what its credentials may do)
    role = make_role(iam, BASIC, "arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    name = function(source, MemorySize=256, Environment={"Variables": {"GREETING": "hello"}},
                    Role=role)
    response, out = invoke(lam, name)
    assert "FunctionError" not in response, out
    # --no-fabric (this server): no network to cross, so a relay to the server is the
    # function's AWS_ENDPOINT_URL (in the fabric it has none: test_interface_endpoints.py)
    assert out["env"] == {"AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1",
                          "AWS_DEFAULT_REGION": "us-east-1", "GREETING": "hello", "TZ": ":UTC",
                          "AWS_LAMBDA_FUNCTION_NAME": name,
                          "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "_HANDLER": "index.handler"}
    # the execution role's temporary credentials, reaching vpclocal
    assert re.fullmatch(rf"arn:aws:sts::000000000000:assumed-role/role-[0-9a-f]+/{name}",
                        out["arn"])
    assert out["sees_itself"] and out["token"]


def test_package_with_dependency(lam, function):
    files = {"index.py": "import helperlib\ndef handler(e, c):\n    return helperlib.VALUE\n",
             "helperlib/__init__.py": "VALUE = 'from the package'\n"}
    assert invoke(lam, function(files=files))[1] == "from the package"


BOOTSTRAP = """#!/usr/bin/env python3
import http.client, json, os
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
conn = http.client.HTTPConnection(api)
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    event = json.loads(r.read())
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    print("custom runtime got", json.dumps(event), flush=True)
    body = json.dumps({"echo": event, "handler": os.environ["_HANDLER"]})
    conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", body)
    conn.getresponse().read()
"""


def test_python314_runs_on_the_machines_python(lam, function):
    name = function(Runtime="python3.14")
    response, out = invoke(lam, name, {"n": 1}, LogType="Tail")
    assert response["StatusCode"] == 200 and out["count"] == 1
    machine = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    noted = any(line.startswith("vpclocal: runtime python3.14 runs on Python ")
                for line in tail(response))
    assert noted == (machine != "python3.14")


def test_provided_al2023_bootstrap(lam, function):
    name = function(files={"bootstrap": BOOTSTRAP}, Runtime="provided.al2023",
                    Handler="function.handler")
    response, out = invoke(lam, name, {"k": "v"}, LogType="Tail")
    assert out == {"echo": {"k": "v"}, "handler": "function.handler"}
    assert 'custom runtime got {"k": "v"}' in tail(response)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can run code as another user")
def test_function_cannot_read_the_store(server, lam, function):
    source = ("import os\ndef handler(e, c):\n    try:\n        open(e['path'], 'rb').read(1)\n"
              "        return 'read it'\n    except OSError as exc:\n        return exc.errno\n")
    name = function(source)
    assert invoke(lam, name, {"path": str(server.data_dir / "state.db")})[1] in (13, 2)


def test_event_retries_failures_twice(lam, logs, function):
    marker = f"/tmp/vpclocal-attempts-{uuid.uuid4().hex}"
    source = f"""
import os
def handler(event, context):
    path = {marker!r}
    attempt = (int(open(path).read()) if os.path.exists(path) else 0) + 1
    with open(path, "w") as f:
        f.write(str(attempt))
    print("attempt", attempt, context.aws_request_id)
    if attempt < 3:
        raise RuntimeError(f"failure {{attempt}}")
    return "done"
"""
    name = function(source)
    try:
        queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        request_id = queued["ResponseMetadata"]["RequestId"]
        found = messages(logs, f"/aws/lambda/{name}",
                         lambda m: f"attempt 3 {request_id}" in m, timeout=15)
        assert [x for x in found if x.startswith("attempt")] == [
            f"attempt {n} {request_id}" for n in (1, 2, 3)]
        starts = [x for x in found if x.startswith("START")]
        assert starts == [f"START RequestId: {request_id} Version: $LATEST"] * 3
    finally:
        Path(marker).unlink(missing_ok=True)


def test_event_queue_survives_a_restart(tmp_path, monkeypatch):
    # each run is counted in S3: the retry runs in another environment (of another server run)
    source = """
import boto3
def handler(event, context):
    s3 = boto3.client("s3")
    runs = s3.list_objects_v2(Bucket=event["bucket"])["KeyCount"] + 1
    s3.put_object(Bucket=event["bucket"], Key=f"run-{runs}", Body=b"")
    print("run", runs)
    if runs == 1:
        raise RuntimeError("fail the first time")
"""
    # the retry falls due 3 s after the failure: long after this server has stopped
    monkeypatch.setenv("VPCLOCAL_LAMBDA_RETRY_SECONDS", "3")
    server = Server(tmp_path / "data").start()
    try:
        lam, logs, s3 = server.client("lambda"), server.client("logs"), server.client("s3")
        role = make_role(server.client("iam"), BASIC, S3_FULL_ACCESS)
        name, bucket = unique(), unique("runs")
        s3.create_bucket(Bucket=bucket)
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                            Handler="index.handler", Code={"ZipFile": zipped(source)})
        lam.invoke(FunctionName=name, InvocationType="Event",
                   Payload=json.dumps({"bucket": bucket}).encode())
        assert "run 1" in messages(logs, f"/aws/lambda/{name}", lambda m: "run 1" in m)
        # the retry has not run yet: it is in the store when the server stops
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["run-1"]
        server.stop()
        server = Server(tmp_path / "data", port=server.port).start()
        found = messages(server.client("logs"), f"/aws/lambda/{name}",
                         lambda m: "run 2" in m, timeout=15)
        assert "run 2" in found
    finally:
        server.stop()
