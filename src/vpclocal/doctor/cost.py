"""`vpclocal cost`: what the region as configured now would cost a month on AWS, priced from
prices.json (AWS's us-east-1 on-demand list prices, with their date and sources).

The hourly parts (NAT gateways, interface endpoints' AZs, public IPv4 addresses, RDS instances,
ElastiCache nodes) are priced for a whole month of 730 hours. The usage parts are what vpclocal
recorded in the month asked for: Lambda requests and GB-seconds from the AWS/Lambda metrics
(Invocations, Duration) with each function's MemorySize, CloudWatch Logs ingestion from the
stored log events. The per-GB data processing of NAT gateways and interface endpoints is what
their network interfaces accepted in the fabric, at that pace for the month: the fabric counts
bytes in VPCs with a flow log; elsewhere those lines say it is not measured and are not priced
(no volume is made up).

Each doctor finding whose fix changes the bill gets its monthly saving (negative: the fix
costs more), or says why it cannot be computed.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from vpclocal.doctor.account import Account
from vpclocal.services.cloudwatch.model import canonical_dimensions, metric_key
from vpclocal.services.elasticache.clusters import CLUSTERS
from vpclocal.services.logs import model as logs
from vpclocal.services.rds.instances import KIND as DB_INSTANCES

PRICES_FILE = Path(__file__).with_name("prices.json")
NOT_MEASURED = "data processing not measured"
GB = 1024 ** 3  # AWS's price lists bill the binary gigabyte
LIVE_NATS = ("pending", "available")
ENDED_ENDPOINTS = ("deleting", "deleted", "failed", "rejected", "expired")
# RDS bills instance hours in these states (not while stopped, nor once deleted)
BILLED_DB_STATES = ("creating", "available", "backing-up", "modifying", "rebooting",
                    "maintenance", "starting", "stopping", "upgrading", "configuring-log-exports",
                    "storage-optimization", "resetting-master-credentials", "renaming")


@cache
def prices() -> dict:
    return json.loads(PRICES_FILE.read_text())


@dataclass
class Line:
    """One line of the bill: `quantity` `unit` at `rate` = `monthly` dollars (None: not priced,
    `note` says why)."""
    service: str
    item: str
    resources: list[str]
    quantity: float
    unit: str
    rate: float | None
    monthly: float | None
    note: str = ""

    def to_dict(self) -> dict:
        return {"service": self.service, "item": self.item, "resources": self.resources,
                "quantity": self.quantity, "unit": self.unit, "rate": self.rate,
                "monthly": self.monthly,
                "note": self.note}


@dataclass
class Bill:
    region: str
    month: str
    lines: list[Line] = field(default_factory=list)
    savings: list[dict] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly or 0.0 for line in self.lines)

    def to_dict(self) -> dict:
        book = prices()
        return {"region": self.region, "month": self.month,
                "hours_per_month": book["hours_per_month"],
                "prices": {"date": book["date"], "region": book["region"],
                           "file": PRICES_FILE.name},
                "lines": [line.to_dict() for line in self.lines],
                "total": self.total,
                "not_measured": sorted({line.item for line in self.lines
                                        if line.note == NOT_MEASURED}),
                "savings": self.savings}


def month_window(month: str) -> tuple[int, int]:
    """[start, end) of a YYYY-MM month, in epoch milliseconds (UTC)."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = dt.datetime(year, number, 1, tzinfo=dt.UTC)
    except ValueError as exc:
        raise ValueError(f"month {month!r} is not YYYY-MM") from exc
    end = start + dt.timedelta(days=calendar.monthrange(year, number)[1])
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def this_month() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m")


# ---- the hourly parts ------------------------------------------------------------------------


def nat_gateways(acct: Account, hours: int) -> list[Line]:
    book = prices()["nat_gateway"]
    lines = []
    for nat_id, nat in sorted(acct.topo.nat_gateways.items()):
        if nat.get("State") not in LIVE_NATS:
            continue
        lines.append(Line("VPC", "NAT gateway hours", [nat_id], hours, "hours",
                          book["per_hour"], hours * book["per_hour"]))
        enis = [a["NetworkInterfaceId"] for a in nat.get("NatGatewayAddresses") or ()
                if a.get("NetworkInterfaceId")]
        lines.append(processed(acct, "NAT gateway data processed", nat_id, enis, hours,
                               book["per_gb_processed"]))
    return lines


def monthly_gb(acct: Account, keys: list, hours: int) -> tuple[float, int, float] | None:
    """(GB a month, bytes, seconds): what the fabric counted for these keys of
    Evidence.processed (ENIs, or (ENI, service)), at that pace for the month; None when
    nothing was measured."""
    seen = [acct.evidence.processed[k] for k in keys if k in acct.evidence.processed]
    seconds = max((s for _b, s in seen), default=0.0)
    if not seen or seconds < 1:
        return None
    size = sum(b for b, _s in seen)
    return size / seconds * hours * 3600 / GB, size, seconds


