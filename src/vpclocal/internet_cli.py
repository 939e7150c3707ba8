"""`vpclocal internet add|list|remove`: the public hosts a running server's simulated internet
declares (network/hosts.py), through its /_vpclocal/internet route. Exit status 0 done,
2 error (a bad name or address, an unknown host, no server)."""

from __future__ import annotations

import json
import sys

from vpclocal.admin_client import AdminError, call, endpoint_of
from vpclocal.network.hosts import HostError, check_address, check_name

ROUTE = "/_vpclocal/internet"


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
    endpoint = endpoint_of(args)
    try:
        method, query, body = _request(args)
        status, result = call(endpoint, method, ROUTE, query=query, body=body)
    except HostError as exc:
        print(f"vpclocal internet {args.action}: {exc}", file=sys.stderr)
        return 2
    except AdminError as exc:
        print(f"vpclocal internet: {exc}", file=sys.stderr)
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
