"""CloudWatch metrics through boto3 (smithy-rpc-v2-cbor) and the aws CLI, and the in-process
API the Lambda runtime emits AWS/Lambda metrics through."""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import threading
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import Server
from vpclocal.config import Config
from vpclocal.server import App
from vpclocal.services.base import RequestContext
from vpclocal.services.cloudwatch import api


def cbor_only_session(data_dir) -> boto3.Session:
    """A boto3 session whose CloudWatch clients speak smithy-rpc-v2-cbor: botocore prefers json
    from the model's protocol list, so give it a copy of the model that lists cbor alone."""
    session = botocore.session.Session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    target = data_dir / "cloudwatch" / model["metadata"]["apiVersion"]
    target.mkdir(parents=True, exist_ok=True)
    (target / "service-2.json").write_text(json.dumps(model))
    loader.search_paths.insert(0, str(data_dir))
    return boto3.Session(botocore_session=session)


@pytest.fixture(scope="module", params=["cbor", "json"])
def make_cw(request, server, tmp_path_factory):
    """make_cw(region, compress=True): clients of one protocol (botocore gzips PutMetricData
    bodies over 10 KB unless compression is off). json (awsJson1_0) is what botocore and the
    aws CLI choose; cbor is what a client that prefers smithy-rpc-v2-cbor sends."""
    session = (cbor_only_session(tmp_path_factory.mktemp("models"))
               if request.param == "cbor" else boto3.Session())

    def make(region: str = "us-east-1", compress: bool = True):
        client = session.client(
            "cloudwatch", endpoint_url=server.endpoint, region_name=region,
            aws_access_key_id="test", aws_secret_access_key="test",
            config=BotoConfig(disable_request_compression=not compress))
        assert client.meta.service_model.resolved_protocol == (
            "smithy-rpc-v2-cbor" if request.param == "cbor" else "json")
        return client
    return make


@pytest.fixture(scope="module")
def cw(make_cw):
    return make_cw()


@pytest.fixture
def ns() -> str:
    return f"Test/{uuid.uuid4().hex[:10]}"


def minute(offset: int = 0) -> datetime:
    """A whole minute, `offset` minutes from ten minutes ago."""
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    return base + timedelta(minutes=offset)


def error_of(call, **kwargs) -> tuple[str, str, dict]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response


FN = [{"Name": "FunctionName", "Value": "fn"}]


# ---- PutMetricData + GetMetricStatistics ------------------------------------------------

def test_put_and_statistics(cw, ns):
    t = minute()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": FN, "Value": 10, "Unit": "Milliseconds",
         "Timestamp": t + timedelta(seconds=5)},
        {"MetricName": "Latency", "Dimensions": FN, "Value": 30, "Unit": "Milliseconds",
         "Timestamp": t + timedelta(seconds=50)},
        {"MetricName": "Latency", "Dimensions": FN, "Values": [1, 2], "Counts": [3, 1],
         "Unit": "Milliseconds", "Timestamp": t + timedelta(seconds=70)},
        {"MetricName": "Latency", "Dimensions": FN, "StorageResolution": 60,
         "StatisticValues": {"SampleCount": 4, "Sum": 100, "Minimum": 5, "Maximum": 50},
         "Unit": "Milliseconds", "Timestamp": t + timedelta(seconds=130)},
    ])
    reply = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=FN, StartTime=t,
        EndTime=t + timedelta(minutes=5), Period=60,
        Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"])
    assert reply["Label"] == "Latency"
    points = sorted(reply["Datapoints"], key=lambda d: d["Timestamp"])
    assert [d["Timestamp"] for d in points] == [t, t + timedelta(minutes=1),
                                                t + timedelta(minutes=2)]
    first, second, third = points
    assert first == {"Timestamp": t, "SampleCount": 2.0, "Average": 20.0, "Sum": 40.0,
                     "Minimum": 10.0, "Maximum": 30.0, "Unit": "Milliseconds"}
    assert (second["SampleCount"], second["Sum"], second["Minimum"], second["Maximum"]) == (
        4.0, 5.0, 1.0, 2.0)
    assert (third["SampleCount"], third["Sum"], third["Average"]) == (4.0, 100.0, 25.0)
    # a five-minute period holds everything, its timestamp at the period's start
    [whole] = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=FN, StartTime=t,
        EndTime=t + timedelta(minutes=5), Period=300, Statistics=["SampleCount", "Maximum"],
        ExtendedStatistics=["p50", "p99"])["Datapoints"]
    assert whole["Timestamp"] == t
    assert whole["SampleCount"] == 10.0 and whole["Maximum"] == 50.0
    # percentiles come from raw values only; a statistic set in the period hides them
    assert "ExtendedStatistics" not in whole
    [raw] = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=FN, StartTime=t,
        EndTime=t + timedelta(minutes=2), Period=120, ExtendedStatistics=["p50", "p99", "p0"])[
        "Datapoints"]
    assert raw["ExtendedStatistics"] == {"p50": 1.0, "p99": 30.0, "p0": 1.0}


