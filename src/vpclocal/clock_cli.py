"""`vpclocal clock`: read or move the scheduler clock schedules fire by."""

from __future__ import annotations

import json
import sys

from vpclocal.admin_client import AdminError, call, endpoint_of


def run(args) -> int:
    try:
        if args.action == "advance":
            status, result = call(endpoint_of(args), "POST", "/_vpclocal/clock",
                                  body={"advance": args.duration})
        else:
            status, result = call(endpoint_of(args), "GET", "/_vpclocal/clock")
    except AdminError as exc:
        print(f"vpclocal clock: {exc}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"vpclocal clock: {result.get('error', result)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        ahead = result["OffsetSeconds"]
        print(result["Now"] + (f" ({ahead:g} s ahead of the real clock)" if ahead else ""))
    return 0
