"""The command line's side of a running server's /_vpclocal routes (admin.py)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


class AdminError(Exception):
    """No vpclocal server answered; the message says what happened."""


def endpoint_of(args) -> str:
    return args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


def call(endpoint: str, method: str, path: str, *, query: dict | None = None,
         body: dict | None = None) -> tuple[int, dict]:
    """(HTTP status, JSON answer) of one admin request."""
    url = endpoint.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json"})
    try:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)
    except OSError as exc:
        raise AdminError(f"cannot reach the server at {endpoint}: {exc}") from None
    except ValueError as exc:  # an answer that is not JSON: not a vpclocal server
        raise AdminError(f"{endpoint} is not a vpclocal server (its answer is not JSON: "
                         f"{exc})") from None