def processed(acct: Account, item: str, resource: str, enis: list[str], hours: int,
              rate: float) -> Line:
    """A gateway's or endpoint's data processing: the bytes its interfaces accepted in the
    fabric (flow-logged VPCs count them), at that pace for the month."""
    measured = monthly_gb(acct, enis, hours)
    if measured is None:
        return Line("VPC", item, [resource], 0, "GB", rate, None, NOT_MEASURED)
    gb, size, seconds = measured
    return Line("VPC", item, [resource], gb, "GB", rate, gb * rate,
                f"{size} bytes in {seconds:.0f} s, at that pace for the month")


def interface_endpoints(acct: Account, hours: int) -> list[Line]:
    book = prices()["interface_endpoint"]
    lines = []
    for ep_id, ep in sorted(acct.topo.vpc_endpoints.items()):
        if ep.get("VpcEndpointType") != "Interface" or ep.get("State") in ENDED_ENDPOINTS:
            continue
        zones = sorted({acct.az(s) for s in ep.get("SubnetIds") or ()})
        lines.append(Line("VPC", "interface endpoint AZ-hours", [ep_id], len(zones) * hours,
                          "AZ-hours", book["per_az_hour"], len(zones) * hours * book["per_az_hour"],
                          f"{ep.get('ServiceName', '')} in {', '.join(zones)}"))
        lines.append(processed(acct, "interface endpoint data processed", ep_id,
                               list(ep.get("NetworkInterfaceIds") or ()), hours,
                               book["per_gb_processed"]))
    return lines


def public_addresses(acct: Account) -> tuple[list[str], list[str]]:
    """The public IPv4 addresses held: Elastic IPs (by allocation id), and the auto-assigned
    ones (by network interface)."""
    elastic = sorted(acct.topo.addresses)
    elastic_ips = {a.get("PublicIp") for a in acct.topo.addresses.values()}
    assigned = sorted(eni_id for eni_id, eni in acct.topo.network_interfaces.items()
                      if (assoc := eni.get("Association") or {}).get("PublicIp")
                      and not assoc.get("AllocationId") and assoc["PublicIp"] not in elastic_ips)
    return elastic, assigned


def public_ipv4(acct: Account, hours: int) -> list[Line]:
    rate = prices()["public_ipv4"]["per_hour"]
    elastic, assigned = public_addresses(acct)
    lines = []
    if elastic:
        lines.append(Line("VPC", "public IPv4 address hours (Elastic IPs)", elastic,
                          len(elastic) * hours, "address-hours", rate,
                          len(elastic) * hours * rate))
    if assigned:
        lines.append(Line("VPC", "public IPv4 address hours (auto-assigned)", assigned,
                          len(assigned) * hours, "address-hours", rate,
                          len(assigned) * hours * rate))
    return lines


def rds_instances(acct: Account, hours: int) -> list[Line]:
    book = prices()["rds"]
    lines = []
    for db_id, db in sorted(acct.view.all(DB_INSTANCES).items()):
        if db.get("DBInstanceStatus") not in BILLED_DB_STATES:
            continue
        engine, klass = db.get("Engine", ""), db.get("DBInstanceClass", "")
        billed = hours * (book["multi_az_factor"] if db.get("MultiAZ") else 1)
        rate = book["per_hour"].get(engine, {}).get(klass)
        deployment = "Multi-AZ" if db.get("MultiAZ") else "Single-AZ"
        lines.append(Line(
            "RDS", f"RDS {engine} {klass} instance hours ({deployment})", [db_id], billed,
            "instance-hours", rate, None if rate is None else billed * rate,
            "" if rate is not None else f"no price for {engine} {klass} in {PRICES_FILE.name}"))
    return lines


def cache_nodes(acct: Account, hours: int) -> list[Line]:
    book = prices()["elasticache"]
    lines = []
    for cluster_id, cluster in sorted(acct.view.all(CLUSTERS).items()):
        if cluster.get("CacheClusterStatus") in ("deleting", "deleted"):
            continue
        node_type, nodes = cluster.get("CacheNodeType", ""), cluster.get("NumCacheNodes", 1)
        rate = book["per_node_hour"].get(node_type)
        billed = nodes * hours
        lines.append(Line(
            "ElastiCache", f"ElastiCache {node_type} node hours", [cluster_id], billed,
            "node-hours", rate, None if rate is None else billed * rate,
            "" if rate is not None else f"no price for {node_type} in {PRICES_FILE.name}"))
    return lines


# ---- the usage parts, as recorded in the month -----------------------------------------------


def _metric(acct: Account, name: str, function: str, start: int, end: int) -> tuple[float, float]:
    """(sample count, sum) of an AWS/Lambda metric of one function over [start, end); each
    recorded value rounded up to a whole millisecond when `name` is Duration (Lambda bills
    every invocation's duration so rounded)."""
    dims = canonical_dimensions([{"Name": "FunctionName", "Value": function}])
    key = metric_key("AWS/Lambda", name, dims)
    count = total = 0.0
    for event in acct.view.store.events(acct.region, [key], start=start, end=end):
        point = json.loads(event.body)
        if "s" in point:
            count += point["s"][0]
            total += point["s"][1]
            continue
        counts = point.get("c") or [1] * len(point["v"])
        for value, n in zip(point["v"], counts, strict=False):
            count += n
            total += n * (math.ceil(value) if name == "Duration" else value)
    return count, total


