"""Each execution environment in a jail of its own (runtime/jail.py), tried as hostile code
would: its /tmp, its processes, its memory. Every test runs with the kernel's limits (cgroups,
where this machine has them) and with the fallback forced (VPCLOCAL_LAMBDA_CGROUPS=none)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.fabric.conftest import as_an_ordinary_user
from tests.runtime.conftest import Harness, until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="jails need a root server")


@pytest.fixture(params=["cgroups", "fallback"])
def variant(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setenv("VPCLOCAL_LAMBDA_CGROUPS", "none")
    return request.param


def out(result) -> dict:
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def processes_of(uid: int) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(int(pid))
        except OSError:
            continue
    return found


TMP = """
import errno, json, os

def handler(event, context):
    # what is in its /tmp (but the server's: its code, when the data dir lies under /tmp)
    seen = sorted(x for x in os.listdir("/tmp") if os.stat(f"/tmp/{x}").st_uid != 0)
    with open(f"/tmp/{event['write']}", "w") as f:
        f.write("mine")
    shared = {}
    for path in ("/var/tmp", "/dev/shm", "/run/lock"):
        try:
            open(os.path.join(path, "x"), "w")
            shared[path] = "wrote"
        except OSError as exc:
            shared[path] = errno.errorcode[exc.errno]
    return {"seen": seen, "shared": shared, "uid": os.getuid(),
            "tmp": oct(os.stat("/tmp").st_mode & 0o7777)}
"""


def test_tmp_is_the_environments_own_and_goes_with_it(harness, variant):
    a, b = harness.spec(TMP), harness.spec(TMP)
    environments = harness.tmp_path / "data" / "lambda" / "environments"

    async def body(rt):
        first = out(await rt.invoke(a, b'{"write": "a1"}'))
        again = out(await rt.invoke(a, b'{"write": "a2"}'))  # the same environment, warm
        other = out(await rt.invoke(b, b'{"write": "b1"}'))
        backing = [p.name for p in environments.iterdir()]
        return first, again, other, backing

    first, again, other, backing = harness.run(body)
    assert first["seen"] == [] and again["seen"] == ["a1"], (first, again)
    assert other["seen"] == [] and other["uid"] != first["uid"]  # not the other function's
    assert first["tmp"] == "0o700"
    for path, outcome in first["shared"].items():
        assert outcome in ("EROFS", "EACCES"), (path, outcome)  # nothing to share or leave
    assert len(backing) == 2  # two environments
    assert not environments.exists()  # the runtime stopped: every environment's /tmp is gone


def test_a_file_cannot_outgrow_ephemeral_storage(harness, variant):
    source = """
import errno
def handler(event, context):
    out = {}
    for mb in (511, 512):
        try:
            with open(f"/tmp/sparse-{mb}", "wb") as f:  # sparse: no disk used
                f.seek(mb * 1024 * 1024)
                f.write(b"x")
            out[mb] = "written"
        except OSError as exc:
            out[mb] = errno.errorcode[exc.errno]
    return out
"""
    spec = harness.spec(source, storage_mb=512)
    got = harness.run(lambda rt: rt.invoke(spec, b"{}"))
    assert out(got) == {"511": "written", "512": "EFBIG"}


def test_a_childs_memory_counts(harness, variant):
    """A child allocating 400 MB in a 128 MB function: the kernel kills it (cgroups), or the
    environment is killed (fallback); either way the memory is not had."""
    source = """
import subprocess, sys
def handler(event, context):
    child = subprocess.run([sys.executable, "-S", "-c",
                            "import time; b = b'x' * (400 * 1024 * 1024); time.sleep(1)"])
    return {"child": child.returncode}
"""
    spec = harness.spec(source, memory_mb=128, timeout_s=10)
    result = harness.run(lambda rt: rt.invoke(spec, b"{}", request_id="child-1"))
    report = next(x for x in harness.lines() if x.startswith("REPORT"))
    used = int(re.search(r"Max Memory Used: (\d+) MB", report)[1])
    if variant == "cgroups":
        assert out(result) == {"child": -9}  # SIGKILL, by the OOM killer
        assert 120 <= used <= 129, report
    else:
        assert json.loads(result.payload)["errorType"] == "Runtime.OutOfMemory"
        assert report.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
        assert used > 128, report


def test_processes_and_threads_are_limited(harness, variant):
    source = """
