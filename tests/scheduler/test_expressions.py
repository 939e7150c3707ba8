"""Scheduler's expressions read in a time zone, across daylight saving changes: a wall-clock
time the spring change skips is skipped, one the autumn change repeats fires once."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from vpclocal.services.scheduler import model

NY = zoneinfo.ZoneInfo("America/New_York")


def firings(expression: str, start: dt.datetime, count: int) -> list[str]:
    when = model.parse(expression, NY)
    t, out = start.timestamp(), []
    for _ in range(count):
        t = when.next_after(t, 0.0, NY)
        out.append(dt.datetime.fromtimestamp(t, NY).isoformat())
    return out


def test_spring_forward_skips_the_missing_hour():
    # 2026-03-08: 02:00 -> 03:00 in New York
    assert firings("cron(30 2 * * ? *)", dt.datetime(2026, 3, 6, 12, tzinfo=NY), 3) == [
        "2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]


def test_fall_back_fires_once_in_the_repeated_hour():
    # 2026-11-01: 02:00 -> 01:00 in New York
    assert firings("cron(30 1 * * ? *)", dt.datetime(2026, 10, 31, 12, tzinfo=NY), 3) == [
        "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"]


def test_at_reads_its_zone():
    when = model.parse("at(2030-07-01T09:00:00)", NY)
    assert when.moment == dt.datetime(2030, 7, 1, 13, tzinfo=dt.UTC).timestamp()
    assert when.next_after(when.moment) == float("inf")


@pytest.mark.parametrize("text", ["at(2030-13-01T00:00:00)", "at(2030-01-01T24:00:00)",
                                  "at(2030-01-01)", "rate(1 minutes)", "cron(* * * * *)"])
def test_refused(text):
    with pytest.raises(ValueError):
        model.parse(text, dt.UTC)