def test_statistics_match_dimensions_and_unit_exactly(cw, ns):
    t = minute()
    both = [*FN, {"Name": "Resource", "Value": "fn:live"}]
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "M", "Dimensions": FN, "Value": 1, "Timestamp": t},
        {"MetricName": "M", "Dimensions": list(reversed(both)), "Value": 2, "Timestamp": t},
        {"MetricName": "M", "Value": 3, "Timestamp": t, "Unit": "Count"},
        {"MetricName": "M", "Value": 4, "Timestamp": t, "Unit": "Seconds"},
    ])

    def sums(**kwargs) -> list[tuple[float, str]]:
        reply = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=t,
                                         EndTime=t + timedelta(minutes=1), Period=60,
                                         Statistics=["Sum"], **kwargs)
        return sorted((d["Sum"], d["Unit"]) for d in reply["Datapoints"])
    assert sums(Dimensions=FN) == [(1.0, "None")]
    assert sums(Dimensions=both) == [(2.0, "None")]  # order of dimensions does not matter
    assert sums() == [(3.0, "Count"), (4.0, "Seconds")]  # one datapoint per unit
    assert sums(Unit="Seconds") == [(4.0, "Seconds")]
    assert sums(Dimensions=[{"Name": "FunctionName", "Value": "other"}]) == []


def test_high_resolution_periods(cw, ns):
    t = minute()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Hi", "Value": v, "StorageResolution": 1,
         "Timestamp": t + timedelta(seconds=s)} for s, v in ((1, 1), (2, 2), (11, 5))])
    reply = cw.get_metric_statistics(Namespace=ns, MetricName="Hi", StartTime=t,
                                     EndTime=t + timedelta(seconds=30), Period=10,
                                     Statistics=["Sum"])
    assert sorted((d["Timestamp"], d["Sum"]) for d in reply["Datapoints"]) == [
        (t, 3.0), (t + timedelta(seconds=10), 5.0)]


def test_put_metric_data_errors(make_cw, cw, ns):
    t = minute()
    cases = [
        ({"Namespace": "AWS/Lambda", "MetricData": [{"MetricName": "m", "Value": 1}]},
         "InvalidParameterValue", "The value AWS/Lambda for parameter Namespace is invalid."),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 1,
                                            "StatisticValues": {"SampleCount": 1, "Sum": 1,
                                                                "Minimum": 1, "Maximum": 1}}]},
         "InvalidParameterCombination",
         ("The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are "
         "mutually exclusive and you have specified both.")),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 1},
                                          {"MetricName": "m"}]},
         "InvalidParameterCombination", None),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Values": [1, 2],
                                            "Counts": [1]}]},
         "InvalidParameterValue", None),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 1,
                                            "StorageResolution": 30}]},
         "InvalidParameterValue", None),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 1,
                                            "Timestamp": t - timedelta(days=20)}]},
         "InvalidParameterValue", ("The parameter MetricData.member.1.Timestamp must specify a "
         "time no more than two weeks in the past.")),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 1,
                                            "Timestamp": t + timedelta(hours=5)}]},
         "InvalidParameterValue", None),
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": 1, "Dimensions": [
            {"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]}]},
         "InvalidParameterValue", None),
        ({"Namespace": ns, "MetricData": []}, "MissingParameter", None),
        # CloudWatch stores 0 and magnitudes from 2^-360 to 2^360, no NaN or infinity
        *[({"Namespace": ns, "MetricData": [{"MetricName": "m", "Value": value}]},
           "InvalidParameterValue",
           f"The value {shown} for parameter MetricData.member.1.Value is invalid.")
          for value, shown in ((1e300, "1.0E300"), (-1e-200, "-1.0E-200"),
                               (float("nan"), "NaN"), (float("-inf"), "-Infinity"))],
        ({"Namespace": ns, "MetricData": [{"MetricName": "m", "StatisticValues": {
            "SampleCount": 1, "Sum": 1e109, "Minimum": 1, "Maximum": 1}}]},
         "InvalidParameterValue", ("The value 1.0E109 for parameter "
                                   "MetricData.member.1.StatisticValues.Sum is invalid.")),
    ]
    for kwargs, code, message in cases:
        got_code, got_message, response = error_of(cw.put_metric_data, **kwargs)
        assert got_code == code, (kwargs, got_message)
        if message:
            assert got_message == message
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    plain = make_cw(compress=False)
    assert error_of(plain.put_metric_data, Namespace=ns,
                    MetricData=[{"MetricName": "m", "Value": 1}] * 1001)[:2] == (
        "InvalidParameterValue", ("The collection MetricData must not have a size greater than "
        "1000."))
    # modeled exceptions are matched through the query-compatible error code
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1}])


