"""Function code against other functions in the same network namespace (the Lambda service
network here; a Hyperplane ENI's is alike): it cannot take another environment's events from
its Runtime API, whose listener only that environment's user may reach, nor read its
environment (its role's credentials)."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from tests.conftest import Server
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import invoke
from tests.lambda_.conftest import BASIC, make_role, unique, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

HOSTILE = """
import os, socket

def handler(event, context):
    out = {"api": os.environ["AWS_LAMBDA_RUNTIME_API"], "pid": os.getpid(),
           "netns": os.readlink("/proc/self/ns/net")}
    victim = event.get("victim")
    if victim:
        host, port = victim["api"].split(":")
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            out["hijack"] = s.recv(200).decode(errors="replace") or "closed"
        except OSError as exc:
            out["hijack"] = type(exc).__name__
        finally:
            s.close()
        try:
            with open(f"/proc/{victim['pid']}/environ", "rb") as f:
                out["environ"] = "AWS_SECRET_ACCESS_KEY" in f.read().decode(errors="replace")
        except OSError as exc:
            out["environ"] = type(exc).__name__
    return out
"""


def test_a_function_cannot_reach_anothers_runtime_api(tmp_path):
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(tmp_path / "data").start()
    try:
        lam = server.client("lambda")
        role = make_role(server.client("iam"), BASIC)
        victim, attacker = unique("victim"), unique("attacker")
        for name in (victim, attacker):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                Handler="index.handler", Code={"ZipFile": zipped(HOSTILE)})
            assert wait_state(lam, name)["State"] == "Active"
        seen, error, _ = invoke(lam, victim, {})
        assert error is None, seen
        got, error, _ = invoke(lam, attacker, {"victim": seen})
        assert error is None, got
        assert got["netns"] == seen["netns"]  # the same namespace: only the guard stands between
        assert got["hijack"] == "ConnectionRefusedError", got
        assert got["environ"] == "PermissionError", got
        # the victim's environment still gets its own events
        again, error, _ = invoke(lam, victim, {})
        assert error is None and again["pid"] == seen["pid"], again
    finally:
        server.stop()
