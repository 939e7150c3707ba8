"""CloudWatch metric alarms: PutMetricAlarm, DescribeAlarms(ForMetric), DeleteAlarms,
SetAlarmState, DescribeAlarmHistory, Enable/DisableAlarmActions and alarm tags, and the
evaluation that moves an alarm between OK, ALARM and INSUFFICIENT_DATA.

An alarm is a store record (kind ALARMS, id its name). It is evaluated (evaluation.py) over
the metric data points as recorded, which carry real times, so the evaluation range ends at the
real clock: its most recent period is the one in progress when that has data already, else
the last complete one. Evaluations run every minute by vpclocal's clock (every period for
10/20/30-second alarms; clock.ClockDriven, so `vpclocal clock advance` runs them at once), and
as soon as data points arrive for a metric an alarm watches (faster than AWS, which
evaluates once a minute). A state change is recorded in the alarm's history
(DescribeAlarmHistory), goes to EventBridge's default bus as a "CloudWatch Alarm State Change"
event (source aws.cloudwatch), and, with actions enabled, runs the new state's actions: a
Lambda function is invoked asynchronously with AWS's alarm event when its resource policy
allows lambda.alarms.cloudwatch.amazonaws.com; any other action (SNS, EC2, Auto Scaling) is
recorded as failed, vpclocal serves none of them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
import uuid

from vpclocal import clock
from vpclocal.errors import ServiceError
from vpclocal.services.cloudwatch import evaluation, expressions, model
from vpclocal.services.cloudwatch.stats import aggregate, valid_statistic
from vpclocal.services.events.delivery import LAMBDA_ARN, function_exists
from vpclocal.services.iam import evaluator
from vpclocal.services.iam.documents import as_list
from vpclocal.services.lambda_.permissions import function_policy

log = logging.getLogger("vpclocal.cloudwatch")

ALARMS = "cloudwatch.alarm"  # id: AlarmName
HISTORY = "cloudwatch.alarm-history"  # the region's event stream of alarm history items
EXTRA_PERIODS = 2  # the evaluation range looks this many periods further back (AWS: "more")
ALARM_PRINCIPAL = "lambda.alarms.cloudwatch.amazonaws.com"
DESCRIBE_PAGE = 50
HISTORY_PAGE = 100
ALARM_TYPES = ("MetricAlarm", "CompositeAlarm")
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
# the MetricAlarm fields a describe shows, in the model's order
SHOWN = ("AlarmName", "AlarmArn", "AlarmDescription", "AlarmConfigurationUpdatedTimestamp",
         "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions", "StateValue",
         "StateReason", "StateReasonData", "StateUpdatedTimestamp", "MetricName", "Namespace",
         "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
         "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
         "EvaluateLowSampleCountPercentile", "Metrics", "StateTransitionedTimestamp")
SINGLE = ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period",
          "Unit")


def _error(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def _invalid(name: str, value) -> ServiceError:
    return _error("InvalidParameterValue", f"The value {value} for parameter {name} is invalid.")


def _missing(name: str) -> ServiceError:
    return _error("MissingParameter", f"The parameter {name} is required.")


def alarm_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def public(alarm: dict) -> dict:
    return {k: alarm[k] for k in SHOWN if k in alarm}


def _valid_period(period: int) -> bool:
    return period in (10, 20, 30) or (period >= 60 and period % 60 == 0)


def _interval(alarm: dict) -> int:
    """How often the alarm evaluates, seconds: every minute, every period under a minute."""
    return min(alarm["_Period"], 60)


def _watched(alarm: dict) -> list[str]:
    """The metric keys the alarm reads."""
    stats = ([{"Metric": {k: alarm.get(k) for k in ("Namespace", "MetricName", "Dimensions")}}]
             if "MetricName" in alarm else
             [q["MetricStat"] for q in alarm.get("Metrics") or [] if "MetricStat" in q])
    return [model.metric_key(s["Metric"]["Namespace"], s["Metric"]["MetricName"],
                             model.canonical_dimensions(s["Metric"].get("Dimensions")))
            for s in stats]


def _encode(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode(token: str):
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise _error("InvalidNextToken", "The service returned an invalid next token.") from None


class AlarmOperations:
    """The alarm operations and their evaluation, mixed into the CloudWatch provider (with
    clock.ClockDriven, whose DUE_KIND is ALARMS)."""

    app: object
    _event_loop: asyncio.AbstractEventLoop | None = None

    def _init_alarms(self) -> None:
        self._arrived: dict[str, set[str]] = {}  # region -> metric keys with new data points
        self._arrived_lock = threading.Lock()
        self.alarm_listeners: list = []  # called (region, alarm) after every state change

    # ---- PutMetricAlarm ------------------------------------------------------------------

    def _checked_alarm(self, p: dict) -> dict:
        """The alarm's configuration from a PutMetricAlarm request, checked as AWS checks it."""
        if p.get("ThresholdMetricId") or p.get("EvaluationCriteria") or p.get(
                "EvaluationWindow"):
            raise _error("ValidationError", "vpclocal runs static-threshold metric alarms "
                         "only (no anomaly detection, Metrics Insights or PromQL alarms).")
        metrics = p.get("Metrics")
        if metrics and any(p.get(k) is not None for k in SINGLE):
            given = next(k for k in SINGLE if p.get(k) is not None)
            raise _error("InvalidParameterCombination",
                         f"The parameters Metrics and {given} are mutually exclusive and you "
                         "have specified both.")
        if not metrics and not p.get("MetricName"):
            raise _missing("MetricName")
        for name in ("EvaluationPeriods", "ComparisonOperator"):
            if p.get(name) is None:
                raise _missing(name)
        if p["ComparisonOperator"] not in evaluation.COMPARISONS:
            raise _error("ValidationError", "The operator "
                         f"{p['ComparisonOperator']} is only supported for alarms on anomaly "
                         "detection models, which vpclocal does not run.")
        if p.get("Threshold") is None:
            raise _missing("Threshold")
        alarm: dict = {}
        if metrics:
            period = self._checked_metrics(metrics)
        else:
            if not p.get("Namespace"):
                raise _missing("Namespace")
            if p.get("Period") is None:
                raise _missing("Period")
            if (p.get("Statistic") is None) == (p.get("ExtendedStatistic") is None):
                raise _error("InvalidParameterCombination",
                             "Exactly one of Statistic or ExtendedStatistic must be specified.")
            extended = p.get("ExtendedStatistic")
            if extended is not None and (not valid_statistic(extended)
                                         or not extended.startswith("p")):
                raise _invalid("ExtendedStatistic", extended)
            period = p["Period"]
            if not _valid_period(period):
                raise _error("InvalidParameterValue",
                             "The parameter Period must be 10, 20, 30 or a multiple of 60.")
            names = [d["Name"] for d in p.get("Dimensions") or []]
            if len(set(names)) != len(names):
                raise _error("InvalidParameterValue",
                             "The dimension names in Dimensions must be unique.")
            for key in SINGLE:
                if p.get(key) is not None:
                    alarm[key] = p[key]
            alarm["Dimensions"] = list(p.get("Dimensions") or [])
        n = p["EvaluationPeriods"]
        m = p.get("DatapointsToAlarm")
        if m is not None and m > n:
            raise _error("ValidationError", "DatapointsToAlarm must be less than or equal to "
                         "EvaluationPeriods.")
        if n * period > 86_400 and (period < 3600 or n * period > 7 * 86_400):
            # AWS: EvaluationPeriods x Period at most a day (seven days for hourly periods)
            raise _error("ValidationError", "The evaluation period of the alarm is too long: "
                         "EvaluationPeriods multiplied by Period must not exceed 86400 "
                         "seconds (604800 for periods of an hour or more).")
        treat = p.get("TreatMissingData")
        if treat is not None and treat not in evaluation.TREATMENTS:
            raise _invalid("TreatMissingData", treat)
        low = p.get("EvaluateLowSampleCountPercentile")
        if low is not None and low not in ("evaluate", "ignore"):
            raise _invalid("EvaluateLowSampleCountPercentile", low)
        for kind in ("OKActions", "AlarmActions", "InsufficientDataActions"):
            for arn in p.get(kind) or []:
                if not arn.startswith("arn:") or arn.count(":") < 5:
                    raise _error("ValidationError", f"Invalid arn syntax: {arn}")
        for key in ("AlarmDescription", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
                    "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile",
                    "Metrics"):
            if p.get(key) is not None:
                alarm[key] = p[key]
        alarm.update(ActionsEnabled=p.get("ActionsEnabled", True),
                     OKActions=list(p.get("OKActions") or []),
                     AlarmActions=list(p.get("AlarmActions") or []),
                     InsufficientDataActions=list(p.get("InsufficientDataActions") or []),
                     _Period=period)
        return alarm

    @staticmethod
    def _checked_metrics(metrics: list[dict]) -> int:
        """Check a Metrics array; the period of its datapoints."""
        if sum(1 for q in metrics if q.get("ReturnData", True)) != 1:
            raise _error("ValidationError",
                         "Exactly one element of the metrics list should return data.")
        ids = [q["Id"] for q in metrics]
        if len(set(ids)) != len(ids):
            raise _error("ValidationError", "The values for parameter Id in Metrics are not "
                         "unique.")
        periods = []
        for index, q in enumerate(metrics, 1):
            where = f"Metrics.member.{index}"
            if ("MetricStat" in q) == ("Expression" in q):
                raise _error("ValidationError", f"Exactly one of {where}.MetricStat and "
                             f"{where}.Expression must be specified.")
            if "MetricStat" in q:
                stat = q["MetricStat"]
                if not valid_statistic(stat["Stat"]):
                    raise _invalid(f"{where}.MetricStat.Stat", stat["Stat"])
                if not _valid_period(stat["Period"]):
                    raise _error("InvalidParameterValue", f"The parameter {where}.MetricStat."
                                 "Period must be 10, 20, 30 or a multiple of 60.")
                periods.append(stat["Period"])
            elif q.get("Period") is not None:
                periods.append(q["Period"])
        if not periods:
            raise _error("ValidationError", "The Metrics list must include at least one "
                         "MetricStat.")
        series: dict[str, dict[int, float]] = {q["Id"]: {} for q in metrics
                                               if "MetricStat" in q}
        for q in metrics:  # an expression vpclocal cannot compute is refused now, not later
            if "Expression" in q:
                series[q["Id"]] = expressions.evaluate(q["Id"], q["Expression"], series)
        return max(periods)

    def put_metric_alarm(self, ctx, p):
        name = p["AlarmName"]
        config = self._checked_alarm(p)
        now = time.time()
        old = ctx.tx.get(ALARMS, name)
        record = {"AlarmName": name, "AlarmArn": alarm_arn(ctx.region, ctx.account_id, name),
                  **config, "AlarmConfigurationUpdatedTimestamp": now}
        if old is None:
            record.update(StateValue="INSUFFICIENT_DATA",
                          StateReason="Unchecked: Initial alarm creation",
                          StateUpdatedTimestamp=now, StateTransitionedTimestamp=now,
                          _Tags={t["Key"]: t["Value"] for t in p.get("Tags") or []})
        else:  # an update keeps the state (and the tags; Tags apply only at creation)
            for key in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                        "StateTransitionedTimestamp", "_Tags"):
                if key in old:
                    record[key] = old[key]
        record["_NextFire"] = clock.now(self.app.store)  # evaluated at once
        ctx.tx.put(ALARMS, name, record)
        kind = "Create" if old is None else "Update"
        data = {"version": "1.0", "type": kind,
                f"{kind.lower()}dAlarm" if kind == "Create" else "updatedAlarm": _config(record)}
        if old is not None:
            data["originalAlarm"] = _config(old)
        region = ctx.region
        ctx.tx.after_commit(lambda: (self._history(
            region, name, "ConfigurationUpdate",
            f'Alarm "{name}" {"created" if old is None else "updated"}', data), self.wake()))
        return {}

    # ---- describing ----------------------------------------------------------------------

    def describe_alarms(self, ctx, p):
        names, prefix = p.get("AlarmNames"), p.get("AlarmNamePrefix")
        if names and prefix:
            raise _error("InvalidParameterCombination", "The parameters AlarmNames and "
                         "AlarmNamePrefix are mutually exclusive and you have specified both.")
        if p.get("ChildrenOfAlarmName") or p.get("ParentsOfAlarmName"):
            for key in ("AlarmNames", "AlarmNamePrefix", "StateValue", "ActionPrefix"):
                if p.get(key):
                    raise _error("InvalidParameterCombination", "ChildrenOfAlarmName and "
                                 f"ParentsOfAlarmName cannot be used with {key}.")
        types = p.get("AlarmTypes") or ["MetricAlarm"]
        for t in types:
            if t not in ALARM_TYPES:
                raise _invalid("AlarmTypes", t)
        alarms = sorted(ctx.tx.values(ALARMS), key=lambda a: a["AlarmName"])
        if "MetricAlarm" not in types or p.get("ChildrenOfAlarmName") or p.get(
                "ParentsOfAlarmName"):
            alarms = []  # metric alarms have no children, no composite alarm is a parent
        if names:
            alarms = [a for a in alarms if a["AlarmName"] in names]
        if prefix:
            alarms = [a for a in alarms if a["AlarmName"].startswith(prefix)]
        if p.get("StateValue"):
            alarms = [a for a in alarms if a["StateValue"] == p["StateValue"]]
        if p.get("ActionPrefix"):
            alarms = [a for a in alarms if any(
                arn.startswith(p["ActionPrefix"]) for kind in
                ("OKActions", "AlarmActions", "InsufficientDataActions") for arn in a[kind])]
        if p.get("NextToken") is not None:
            after = _decode(p["NextToken"])
            if not isinstance(after, str):
                raise _error("InvalidNextToken", "The service returned an invalid next token.")
            alarms = [a for a in alarms if a["AlarmName"] > after]
        limit = p.get("MaxRecords") or DESCRIBE_PAGE
        out: dict = {"MetricAlarms": [public(a) for a in alarms[:limit]]}
        if "CompositeAlarm" in types:
            out["CompositeAlarms"] = []
        if len(alarms) > limit:
            out["NextToken"] = _encode(alarms[limit - 1]["AlarmName"])
        return out

    def describe_alarms_for_metric(self, ctx, p):
        wanted = model.canonical_dimensions(p.get("Dimensions"))
        found = []
        for alarm in sorted(ctx.tx.values(ALARMS), key=lambda a: a["AlarmName"]):
            if alarm.get("MetricName") != p["MetricName"] or alarm.get(
                    "Namespace") != p["Namespace"]:
                continue
            if p.get("Dimensions") is not None and model.canonical_dimensions(
                    alarm.get("Dimensions")) != wanted:
                continue
            if any(p.get(k) is not None and alarm.get(k) != p[k]
                   for k in ("Statistic", "ExtendedStatistic", "Period", "Unit")):
                continue
            found.append(public(alarm))
        return {"MetricAlarms": found}

    def _existing(self, ctx, name: str) -> dict:
        alarm = ctx.tx.get(ALARMS, name)
        if alarm is None:
            # the message AWS returns for an unknown alarm (seen from SetAlarmState)
            raise _error("ResourceNotFound", "Unknown", 404)
        return alarm

    def delete_alarms(self, ctx, p):
        region = ctx.region
        for name in p["AlarmNames"]:
            alarm = ctx.tx.get(ALARMS, name)
            if alarm is None:
                continue  # AWS deletes the ones that exist
            ctx.tx.delete(ALARMS, name)
            data = {"version": "1.0", "type": "Delete", "deletedAlarm": _config(alarm)}
            ctx.tx.after_commit(lambda name=name, data=data: self._history(
                region, name, "ConfigurationUpdate", f'Alarm "{name}" deleted', data))
        return {}

    def _actions_enabled(self, ctx, p, enabled: bool):
        for name in p["AlarmNames"]:
            if ctx.tx.get(ALARMS, name) is not None:
                ctx.tx.edit(ALARMS, name)["ActionsEnabled"] = enabled
        return {}

    def enable_alarm_actions(self, ctx, p):
        return self._actions_enabled(ctx, p, True)

    def disable_alarm_actions(self, ctx, p):
        return self._actions_enabled(ctx, p, False)

    def set_alarm_state(self, ctx, p):
        alarm = self._existing(ctx, p["AlarmName"])
        data = p.get("StateReasonData")
        if data:
            try:
                json.loads(data)
            except ValueError:
                raise _error("InvalidFormat", "Invalid JSON in StateReasonData.") from None
        # the state holds until the next evaluation, which may change it back (as on AWS)
        self._transition(ctx.tx, ctx.region, alarm, p["StateValue"], p["StateReason"], data)
        return {}

    # ---- history -------------------------------------------------------------------------

    def _history(self, region: str, name: str, kind: str, summary: str, data: dict) -> None:
        now = int(time.time() * 1000)
        body = {"AlarmName": name, "AlarmType": "MetricAlarm", "HistoryItemType": kind,
                "HistorySummary": summary,
                "HistoryData": json.dumps(data, separators=(",", ":"))[:4095]}
        self.app.store.append_events(region, HISTORY, [(now, json.dumps(body))], now)

    def describe_alarm_history(self, ctx, p):
        start = model.epoch_ms(p["StartDate"]) if p.get("StartDate") else None
        end = model.epoch_ms(p["EndDate"]) + 1 if p.get("EndDate") else None
        descending = p.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        types = p.get("AlarmTypes") or ["MetricAlarm"]
        for t in types:
            if t not in ALARM_TYPES:
                raise _invalid("AlarmTypes", t)
        items = []
        for event in self.app.store.events(ctx.region, [HISTORY], start=start, end=end,
                                           descending=descending):
            item = json.loads(event.body)
            if p.get("AlarmName") and item["AlarmName"] != p["AlarmName"]:
                continue
            if p.get("HistoryItemType") and item["HistoryItemType"] != p["HistoryItemType"]:
                continue
            if item["AlarmType"] not in types:
                continue
            items.append({**item, "Timestamp": event.ts / 1000})
        offset = 0
        if p.get("NextToken") is not None:
            offset = _decode(p["NextToken"])
            if not isinstance(offset, int) or offset < 0:
                raise _error("InvalidNextToken", "The service returned an invalid next token.")
        limit = p.get("MaxRecords") or HISTORY_PAGE
        out: dict = {"AlarmHistoryItems": items[offset:offset + limit]}
        if offset + limit < len(items):
            out["NextToken"] = _encode(offset + limit)
        return out

    # ---- tags ----------------------------------------------------------------------------

    def _alarm_of_arn(self, ctx, arn: str) -> str:
        prefix = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:"
        name = arn[len(prefix):] if arn.startswith(prefix) else None
        if not arn.startswith("arn:") or arn.count(":") < 6:
            raise _error("InvalidParameterValue", f"Invalid ARN: {arn}")
        if name is None or ctx.tx.get(ALARMS, name) is None:
            raise _error("ResourceNotFoundException", f"Alarm {arn} not found.", 404)
        return name

    def tag_resource(self, ctx, p):
        name = self._alarm_of_arn(ctx, p["ResourceARN"])
        ctx.tx.edit(ALARMS, name)["_Tags"].update({t["Key"]: t["Value"] for t in p["Tags"]})
        return {}

    def untag_resource(self, ctx, p):
        name = self._alarm_of_arn(ctx, p["ResourceARN"])
        tags = ctx.tx.edit(ALARMS, name)["_Tags"]
        for key in p["TagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, ctx, p):
        name = self._alarm_of_arn(ctx, p["ResourceARN"])
        tags = ctx.tx.get(ALARMS, name)["_Tags"]
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    # ---- evaluation ----------------------------------------------------------------------

    def metrics_arrived(self, region: str, keys: set[str]) -> None:
        """Data points were recorded for these metrics (from any thread): the alarms that
        watch them evaluate now."""
        loop = self._event_loop
        if loop is None or not keys:
            return
        with self._arrived_lock:
            self._arrived.setdefault(region, set()).update(keys)
        loop.call_soon_threadsafe(self._evaluate_arrived)

    def _evaluate_arrived(self) -> None:
        with self._arrived_lock:
            arrived, self._arrived = self._arrived, {}
        for region, keys in arrived.items():
            for alarm in list(self.app.store.view(region).values(ALARMS)):
                if keys.intersection(_watched(alarm)):
                    try:
                        self.evaluate(region, alarm["AlarmName"])
                    except Exception:  # a bug of ours must not stop the others
                        log.exception("evaluating alarm %s", alarm["AlarmArn"])

    def _skip_missed(self) -> None:
        """Evaluations missed while the server was down are not made late: one now."""

    def _fire(self, region: str, record: dict, now: float) -> float | None:
        try:
            return self.evaluate(region, record["AlarmName"])
        except Exception:  # a bug of ours must not stop the other alarms' evaluations
            log.exception("evaluating alarm %s", record["AlarmArn"])
            return now + _interval(record)

    def evaluate(self, region: str, name: str) -> float | None:
        """Evaluate one alarm now; the clock time of its next evaluation."""
        with self.app.store.transaction(region) as tx:
            alarm = tx.get(ALARMS, name)
            if alarm is None:
                return None
            real_now = time.time()
            outcome = evaluation.decide(alarm, self._range(region, alarm, real_now),
                                        alarm["StateValue"], real_now)
            following = clock.now(self.app.store) + _interval(alarm)
            tx.edit(ALARMS, name)["_NextFire"] = following
            if outcome is not None and outcome.state != alarm["StateValue"]:
                self._transition(tx, region, tx.get(ALARMS, name), outcome.state,
                                 outcome.reason, outcome.reason_data)
        return following

    def _range(self, region: str, alarm: dict, now: float) -> list[evaluation.Point]:
        """The alarm's evaluation range, oldest first: its EvaluationPeriods periods and
        EXTRA_PERIODS more, ending with the period in progress when it has data already."""
        period = alarm["_Period"]
        count = alarm["EvaluationPeriods"] + EXTRA_PERIODS
        latest = int(now) // period * period
        first = latest - count * period
        series = self._series(region, alarm, first, latest + period)
        if latest not in series:
            latest -= period
        return [evaluation.Point(start, *series.get(start, (None, 0.0)))
                for start in range(latest - (count - 1) * period, latest + period, period)]

    def _series(self, region: str, alarm: dict, start: int,
                end: int) -> dict[int, tuple[float, float]]:
        """(value, sample count) by period start, for the alarm's metric or expression."""
        if "MetricName" in alarm:
            stat = alarm.get("Statistic") or alarm["ExtendedStatistic"]
            return self._stat_series(region, {"Namespace": alarm["Namespace"],
                                              "MetricName": alarm["MetricName"],
                                              "Dimensions": alarm.get("Dimensions")},
                                     stat, alarm.get("Unit"), alarm["_Period"], start, end)
        series: dict[str, dict[int, float]] = {}
        counts: dict[int, float] = {}
        for q in alarm["Metrics"]:
            if "MetricStat" in q:
                s = q["MetricStat"]
                found = self._stat_series(region, s["Metric"], s["Stat"], s.get("Unit"),
                                          s["Period"], start, end)
                series[q["Id"]] = {t: v for t, (v, _) in found.items()}
                for t, (_, c) in found.items():
                    counts[t] = counts.get(t, 0.0) + c
        for q in alarm["Metrics"]:
            if "Expression" in q:
                try:
                    series[q["Id"]] = expressions.evaluate(q["Id"], q["Expression"], series)
                except ServiceError:
                    series[q["Id"]] = {}  # an expression it cannot compute: no data
        chosen = next(q for q in alarm["Metrics"] if q.get("ReturnData", True))
        return {t: (v, counts.get(t, 0.0)) for t, v in series.get(chosen["Id"], {}).items()}

    def _stat_series(self, region, metric: dict, stat: str, unit: str | None, period: int,
                     start: int, end: int) -> dict[int, tuple[float, float]]:
        key = model.metric_key(metric["Namespace"], metric["MetricName"],
                               model.canonical_dimensions(metric.get("Dimensions")))
        events = self.app.store.events(region, [key], start=start * 1000, end=end * 1000)
        out = {}
        for (stamp, _), bucket in aggregate(events, start, period, unit,
                                            merge_units=True).items():
            value = bucket.statistic(stat)
            if value is not None:
                out[stamp] = (value, bucket.count)
        return out

    def _transition(self, tx, region: str, alarm: dict, state: str, reason: str,
                    data: str | None) -> None:
        """Put the alarm in a state (inside tx); history and actions follow the commit."""
        name = alarm["AlarmName"]
        old = {"stateValue": alarm["StateValue"], "stateReason": alarm["StateReason"]}
        if alarm.get("StateReasonData"):
            old["stateReasonData"] = json.loads(alarm["StateReasonData"])
        now = time.time()
        record = tx.edit(ALARMS, name)
        record.update(StateValue=state, StateReason=reason, StateUpdatedTimestamp=now)
        if data:
            record["StateReasonData"] = data
        else:
            record.pop("StateReasonData", None)
        if state != old["stateValue"]:
            record["StateTransitionedTimestamp"] = now
        new = {"stateValue": state, "stateReason": reason}
        if data:
            new["stateReasonData"] = json.loads(data)
        history = {"version": "1.0", "oldState": old, "newState": new}
        snapshot = dict(record)
        tx.after_commit(lambda: self._changed(region, snapshot, old, history))

    def _changed(self, region: str, alarm: dict, old: dict, history: dict) -> None:
        name = alarm["AlarmName"]
        self._history(region, name, "StateUpdate",
                      f"Alarm updated from {old['stateValue']} to {alarm['StateValue']}",
                      history)
        for listener in list(self.alarm_listeners):
            listener(region, alarm)
        if alarm["StateValue"] == old["stateValue"]:
            return
        events = self.app.providers.get("events")
        if events is not None:  # EventBridge gets every state change, actions or not
            change = _lambda_event(region, alarm, old)
            events.emit(region, change["accountId"], "aws.cloudwatch",
                        "CloudWatch Alarm State Change", [alarm["AlarmArn"]],
                        change["alarmData"])
        if not alarm["ActionsEnabled"]:
            return
        kind = {"OK": "OKActions", "ALARM": "AlarmActions",
                "INSUFFICIENT_DATA": "InsufficientDataActions"}[alarm["StateValue"]]
        for arn in alarm[kind]:
            problem = self._run_action(region, alarm, old, arn)
            if problem is None:
                self._history(region, name, "Action", f"Successfully executed action {arn}",
                              {"actionState": "Succeeded", "notificationResource": arn})
            else:
                self._history(region, name, "Action", f"Failed to execute action {arn}. "
                              f"Received error: \"{problem}\"",
                              {"actionState": "Failed", "notificationResource": arn,
                               "error": problem})

    def _run_action(self, region: str, alarm: dict, old: dict, arn: str) -> str | None:
        """Run one alarm action; why it could not run, or None."""
        found = LAMBDA_ARN.fullmatch(arn)
        if found is None:
            service = arn.split(":")[2] if arn.count(":") >= 2 else arn
            return f"vpclocal does not serve {service}: the action was not run"
        lam = self.app.providers.get("lambda")
        if lam is None or not function_exists(self.app, arn):
            return f"Function {arn} does not exist"
        if not _may_invoke(self.app, arn, alarm["AlarmArn"]):
            return (f"CloudWatch Alarms is not authorized to invoke {arn}: its resource "
                    f"policy must allow {ALARM_PRINCIPAL}")
        fn_region, fn_account, fn_name, qualifier = found.groups()
        lam.queue_event(fn_region, fn_account, str(uuid.uuid4()), fn_name, qualifier,
                        json.dumps(_lambda_event(region, alarm, old)).encode())
        return None


def _config(alarm: dict) -> dict:
    shown = public(alarm)
    for key in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                "StateTransitionedTimestamp", "AlarmConfigurationUpdatedTimestamp"):
        shown.pop(key, None)
    return shown


