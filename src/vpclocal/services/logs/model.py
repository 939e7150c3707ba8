"""Log groups and streams as store records; their events live in the store's event streams."""

from __future__ import annotations

import time

from vpclocal.store import Transaction

GROUPS = "logs.group"  # id: the log group name
STREAMS = "logs.stream"  # id: stream_id(group, stream)


def now_ms() -> int:
    return int(time.time() * 1000)


def stream_id(group: str, stream: str) -> str:
    # ':' is allowed in neither name, so the pair is unambiguous
    return f"{group}:{stream}"


def events_key(group: str, stream: str) -> str:
    return f"log:{group}:{stream}"


def group_arn(region: str, account: str, group: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}"


def new_group(tx: Transaction, region: str, account: str, group: str,
              tags: dict[str, str] | None = None, **extra) -> dict:
    arn = group_arn(region, account, group)
    record = {
        "logGroupName": group, "creationTime": now_ms(), "metricFilterCount": 0,
        "arn": f"{arn}:*", "logGroupArn": arn, "logGroupClass": "STANDARD",
        **extra, "_tags": dict(tags or {}),
    }
    return tx.put(GROUPS, group, record)


def new_stream(tx: Transaction, region: str, account: str, group: str, stream: str) -> dict:
    record = {
        "logStreamName": stream, "creationTime": now_ms(),
        "arn": f"{group_arn(region, account, group)}:log-stream:{stream}", "_group": group,
    }
    return tx.put(STREAMS, stream_id(group, stream), record)