import threading
def handler(event, context):
    stop, started = threading.Event(), 0
    try:
        while started < 1500:
            threading.Thread(target=stop.wait).start()
            started += 1
    except RuntimeError as exc:  # can't start new thread
        refused = str(exc)
    else:
        refused = None
    stop.set()
    return {"started": started, "refused": refused}
"""
    spec = harness.spec(source, timeout_s=30, memory_mb=512)
    got = out(harness.run(lambda rt: rt.invoke(spec, b"{}")))
    assert got["refused"] == "can't start new thread", got
    # Lambda's 1,024 processes and threads, all told (the jail's init and the runtime's own)
    assert 900 < got["started"] < 1024, got


def test_no_descendant_outlives_its_environment(harness, variant):
    """Children that left the process group and the session (setsid) die with the environment:
    at a timeout, and when the runtime stops."""
    source = """
import os, subprocess, time
def handler(event, context):
    for _ in range(5):
        subprocess.Popen(["sleep", "300"], start_new_session=True)
    if event.get("hang"):
        time.sleep(60)
    return {"uid": os.getuid()}
"""
    spec = harness.spec(source, timeout_s=2)

    async def body(rt):
        uid = out(await rt.invoke(spec, b"{}"))["uid"]
        assert len(processes_of(uid)) >= 6  # the runtime and its five children, running on
        timed_out = await rt.invoke(spec, b'{"hang": true}')
        assert timed_out.status == "timeout"
        await until(lambda: not processes_of(uid))  # the timeout took every one of them
        out(await rt.invoke(spec, b"{}"))  # a new environment, with five new children
        assert len(processes_of(uid)) >= 6
        return uid

    uid = harness.run(body)
    # and the runtime's stop, the rest (the kernel empties a PID namespace whose init died a
    # moment after: SIGKILL is delivered, not waited for)
    deadline = time.monotonic() + 10
    while processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(uid) == []


ORDINARY_USER = """
import asyncio, glob, json, pathlib, sys, tempfile
sys.path[:0] = [sys.argv[1]]  # vpclocal, and the packages of the project's venv (httptools)
sys.path += glob.glob(sys.argv[2] + "/.venv/lib/python3*/site-packages")
from vpclocal.runtime import FunctionSpec, Runtime, RuntimeConfig
from vpclocal.runtime.types import Unplaceable

async def main():
    runtime = Runtime(RuntimeConfig(data_dir=pathlib.Path(tempfile.mkdtemp()) / "data"))
    await runtime.start()
    spec = FunctionSpec(name="f", arn="arn:aws:lambda:us-east-1:000000000000:function:f",
                        runtime="python3.12", handler="index.handler", code_path="/nowhere",
                        code_sha="x")
    try:
        await runtime.invoke(spec, b"{}")
        outcome = "ran"
    except Unplaceable as exc:
        outcome = str(exc)
    await runtime.stop()
    print(json.dumps({"isolation": runtime.isolation(), "invoke": outcome}))

asyncio.run(main())
"""


def test_an_ordinary_users_server_runs_no_function_code():
    """No jail without root: function code would run as the server's user (its data, its
    processes within reach), so none runs, and the server says so at start (item 9)."""
    got = as_an_ordinary_user(ORDINARY_USER)
    assert got["isolation"].startswith("Lambda functions will not run: function code runs "
                                       "only in a jail of its own"), got
    assert "run vpclocal as root" in got["invoke"], got


@pytest.mark.parametrize("under", ["/tmp", "/var/tmp"])
def test_a_data_dir_under_a_covered_place(launch, under):
    """The jail covers /tmp and /var/tmp: a server whose data dir (its functions' code) lies
    under one still shows each function its code, read-only, and nothing else of it."""
    base = Path(tempfile.mkdtemp(dir=under))
    base.chmod(0o755)
    (base / "data" / "lambda" / "tasks").mkdir(mode=0o755, parents=True)  # passable: the
    try:  # code stays in the data dir
        harness = Harness(base, launch)
        source = ("import os\ndef handler(e, c):\n    return {'root': os.getcwd(), "
                  "'code': sorted(os.listdir('.')), 'up': os.listdir(os.path.dirname("
                  "os.getcwd()))}\n")
        got = out(harness.run(lambda rt: rt.invoke(harness.spec(source), b"{}")))
        assert got["code"] == ["lambda_function.py"], got
        assert got["root"].startswith(str(base)), got
        assert len(got["up"]) == 1, got  # its own code, not the others' beside it
    finally:
        shutil.rmtree(base, ignore_errors=True)
