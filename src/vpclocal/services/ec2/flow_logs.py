"""VPC flow logs: which traffic of a VPC, subnet or interface is logged, and where to.

Only the configuration lives here; the fabric delivers the records.
"""

from __future__ import annotations

import re
import time

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.errors import KIND_BY_PREFIX, check_id, invalid, not_found
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.s3.provider import BUCKETS

DEFAULT_FORMAT = ("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} "
                  "${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} "
                  "${log-status}")

# Fields a custom LogFormat may use (flow log record versions 2 to 5).
FIELDS = frozenset((
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status", "vpc-id",
    "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr", "region",
    "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service",
    "pkt-dst-aws-service", "flow-direction", "traffic-path"))

# ResourceType -> the kind of its ResourceIds.
RESOURCE_KINDS = {"VPC": "vpcs", "Subnet": "subnets", "NetworkInterface": "network_interfaces"}

TRAFFIC_TYPES = ("ACCEPT", "REJECT", "ALL")
DESTINATION_TYPES = ("cloud-watch-logs", "s3", "kinesis-data-firehose")
AGGREGATION_INTERVALS = (60, 600)
S3_OPTIONS = {"FileFormat": "plain-text", "HiveCompatiblePartitions": False,
              "PerHourPartition": False}

FLOW_LOG_FILTERS = {
    "deliver-log-status": "DeliverLogsStatus",
    "flow-log-id": "FlowLogId",
    "log-destination-type": "LogDestinationType",
    "log-group-name": "LogGroupName",
    "resource-id": "ResourceId",
    "traffic-type": "TrafficType",
}

_LOG_GROUP_ARN = re.compile(r"arn:aws[a-z-]*:logs:[^:]*:[^:]*:log-group:([^:]+)(:\*)?")


def _check_format(text: str) -> str:
    fields = re.findall(r"\$\{([^}]*)\}", text)
    unknown = [f for f in fields if f not in FIELDS]
    if not fields or unknown or re.sub(r"\$\{[^}]*\}", "", text).strip():
        # Wording unconfirmed.
        raise invalid(f"The log format '{text}' is invalid. Unknown fields: "
                      + ", ".join(unknown), code="InvalidParameter")
    return text


