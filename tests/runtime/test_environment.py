"""Invocation semantics of one execution environment: results, errors, timeouts, memory,
init failures, logs and the environment a function sees."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil

import pytest

from tests.runtime.conftest import ARN
from vpclocal.runtime.sandbox import FUNCTION_UIDS

HELLO = """
import json, os
count = 0
print("init line")

def handler(event, context):
    global count
    count += 1
    print("event", json.dumps(event))
    return {"count": count, "uid": os.getuid(), "event": event}
"""

CONTEXT = """
import os

def handler(event, context):
    cc = context.client_context
    return {"name": context.function_name, "version": context.function_version,
            "arn": context.invoked_function_arn, "memory": context.memory_limit_in_mb,
            "request_id": context.aws_request_id, "group": context.log_group_name,
            "stream": context.log_stream_name, "remaining": context.get_remaining_time_in_millis(),
            "custom": cc.custom if cc else None, "env": dict(os.environ), "cwd": os.getcwd()}
"""

REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d\d ms\tBilled Duration: "
    r"(?P<billed>\d+) ms\tMemory Size: 128 MB\tMax Memory Used: (?P<used>\d+) MB\t"
    r"(Init Duration: \d+\.\d\d ms\t)?$")


def payload(result) -> dict:
    return json.loads(result.payload)


def test_hello_cold_then_warm_keeps_module_state(harness):
    spec = harness.spec(HELLO)

    async def body(rt):
        return [await rt.invoke(spec, json.dumps({"n": i}).encode()) for i in range(3)]

    results = harness.run(body)
    assert [payload(r)["count"] for r in results] == [1, 2, 3]
    assert [r.cold for r in results] == [True, False, False]
    assert payload(results[2])["event"] == {"n": 2}
    assert all(r.function_error is None and r.status == "success" for r in results)
    if os.geteuid() == 0:
        # untrusted code runs as a user of its own function's, never root or the server's
        assert payload(results[0])["uid"] in FUNCTION_UIDS
    # one environment, one stream: init output, then START / output / END / REPORT per call
    assert len(harness.streams()) == 1
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", harness.streams()[0])
    lines = [x for x in harness.lines() if not x.startswith("vpclocal:")]
    assert lines[0] == "init line"
    starts = [x for x in lines if x.startswith("START")]
    assert len(starts) == 3
    assert re.fullmatch(r"START RequestId: [0-9a-f-]{36} Version: \$LATEST", starts[0])
    reports = [x for x in lines if x.startswith("REPORT")]
    assert all(REPORT.match(x) for x in reports), reports
    assert "Init Duration" in reports[0]
    assert "Init Duration" not in reports[1] + reports[2]
    assert lines[1:5] == [starts[0], 'event {"n": 0}', (f"END RequestId: "
                          f"{REPORT.match(reports[0])['id']}"), reports[0]]


def test_context_headers_and_environment_variables(harness, launch):
    spec = harness.spec(CONTEXT, name="ctx", memory_mb=256, timeout_s=7,
                        environment=(("GREETING", "hi"), ("TZ", "Europe/Paris"),
                                     ("AWS_REGION", "ignored")))
    context = json.dumps({"custom": {"k": "v"}, "env": {}, "client": {}})

    async def body(rt):
        return await rt.invoke(spec, b"{}", request_id="11111111-2222-3333-4444-555555555555",
                               invoked_arn=ARN + "ctx:live", client_context=context)

    out = payload(harness.run(body))
    assert out["name"] == "ctx" and out["version"] == "$LATEST"
    assert out["arn"] == ARN + "ctx:live"
    assert out["memory"] == "256"
    assert out["request_id"] == "11111111-2222-3333-4444-555555555555"
    assert out["group"] == "/aws/lambda/ctx"
    assert out["stream"] == harness.streams()[0]
    assert 6000 < out["remaining"] <= 7000
    assert out["custom"] == {"k": "v"}
    env = out["env"]
    assert env["GREETING"] == "hi"
    assert env["TZ"] == "Europe/Paris"  # not reserved: the function's own value wins
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"  # reserved
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ctx"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/ctx"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == out["stream"]
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["_HANDLER"] == "lambda_function.handler"
    assert env["LAMBDA_TASK_ROOT"] == out["cwd"]
    assert env["PYTHONPATH"] == out["cwd"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["LAMBDA_RUNTIME_DIR"] == launch.runtime_paths[0]
    assert "_X_AMZN_TRACE_ID" in env and env["_X_AMZN_TRACE_ID"].startswith("Root=1-")


def test_runtime_version_note_and_boto3_importable(harness, launch):
    source = "import boto3, botocore\ndef handler(e, c):\n    return boto3.__version__\n"
    spec = harness.spec(source, runtime="python3.12")
    result = harness.run(lambda rt: rt.invoke(spec, b"{}"))
    assert result.function_error is None and payload(result)
    host = ".".join(launch.python_version.split(".")[:2])
    notes = [x for x in harness.lines() if x.startswith("vpclocal: runtime")]
    if host != "3.12":
        assert notes == [(f"vpclocal: runtime python3.12 runs on Python {launch.python_version} "
                         "here.")]


def test_handler_exception_is_unhandled_with_aws_payload(harness):
    spec = harness.spec("def handler(event, context):\n    raise ValueError('boom')\n")

    async def body(rt):
        return await rt.invoke(spec, b"{}", request_id="req-1")

    result = harness.run(body)
    assert result.function_error == "Unhandled" and result.status == "error"
    error = payload(result)
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom"
    assert error["requestId"] == "req-1"
    assert "raise ValueError('boom')" in error["stackTrace"][0]
    logged = [x for x in harness.lines() if x.startswith("[ERROR]")]
    assert logged and logged[0].startswith("[ERROR] ValueError: boom\rTraceback")


def test_timeout_kills_the_environment(harness):
    source = ("import time\ncount = 0\ndef handler(e, c):\n    global count\n    count += 1\n"
              "    time.sleep(e.get('sleep', 0))\n    return count\n")
    spec = harness.spec(source, timeout_s=1)

    async def body(rt):
        first = await rt.invoke(spec, b'{"sleep": 5}', request_id="slow-1")
        second = await rt.invoke(spec, b"{}")
        return first, second

    first, second = harness.run(body)
    assert first.function_error == "Unhandled" and first.status == "timeout"
    error = payload(first)
    assert error["errorType"] == "Sandbox.Timedout"
    after = re.fullmatch(r"RequestId: slow-1 Error: Task timed out after (\d+\.\d\d) seconds",
                         error["errorMessage"])
    # not before the timeout; how soon after it is a figure of bench/lambda_limits.py
    assert after and float(after[1]) >= 1.0 and first.duration_ms >= 1000
    # the environment died with the timeout: a fresh one, module state starting over
    assert second.cold and payload(second) == 1
    lines = harness.lines()
    timed_out = [x for x in lines if "Task timed out" in x]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z slow-1 Task timed out after "
                        + re.escape(after[1]) + " seconds", timed_out[0])
    report = next(x for x in lines if x.startswith("REPORT RequestId: slow-1"))
    durations = re.search(r"\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\t", report)
    assert float(durations[1]) >= 1000 and int(durations[2]) >= 1000
    assert report.endswith("\tStatus: timeout")
    assert len(harness.streams()) == 2


@pytest.mark.parametrize("hold", [True, False], ids=["held", "transient-peak"])
def test_memory_above_memory_size_kills(harness, hold):
    source = ("import time\ndef handler(e, c):\n    data = b'x' * (200 * 1024 * 1024)\n"
              f"    time.sleep({3 if hold else 0})\n    print('held to the end', flush=True)\n"
              "    return len(data)\n")
    spec = harness.spec(source, memory_mb=128, timeout_s=5)

    async def body(rt):
        return await rt.invoke(spec, b"{}", request_id="oom-1")

    result = harness.run(body)
    assert result.function_error == "Unhandled"
    assert payload(result) == {"errorType": "Runtime.OutOfMemory", "errorMessage":
                               "RequestId: oom-1 Error: Runtime exited with error: signal: "
                               "killed"}
    lines = harness.lines()
    if hold:  # killed while it held the memory, not once it returned
        assert "held to the end" not in lines
    assert ("RequestId: oom-1 Error: Runtime exited with error: signal: killed\n"
            "Runtime.OutOfMemory") in lines
    report = next(x for x in lines if x.startswith("REPORT"))
    assert report.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    used = int(re.search(r"Max Memory Used: (\d+) MB", report)[1])
    assert used >= 128


def test_memory_within_limit_reports_max_used(harness):
    source = "def handler(e, c):\n    data = b'x' * (60 * 1024 * 1024)\n    return len(data)\n"
    spec = harness.spec(source, memory_mb=256)
    result = harness.run(lambda rt: rt.invoke(spec, b"{}"))
    assert result.function_error is None
    report = next(x for x in harness.lines() if x.startswith("REPORT"))
    assert 60 < int(re.search(r"Max Memory Used: (\d+) MB", report)[1]) < 256


def test_process_exit_is_runtime_exit_error(harness):
    spec = harness.spec("import os\ndef handler(e, c):\n    os._exit(3)\n")
    result = harness.run(lambda rt: rt.invoke(spec, b"{}", request_id="exit-1"))
    assert payload(result) == {"errorType": "Runtime.ExitError", "errorMessage":
                               "RequestId: exit-1 Error: Runtime exited with error: exit "
                               "status 3"}


@pytest.mark.parametrize(("files", "handler", "error_type", "message"), [
    ({"lambda_function.py": "import nope_module_xyz\n"}, "lambda_function.handler",
     "Runtime.ImportModuleError",
     "Unable to import module 'lambda_function': No module named 'nope_module_xyz'"),
    ({"lambda_function.py": "x = 1\n"}, "lambda_function.handler", "Runtime.HandlerNotFound",
     "Handler 'handler' missing on module 'lambda_function'"),
    ({"lambda_function.py": "def handler(:\n"}, "lambda_function.handler",
     "Runtime.UserCodeSyntaxError", None),
    ({"lambda_function.py": "raise RuntimeError('bad init')\n"}, "lambda_function.handler",
     "RuntimeError", "bad init"),
    ({"lambda_function.py": ""}, "nodot", "Runtime.MalformedHandlerName", None),
], ids=["import", "handler-missing", "syntax", "init-exception", "malformed"])
def test_init_errors_as_awslambdaric_reports_them(harness, files, handler, error_type, message):
    spec = harness.spec(files=files, handler=handler)

    async def body(rt):
        return [await rt.invoke(spec, b"{}", request_id=f"r{i}") for i in range(2)]

    results = harness.run(body)
    for result in results:
        assert result.function_error == "Unhandled" and result.cold
        error = payload(result)
        assert error["errorType"] == error_type
        assert error["requestId"] == ""
        if message:
            assert error["errorMessage"] == message
    lines = harness.lines()
    assert any(x.startswith(f"[ERROR] {error_type}") for x in lines)
    init = [x for x in lines if x.startswith("INIT_REPORT")]
    assert re.fullmatch(rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: invoke\t"
                        rf"Status: error\tError Type: {re.escape(error_type)}", init[0])
    report = next(x for x in lines if x.startswith("REPORT RequestId: r0"))
    assert report.endswith(f"\tStatus: error\tError Type: {error_type}")
    assert "START RequestId: r0 Version: $LATEST" in lines


def test_package_with_its_own_dependency(harness):
    files = {"lambda_function.py": "import mylib\ndef handler(e, c):\n    return mylib.f()\n",
             "mylib/__init__.py": "def f():\n    return 'from mylib'\n"}
    result = harness.run(lambda rt: rt.invoke(harness.spec(files=files), b"{}"))
    assert payload(result) == "from mylib"


def test_log_tail_is_last_4kb(harness):
    source = ("def handler(e, c):\n    for i in range(100):\n        print('line', i, 'x' * 90)\n"
              "    return 1\n")
    result = harness.run(lambda rt: rt.invoke(harness.spec(source), b"{}", log_tail=True))
    text = base64.b64decode(result.log_tail)
    assert len(text) == 4096
    decoded = text.decode()
    assert decoded.endswith("\t\n") and "REPORT RequestId:" in decoded
    assert "line 99" in decoded and "line 1 " not in decoded


def test_output_lines(harness):
    source = ("import sys\ndef handler(e, c):\n    print('a\\rb')\n"
              "    sys.stderr.write('to stderr\\n')\n    print('z' * 300000)\n"
              "    sys.stdout.write('no newline')\n    return 1\n")
    harness.run(lambda rt: rt.invoke(harness.spec(source), b"{}"))
    lines = harness.lines()
    assert "a\rb" in lines and "to stderr" in lines
    assert [len(x) for x in lines if x.startswith("zzz")] == [262144, 300000 - 262144]
    # text without a newline at the end of an invocation still belongs to it
    end = next(i for i, x in enumerate(lines) if x.startswith("END"))
    assert "no newline" in lines[:end]


def test_large_response_is_refused(harness):
    source = "def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n"
    result = harness.run(lambda rt: rt.invoke(harness.spec(source, memory_mb=512), b"{}"))
    assert result.function_error == "Unhandled"
    assert payload(result)["errorType"] == "Function.ResponseSizeTooLarge"


BOOTSTRAP = """#!/usr/bin/env python3
import http.client, json, os
conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    event = json.loads(r.read())
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    headers = dict(r.getheaders())
    conn.request("POST", "/2018-06-01/runtime/invocation/not-this-one/response", b"{}")
    bad = conn.getresponse()
    bad.read()
    print("bootstrap got", json.dumps(event), flush=True)
    if event.get("fail"):
        conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/error",
                     json.dumps({"errorMessage": "nope", "errorType": "Custom.Failure"}),
                     {"Lambda-Runtime-Function-Error-Type": "Custom.Failure"})
    else:
        out = {"event": event, "headers": headers, "bad": bad.status,
               "handler": os.environ["_HANDLER"], "env": os.environ["AWS_EXECUTION_ENV"]}
        conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", json.dumps(out))
    conn.getresponse().read()
