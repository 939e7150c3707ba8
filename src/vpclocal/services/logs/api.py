"""In-process CloudWatch Logs for the rest of vpclocal (the Lambda runtime writes through this).

    put_events(app, "us-east-1", "/aws/lambda/fn", "2024/01/01/[$LATEST]abc", [(ts_ms, "line")])

Creates the log group and stream when missing, as Lambda does. Thread-safe: the store
serializes writers; an append is one small SQLite transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpclocal.services.logs import model

if TYPE_CHECKING:
    from vpclocal.server import App


def put_events(app: App, region: str, group: str, stream: str,
               events: list[tuple[int, str]]) -> None:
    """Append (timestamp in epoch ms, message) events to a stream, creating what is missing."""
    store = app.store
    sid = model.stream_id(group, stream)
    view = store.view(region)
    if view.get(model.STREAMS, sid) is None or view.get(model.GROUPS, group) is None:
        account = app.config.account_id
        with store.transaction(region) as tx:
            if tx.get(model.GROUPS, group) is None:
                model.new_group(tx, region, account, group)
            if tx.get(model.STREAMS, sid) is None:
                model.new_stream(tx, region, account, group, stream)
    if events:
        # stable: lines logged in the same millisecond keep their order
        rows = sorted(((int(ts), str(message)) for ts, message in events), key=lambda e: e[0])
        store.append_events(region, model.events_key(group, stream), rows, model.now_ms())


def get_events(app: App, region: str, group: str, stream: str) -> list[tuple[int, str]]:
    """Every event of a stream, oldest first (for tests)."""
    found = app.store.events(region, [model.events_key(group, stream)])
    return [(event.ts, event.body) for event in found]
