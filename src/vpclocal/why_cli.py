"""`vpclocal why`: would IAM let PRINCIPAL do ACTION on RESOURCE, and which statement says so."""

from __future__ import annotations

import json
import os
import sys

from vpclocal.admin_client import AdminError, call, endpoint_of


def render(result: dict) -> None:
    verdict = {"allowed": "ALLOWED", "explicitDeny": "DENIED (explicit deny)",
               "implicitDeny": "DENIED (implicit deny)"}[result["decision"]]
    print(f"{result['principal']} -> {result['action']} on {result['resource']}: {verdict}")
    if result["decided_by"]:
        print(f"  decided by: {result['decided_by']}")
    for found in result["statements"]:
        statement = json.dumps(found["statement"], separators=(",", ":"))
        print(f"  statement ({found['source']}): {statement}")
    if result["message"]:
        print(f"  AWS would answer: {result['message']}")
    for found in result.get("unmet_conditions", []):
        statement = found["statement"]
        conditions = json.dumps(statement["Condition"], separators=(",", ":"))
        print(f"  would allow it but for its condition ({found['source']}"
              f"{', ' + statement['Sid'] if statement.get('Sid') else ''}): {conditions}")


def run(args) -> int:
    context = {}
    for entry in args.context or []:
        key, sep, value = entry.partition("=")
        if not sep:
            print(f"vpclocal why: --context takes KEY=VALUE, not {entry!r}", file=sys.stderr)
            return 2
        context[key] = value
    body = {"principal": args.principal, "action": args.action, "resource": args.resource,
            "context": context}
    region = args.region or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        body["region"] = region
    try:
        status, result = call(endpoint_of(args), "POST", "/_vpclocal/why", body=body)
    except AdminError as exc:
        print(f"vpclocal why: {exc}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"vpclocal why: {result.get('error', result)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0 if result["decision"] == "allowed" else 1
