"""RDS events: what happened to a DB instance (created, restarted, failed over), recorded as
it happens and returned by DescribeEvents (by default the past hour's, oldest first).

Messages and categories are AWS's (reference/aws-behaviour.md, "RDS events"). Events are
records of the region's store (kind KIND, id: a sortable time stamp and a counter), so
they survive a restart like everything else.
"""

from __future__ import annotations

import datetime as dt
import itertools

from vpclocal.protocols.base import now_iso, to_datetime
from vpclocal.services.rds.common import fail, invalid

KIND = "rds_events"
SOURCE_TYPES = ("db-instance", "db-parameter-group", "db-security-group", "db-snapshot",
                "db-cluster", "db-cluster-snapshot", "custom-engine-version", "db-proxy",
                "blue-green-deployment")

# what happened -> (message, categories), as AWS words them
CREATED = ("DB instance created", ["creation"])
RESTARTED = ("DB instance restarted", ["availability"])
FAILOVER_STARTED = ("Multi-AZ instance failover started.", ["failover"])
FAILOVER_COMPLETED = ("Multi-AZ instance failover completed", ["failover"])
USER_FAILOVER = ("The user requested a failover of the DB instance.", ["failover"])
PRIMARY_UNREACHABLE = (("The primary host of the RDS Multi-AZ instance is unreachable due "
                        "to loss of network connectivity."), ["failover"])
_SEQ = itertools.count()


def record(tx, instance: dict, what: tuple[str, list[str]]) -> None:
    """Record an event of a DB instance (in the caller's transaction)."""
    date = now_iso()
    message, categories = what
    tx.put(KIND, f"{date}|{next(_SEQ):012d}", {
        "SourceIdentifier": instance["DBInstanceIdentifier"], "SourceType": "db-instance",
        "Message": message, "EventCategories": list(categories), "Date": date,
        "SourceArn": instance["DBInstanceArn"]})


def _time(p: dict, key: str) -> dt.datetime | None:
    if p.get(key) is None:
        return None
    try:
        return to_datetime(p[key])
    except ValueError:
        raise invalid(f"Invalid value for {key}.") from None


class EventOperations:
    def describe_events(self, ctx, p):
        source_type = p.get("SourceType")
        if source_type is not None and source_type not in SOURCE_TYPES:
            raise invalid(f"Invalid source type: {source_type}")  # wording unconfirmed
        if p.get("SourceIdentifier") and not source_type:
            # documented constraint ("If SourceIdentifier is supplied, SourceType must also
            # be provided"); AWS's wording unconfirmed
            raise fail("InvalidParameterCombination",
                       "SourceType must be specified when SourceIdentifier is specified.")
        size = p.get("MaxRecords") or 100
        if not 20 <= size <= 100:
            raise invalid(f"Invalid value {size} for MaxRecords. Must be between 20 and 100")
        now = dt.datetime.now(dt.UTC)
        start, end = _time(p, "StartTime"), _time(p, "EndTime")
        if start is None:
            start = (end or now) - dt.timedelta(minutes=p.get("Duration") or 60)
        end = end or now
        categories = set(p.get("EventCategories") or ())
        events = [e for _key, e in sorted(ctx.tx.all(KIND).items())
                  if (not source_type or e["SourceType"] == source_type)
                  and (not p.get("SourceIdentifier")
                       or e["SourceIdentifier"] == p["SourceIdentifier"].lower())
                  and (not categories or categories & set(e["EventCategories"]))
                  and start <= to_datetime(e["Date"]) <= end]
        first = int(p["Marker"]) if str(p.get("Marker") or "").isdigit() else 0
        shown = events[first:first + size]
        answer = {"Events": shown}
        if first + size < len(events):
            answer["Marker"] = str(first + size)
        return answer