def test_get_metric_statistics_errors(cw, ns):
    t = minute()
    base = {"Namespace": ns, "MetricName": "m", "StartTime": t,
            "EndTime": t + timedelta(hours=1), "Period": 60}
    code, _, _ = error_of(cw.get_metric_statistics, **base)
    assert code == "InvalidParameterCombination"
    assert error_of(cw.get_metric_statistics, **{**base, "Period": 90},
                    Statistics=["Sum"])[:2] == (
        "InvalidParameterValue", "The parameter Period must be a multiple of 60.")
    assert error_of(cw.get_metric_statistics, **{**base, "EndTime": t},
                    Statistics=["Sum"])[:2] == (
        "InvalidParameterValue",
        "The parameter StartTime must be less than the parameter EndTime.")
    assert error_of(cw.get_metric_statistics, **{**base, "Period": 1,
                                                 "EndTime": t + timedelta(hours=2)},
                    Statistics=["Sum"])[:2] == (
        "InvalidParameterCombination",
        ("You have requested up to 7,200 datapoints, which exceeds the limit of 1,440. You may "
        "reduce the datapoints requested by increasing Period, or decreasing the time range."))
    code, _, _ = error_of(cw.get_metric_statistics, **base, ExtendedStatistics=["p101"])
    assert code == "InvalidParameterValue"
    code, message, _ = error_of(cw.get_metric_statistics, **base, Statistics=["Median"])
    assert code == "ValidationError"
    assert "Statistics" in message or "statistics" in message


# ---- GetMetricData ----------------------------------------------------------------------

