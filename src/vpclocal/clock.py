"""vpclocal's scheduler clock: the real clock plus an offset tests move forward.

Schedules (EventBridge rules) fire by this clock. `POST /_vpclocal/clock {"advance": "5m"}`
(or `vpclocal clock advance 5m`) moves it; the offset is kept in the store, so a restart keeps
the time it had reached. It never moves back: firings already made stay made.
"""

from __future__ import annotations

import re
import time

from vpclocal.store import Store

SCOPE = "global"
KIND = "vpclocal.clock"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def offset(store: Store) -> float:
    record = store.view(SCOPE).get(KIND, "offset")
    return record["Seconds"] if record else 0.0


def now(store: Store) -> float:
    """The scheduler clock's time, epoch seconds."""
    return time.time() + offset(store)


def advance(store: Store, seconds: float) -> float:
    """Move the clock forward; the new time."""
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with store.transaction(SCOPE) as tx:
        tx.put(KIND, "offset", {"Seconds": offset(store) + seconds})
    return now(store)


def duration(text: str) -> float:
    """Seconds in "90", "90s", "5m", "1.5h", "2d", "250ms", or sums like "1h30m"."""
    text = text.strip()
    total, pos = 0.0, 0
    while pos < len(text):
        found = _DURATION.match(text, pos)
        if found is None or found.end() == pos:
            raise ValueError(f"not a duration: {text!r} (like 90s, 5m, 1h30m, 2d)")
        total += float(found.group(1)) * _SECONDS[found.group(2) or "s"]
        pos = found.end()
    if not text:
        raise ValueError("not a duration: ''")
    return total
