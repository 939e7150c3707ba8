"""EventBridge Scheduler's records (region scope), ARNs, errors and schedule expressions.

A schedule record keeps, while it has firings left, the time of its next one as its expression
says ("_Due") and the time it is made ("_NextFire": later within a flexible time window), both
in the scheduler clock's epoch seconds (vpclocal.clock); a rate schedule also keeps the anchor
its rate counts from ("_Anchor").

Expressions are EventBridge's `rate(...)` and `cron(...)` (vpclocal.services.events.schedule)
read in the schedule's time zone, plus Scheduler's one-time `at(yyyy-mm-ddThh:mm:ss)`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zoneinfo
from dataclasses import dataclass

from vpclocal.errors import ServiceError
from vpclocal.services.events import schedule as expressions

GROUPS = "scheduler.group"  # id: the group name
SCHEDULES = "scheduler.schedule"  # id: schedule_id(group, name)
DEFAULT = "default"
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")


def schedule_id(group: str, name: str) -> str:
    return f"{group}|{name}"  # '|' is in neither name


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"


def schedule_arn(region: str, account: str, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationException")


def not_found(message: str) -> ServiceError:
    return ServiceError(message, code="ResourceNotFoundException", status=404)


def conflict(message: str) -> ServiceError:
    return ServiceError(message, code="ConflictException", status=409)


def group_missing(name: str) -> ServiceError:
    return not_found(f"Schedule group {name} does not exist.")


def schedule_missing(name: str) -> ServiceError:
    return not_found(f"Schedule {name} does not exist.")


def get_group(view, name: str) -> dict:
    group = view.get(GROUPS, name)
    if group is None:
        raise group_missing(name)
    return group


def get_schedule(view, group: str, name: str) -> dict:
    get_group(view, group)
    record = view.get(SCHEDULES, schedule_id(group, name))
    if record is None:
        raise schedule_missing(name)
    return record


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


# ---- expressions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class At:
    """A one-time schedule: the moment, epoch seconds."""

    moment: float

    def next_after(self, t: float, anchor: float = 0.0, tz: dt.tzinfo = dt.UTC) -> float:
        return self.moment if self.moment > t else float("inf")


def zone(name: str | None) -> dt.tzinfo:
    """The time zone a ScheduleExpressionTimezone names (UTC if none); ValueError if none such."""
    if not name or name == "UTC":
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(name) from None


def parse(expression: str, tz: dt.tzinfo) -> expressions.Rate | expressions.Cron | At:
    """The schedule an expression describes; ValueError when Scheduler refuses it."""
    found = _AT.fullmatch(expression)
    if found is None:
        return expressions.parse(expression)
    year, month, day, hour, minute, second = (int(g) for g in found.groups())
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)  # ValueError
    return At(moment.timestamp())


def jitter(arn: str, due: float, window_minutes: int) -> float:
    """Where in a flexible time window a firing lands: seconds after its due time, the same
    every time for the same schedule and due time."""
    digest = hashlib.sha256(f"{arn}|{due}".encode()).digest()
    return int.from_bytes(digest[:8]) % (window_minutes * 60)
