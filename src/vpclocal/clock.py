"""vpclocal's scheduler clock: the real clock plus an offset tests move forward.

Schedules (EventBridge rules) fire by this clock. `POST /_vpclocal/clock {"advance": "5m"}`
(or `vpclocal clock advance 5m`) moves it; the offset is kept in the store, so a restart keeps
the time it had reached. It never moves back: firings already made stay made.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from vpclocal.store import Store

log = logging.getLogger("vpclocal")

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


class ClockDriven:
    """A provider whose records fire by this clock (EventBridge rules, Scheduler schedules):
    one task sleeps until the next firing is due, or until woken (a record changed, the clock
    moved). Subclasses name the store kind of their records (DUE_KIND; a record due to fire
    holds `_NextFire`, epoch seconds) and define `_skip_missed()` and
    `_fire(region, record, now) -> the record's next firing, or None`."""

    DUE_KIND = ""
    app: object
    _wake: asyncio.Event | None = None
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._skip_missed()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def clock_moved(self) -> None:
        """Called when vpclocal's clock moves: the firings it passed happen now."""
        self.fire_due()
        self.wake()

    def _due_records(self) -> list[tuple[str, dict]]:
        """(region, record) of every record due to fire."""
        store = self.app.store
        with store.transaction(SCOPE):  # scopes() walks the store's maps: its lock
            regions = store.scopes(self.DUE_KIND)
        return [(region, record) for region in regions
                for record in store.view(region).values(self.DUE_KIND) if "_NextFire" in record]

    def fire_due(self) -> float | None:
        """Make every firing due by the clock; the time of the next one."""
        current = now(self.app.store)
        next_due = None
        for region, record in self._due_records():
            due = record["_NextFire"]
            if due <= current:
                due = self._fire(region, record, current)
            if due is not None:
                next_due = due if next_due is None else min(next_due, due)
        return next_due

    def _skip_missed(self) -> None:
        raise NotImplementedError

    def _fire(self, region: str, record: dict, current: float) -> float | None:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = self.fire_due()
            except Exception:  # a bug of ours must not stop every schedule
                log.exception("%s firings", self.DUE_KIND)
                next_due = None
            wait = 60.0 if next_due is None else max(
                0.0, min(60.0, next_due - now(self.app.store)))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