"""


def test_provided_runtime_runs_bootstrap(harness):
    spec = harness.spec(files={"bootstrap": BOOTSTRAP}, modes={"bootstrap": 0o755},
                        runtime="provided.al2023", handler="my.handler")

    async def body(rt):
        ok = await rt.invoke(spec, b'{"a": 1}', request_id="boot-1",
                             client_context='{"custom": {}}',
                             cognito_identity='{"cognitoIdentityId": "x"}')
        failed = await rt.invoke(spec, b'{"fail": true}')
        return ok, failed

    ok, failed = harness.run(body)
    out = payload(ok)
    assert out["event"] == {"a": 1} and out["handler"] == "my.handler"
    assert out["env"] == "AWS_Lambda_provided.al2023"
    assert out["bad"] == 400  # a result for an unknown request id is refused
    headers = out["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "boot-1"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == spec.arn
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert headers["Lambda-Runtime-Client-Context"] == '{"custom": {}}'
    assert headers["Lambda-Runtime-Cognito-Identity"] == '{"cognitoIdentityId": "x"}'
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) > 0
    assert failed.function_error == "Unhandled"
    assert payload(failed) == {"errorMessage": "nope", "errorType": "Custom.Failure"}
    assert 'bootstrap got {"a": 1}' in harness.lines()


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_provided_runtime_shell_bootstrap_with_curl(harness):
    script = """#!/bin/bash
set -euo pipefail
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response" -d "{\\"echo\\": $EVENT}" > /dev/null
done
"""
    spec = harness.spec(files={"bootstrap": script}, modes={"bootstrap": 0o755},
                        runtime="provided.al2", handler="x")
    result = harness.run(lambda rt: rt.invoke(spec, b'{"b": 2}'))
    assert payload(result) == {"echo": {"b": 2}}


def test_missing_bootstrap_is_invalid_entrypoint(harness):
    spec = harness.spec(files={"readme.txt": "no bootstrap"}, runtime="provided.al2023",
                        handler="x")
    result = harness.run(lambda rt: rt.invoke(spec, b"{}", request_id="ep-1"))
    error = payload(result)
    assert error["errorType"] == "Runtime.InvalidEntrypoint"
    assert error["errorMessage"].startswith("RequestId: ep-1 Error: fork/exec ")
