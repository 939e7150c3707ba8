"""Aggregating stored data points into periods and statistics."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d{1,2})?|100(?:\.0{1,2})?)")


@dataclass
class Bucket:
    """The data points of one period (and one unit)."""

    count: float = 0.0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    weighted: list[tuple[float, float]] = field(default_factory=list)  # raw (value, count)
    summarized: bool = False  # holds statistic sets: percentiles are not available

    def add(self, body: dict) -> None:
        if "s" in body:
            count, total, low, high = body["s"]
            self.count += count
            self.total += total
            self.low = min(self.low, low)
            self.high = max(self.high, high)
            self.summarized = True
            return
        values = body["v"]
        for value, count in zip(values, body.get("c") or [1.0] * len(values), strict=False):
            self.count += count
            self.total += value * count
            self.low = min(self.low, value)
            self.high = max(self.high, value)
            self.weighted.append((value, count))

    def statistic(self, name: str) -> float | None:
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.total
        if name == "Average":
            return self.total / self.count if self.count else None
        if name == "Minimum":
            return self.low
        if name == "Maximum":
            return self.high
        return self.percentile(float(name[1:]))

    def percentile(self, p: float) -> float | None:
        """Nearest rank over the raw values, each weighted by its count."""
        if self.summarized or not self.weighted:
            return None
        ordered = sorted(self.weighted)
        target = p / 100 * sum(count for _, count in ordered)
        seen = 0.0
        for value, count in ordered:
            seen += count
            if seen >= target:
                return value
        return ordered[-1][0]


def valid_statistic(name: str) -> bool:
    return name in STATISTICS or PERCENTILE.fullmatch(name) is not None


def aligned_start(start_s: int, period: int) -> int:
    """AWS rounds a start time down: to the minute for periods of a minute or more."""
    return start_s - start_s % 60 if period >= 60 else start_s


def aggregate(events, start_s: int, period: int, unit: str | None,
              merge_units: bool = False) -> dict[tuple[int, str], Bucket]:
    """Stored points -> buckets keyed by (period start in epoch seconds, unit); with
    merge_units every unit shares one bucket per period."""
    buckets: dict[tuple[int, str], Bucket] = {}
    for event in events:
        body = json.loads(event.body)
        point_unit = body.get("u", "None")
        if unit is not None and point_unit != unit:
            continue
        offset = (event.ts // 1000 - start_s) // period * period
        key = (start_s + offset, "" if merge_units else point_unit)
        buckets.setdefault(key, Bucket()).add(body)
    return buckets


def java_double(value: float) -> str:
    """A double as Java's Double.toString writes it (NaN, Infinity, 1.5, 1.0E300)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    shortest = Decimal(repr(abs(float(value))))  # the fewest digits that read back as value
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{shortest.adjusted()}"
