"""Deciding a metric alarm's state from its datapoints, with AWS's reason texts.

Pure functions: `decide(alarm, points, state)` takes the alarm's evaluation range (one value
or None per period, oldest first) and answers the state the alarm should be in, with the
StateReason and StateReasonData AWS writes ("Threshold Crossed: 1 out of the last 1 datapoints
[5.0 (06/12/26 16:00:00)] was greater than the threshold (1.0) (minimum 1 datapoint for OK ->
ALARM transition).").

Missing data, as AWS's "Configuring how CloudWatch alarms treat missing data" describes it:
when the range holds at least EvaluationPeriods real datapoints the most recent of them are
evaluated and TreatMissingData does not matter; when it holds fewer, the most recent
EvaluationPeriods periods are evaluated with the missing ones filled as TreatMissingData says
(breaching, notBreaching; `missing` and `ignore` leave them out); when it holds none, `missing`
goes INSUFFICIENT_DATA, `ignore` keeps the state, `breaching` ALARM, `notBreaching` OK.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from datetime import UTC, datetime

from vpclocal.services.cloudwatch.stats import java_double

# operator name -> (comparison, the words AWS's reason uses)
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")


@dataclass
class Point:
    """One period of the evaluation range: its start (epoch seconds), value, sample count."""

    start: int
    value: float | None
    samples: float = 0.0


@dataclass
class Outcome:
    state: str
    reason: str
    reason_data: str


def _when(start: int) -> str:
    """AWS's datapoint time in a reason: dd/MM/yy HH:mm:ss, UTC."""
    return datetime.fromtimestamp(start, UTC).strftime("%d/%m/%y %H:%M:%S")


def iso(epoch: float) -> str:
    """AWS's time in StateReasonData: 2026-12-06T16:00:00.000+0000."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def decide(alarm: dict, points: list[Point], state: str, now: float) -> Outcome | None:
    """The state the alarm should be in (None: keep the current one, as `ignore` says)."""
    n = alarm["EvaluationPeriods"]
    m = alarm.get("DatapointsToAlarm") or n
    treat = alarm.get("TreatMissingData") or "missing"
    compare, words = COMPARISONS[alarm["ComparisonOperator"]]
    threshold = alarm["Threshold"]
    real = [p for p in points if p.value is not None]
    data: dict = {"version": "1.0", "queryDate": iso(now)}
    stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
    if stat:
        data["statistic"] = stat
    data["period"] = alarm["_Period"]

    if not real:
        recent = points[-n:]
        if treat == "ignore":
            return None
        data.update(recentDatapoints=[], threshold=threshold,
                    evaluatedDatapoints=[{"timestamp": iso(p.start)} for p in reversed(recent)])
        if treat == "missing":
            return Outcome("INSUFFICIENT_DATA",
                           f"Insufficient Data: {_plural(n, 'datapoint')} "
                           f"{'was' if n == 1 else 'were'} unknown.", _dump(data))
        breach = treat == "breaching"
        # unconfirmed wording (no primary source seen); the shape follows AWS's other reasons
        return Outcome("ALARM" if breach and m <= n else "OK",
                       f"Threshold Crossed: no datapoints were received for "
                       f"{_plural(n, 'period')} and {_plural(n, 'missing datapoint')} "
                       f"{'was' if n == 1 else 'were'} treated as "
                       f"[{'Breaching' if breach else 'NonBreaching'}].", _dump(data))

    if len(real) >= n:
        evaluated = real[-n:]
        filled: list[tuple[Point, bool]] = [(p, compare(p.value, threshold)) for p in evaluated]
    else:
        evaluated = points[-n:]
        filled = []
        for p in evaluated:
            if p.value is not None:
                filled.append((p, compare(p.value, threshold)))
            elif treat in ("breaching", "notBreaching"):
                filled.append((p, treat == "breaching"))
    breaching = [p for p, hit in filled if hit]
    calm = [p for p, hit in filled if not hit]
    data["startDate"] = iso(evaluated[0].start)
    data["recentDatapoints"] = [p.value for p in evaluated if p.value is not None]
    data["threshold"] = threshold
    data["evaluatedDatapoints"] = [
        {"timestamp": iso(p.start), **({"sampleCount": p.samples, "value": p.value}
                                         if p.value is not None else {})}
        for p in reversed(evaluated)]
    if len(breaching) >= m:
        listed, verb, new, need = breaching, words, "ALARM", m
        transition = "OK -> ALARM"
    elif not calm:
        return None  # too few breaching, and nothing that does not breach: no change
    else:
        listed, verb, new, need = calm, f"not {words}", "OK", n - m + 1
        transition = "ALARM -> OK"
    shown = ", ".join(f"{java_double(p.value)} ({_when(p.start)})"
                      for p in sorted(listed, key=lambda p: -p.start) if p.value is not None)
    reason = (f"Threshold Crossed: {len(listed)} out of the last {len(evaluated)} datapoints "
              f"[{shown}] {'was' if len(listed) == 1 else 'were'} {verb} the threshold "
              f"({java_double(threshold)}) (minimum {_plural(need, 'datapoint')} for "
              f"{transition} transition).")
    return Outcome(new, reason, _dump(data))


def _dump(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"))
