"""`vpclocal reach`: ask a running server whether traffic gets through, and why not."""

from __future__ import annotations

import json
import os
import sys

from vpclocal.admin_client import AdminError, call, endpoint_of


def _rule_text(hop: dict) -> str:
    rule, route = hop.get("rule"), hop.get("route")
    if route:
        dest = route.get("DestinationCidr") or route.get("DestinationPrefixListId") or "?"
        target = next((v for k, v in route.items() if k.endswith("Id") and
                       not k.startswith("Destination")), "")
        return f"route {dest} -> {target or route.get('State', '')}"
    if rule and "RuleNumber" in rule:
        ports = rule.get("PortRange")
        span = f" {ports['From']}-{ports['To']}" if ports else ""
        return (f"#{rule['RuleNumber']} {rule.get('RuleAction', '')} "
                f"proto {rule.get('Protocol', '')}{span} {rule.get('Cidr', '')}").strip()
    if rule:
        peer = (rule.get("Cidr") or rule.get("ReferencedGroupId") or rule.get("PrefixListId")
                or rule.get("SecurityGroupId") or "")
        ports = rule.get("PortRange")
        span = f" {ports['From']}-{ports['To']}" if ports else ""
        return f"{rule.get('Direction', '')} {rule.get('Protocol', '')}{span} {peer}".strip()
    return hop.get("note", "")


def _print_path(title: str, hops: list[dict]) -> None:
    if not hops:
        return
    print(title)
    width = max(len(h["component"]["id"]) for h in hops)
    for hop in hops:
        mark = "ok " if hop["allowed"] else "XX "
        comp = hop["component"]
        print(f"  {hop['sequence']:>2} {mark}{comp['id']:<{width}}  {comp['type']:<22} "
              f"{_rule_text(hop)}".rstrip())


def render(result: dict) -> None:
    analyses = [result["analysis"]] if result.get("analysis") else result.get("blocked", [])
    for analysis in analyses:
        src, dst = analysis["source"], analysis["destination"]
        port = f":{analysis['port']}" if analysis.get("port") is not None else ""
        print(f"{src.get('id')} -> {dst.get('id')}{port} ({analysis['protocol']})")
        _print_path("forward path:", analysis.get("forward_path", []))
        _print_path("return path:", analysis.get("return_path", []))
        if analysis["reachable"]:
            print("REACHABLE")
            continue
        print("BLOCKED")
        for exp in analysis.get("explanations", []):
            print(f"  {exp['code']}: {exp['message']}")
        fixes = analysis.get("fixes") or []
        if fixes:
            print("to open it" + (" (verified by re-analysis):"
                                  if analysis.get("fixes_verified") else ":"))
            for fix in fixes:
                print(f"  - {fix['description']}")
                for command in fix["commands"]:
                    print(f"      {command}")
        print()


def run(args) -> int:
    endpoint = endpoint_of(args)
    body = {"source": args.source, "destination": args.destination,
            "protocol": args.protocol, "port": args.port,
            "region": args.region or os.environ.get("AWS_DEFAULT_REGION")}
    try:
        status, result = call(endpoint, "POST", "/_vpclocal/reach", body=body)
    except AdminError as exc:
        print(f"vpclocal reach: {exc}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"vpclocal reach: {result.get('error', result)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0 if result["reachable"] else 1
