"""`vpclocal internet add|list|remove`: the public hosts a running server's simulated internet
declares (network/hosts.py), through its /_vpclocal/internet route. Exit status 0 done,
2 error (a bad name or address, an unknown host, no server)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from vpclocal.network.hosts import HostError, check_address, check_name

ROUTE = "/_vpclocal/internet"


def call(endpoint: str, method: str, query: dict | None = None, body: dict | None = None
         ) -> tuple[int, dict]:
    url = endpoint.rstrip("/") + ROUTE
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _request(args) -> tuple[str, dict | None, dict | None]:
    """(method, query, body) for the action; checks what can be checked here first."""
    if args.action == "add":
        body = {"name": check_name(args.name)}
        if args.address:
            body["address"] = check_address(args.address)
        return "POST", None, body
    if args.action == "remove":
        return "DELETE", {"name": args.name}, None
    return "GET", None, None


def run(args) -> int:
    endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:4566"
    try:
        method, query, body = _request(args)
        status, result = call(endpoint, method, query, body)
    except HostError as exc:
        print(f"vpclocal internet {args.action}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vpclocal internet: cannot reach the server at {endpoint}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an answer that is not JSON: not a vpclocal server
        print(f"vpclocal internet: {endpoint} is not a vpclocal server (its answer is not "
              f"JSON: {exc})", file=sys.stderr)
        return 2
    if status != 200:
        print(f"vpclocal internet {args.action}: {result.get('error', result)}", file=sys.stderr)
        return 2
    if args.action == "list":
        found = result["Hosts"]
        if getattr(args, "json", False):
            print(json.dumps(found, indent=2))
        else:
            width = max([len(h["Name"]) for h in found] + [4])
            print(f"{'NAME':<{width}}  ADDRESS")
            for host in found:
                print(f"{host['Name']:<{width}}  {host['Address']}")
    elif args.action == "add":
        host = result["Host"]
        print(f"{host['Name']} is at {host['Address']} on the simulated internet "
              "(HTTP and HTTPS echo)")
    else:
        print(f"{result['Host']['Name']} removed")
    return 0
