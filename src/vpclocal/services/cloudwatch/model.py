"""Metrics as store records (one per namespace + name + dimension set); their data points are
the store's event streams, one JSON body per point."""

from __future__ import annotations

import json
import time
from datetime import datetime

from vpclocal.store import Store, Transaction

METRICS = "cloudwatch.metric"  # id: metric_key(...)


def canonical_dimensions(dimensions: list[dict] | None) -> list[dict]:
    # a metric's identity does not depend on the order its dimensions were given in
    return sorted(({"Name": d["Name"], "Value": d["Value"]} for d in dimensions or []),
                  key=lambda d: d["Name"])


def metric_key(namespace: str, name: str, dimensions: list[dict]) -> str:
    dims = "\x1f".join(f"{d['Name']}={d['Value']}" for d in dimensions)
    return f"metric:{namespace}\x1e{name}\x1e{dims}"


def keys_of(namespace: str, data: list[dict]) -> set[str]:
    """The metric keys MetricDatum-shaped dicts belong to."""
    return {metric_key(namespace, d["MetricName"], canonical_dimensions(d.get("Dimensions")))
            for d in data}


def epoch_ms(value) -> int:
    if value is None:
        return int(time.time() * 1000)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


def encode_point(datum: dict) -> str:
    """A MetricDatum's values as the stored body: raw values (with counts) or a statistic set."""
    body: dict = {}
    if datum.get("Unit"):
        body["u"] = datum["Unit"]
    if datum.get("StatisticValues"):
        stats = datum["StatisticValues"]
        body["s"] = [stats["SampleCount"], stats["Sum"], stats["Minimum"], stats["Maximum"]]
    elif datum.get("Values"):
        body["v"] = list(datum["Values"])
        if datum.get("Counts"):
            body["c"] = list(datum["Counts"])
    else:
        body["v"] = [datum["Value"]]
    return json.dumps(body, separators=(",", ":"))


def put_points(store: Store, region: str, namespace: str, data: list[dict],
               tx: Transaction | None = None) -> None:
    """Store MetricDatum-shaped dicts (already valid), creating metric records when new
    (through `tx` when the caller holds one)."""
    by_key: dict[str, tuple[dict, list[tuple[int, str]]]] = {}
    for datum in data:
        dims = canonical_dimensions(datum.get("Dimensions"))
        key = metric_key(namespace, datum["MetricName"], dims)
        metric = {"Namespace": namespace, "MetricName": datum["MetricName"], "Dimensions": dims}
        by_key.setdefault(key, (metric, []))[1].append(
            (epoch_ms(datum.get("Timestamp")), encode_point(datum)))
    view = tx or store.view(region)
    new = [key for key in by_key if view.get(METRICS, key) is None]
    if new and tx is not None:
        for key in new:
            tx.put(METRICS, key, by_key[key][0])
    elif new:
        with store.transaction(region) as own:
            for key in new:
                own.put(METRICS, key, by_key[key][0])
    ingested = int(time.time() * 1000)
    for key, (_, rows) in by_key.items():
        store.append_events(region, key, rows, ingested)