def _destination(ctx, p: dict) -> dict:
    """The record's destination fields, checked per destination type."""
    kind = p.get("LogDestinationType") or "cloud-watch-logs"
    if kind not in DESTINATION_TYPES:
        raise invalid(f"Value ({kind}) for parameter logDestinationType is invalid. Valid "
                      "values are cloud-watch-logs, s3, kinesis-data-firehose.")
    group, dest, role = p.get("LogGroupName"), p.get("LogDestination"), \
        p.get("DeliverLogsPermissionArn")
    out = {"LogDestinationType": kind}
    if kind == "cloud-watch-logs":
        if dest:
            found = _LOG_GROUP_ARN.fullmatch(dest)
            if found is None or group:
                raise invalid(f"Invalid log destination {dest} for cloud-watch-logs",
                              code="InvalidParameter")
            group = found.group(1)
        if not group:
            raise invalid("The request must contain the parameter LogGroupName or "
                          "LogDestination", code="MissingParameter")
        if not role:
            # Wording unconfirmed: CloudWatch Logs delivery needs an IAM role.
            raise invalid("DeliverLogsPermissionArn is required for cloud-watch-logs delivery",
                          code="InvalidParameter")
        out.update(LogGroupName=group, DeliverLogsPermissionArn=role, LogDestination=(
            dest or f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{group}"))
        return out
    if role:
        raise invalid(f"DeliverLogsPermissionArn is not applicable for {kind.split('-')[0]} "
                      "delivery", code="InvalidParameter")
    prefix = "arn:aws:s3:::" if kind == "s3" else "arn:aws:firehose:"
    if group or not dest or not dest.startswith(prefix) or dest == prefix:
        raise invalid(f"Invalid log destination {dest or ''} for {kind}",
                      code="InvalidParameter")
    out["LogDestination"] = dest
    if kind == "s3":
        out["DestinationOptions"] = dict(S3_OPTIONS, **(p.get("DestinationOptions") or {}))
    return out


def _missing_bucket(tx, destination: dict) -> dict | None:
    """The Unsuccessful item's Error when an S3 destination's bucket is not in vpclocal's S3
    (AWS cannot write to it: real EC2's words; the Code "400" is unconfirmed)."""
    if destination["LogDestinationType"] != "s3":
        return None
    bucket = destination["LogDestination"].partition(":::")[2].split("/", 1)[0]
    if tx.get(BUCKETS, bucket, scope="global") is not None:
        return None
    return {"Code": "400", "Message": f"Access Denied for LogDestination: {bucket}. Please "
                                      "check LogDestination permission"}


def _same_configuration(a: dict, b: dict) -> bool:
    keys = ("ResourceId", "TrafficType", "LogDestinationType", "LogDestination")
    return all(a.get(k) == b.get(k) for k in keys)


class FlowLogOperations:
    def create_flow_logs(self, ctx, p):
        tx = ctx.tx
        rtype = p["ResourceType"]
        if rtype not in RESOURCE_KINDS:
            raise invalid(f"Value ({rtype}) for parameter resourceType is invalid. Valid "
                          "values are VPC, Subnet, NetworkInterface.", code="InvalidParameter")
        traffic = p.get("TrafficType")
        if not traffic:
            raise invalid("The request must contain the parameter TrafficType",
                          code="MissingParameter")
        if traffic not in TRAFFIC_TYPES:
            raise invalid(f"Value ({traffic}) for parameter trafficType is invalid. Valid "
                          "values are ACCEPT, REJECT, ALL.")
        interval = p.get("MaxAggregationInterval", 600)
        if interval not in AGGREGATION_INTERVALS:
            raise invalid(f"Value ({interval}) for parameter maxAggregationInterval is "
                          "invalid. Valid values are 60, 600.", code="InvalidParameter")
        destination = _destination(ctx, p)
        log_format = _check_format(p.get("LogFormat") or DEFAULT_FORMAT)
        tags = tags_for(p, "vpc-flow-log")
        unreachable = _missing_bucket(tx, destination)
        ids, unsuccessful = [], []
        for rid in p["ResourceIds"]:
            kind = RESOURCE_KINDS[rtype]
            try:
                check_id(kind, rid)
                if tx.get(kind, rid) is None:
                    raise not_found(kind, rid)
            except ServiceError as exc:
                # As AWS: a resource that cannot be logged is reported, the rest go ahead.
                unsuccessful.append({"ResourceId": rid,
                                     "Error": {"Code": exc.code, "Message": exc.message}})
                continue
            if unreachable is not None:
                unsuccessful.append({"ResourceId": rid, "Error": unreachable})
                continue
            record = {"CreationTime": time.time(), "DeliverLogsStatus": "SUCCESS",
                      "FlowLogId": resource_id("fl"), "FlowLogStatus": "ACTIVE",
                      "ResourceId": rid, "TrafficType": traffic, **destination,
                      "LogFormat": log_format, "MaxAggregationInterval": interval,
                      "Tags": tags}
            if any(_same_configuration(record, other) for other in tx.all("flow_logs").values()):
                raise ServiceError("Error. There is an existing Flow Log with the same "
                                   "configuration and log destination.",
                                   code="FlowLogAlreadyExists")
            tx.put("flow_logs", record["FlowLogId"], record)
            ids.append(record["FlowLogId"])
        return {"FlowLogIds": ids, "Unsuccessful": unsuccessful,
                "ClientToken": p.get("ClientToken")}

    def describe_flow_logs(self, ctx, p):
        tx = ctx.tx
        # A flow log goes with the resource it logs (AWS deletes it with the resource).
        for log in list(tx.all("flow_logs").values()):
            kind = KIND_BY_PREFIX[log["ResourceId"].rsplit("-", 1)[0]]
            if tx.get(kind, log["ResourceId"]) is None:
                tx.delete("flow_logs", log["FlowLogId"])
        wanted = set(p.get("FlowLogIds") or [])
        # Unknown ids are left out rather than refused.
        logs, token = describe(tx, "flow_logs", p, ids_param="", filters=FLOW_LOG_FILTERS,
                               visible=lambda r: not wanted or r["FlowLogId"] in wanted)
        return {"FlowLogs": logs, "NextToken": token}

    def delete_flow_logs(self, ctx, p):
        tx = ctx.tx
        missing = [fid for fid in p["FlowLogIds"] if tx.get("flow_logs", fid) is None]
        for fid in p["FlowLogIds"]:
            if fid not in missing:
                tx.delete("flow_logs", fid)
        message = (f"These flow log ids in the input list are not found: "
                   f"[TotalCount: {len(missing)}] " + " ".join(missing))
        return {"Unsuccessful": [
            {"ResourceId": fid, "Error": {"Code": "InvalidFlowLogId.NotFound",
                                          "Message": message}} for fid in missing]}