def lambda_usage(acct: Account, start: int, end: int) -> list[Line]:
    book = prices()["lambda"]
    lines = []
    for fn in acct.functions:
        name = fn["FunctionName"]
        _, requests = _metric(acct, "Invocations", name, start, end)
        _, duration_ms = _metric(acct, "Duration", name, start, end)
        if not requests and not duration_ms:
            continue
        arch = (fn.get("Architectures") or ["x86_64"])[0]
        memory = fn.get("MemorySize", 128)
        gb_seconds = duration_ms / 1000 * memory / 1024
        rate = book["per_gb_second"][arch]
        lines.append(Line("Lambda", "Lambda requests", [name], requests, "requests",
                          book["per_million_requests"] / 1e6,
                          requests * book["per_million_requests"] / 1e6))
        lines.append(Line("Lambda", "Lambda duration", [name], gb_seconds, "GB-seconds", rate,
                          gb_seconds * rate, f"{duration_ms:.0f} ms billed at {memory} MB, "
                          f"{arch}"))
    return lines


def log_ingestion(acct: Account, start: int, end: int) -> list[Line]:
    rate = prices()["cloudwatch_logs"]["per_gb_ingested"]
    streams: dict[str, list[str]] = {}
    for stream in acct.view.values(logs.STREAMS):
        streams.setdefault(stream["_group"], []).append(
            logs.events_key(stream["_group"], stream["logStreamName"]))
    lines = []
    for group in sorted(acct.view.all(logs.GROUPS)):
        size = sum(len(event.body.encode()) for event in acct.view.store.events(
            acct.region, streams.get(group, []), start=start, end=end))
        if size:
            lines.append(Line("CloudWatch Logs", "CloudWatch Logs ingestion", [group],
                              size / GB, "GB", rate, size / GB * rate, f"{size} bytes"))
    return lines


# ---- the doctor's fixes ----------------------------------------------------------------------


def savings(acct: Account, hours: int) -> list[dict]:
    """The monthly saving of each doctor finding whose fix changes the bill."""
    from vpclocal.doctor.checks import run

    book = prices()
    nat_month = hours * (book["nat_gateway"]["per_hour"] + book["public_ipv4"]["per_hour"])
    out = []
    for finding in run(acct):
        entry: dict[str, object] = {"id": finding.id, "message": finding.message,
                                    "resources": finding.resources}
        if finding.id == "gateway-service-through-nat":
            rate = book["nat_gateway"]["per_gb_processed"]
            service = finding.message.split(" ", 1)[0]  # "<service> traffic of ..."
            nat = acct.topo.nat_gateways.get(finding.resources[1]) or {}
            measured = monthly_gb(acct, [(a.get("NetworkInterfaceId"), service)
                                         for a in nat.get("NatGatewayAddresses") or ()], hours)
            if measured is not None:
                gb = measured[0]
                entry.update(monthly_saving=round(gb * rate, 6), note=(
                    f"{gb:.3f} GB a month of {service} traffic (measured by the fabric, at "
                    f"that pace) moves to the free gateway endpoint: ${rate}/GB of NAT "
                    "processing no longer paid"))
            else:
                entry.update(monthly_saving=None, note=(
                    f"the traffic moved to the free gateway endpoint stops paying "
                    f"${rate}/GB of NAT processing: {NOT_MEASURED}, so the saving is not "
                    "computed"))
        elif finding.id == "nat-gateway-shared-across-azs":
            extra = sum(c.startswith("aws ec2 create-nat-gateway") for c in finding.fix)
            entry.update(monthly_saving=-round(extra * nat_month, 6), note=(
                f"a cost increase: {extra} more NAT gateway(s) with an Elastic IP each, "
                f"${nat_month:.2f} a month apiece, buy the availability"))
        elif finding.id == "private-subnet-without-egress":
            extra = sum(c.startswith("aws ec2 create-nat-gateway") for c in finding.fix)
            entry.update(monthly_saving=-round(extra * nat_month, 6), note=(
                f"a cost increase: a NAT gateway and its Elastic IP, ${nat_month:.2f} a month "
                "(the S3 gateway endpoint is free)" if extra else
                "no change: the route goes to an existing NAT gateway, the S3 gateway endpoint "
                "is free"))
        else:
            continue
        out.append(entry)
    return out


def bill(acct: Account, month: str | None = None) -> Bill:
    month = month or this_month()
    start, end = month_window(month)
    hours = prices()["hours_per_month"]
    result = Bill(acct.region, month)
    result.lines += nat_gateways(acct, hours)
    result.lines += interface_endpoints(acct, hours)
    result.lines += public_ipv4(acct, hours)
    result.lines += rds_instances(acct, hours)
    result.lines += cache_nodes(acct, hours)
    result.lines += lambda_usage(acct, start, end)
    result.lines += log_ingestion(acct, start, end)
    result.savings = savings(acct, hours)
    return result