def test_get_metric_data(cw, ns):
    t = minute()
    cw.put_metric_data(Namespace=ns, MetricData=[
        *[{"MetricName": "Invocations", "Dimensions": FN, "Value": 1, "Unit": "Count",
           "Timestamp": t + timedelta(minutes=i, seconds=s)} for i in range(3) for s in (1, 2)],
        {"MetricName": "Errors", "Dimensions": FN, "Value": 1, "Unit": "Count",
         "Timestamp": t + timedelta(minutes=1)},
        {"MetricName": "Errors", "Dimensions": FN, "Value": 0, "Unit": "Count",
         "Timestamp": t + timedelta(minutes=2)},
    ])

    def stat(name: str, statistic: str = "Sum") -> dict:
        return {"Metric": {"Namespace": ns, "MetricName": name, "Dimensions": FN},
                "Period": 60, "Stat": statistic}
    reply = cw.get_metric_data(StartTime=t, EndTime=t + timedelta(minutes=5),
                               MetricDataQueries=[
                                   {"Id": "inv", "MetricStat": stat("Invocations")},
                                   {"Id": "err", "MetricStat": stat("Errors"),
                                    "Label": "errors", "ReturnData": False},
                                   {"Id": "rate", "Expression": "err / inv * 100"},
                                   {"Id": "avg", "MetricStat": stat("Invocations", "Average")},
                               ])
    inv, rate, avg = reply["MetricDataResults"]
    assert inv["Id"] == "inv" and inv["Label"] == "Invocations"
    assert inv["StatusCode"] == "Complete"
    assert inv["Timestamps"] == [t + timedelta(minutes=2), t + timedelta(minutes=1), t]
    assert inv["Values"] == [2.0, 2.0, 2.0]
    assert rate["Timestamps"] == [t + timedelta(minutes=2), t + timedelta(minutes=1)]
    assert rate["Values"] == [0.0, 50.0]
    assert avg["Values"] == [1.0, 1.0, 1.0]
    ascending = cw.get_metric_data(StartTime=t, EndTime=t + timedelta(minutes=5),
                                   ScanBy="TimestampAscending",
                                   MetricDataQueries=[{"Id": "inv",
                                                       "MetricStat": stat("Invocations")}])
    assert ascending["MetricDataResults"][0]["Timestamps"] == [
        t, t + timedelta(minutes=1), t + timedelta(minutes=2)]
    # pages of MaxDatapoints, through the paginator too
    first = cw.get_metric_data(StartTime=t, EndTime=t + timedelta(minutes=5), MaxDatapoints=2,
                               MetricDataQueries=[{"Id": "inv",
                                                   "MetricStat": stat("Invocations")}])
    assert first["MetricDataResults"][0]["Values"] == [2.0, 2.0]
    assert first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    assert "NextToken" in first
    paginator = cw.get_paginator("get_metric_data")
    stamps = [s for page in paginator.paginate(
        StartTime=t, EndTime=t + timedelta(minutes=5), MaxDatapoints=2,
        MetricDataQueries=[{"Id": "inv", "MetricStat": stat("Invocations")}])
        for r in page["MetricDataResults"] for s in r["Timestamps"]]
    assert len(stamps) == 3
    # nothing stored: an empty, complete result
    [empty] = cw.get_metric_data(StartTime=t, EndTime=t + timedelta(minutes=5),
                                 MetricDataQueries=[{"Id": "x", "MetricStat": stat("Nope")}])[
        "MetricDataResults"]
    assert empty["Values"] == [] and empty["StatusCode"] == "Complete"


def test_get_metric_data_errors(cw, ns):
    t = minute()
    metric = {"Metric": {"Namespace": ns, "MetricName": "m"}, "Period": 60, "Stat": "Sum"}
    window = {"StartTime": t, "EndTime": t + timedelta(minutes=5)}
    cases = [
        [{"Id": "Bad", "MetricStat": metric}],
        [{"Id": "a", "MetricStat": metric}, {"Id": "a", "MetricStat": metric}],
        [{"Id": "a"}],
        [{"Id": "a", "MetricStat": {**metric, "Stat": "Median"}}],
        [{"Id": "a", "Expression": "SUM(METRICS())"}],
        [{"Id": "a", "Expression": "b * 2"}],
    ]
    for queries in cases:
        code, message, _ = error_of(cw.get_metric_data, **window, MetricDataQueries=queries)
        assert code == "ValidationError", (queries, code, message)
    assert error_of(cw.get_metric_data, **window, NextToken="%%%",
                    MetricDataQueries=[{"Id": "a", "MetricStat": metric}])[0] == (
        "InvalidNextToken")
    code, _, _ = error_of(cw.get_metric_data, **window, MetricDataQueries=[
        {"Id": "a", "MetricStat": {**metric, "Period": 45}}])
    assert code == "InvalidParameterValue"


# ---- ListMetrics ------------------------------------------------------------------------

def test_list_metrics(cw, ns):
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "A", "Dimensions": FN, "Value": 1},
        {"MetricName": "A", "Dimensions": [{"Name": "FunctionName", "Value": "g"}], "Value": 1},
        {"MetricName": "B", "Value": 1},
        {"MetricName": "A", "Dimensions": FN, "Value": 2},  # the same metric again
    ])
    metrics = cw.list_metrics(Namespace=ns)["Metrics"]
    assert len(metrics) == 3
    assert {"Namespace": ns, "MetricName": "A", "Dimensions": FN} in metrics
    assert {"Namespace": ns, "MetricName": "B", "Dimensions": []} in metrics
    assert len(cw.list_metrics(Namespace=ns, MetricName="A")["Metrics"]) == 2
    assert cw.list_metrics(Namespace=ns, Dimensions=FN)["Metrics"] == [
        {"Namespace": ns, "MetricName": "A", "Dimensions": FN}]
    assert len(cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "FunctionName"}])[
        "Metrics"]) == 2
    assert len(cw.list_metrics(Namespace=ns, RecentlyActive="PT3H")["Metrics"]) == 3
    assert cw.list_metrics(Namespace=ns + "x")["Metrics"] == []


