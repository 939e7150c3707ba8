"""Resolving an experiment's targets to resources: by ARN, by tags (a resource with every
tag), by the type's parameters (a subnet's AZ and VPC, as AWS's AZ scenarios choose them),
and by filters (a path into the resource's Describe shape, any of the values), then the
selection mode (ALL, COUNT(n), PERCENT(n): chosen at random, as AWS does)."""

from __future__ import annotations

import math
import random

from vpclocal.services.fis.model import selection

# resource type -> (store kind, the record's ARN, its tags as a dict)
KINDS = {
    "aws:ec2:subnet": ("subnets", lambda r: r.get("SubnetArn", ""),
                       lambda r: {t["Key"]: t["Value"] for t in r.get("Tags") or ()}),
    "aws:lambda:function": ("functions", lambda r: r.get("FunctionArn", ""),
                            lambda r: dict(r.get("_Tags") or {})),
    "aws:rds:db": ("db_instances", lambda r: r.get("DBInstanceArn", ""),
                   lambda r: {t["Key"]: t["Value"] for t in r.get("TagList") or ()}),
}


# the target parameters a resource type takes -> the record fields one must match (any)
PARAMETERS = {
    "aws:ec2:subnet": {"availabilityZoneIdentifier": ("AvailabilityZone", "AvailabilityZoneId"),
                       "vpc": ("VpcId",)},
}


class Unresolved(Exception):
    """A target names something that does not exist (the experiment fails, with this)."""


def _walk(record, path: str) -> list:
    values = [record]
    for part in path.split("."):
        nxt = []
        for v in values:
            items = v if isinstance(v, list) else [v]
            nxt += [i[part] for i in items if isinstance(i, dict) and part in i]
        values = nxt
    flat = []
    for v in values:
        flat += v if isinstance(v, list) else [v]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in flat]


def resolve(view, name: str, target: dict, rng: random.Random | None = None) -> list[dict]:
    """The records a target selects (in ARN order before the selection)."""
    kind, arn_of, tags_of = KINDS[target["resourceType"]]
    records = list(view.values(kind))
    if target.get("resourceArns"):
        by_arn = {arn_of(r): r for r in records}
        missing = [a for a in target["resourceArns"] if a not in by_arn]
        if missing:
            raise Unresolved(f"Target {name}: resource {missing[0]} was not found.")
        chosen = [by_arn[a] for a in target["resourceArns"]]
    elif target.get("resourceTags"):
        want = target["resourceTags"]
        chosen = [r for r in records
                  if all(tags_of(r).get(k) == v for k, v in want.items())]
    else:
        chosen = records
    fields = PARAMETERS.get(target["resourceType"], {})
    for parameter, value in (target.get("parameters") or {}).items():
        chosen = [r for r in chosen if value in (r.get(f) for f in fields[parameter])]
    for f in target.get("filters") or ():
        values = set(f["values"])
        chosen = [r for r in chosen if values & set(_walk(r, f["path"]))]
    chosen.sort(key=arn_of)
    mode, n = selection(target["selectionMode"])
    if mode == "COUNT" and n < len(chosen):
        chosen = (rng or random).sample(chosen, n)
    elif mode == "PERCENT":
        chosen = (rng or random).sample(chosen, math.ceil(len(chosen) * n / 100))
    return chosen


def arns(target_type: str, records: list[dict]) -> list[str]:
    return [KINDS[target_type][1](r) for r in records]
