"""The durable store: the desired state of the cloud and the only source of truth.

Records are JSON-native dicts (AWS response shapes plus internal keys that start with "_"),
grouped by scope (a region, or "global" for IAM) and kind. All records are held in memory for
fast reads; every transaction is written to SQLite (WAL) in one database transaction before
memory changes, so an operation is atomic and survives a crash or `kill -9`.

Beside records, the store keeps append-only event streams (log events, metric data points):
rows of (timestamp, body) under a stream key, kept only in SQLite because they are numerous.
Each append is its own SQLite transaction; per-stream statistics are kept alongside so
describing a stream never scans its events.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

Record = dict
_DELETED = object()


class Event(NamedTuple):
    """One appended row. Streams are ordered by (ts, seq); seq grows with every append."""

    stream: str
    seq: int
    ts: int
    ingested: int
    body: str


class StreamStats(NamedTuple):
    count: int
    bytes: int
    first_ts: int
    last_ts: int
    last_ingested: int


_EVENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT,
    stream TEXT, ts INTEGER, ingested INTEGER, body TEXT);
CREATE INDEX IF NOT EXISTS events_by_time ON events (scope, stream, ts, seq);
CREATE TABLE IF NOT EXISTS event_streams (scope TEXT, stream TEXT, count INTEGER,
    bytes INTEGER, first_ts INTEGER, last_ts INTEGER, last_ingested INTEGER,
    PRIMARY KEY (scope, stream));
"""


class Store:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records (scope TEXT, kind TEXT, id TEXT, body TEXT,"
            " PRIMARY KEY (scope, kind, id))"
        )
        self._db.executescript(_EVENT_SCHEMA)
        self._lock = threading.RLock()
        self._watchers: list = []
        self._data: dict[tuple[str, str], dict[str, Record]] = {}
        for scope, kind, rid, body in self._db.execute("SELECT scope, kind, id, body FROM records"):
            self._data.setdefault((scope, kind), {})[rid] = json.loads(body)

    def close(self) -> None:
        self._db.close()

    def watch(self, fn) -> None:
        """Call fn({(scope, kind), ...}) after every committed write of records (e.g. to wake
        the fabric). It runs on the writer's thread under the store's lock: keep it tiny."""
        self._watchers.append(fn)

    def view(self, scope: str) -> View:
        return View(self, scope)

    @contextmanager
    def transaction(self, scope: str) -> Iterator[Transaction]:
        """Everything written inside lands together, or not at all if the block raises."""
        with self._lock:
            tx = Transaction(self, scope)
            yield tx
            tx.commit()

    # ---- append-only event streams ---------------------------------------------------------

    def append_events(self, scope: str, stream: str, rows: list[tuple[int, str]],
                      ingested: int) -> None:
        """Append (ts, body) rows to a stream, durably, in one SQLite transaction."""
        if not rows:
            return
        size = sum(len(body) for _, body in rows)
        first = min(ts for ts, _ in rows)
        last = max(ts for ts, _ in rows)
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                db.executemany(
                    "INSERT INTO events (scope, stream, ts, ingested, body) VALUES (?, ?, ?, ?, ?)",
                    [(scope, stream, ts, ingested, body) for ts, body in rows])
                db.execute(
                    "INSERT INTO event_streams VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (scope, stream) DO UPDATE SET count = count + excluded.count,"
                    " bytes = bytes + excluded.bytes, first_ts = min(first_ts, excluded.first_ts),"
                    " last_ts = max(last_ts, excluded.last_ts),"
                    " last_ingested = max(last_ingested, excluded.last_ingested)",
                    (scope, stream, len(rows), size, first, last, ingested))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def events(self, scope: str, streams: list[str], *, start: int | None = None,
               end: int | None = None, after: tuple[int, int] | None = None,
               limit: int | None = None, descending: bool = False) -> list[Event]:
        """Events of some streams with start <= ts < end, in (ts, seq) order (or reversed),
        strictly after the (ts, seq) position `after` in that order, at most `limit`."""
        if not streams:
            return []
        where = ["scope = ?", f"stream IN ({','.join('?' * len(streams))})"]
        args: list = [scope, *streams]
        if start is not None:
            where.append("ts >= ?")
            args.append(start)
        if end is not None:
            where.append("ts < ?")
            args.append(end)
        if after is not None:
            where.append("(ts, seq) < (?, ?)" if descending else "(ts, seq) > (?, ?)")
            args.extend(after)
        order = "DESC" if descending else "ASC"
        sql = (f"SELECT stream, seq, ts, ingested, body FROM events WHERE {' AND '.join(where)}"
               f" ORDER BY ts {order}, seq {order}")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            return [Event(*row) for row in self._db.execute(sql, args)]

    def event_stats(self, scope: str, streams: list[str]) -> dict[str, StreamStats]:
        """Statistics of the given streams that have events."""
        if not streams:
            return {}
        with self._lock:
            rows = self._db.execute(
                "SELECT stream, count, bytes, first_ts, last_ts, last_ingested FROM event_streams"
                f" WHERE scope = ? AND stream IN ({','.join('?' * len(streams))})",
                [scope, *streams]).fetchall()
        return {row[0]: StreamStats(*row[1:]) for row in rows}

    def delete_events(self, scope: str, streams: list[str]) -> None:
        """Drop streams and all their events."""
        if not streams:
            return
        marks = ",".join("?" * len(streams))
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                for table in ("events", "event_streams"):
                    db.execute(f"DELETE FROM {table} WHERE scope = ? AND stream IN ({marks})",
                               [scope, *streams])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def scopes(self, kind: str) -> list[str]:
        """The scopes (regions) holding records of a kind."""
        return sorted(scope for (scope, k), records in self._data.items() if k == kind and records)

    def _live(self, scope: str, kind: str) -> dict[str, Record]:
        return self._data.get((scope, kind), {})

    def _write(self, changes: dict[tuple[str, str, str], object]) -> None:
        if not changes:
            return
        rows_put = []
        rows_del = []
        for (scope, kind, rid), rec in changes.items():
            if rec is _DELETED:
                rows_del.append((scope, kind, rid))
            else:
                rows_put.append((scope, kind, rid, json.dumps(rec, separators=(",", ":"))))
        db = self._db
        db.execute("BEGIN")
        try:
            if rows_put:
                db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", rows_put)
            if rows_del:
                db.executemany("DELETE FROM records WHERE scope=? AND kind=? AND id=?", rows_del)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for (scope, kind, rid), rec in changes.items():
            bucket = self._data.setdefault((scope, kind), {})
            if rec is _DELETED:
                bucket.pop(rid, None)
            else:
                bucket[rid] = rec  # type: ignore[assignment]
        if self._watchers:
            kinds = {(scope, kind) for scope, kind, _rid in changes}
            for fn in self._watchers:
                fn(kinds)