def test_list_metrics_pages(make_cw, cw, ns):
    data = [{"MetricName": f"m{i:03d}", "Value": 1} for i in range(600)]
    plain = make_cw(compress=False)
    plain.put_metric_data(Namespace=ns, MetricData=data[:500])
    plain.put_metric_data(Namespace=ns, MetricData=data[500:])
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    second = cw.list_metrics(Namespace=ns, NextToken=first["NextToken"])
    assert len(second["Metrics"]) == 100 and "NextToken" not in second
    names = {m["MetricName"] for page in cw.get_paginator("list_metrics").paginate(Namespace=ns)
             for m in page["Metrics"]}
    assert len(names) == 600


def test_compressed_request_body(server, cw, ns):
    """botocore gzips PutMetricData bodies over 10 KB (Content-Encoding: gzip)."""
    data = [{"MetricName": f"big{i:03d}", "Value": 1} for i in range(400)]
    cw.put_metric_data(Namespace=ns, MetricData=data)
    assert len(cw.list_metrics(Namespace=ns)["Metrics"]) == 400


def test_compressed_query_body(server, ns):
    """The query protocol's PutMetricData, gzipped: the operation is found in the unwrapped
    body. Only operations the model marks compressible are unwrapped (ListMetrics is not)."""
    def post(form: str):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/", body=gzip.compress(form.encode()), headers={
            "Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/monitoring/"
                             "aws4_request, SignedHeaders=host, Signature=0"})
        response = conn.getresponse()
        return response.status, response.read()

    status, body = post(f"Action=PutMetricData&Version=2010-08-01&Namespace={ns}"
                        "&MetricData.member.1.MetricName=zipped&MetricData.member.1.Value=1")
    assert status == 200, body
    listed = server.client("cloudwatch").list_metrics(Namespace=ns)["Metrics"]
    assert [m["MetricName"] for m in listed] == ["zipped"]
    status, body = post(f"Action=ListMetrics&Version=2010-08-01&Namespace={ns}")
    assert 400 <= status < 500, body


def test_regions_are_separate(make_cw, cw, ns):
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "m", "Value": 1}])
    west = make_cw("us-west-2")
    assert west.list_metrics(Namespace=ns)["Metrics"] == []


def test_unknown_operation_through_cbor(cw):
    code, _, _ = error_of(cw.list_dashboards)
    assert code in ("UnknownOperationException", "UnknownOperation", "InvalidAction")


# ---- the aws CLI ------------------------------------------------------------------------

