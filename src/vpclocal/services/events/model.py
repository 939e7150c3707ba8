"""Event buses and rules as store records (region scope), their ARNs and AWS's errors.

A rule record keeps its targets ("_Targets", in the order they were put) and, when it runs on a
schedule, the anchor its rate counts from ("_Anchor") and its next firing ("_NextFire"), both
in the scheduler clock's epoch seconds (vpclocal.clock).
"""

from __future__ import annotations

import time

from vpclocal import paging
from vpclocal.errors import ServiceError

BUSES = "events.bus"  # id: the bus name
RULES = "events.rule"  # id: rule_id(bus, name)
DEFAULT = "default"


def rule_id(bus: str, name: str) -> str:
    return f"{bus}|{name}"  # '|' is in neither name


def bus_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    path = name if bus == DEFAULT else f"{bus}/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{path}"


def bus_name(value: str | None) -> str:
    """A bus name from EventBusName (a name or an event-bus ARN); the default bus if none."""
    if not value:
        return DEFAULT
    if value.startswith("arn:"):
        return value.split(":event-bus/", 1)[-1]
    return value


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationException")


def not_found(message: str) -> ServiceError:
    return ServiceError(message, code="ResourceNotFoundException")


def bus_missing(name: str) -> ServiceError:
    return not_found(f"Event bus {name} does not exist.")


def rule_missing(name: str, bus: str) -> ServiceError:
    return not_found(f"Rule {name} does not exist on EventBus {bus}.")


def new_bus(tx, region: str, account: str, name: str, **fields) -> dict:
    now = time.time()
    record = {"Name": name, "Arn": bus_arn(region, account, name), **fields,
              "CreationTime": now, "LastModifiedTime": now, "_Tags": {}}
    return tx.put(BUSES, name, record)


def get_bus(view, name: str) -> dict:
    bus = view.get(BUSES, name)
    if bus is None:
        raise bus_missing(name)
    return bus


def get_rule(view, bus: str, name: str) -> dict:
    get_bus(view, bus)
    rule = view.get(RULES, rule_id(bus, name))
    if rule is None:
        raise rule_missing(name, bus)
    return rule


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


# ---- paging ------------------------------------------------------------------------------

def page(items: list, key, token: str | None, limit: int | None) -> tuple[list, str | None]:
    """A page of items (sorted by `key`, a string) after the key a previous page ended at."""
    return paging.page(items, key, token, limit or 100,
                       lambda: validation("The nextToken provided is invalid."))