class View:
    """Read-only access to one scope. Records returned are live: never mutate them."""

    def __init__(self, store: Store, scope: str) -> None:
        self.store = store
        self.scope = scope

    def get(self, kind: str, rid: str, scope: str | None = None) -> Record | None:
        return self.store._live(scope or self.scope, kind).get(rid)

    def all(self, kind: str, scope: str | None = None) -> dict[str, Record]:
        return self.store._live(scope or self.scope, kind)

    def values(self, kind: str, scope: str | None = None) -> list[Record]:
        return list(self.all(kind, scope).values())


class Transaction(View):
    """A view plus pending writes; `edit` hands out a private copy to change."""

    def __init__(self, store: Store, scope: str) -> None:
        super().__init__(store, scope)
        self._pending: dict[tuple[str, str, str], object] = {}
        self._pending_kinds: set[tuple[str, str]] = set()
        self._after_commit: list = []

    def get(self, kind: str, rid: str, scope: str | None = None) -> Record | None:
        key = (scope or self.scope, kind, rid)
        if key in self._pending:
            rec = self._pending[key]
            return None if rec is _DELETED else rec  # type: ignore[return-value]
        return self.store._live(key[0], kind).get(rid)

    def all(self, kind: str, scope: str | None = None) -> dict[str, Record]:
        scope = scope or self.scope
        live = self.store._live(scope, kind)
        if (scope, kind) not in self._pending_kinds:
            return live
        merged = dict(live)
        for (s, k, rid), rec in self._pending.items():
            if s == scope and k == kind:
                if rec is _DELETED:
                    merged.pop(rid, None)
                else:
                    merged[rid] = rec  # type: ignore[assignment]
        return merged

    def edit(self, kind: str, rid: str, scope: str | None = None) -> Record:
        """A writable copy of a record, saved at commit. KeyError if it does not exist."""
        key = (scope or self.scope, kind, rid)
        rec = self._pending.get(key)
        if rec is not None and rec is not _DELETED:
            return rec  # type: ignore[return-value]
        live = self.store._live(key[0], kind).get(rid)
        if live is None or rec is _DELETED:
            raise KeyError(rid)
        copied = json.loads(json.dumps(live))  # records are JSON-native; faster than deepcopy
        self._set(key, copied)
        return copied

    def put(self, kind: str, rid: str, record: Record, scope: str | None = None) -> Record:
        self._set((scope or self.scope, kind, rid), record)
        return record

    def delete(self, kind: str, rid: str, scope: str | None = None) -> None:
        self._set((scope or self.scope, kind, rid), _DELETED)

    def after_commit(self, fn) -> None:
        """Run fn() once the transaction has landed (e.g. to wake a reconciler)."""
        self._after_commit.append(fn)

    def _set(self, key: tuple[str, str, str], value: object) -> None:
        self._pending[key] = value
        self._pending_kinds.add((key[0], key[1]))

    def commit(self) -> None:
        self.store._write(self._pending)
        self._pending = {}
        for fn in self._after_commit:
            fn()
