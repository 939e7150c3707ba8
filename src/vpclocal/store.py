"""The durable store: the desired state of the cloud and the only source of truth.

Records are JSON-native dicts (AWS response shapes plus internal keys that start with "_"),
grouped by scope (a region, or "global" for IAM) and kind. All records are held in memory for
fast reads; every transaction is written to SQLite (WAL) in one database transaction before
memory changes, so an operation is atomic and survives a crash or `kill -9`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

Record = dict
_DELETED = object()


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
        self._lock = threading.RLock()
        self._data: dict[tuple[str, str], dict[str, Record]] = {}
        for scope, kind, rid, body in self._db.execute("SELECT scope, kind, id, body FROM records"):
            self._data.setdefault((scope, kind), {})[rid] = json.loads(body)

    def close(self) -> None:
        self._db.close()

    def view(self, scope: str) -> View:
        return View(self, scope)

    @contextmanager
    def transaction(self, scope: str) -> Iterator[Transaction]:
        """Everything written inside lands together, or not at all if the block raises."""
        with self._lock:
            tx = Transaction(self, scope)
            yield tx
            tx.commit()

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
