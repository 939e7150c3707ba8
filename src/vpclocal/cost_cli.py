"""`vpclocal cost`: ask a running server for the monthly AWS bill of what is configured now."""

from __future__ import annotations

import json
import os
import sys

from vpclocal.admin_client import AdminError, call, endpoint_of


def dollars(amount: float | None) -> str:
    if amount is None:
        return "-"
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def quantity(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.6g}"


def render(result: dict) -> None:
    print(f"AWS bill for a month of {result['region']} as configured now "
          f"({result['hours_per_month']} hours; usage as recorded in {result['month']}; "
          f"{result['prices']['region']} prices of {result['prices']['date']})")
    for line in result["lines"]:
        what = f"{line['item']} ({', '.join(line['resources'])})"
        if line["monthly"] is None:
            print(f"{'-':>12}  {what}: {line['note']}")
            continue
        detail = f"{quantity(line['quantity'])} {line['unit']} x ${line['rate']:g}"
        if line["note"]:
            detail += f"; {line['note']}"
        print(f"{dollars(line['monthly']):>12}  {what}: {detail}")
    print(f"{dollars(result['total']):>12}  total a month")
    if result["not_measured"]:
        print(f"not priced, data processing not measured: {', '.join(result['not_measured'])}")
    if result["savings"]:
        print("\nthe doctor's fixes, a month:")
        for saving in result["savings"]:
            amount = saving["monthly_saving"]
            label = "n/a" if amount is None else (
                f"saves {dollars(amount)}" if amount >= 0 else f"costs {dollars(-amount)}")
            print(f"  {saving['id']}: {label}: {saving['note']}")


def run(args) -> int:
    region = args.region or os.environ.get("AWS_DEFAULT_REGION")
    query = {key: value for key, value in (("region", region), ("month", args.month)) if value}
    try:
        status, result = call(endpoint_of(args), "GET", "/_vpclocal/cost", query=query or None)
    except AdminError as exc:
        print(f"vpclocal cost: {exc}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"vpclocal cost: {result.get('error', result)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0
