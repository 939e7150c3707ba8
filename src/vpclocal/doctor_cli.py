"""`vpclocal doctor`: ask a running server for the guide's checklist over its current state."""

from __future__ import annotations

import json
import os
import sys

from vpclocal.admin_client import AdminError, call, endpoint_of
from vpclocal.doctor.checks import SEVERITIES


def render(result: dict) -> None:
    findings = result["findings"]
    if not findings:
        print(f"no findings in {result['region']}")
        return
    for finding in findings:
        print(f"{finding['severity'].upper():<8}{finding['id']}: {finding['message']}")
        print(f"  why: {finding['rationale']}")
        print(f"  resources: {', '.join(finding['resources'])}")
        print("  fix:")
        for command in finding["fix"]:
            print(f"    {command}")
        print()
    counts = {s: sum(f["severity"] == s for f in findings) for s in reversed(SEVERITIES)}
    print(", ".join(f"{n} {s}" + ("s" if n != 1 else "") for s, n in counts.items())
          + f" in {result['region']}")


def reaches(findings: list[dict], fail_on: str) -> bool:
    """Whether a finding is at least as severe as `fail_on`."""
    return any(SEVERITIES.index(f["severity"]) >= SEVERITIES.index(fail_on) for f in findings)


def run(args) -> int:
    region = args.region or os.environ.get("AWS_DEFAULT_REGION")
    try:
        status, result = call(endpoint_of(args), "GET", "/_vpclocal/doctor",
                              query={"region": region} if region else None)
    except AdminError as exc:
        print(f"vpclocal doctor: {exc}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"vpclocal doctor: {result.get('error', result)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 1 if reaches(result["findings"], args.fail_on) else 0
