"""The alarm state decision (evaluation.decide) over evaluation ranges built by hand: M out of
N, and each TreatMissingData with some, or all, of the range missing."""

from __future__ import annotations

import json

import pytest

from vpclocal.services.cloudwatch.evaluation import Point, decide

T0 = 1_780_000_000 // 60 * 60  # a whole minute


def alarm(n: int = 3, m: int | None = None, treat: str = "missing",
          op: str = "GreaterThanThreshold") -> dict:
    out = {"EvaluationPeriods": n, "Threshold": 1.0, "ComparisonOperator": op,
           "TreatMissingData": treat, "Statistic": "Sum", "_Period": 60}
    if m is not None:
        out["DatapointsToAlarm"] = m
    return out


def points(*values) -> list[Point]:
    """Oldest first, a minute apart; None: no data in that period."""
    return [Point(T0 + 60 * i, v, 0.0 if v is None else 1.0) for i, v in enumerate(values)]


def state(a: dict, *values, current: str = "OK") -> str | None:
    outcome = decide(a, points(*values), current, T0 + 600)
    return None if outcome is None else outcome.state


@pytest.mark.parametrize("values,want", [
    ((0, 0, 5, 5, 5), "ALARM"),  # the last 3 all breach
    ((5, 5, 5, 5, 0), "OK"),
    ((5, None, 5, 5, None), "ALARM"),  # 3 real points, most recent ones: missing ignored
    ((0, 0, None, None, 5), "OK"),  # fewer than 3 real in the last 3: 1 breach of 3 needed
])
def test_three_of_three(values, want):
    assert state(alarm(), *values) == want


def test_m_out_of_n():
    assert state(alarm(n=3, m=2), 0, 0, 5, 0, 5) == "ALARM"
    assert state(alarm(n=3, m=2), 0, 0, 0, 0, 5) == "OK"


@pytest.mark.parametrize("treat,want", [
    ("missing", None), ("ignore", None), ("breaching", "ALARM"), ("notBreaching", "OK")])
def test_some_missing_filled_as_treated(treat, want):
    # one real breaching point in the last 3: 3 of 3 only when the missing ones breach, OK
    # when they do not, and no change when they do not count (nothing says OK either)
    assert state(alarm(treat=treat), None, None, None, None, 5) == want


@pytest.mark.parametrize("treat,want", [
    ("missing", "INSUFFICIENT_DATA"), ("ignore", None), ("breaching", "ALARM"),
    ("notBreaching", "OK")])
def test_all_missing(treat, want):
    assert state(alarm(treat=treat), None, None, None, None, None) == want


def test_reason_lists_the_deciding_points_most_recent_first():
    outcome = decide(alarm(n=3, m=2, op="GreaterThanOrEqualToThreshold"),
                     points(0, 0, 2.5, 0, 1), "OK", T0 + 600)
    assert outcome.state == "ALARM"
    assert outcome.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [1.0 (28/05/26 20:30:00), "
        "2.5 (28/05/26 20:28:00)] were greater than or equal to the threshold (1.0) "
        "(minimum 2 datapoints for OK -> ALARM transition).")
    data = json.loads(outcome.reason_data)
    assert data["startDate"] == "2026-05-28T20:28:00.000+0000"
    assert data["recentDatapoints"] == [2.5, 0, 1]
    assert [p["value"] for p in data["evaluatedDatapoints"]] == [1, 0, 2.5]


def test_insufficient_data_reason():
    outcome = decide(alarm(n=5), points(*[None] * 7), "OK", T0 + 600)
    assert outcome.reason == "Insufficient Data: 5 datapoints were unknown."
    assert len(json.loads(outcome.reason_data)["evaluatedDatapoints"]) == 5
