"""The CloudWatch (metrics) provider: PutMetricData, GetMetricStatistics, GetMetricData,
ListMetrics.

A metric (namespace + name + dimension set) is a store record; its data points are the
store's append-only event stream under that metric's key. CloudWatch is awsQueryCompatible:
errors are raised with their query codes (InvalidParameterValue, MissingParameter, ...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re

from vpclocal import clock
from vpclocal.errors import ServiceError
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.cloudwatch import expressions, model
from vpclocal.services.cloudwatch.alarms import ALARMS, AlarmOperations
from vpclocal.services.cloudwatch.stats import (
    STATISTICS,
    aggregate,
    aligned_start,
    java_double,
    valid_statistic,
)

MAX_DATUMS = 1000
TWO_WEEKS_S = 14 * 86_400
TWO_HOURS_S = 2 * 3_600
MAX_STATISTICS_POINTS = 1440
MAX_DATA_POINTS = 100_800  # GetMetricData's default (and largest) page
LIST_PAGE = 500
QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")


def invalid_value(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidParameterValue")


def invalid_combination(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidParameterCombination")


def missing(message: str) -> ServiceError:
    return ServiceError(message, code="MissingParameter")


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationError")


def _epoch_s(value) -> int:
    return int(value.timestamp())


class CloudWatchProvider(AlarmOperations, clock.ClockDriven, Provider):
    service_name = "cloudwatch"
    DUE_KIND = ALARMS  # alarms evaluate by vpclocal's clock (alarms.py)

    def __init__(self, app) -> None:
        super().__init__(app)
        self._init_alarms()

    async def start(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        await clock.ClockDriven.start(self)

    # ---- PutMetricData -------------------------------------------------------------------

    def put_metric_data(self, ctx: RequestContext, p: dict) -> dict:
        namespace = p["Namespace"]
        if namespace.startswith("AWS/"):
            raise invalid_value(f"The value {namespace} for parameter Namespace is invalid.")
        data = p.get("MetricData")
        if not data:
            raise missing("The parameter MetricData is required.")
        if len(data) > MAX_DATUMS:
            raise invalid_value(
                f"The collection MetricData must not have a size greater than {MAX_DATUMS}.")
        now = model.epoch_ms(None) // 1000
        for index, datum in enumerate(data, 1):
            _check_datum(datum, f"MetricData.member.{index}", now)
        model.put_points(self.app.store, ctx.region, namespace, data, tx=ctx.tx)
        keys = model.keys_of(namespace, data)
        region = ctx.region
        ctx.tx.after_commit(lambda: self.metrics_arrived(region, keys))
        return {}

    # ---- GetMetricStatistics -------------------------------------------------------------

    def get_metric_statistics(self, ctx: RequestContext, p: dict) -> dict:
        statistics = p.get("Statistics") or []
        extended = p.get("ExtendedStatistics") or []
        if not statistics and not extended:
            # AWS's exact wording is unknown; the code is what it documents
            raise invalid_combination("Must specify either Statistics or ExtendedStatistics.")
        for name in extended:
            if not valid_statistic(name) or name in STATISTICS:
                raise invalid_value(f"The value {name} for parameter ExtendedStatistics is "
                                    "invalid.")
        start, end, period = _window(p["StartTime"], p["EndTime"], p["Period"], "Period")
        points = math.ceil((end - start) / period)
        if points > MAX_STATISTICS_POINTS:
            raise invalid_combination(
                f"You have requested up to {points:,} datapoints, which exceeds the limit of "
                f"{MAX_STATISTICS_POINTS:,}. You may reduce the datapoints requested by "
                "increasing Period, or decreasing the time range.")
        dims = model.canonical_dimensions(p.get("Dimensions"))
        events = self._events(ctx, p["Namespace"], p["MetricName"], dims, start, end)
        datapoints = []
        for (stamp, unit), bucket in sorted(aggregate(events, start, period, p.get("Unit"))
                                            .items()):
            point: dict = {"Timestamp": stamp, "Unit": unit}
            for name in statistics:
                point[name] = bucket.statistic(name)
            percentiles = {name: bucket.statistic(name) for name in extended}
            percentiles = {k: v for k, v in percentiles.items() if v is not None}
            if percentiles:
                point["ExtendedStatistics"] = percentiles
            datapoints.append(point)
        return {"Label": p["MetricName"], "Datapoints": datapoints}

    # ---- GetMetricData -------------------------------------------------------------------

    def get_metric_data(self, ctx: RequestContext, p: dict) -> dict:
        queries = p["MetricDataQueries"]
        if not queries:
            raise missing("The parameter MetricDataQueries is required.")
        ids = [q["Id"] for q in queries]
        for index, query in enumerate(queries, 1):
            where = f"MetricDataQueries.member.{index}"
            if not QUERY_ID.fullmatch(query["Id"]):
                raise validation(f"The value {query['Id']} for parameter {where}.Id is "
                                 "invalid. It must start with a lowercase letter and contain "
                                 "only letters, numbers and underscores.")
            if ("MetricStat" in query) == ("Expression" in query):
                raise validation(f"Exactly one of {where}.MetricStat and {where}.Expression "
                                 "must be specified.")
        if len(set(ids)) != len(ids):
            raise validation("The values for parameter Id in MetricDataQueries are not unique.")
        start_s, end_s = _epoch_s(p["StartTime"]), _epoch_s(p["EndTime"])
        if start_s >= end_s:
            raise invalid_value("The parameter StartTime must be less than the parameter "
                                "EndTime.")
        series: dict[str, dict[int, float]] = {}
        for index, query in enumerate(queries, 1):
            if "MetricStat" in query:
                series[query["Id"]] = self._metric_stat(ctx, query["MetricStat"], start_s, end_s,
                                                        f"MetricDataQueries.member.{index}")
        for query in queries:
            if "Expression" in query:
                series[query["Id"]] = expressions.evaluate(query["Id"], query["Expression"], series)
        descending = p.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for query in queries:
            if not query.get("ReturnData", True):
                continue
            label = query.get("Label") or (query["MetricStat"]["Metric"].get("MetricName", "")
                                           if "MetricStat" in query else query["Id"])
            points = sorted(series[query["Id"]].items(), reverse=descending)
            results.append({"Id": query["Id"], "Label": label, "points": points})
        return _page(results, p.get("NextToken"), p.get("MaxDatapoints") or MAX_DATA_POINTS)

    def _metric_stat(self, ctx: RequestContext, stat: dict, start_s: int, end_s: int,
                     where: str) -> dict[int, float]:
        metric = stat["Metric"]
        if not metric.get("Namespace") or not metric.get("MetricName"):
            raise missing(f"The parameters {where}.MetricStat.Metric.Namespace and "
                          f"{where}.MetricStat.Metric.MetricName are required.")
        if not valid_statistic(stat["Stat"]):
            raise validation(f"The value {stat['Stat']} for parameter "
                             f"{where}.MetricStat.Stat is invalid.")
        start, end, period = _window_s(start_s, end_s, stat["Period"],
                                       f"{where}.MetricStat.Period")
        dims = model.canonical_dimensions(metric.get("Dimensions"))
        events = self._events(ctx, metric["Namespace"], metric["MetricName"], dims, start, end)
        # units are merged unless one is asked for
        buckets = aggregate(events, start, period, stat.get("Unit"), merge_units=True)
        values = {stamp: bucket.statistic(stat["Stat"]) for (stamp, _), bucket in buckets.items()}
        return {stamp: value for stamp, value in values.items() if value is not None}

    # ---- ListMetrics ---------------------------------------------------------------------

    def list_metrics(self, ctx: RequestContext, p: dict) -> dict:
        metrics = ctx.tx.all(model.METRICS)
        keys = sorted(metrics)
        wanted = p.get("Dimensions") or []

        def matches(metric: dict) -> bool:
            if p.get("Namespace") and metric["Namespace"] != p["Namespace"]:
                return False
            if p.get("MetricName") and metric["MetricName"] != p["MetricName"]:
                return False
            have = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            return all(f["Name"] in have and f.get("Value", have[f["Name"]]) == have[f["Name"]]
                       for f in wanted)
        keys = [k for k in keys if matches(metrics[k])]
        if p.get("RecentlyActive") == "PT3H":
            stats = self.app.store.event_stats(ctx.region, keys)
            recent = model.epoch_ms(None) - 3 * 3_600_000
            keys = [k for k in keys if k in stats and stats[k].last_ingested >= recent]
        token = p.get("NextToken")
        if token is not None:
            after = _decode(token, "NextToken")
            keys = [k for k in keys if k > after]
        page = keys[:LIST_PAGE]
        out: dict = {"Metrics": [metrics[k] for k in page]}
        if len(keys) > LIST_PAGE:
            out["NextToken"] = _encode(page[-1])
        return out

    def _events(self, ctx: RequestContext, namespace: str, name: str, dims: list[dict],
                start_s: int, end_s: int):
        key = model.metric_key(namespace, name, dims)
        return self.app.store.events(ctx.region, [key], start=start_s * 1000, end=end_s * 1000)


# ---- validation --------------------------------------------------------------------------

def _check_datum(datum: dict, where: str, now_s: int) -> None:
    given = [name for name in ("Value", "StatisticValues", "Values") if name in datum]
    if len(given) > 1:
        raise invalid_combination(f"The parameters {where}.{given[0]} and {where}.{given[1]} "
                                  "are mutually exclusive and you have specified both.")
    if not given:
        raise invalid_combination(f"At least one of the parameters {where}.Value, "
                                  f"{where}.StatisticValues or {where}.Values must be "
                                  "specified.")
    numbers = []
    if "Value" in datum:
        numbers.append(("Value", datum["Value"]))
    if "StatisticValues" in datum:
        numbers += [(f"StatisticValues.{k}", v) for k, v in datum["StatisticValues"].items()]
    numbers += [("Values", v) for v in datum.get("Values") or []]
    numbers += [("Counts", v) for v in datum.get("Counts") or []]
    for name, value in numbers:
        if not _storable(value):
            raise invalid_value(f"The value {java_double(value)} for parameter {where}.{name} is "
                                "invalid.")
    if datum.get("Counts") and len(datum["Counts"]) != len(datum.get("Values") or []):
        raise invalid_value(f"The parameters {where}.Values and {where}.Counts must be of the "
                            "same size.")
    if datum.get("StorageResolution", 60) not in (1, 60):
        raise invalid_value(f"The value {datum['StorageResolution']} for parameter "
                            f"{where}.StorageResolution is invalid.")
    names = [d["Name"] for d in datum.get("Dimensions") or []]
    if len(set(names)) != len(names):
        raise invalid_value(f"The dimension names in {where}.Dimensions must be unique.")
    if "Timestamp" in datum:
        stamp = _epoch_s(datum["Timestamp"])
        if stamp < now_s - TWO_WEEKS_S:
            raise invalid_value(f"The parameter {where}.Timestamp must specify a time no more "
                                "than two weeks in the past.")
        if stamp > now_s + TWO_HOURS_S:
            raise invalid_value(f"The parameter {where}.Timestamp must specify a time no more "
                                "than two hours in the future.")


def _storable(value: float) -> bool:
    """CloudWatch's range for a value: 0 or a magnitude from 2^-360 to 2^360 (PutMetricData's
    documentation: "CloudWatch rejects values that are either too small or too large";
    NaN and the infinities are refused too)."""
    return value == 0 or (not math.isnan(value) and 2.0 ** -360 <= abs(value) <= 2.0 ** 360)


def _window(start, end, period: int, name: str) -> tuple[int, int, int]:
    start_s, end_s = _epoch_s(start), _epoch_s(end)
    if start_s >= end_s:
        raise invalid_value("The parameter StartTime must be less than the parameter EndTime.")
    return _window_s(start_s, end_s, period, name)


def _window_s(start_s: int, end_s: int, period: int, name: str) -> tuple[int, int, int]:
    # high-resolution periods are 1, 5, 10 or 30 seconds; others whole minutes
    if period >= 60 and period % 60:
        raise invalid_value(f"The parameter {name} must be a multiple of 60.")
    if period < 60 and period not in (1, 5, 10, 30):
        raise invalid_value(f"The parameter {name} must be 1, 5, 10, 30, or a multiple of 60.")
    return aligned_start(start_s, period), end_s, period


# ---- tokens and pages --------------------------------------------------------------------

def _encode(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode(token: str, name: str, code: str = "InvalidParameterValue"):
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise ServiceError(f"The value {token} for parameter {name} is invalid.",
                           code=code) from None


def _page(results: list[dict], token: str | None, limit: int) -> dict:
    """GetMetricData pages: at most `limit` data points over all results, in order."""
    offset = 0
    if token is not None:
        offset = _decode(token, "NextToken", code="InvalidNextToken")
        if not isinstance(offset, int) or offset < 0:
            raise ServiceError(f"The value {token} for parameter NextToken is invalid.",
                               code="InvalidNextToken")
    out, seen = [], 0
    for result in results:
        points = result.pop("points")
        lo, hi = max(offset - seen, 0), max(offset + limit - seen, 0)
        chosen = points[lo:hi]
        seen += len(points)
        out.append({**result, "Timestamps": [t for t, _ in chosen],
                    "Values": [v for _, v in chosen],
                    "StatusCode": "Complete" if hi >= len(points) else "PartialData"})
    reply: dict = {"MetricDataResults": out, "Messages": []}
    if offset + limit < seen:
        reply["NextToken"] = _encode(offset + limit)
    return reply