def test_cli(server, ns):
    t = minute()
    stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    server.aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name", "Hits",
               "--dimensions", "FunctionName=fn", "--value", "3", "--unit", "Count",
               "--timestamp", stamp)
    server.aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-data", json.dumps(
        [{"MetricName": "Hits", "Dimensions": FN, "Value": 4, "Unit": "Count",
          "Timestamp": stamp}]))
    listed = server.aws("cloudwatch", "list-metrics", "--namespace", ns)
    assert listed["Metrics"] == [{"Namespace": ns, "MetricName": "Hits", "Dimensions": FN}]
    stats = server.aws("cloudwatch", "get-metric-statistics", "--namespace", ns,
                       "--metric-name", "Hits", "--dimensions", "Name=FunctionName,Value=fn",
                       "--start-time", stamp, "--end-time",
                       (t + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "--period", "300", "--statistics", "Sum", "Maximum")
    [point] = stats["Datapoints"]
    assert (point["Sum"], point["Maximum"], point["Unit"]) == (7.0, 4.0, "Count")
    queries = json.dumps([{"Id": "h", "MetricStat": {
        "Metric": {"Namespace": ns, "MetricName": "Hits", "Dimensions": FN},
        "Period": 60, "Stat": "Sum"}}])
    data = server.aws("cloudwatch", "get-metric-data", "--metric-data-queries", queries,
                      "--start-time", stamp, "--end-time",
                      (t + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    [result] = data["MetricDataResults"]
    assert result["Values"] == [7.0] and result["StatusCode"] == "Complete"
    proc = server.aws("cloudwatch", "put-metric-data", "--namespace", "AWS/Lambda",
                      "--metric-name", "x", "--value", "1", check=False)
    assert proc.returncode != 0 and "InvalidParameterValue" in proc.stderr


# ---- the in-process API -----------------------------------------------------------------

@pytest.fixture
def app(tmp_path):
    application = App(Config(data_dir=tmp_path))
    yield application
    application.store.close()


def call(app: App, operation: str, **params):
    provider = app.provider("monitoring")
    ctx = RequestContext("000000000000", "us-east-1", "r", "monitoring", operation, app)
    with app.store.transaction("us-east-1") as tx:
        ctx.tx = tx
        return provider.method_for(operation)(ctx, params)


def test_api_lambda_metrics(app):
    t = minute()
    dims = [{"Name": "FunctionName", "Value": "fn"}]
    api.put_datapoints(app, "us-east-1", "AWS/Lambda", [
        {"MetricName": "Invocations", "Dimensions": dims, "Value": 1, "Unit": "Count",
         "Timestamp": t},
        {"MetricName": "Duration", "Dimensions": dims, "Value": 26.7, "Unit": "Milliseconds",
         "Timestamp": t.timestamp() + 1},  # epoch seconds work too
        {"MetricName": "Duration", "Dimensions": dims, "Value": 13.3, "Unit": "Milliseconds",
         "Timestamp": t + timedelta(seconds=2)},
        {"MetricName": "Invocations", "Dimensions": [
            *dims, {"Name": "Resource", "Value": "fn"}], "Value": 1, "Unit": "Count",
         "Timestamp": t},
    ])
    api.put_datapoints(app, "us-east-1", "AWS/Lambda", [
        {"MetricName": "Errors", "Dimensions": dims, "Value": 0, "Unit": "Count"}])  # now
    listed = call(app, "ListMetrics", Namespace="AWS/Lambda")["Metrics"]
    assert len(listed) == 4
    reply = call(app, "GetMetricStatistics", Namespace="AWS/Lambda", MetricName="Duration",
                 Dimensions=dims, StartTime=t, EndTime=t + timedelta(minutes=1), Period=60,
                 Statistics=["Average", "Maximum", "SampleCount"])
    [point] = reply["Datapoints"]
    assert point["SampleCount"] == 2 and point["Maximum"] == 26.7
    assert point["Average"] == pytest.approx(20.0)
    assert point["Unit"] == "Milliseconds"


def test_api_survives_restart_and_threads(tmp_path):
    first = App(Config(data_dir=tmp_path))
    t = minute()  # one minute for every point and the query (now may cross a minute meanwhile)

    def emit(n: int) -> None:
        for _ in range(25):
            api.put_datapoints(first, "us-east-1", "AWS/Lambda", [
                {"MetricName": "Invocations", "Dimensions": FN, "Value": 1, "Unit": "Count",
                 "Timestamp": t}])
    threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.store.close()
    second = App(Config(data_dir=tmp_path))
    try:
        [point] = call(second, "GetMetricStatistics", Namespace="AWS/Lambda",
                       MetricName="Invocations", Dimensions=FN, StartTime=t,
                       EndTime=t + timedelta(minutes=1), Period=60,
                       Statistics=["Sum"])["Datapoints"]
        assert point["Sum"] == 200
    finally:
        second.store.close()


def test_data_points_survive_sigkill(tmp_path):
    srv = Server(tmp_path / "data").start()
    t = minute()
    try:
        session = cbor_only_session(tmp_path / "models")
        client = session.client("cloudwatch", endpoint_url=srv.endpoint, region_name="us-east-1",
                                aws_access_key_id="test", aws_secret_access_key="test")
        client.put_metric_data(Namespace="Durable", MetricData=[
            {"MetricName": "m", "Value": 2, "Timestamp": t}])
    finally:
        srv.stop(signal.SIGKILL)
    srv = Server(tmp_path / "data").start()
    try:
        client = session.client("cloudwatch", endpoint_url=srv.endpoint, region_name="us-east-1",
                                aws_access_key_id="test", aws_secret_access_key="test")
        [point] = client.get_metric_statistics(
            Namespace="Durable", MetricName="m", StartTime=t, EndTime=t + timedelta(minutes=1),
            Period=60, Statistics=["Sum"])["Datapoints"]
        assert point["Sum"] == 2.0
    finally:
        srv.stop()