def _lambda_event(region: str, alarm: dict, old: dict) -> dict:
    """The event a Lambda alarm action receives (CloudWatch's "Invoke a Lambda function from
    an alarm"); its alarmData is also the detail of the EventBridge event ("Alarm events and
    EventBridge")."""
    state = {"value": alarm["StateValue"], "reason": alarm["StateReason"],
             "timestamp": evaluation.iso(alarm["StateUpdatedTimestamp"])}
    if alarm.get("StateReasonData"):
        state["reasonData"] = alarm["StateReasonData"]
    previous = {"value": old["stateValue"], "reason": old["stateReason"]}
    if old.get("stateReasonData"):
        previous["reasonData"] = json.dumps(old["stateReasonData"], separators=(",", ":"))
    if "MetricName" in alarm:
        metrics = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm["AlarmArn"])),
                    "metricStat": {"metric": {
                        "namespace": alarm["Namespace"], "name": alarm["MetricName"],
                        "dimensions": {d["Name"]: d["Value"] for d in alarm["Dimensions"]}},
                        "period": alarm["Period"],
                        "stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                        **({"unit": alarm["Unit"]} if alarm.get("Unit") else {})},
                    "returnData": True}]
    else:
        metrics = [{"id": q["Id"], **({"expression": q["Expression"]} if "Expression" in q
                                      else {"metricStat": {
                                          "metric": {"namespace": q["MetricStat"]["Metric"][
                                              "Namespace"], "name": q["MetricStat"]["Metric"][
                                              "MetricName"], "dimensions": {
                                              d["Name"]: d["Value"] for d in q["MetricStat"][
                                                  "Metric"].get("Dimensions") or []}},
                                          "period": q["MetricStat"]["Period"],
                                          "stat": q["MetricStat"]["Stat"]}}),
                    "returnData": q.get("ReturnData", True)} for q in alarm["Metrics"]]
    configuration: dict = {"metrics": metrics}
    if alarm.get("AlarmDescription"):
        configuration = {"description": alarm["AlarmDescription"], **configuration}
    return {"source": "aws.cloudwatch", "alarmArn": alarm["AlarmArn"],
            "accountId": alarm["AlarmArn"].split(":")[4],
            "time": evaluation.iso(alarm["StateUpdatedTimestamp"]), "region": region,
            "alarmData": {"alarmName": alarm["AlarmName"], "state": state,
                          "previousState": previous, "configuration": configuration}}


def _may_invoke(app, function_arn: str, alarm: str) -> bool:
    """Whether the function's resource policy lets CloudWatch alarms invoke it for `alarm`."""
    region, _, name, qualifier = LAMBDA_ARN.fullmatch(function_arn).groups()
    policy = function_policy(app.store.view(region), region, name, qualifier)
    if policy is None:
        return False

    def names_alarms(principal) -> bool:
        return principal == "*" or (isinstance(principal, dict) and (
            ALARM_PRINCIPAL in as_list(principal.get("Service", []))
            or "*" in as_list(principal.get("AWS", []))))
    context = {"aws:SourceArn": alarm, "aws:SourceAccount": alarm.split(":")[4]}
    statements = evaluator.matching(policy, "lambda:InvokeFunction", function_arn, context,
                                    principal=names_alarms)
    return any(st.get("Effect") == "Allow" for st in statements) and not any(
        st.get("Effect") == "Deny" for st in statements)
