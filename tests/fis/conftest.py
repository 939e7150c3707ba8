"""Fixtures for the FIS tests: a client, a role, templates, and waiting for states."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import unique
from tests.fabric.conftest import until

ROLE = "arn:aws:iam::000000000000:role/fis-role"
NONE = [{"source": "none"}]


@pytest.fixture(scope="session")
def fis(server):
    return server.client("fis")


def wait_template(fis, duration: str = "PT10M", **more) -> str:
    return fis.create_experiment_template(
        clientToken=unique("tok"), description="wait", roleArn=ROLE, stopConditions=NONE,
        actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": duration}}},
        **more)["experimentTemplate"]["id"]


def status(fis, eid: str) -> str:
    return fis.get_experiment(id=eid)["experiment"]["state"]["status"]


def action_status(fis, eid: str, action: str) -> str:
    return fis.get_experiment(id=eid)["experiment"]["actions"][action]["state"]["status"]


def reaches(fis, eid: str, want: str, action: str | None = None, timeout: float = 30) -> dict:
    """Wait (a liveness bound) until the experiment (or one of its actions) is in `want`."""
    def check():
        exp = fis.get_experiment(id=eid)["experiment"]
        now = exp["actions"][action]["state"] if action else exp["state"]
        return exp if now["status"] == want else None
    return until(check, timeout, lambda: f"{eid} {action or ''} in {want}: "
                 f"{fis.get_experiment(id=eid)['experiment']['state']}")


def advance(server, duration: str) -> None:
    request = urllib.request.Request(server.endpoint + "/_vpclocal/clock", method="POST",
                                     data=json.dumps({"advance": duration}).encode())
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
