"""Pools of environments: reuse, reclaiming, retiring, provisioned concurrency, limits,
metrics."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace

import pytest

from tests.runtime.conftest import until
from vpclocal.runtime import Throttled
from vpclocal.runtime.sandbox import FUNCTION_UIDS

COUNTER = """
import os, time
count = 0

def handler(event, context):
    global count
    count += 1
    time.sleep(event.get("sleep", 0))
    return {"count": count, "env": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
            "init": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""


def out(result) -> dict:
    return json.loads(result.payload)


def test_concurrent_invocations_get_their_own_environments(harness):
    spec = harness.spec(COUNTER)

    async def body(rt):
        first = await asyncio.gather(*(rt.invoke(spec, b'{"sleep": 0.2}') for _ in range(3)))
        again = await asyncio.gather(*(rt.invoke(spec, b'{"sleep": 0.2}') for _ in range(3)))
        return first, again

    first, again = harness.run(body)
    assert len({out(r)["env"] for r in first}) == 3 and all(r.cold for r in first)
    # the three are reused, not replaced
    assert {out(r)["env"] for r in again} == {out(r)["env"] for r in first}
    assert not any(r.cold for r in again)
    assert len(harness.streams()) == 3


def test_idle_environments_are_reclaimed(harness):
    spec = harness.spec(COUNTER)

    async def body(rt):
        first = await rt.invoke(spec, b"{}")
        warm = await rt.invoke(spec, b"{}")
        await until(lambda: not rt._envs)  # reclaimed once idle for idle_seconds
        later = await rt.invoke(spec, b"{}")
        return first, warm, later

    first, warm, later = harness.run(body, idle_seconds=0.2)
    assert (first.cold, warm.cold, later.cold) == (True, False, True)
    assert out(later)["count"] == 1


def test_a_changed_configuration_gets_new_environments(harness):
    spec = harness.spec(COUNTER)
    updated = replace(spec, environment=(("A", "1"),))

    async def body(rt):
        one = await rt.invoke(spec, b"{}")
        two = await rt.invoke(updated, b"{}")
        await until(lambda: len(rt._envs) == 1)  # the old configuration's idle one is gone
        return one, two

    one, two = harness.run(body)
    assert two.cold and out(one)["env"] != out(two)["env"]


def test_reserved_concurrency_throttles(harness):
    spec = harness.spec(COUNTER)

    async def body(rt):
        slow = asyncio.ensure_future(rt.invoke(spec, b'{"sleep": 0.3}', reserved=1))
        await until(lambda: rt.concurrency("us-east-1", spec.name) == 1)
        with pytest.raises(Throttled) as caught:
            await rt.invoke(spec, b"{}", reserved=1)
        with pytest.raises(Throttled):
            await rt.invoke(spec, b"{}", reserved=0)
        await slow
        await rt.invoke(spec, b"{}", reserved=1)  # free again
        return caught.value.reason

    assert harness.run(body) == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_account_concurrency_limit_throttles(harness):
    one, two = harness.spec(COUNTER), harness.spec(COUNTER)

    async def body(rt):
        slow = asyncio.ensure_future(rt.invoke(one, b'{"sleep": 0.3}'))
        await until(lambda: rt.concurrency("us-east-1") == 1)
        with pytest.raises(Throttled) as caught:
            await rt.invoke(two, b"{}")
        await slow
        return caught.value.reason

    assert harness.run(body, account_concurrency=1) == "ConcurrentInvocationLimitExceeded"


def test_provisioned_environments_are_ready_before_the_first_invoke(harness):
    spec = harness.spec(COUNTER, version="1")

    async def body(rt):
        rt.provision(spec, 2)
        await until(lambda: rt.provisioned_ready(spec) == 2)
        results = await asyncio.gather(*(rt.invoke(spec, b'{"sleep": 0.1}') for _ in range(2)))
        rt.provision(spec, 0)
        return results

    results = harness.run(body, idle_seconds=0.1)
    assert not any(r.cold for r in results)
    assert {out(r)["init"] for r in results} == {"provisioned-concurrency"}
    reports = [x for x in harness.lines() if x.startswith("REPORT")]
    assert len(reports) == 2 and not any("Init Duration" in x for x in reports)
    assert all("[1]" in s for s in harness.streams())


def test_provisioned_environments_are_not_reaped(harness):
    spec = harness.spec(COUNTER, version="2")
    on_demand = harness.spec(COUNTER)

    async def body(rt):
        rt.provision(spec, 1)
        await until(lambda: rt.provisioned_ready(spec) == 1)
        [provisioned] = rt._envs
        # an on-demand environment, idle since after the provisioned one, is reaped: the
        # reaper has passed with the provisioned one idle for longer than idle_seconds
        await rt.invoke(on_demand, b"{}")
        await until(lambda: rt._envs == {provisioned})
        return provisioned.usable, await rt.invoke(spec, b"{}")

    kept, result = harness.run(body, idle_seconds=0.1)
    assert kept and not result.cold


def test_metrics(harness):
    good = harness.spec(COUNTER, name="good")
    bad = harness.spec("def handler(e, c):\n    raise Exception('x')\n", name="bad")

    async def body(rt):
        for _ in range(3):
            await rt.invoke(good, b"{}")
        await rt.invoke(bad, b"{}")
        with pytest.raises(Throttled):
            await rt.invoke(good, b"{}", reserved=0)

    harness.run(body)
    points: dict[tuple[str, str], list[float]] = {}
    for region, data in harness.metrics:
        assert region == "us-east-1"
        for datum in data:
            dims = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            key = (dims.get("FunctionName", ""), datum["MetricName"])
            for value, count in zip(datum["Values"], datum["Counts"], strict=True):
                points.setdefault(key, []).extend([value] * count)
    assert points[("good", "Invocations")] == [1, 1, 1]
    assert sum(points[("good", "Errors")]) == 0 and len(points[("good", "Errors")]) == 3
    assert points[("bad", "Errors")] == [1]
    assert points[("good", "Throttles")] == [1]
    assert len(points[("good", "Duration")]) == 3
    assert all(v > 0 for v in points[("good", "Duration")])
    assert points[("good", "ConcurrentExecutions")] == [1, 1, 1]
    assert ("", "ConcurrentExecutions") in points


PEEK = """
import os

def handler(e, c):
    out = {"uid": os.getuid(), "root": os.getcwd(), "environ": {}}
    for pid in filter(str.isdigit, os.listdir("/proc")):  # every process it can see
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                out["environ"][pid] = os.environ["AWS_SECRET_ACCESS_KEY"] in f.read().decode()
        except OSError as exc:
            out["environ"][pid] = exc.errno
    if e.get("code"):
        try:
            open(e["code"], "rb").read()
            out["code"] = "read"
        except OSError as exc:
            out["code"] = exc.errno
    return out
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_each_function_runs_as_a_user_of_its_own(harness):
    """Function B sees no process of function A (its PID namespace is its own), so not A's
    /proc/PID/environ (its role's credentials), and cannot read A's code; A's environments
    keep their user."""
    a, b = harness.spec(PEEK), harness.spec(PEEK)

    async def body(rt):
        first = json.loads((await rt.invoke(a, b"{}")).payload)
        peek = json.dumps({"code": os.path.join(first["root"], "lambda_function.py")}).encode()
        other = json.loads((await rt.invoke(b, peek)).payload)
        own = json.loads((await rt.invoke(a, peek)).payload)
        return first, other, own

    first, other, own = harness.run(body)
    assert first["uid"] == own["uid"] and first["uid"] != other["uid"]
    assert {first["uid"], other["uid"]} <= set(FUNCTION_UIDS)
    assert other["code"] in (2, 13), other  # not there (its jail shows its own code only), or EACCES
    assert own["code"] == "read", own
    for seen in (first, other):
        # its own processes (the runtime: its secret), and its jail's init (root's: EACCES)
        assert set(seen["environ"].values()) == {True, 13}, seen
        assert len(seen["environ"]) <= 3, seen  # the init, the runtime, nothing else


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_code_runs_unprivileged_and_cannot_write_its_code(harness):
    source = ("import os\ndef handler(e, c):\n    try:\n        open('x', 'w')\n"
              "        return 'wrote'\n    except OSError as exc:\n        return exc.errno\n")
    result = harness.run(lambda rt: rt.invoke(harness.spec(source), b"{}"))
    assert json.loads(result.payload) == 13  # EACCES: the task root is read-only to it


def test_runtime_api_address_per_function(harness):
    source = "import os\ndef handler(e, c):\n    return os.environ['AWS_LAMBDA_RUNTIME_API']\n"
    spec = harness.spec(source)
    chosen = []

    def address(which):
        chosen.append(which.name)
        return "127.0.0.2", "127.0.0.2"  # any loopback address: where a namespace would be

    result = harness.run(lambda rt: rt.invoke(spec, b"{}"), api_address=address)
    assert json.loads(result.payload).startswith("127.0.0.2:")
    assert chosen == [spec.name]
