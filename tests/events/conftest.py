"""Fixtures for the EventBridge tests: clients, and a function that logs the events it gets."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.lambda_.conftest import deployed

# logs each event it receives on one line, as JSON
RECORDER = ("import json\n"
            "def handler(event, context):\n"
            "    print('EVENT ' + json.dumps(event))\n"
            "    return {}\n")


@pytest.fixture(scope="session")
def events(server):
    return server.client("events")


@pytest.fixture(scope="session")
def lam(server):
    return server.client("lambda")


@pytest.fixture
def recorder(server) -> str:
    """A deployed function that logs each event it receives ('EVENT {json}')."""
    return deployed(server, RECORDER, prefix="rec")


def advance(server, duration: str) -> dict:
    request = urllib.request.Request(server.endpoint + "/_vpclocal/clock", method="POST",
                                     data=json.dumps({"advance": duration}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def received(server, function: str, count: int, timeout: float = 60.0) -> list[dict]:
    """The events a recorder function has logged, once it has logged at least `count`
    (or whatever it has when the timeout passes)."""
    logs = server.client("logs")
    deadline = time.monotonic() + timeout
    while True:
        found = []
        try:
            pages = logs.get_paginator("filter_log_events").paginate(
                logGroupName=f"/aws/lambda/{function}")
            for page in pages:
                for event in page["events"]:
                    if event["message"].startswith("EVENT "):
                        found.append(json.loads(event["message"][len("EVENT "):]))
        except logs.exceptions.ResourceNotFoundException:
            pass
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
