"""VPC flow log configurations, driven with boto3 and the aws CLI."""

from __future__ import annotations

import pytest

from tests.errors import error

ROLE = "arn:aws:iam::000000000000:role/flow-logs"
BUCKET = "arn:aws:s3:::flow-log-bucket/prefix/"
DEFAULT_FORMAT = ("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} "
                  "${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} "
                  "${log-status}")


@pytest.fixture(scope="module", autouse=True)
def bucket(server):
    """The S3 destination's bucket, in vpclocal's own S3."""
    server.client("s3").create_bucket(Bucket="flow-log-bucket")


def flow_log(ec2, fl_id: str) -> dict:
    return ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"][0]


def to_logs(ec2, resource_ids, resource_type="VPC", traffic="ALL", group="vpc-flow", **extra):
    return ec2.create_flow_logs(ResourceIds=resource_ids, ResourceType=resource_type,
                                TrafficType=traffic, LogGroupName=group,
                                DeliverLogsPermissionArn=ROLE, **extra)


def test_vpc_flow_log_to_cloudwatch_logs(ec2, vpc):
    out = to_logs(ec2, [vpc], TagSpecifications=[
        {"ResourceType": "vpc-flow-log", "Tags": [{"Key": "team", "Value": "net"}]}])
    assert out["Unsuccessful"] == []
    [fl_id] = out["FlowLogIds"]
    assert fl_id.startswith("fl-")
    shown = flow_log(ec2, fl_id)
    assert shown["ResourceId"] == vpc and shown["TrafficType"] == "ALL"
    assert shown["LogDestinationType"] == "cloud-watch-logs"
    assert shown["LogGroupName"] == "vpc-flow"
    assert shown["LogDestination"] == "arn:aws:logs:us-east-1:000000000000:log-group:vpc-flow"
    assert shown["DeliverLogsPermissionArn"] == ROLE
    assert shown["LogFormat"] == DEFAULT_FORMAT
    assert shown["MaxAggregationInterval"] == 600
    assert shown["FlowLogStatus"] == "ACTIVE" and shown["DeliverLogsStatus"] == "SUCCESS"
    assert shown["Tags"] == [{"Key": "team", "Value": "net"}]
    assert "CreationTime" in shown

    err = error(lambda: to_logs(ec2, [vpc]))
    assert err == {"Code": "FlowLogAlreadyExists",
                   "Message": "Error. There is an existing Flow Log with the same configuration "
                              "and log destination."}
    # Another traffic type is another configuration.
    other = to_logs(ec2, [vpc], traffic="REJECT")["FlowLogIds"][0]
    assert {f["FlowLogId"] for f in ec2.describe_flow_logs(Filter=[
        {"Name": "resource-id", "Values": [vpc]}])["FlowLogs"]} == {fl_id, other}
    assert ec2.delete_flow_logs(FlowLogIds=[fl_id, other])["Unsuccessful"] == []
    assert ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"] == []


def test_subnet_and_interface_flow_logs_to_s3(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    fmt = "${version} ${vpc-id} ${subnet-id} ${srcaddr} ${dstaddr} ${action} ${flow-direction}"
    out = ec2.create_flow_logs(ResourceIds=[subnet], ResourceType="Subnet", TrafficType="REJECT",
                               LogDestinationType="s3", LogDestination=BUCKET, LogFormat=fmt,
                               MaxAggregationInterval=60,
                               DestinationOptions={"FileFormat": "parquet"})
    shown = flow_log(ec2, out["FlowLogIds"][0])
    assert shown["LogDestinationType"] == "s3" and shown["LogDestination"] == BUCKET
    assert shown["LogFormat"] == fmt and shown["MaxAggregationInterval"] == 60
    assert shown["TrafficType"] == "REJECT" and "LogGroupName" not in shown
    assert shown["DestinationOptions"] == {"FileFormat": "parquet",
                                           "HiveCompatiblePartitions": False,
                                           "PerHourPartition": False}
    by_eni = to_logs(ec2, [eni], resource_type="NetworkInterface", traffic="ACCEPT")
    assert flow_log(ec2, by_eni["FlowLogIds"][0])["ResourceId"] == eni


def test_unknown_resources_are_reported(ec2, vpc):
    out = to_logs(ec2, [vpc, "vpc-0123456789abcdef0", "subnet-0123456789abcdef0"],
                  group="partial")
    assert len(out["FlowLogIds"]) == 1
    assert out["Unsuccessful"] == [
        {"ResourceId": "vpc-0123456789abcdef0",
         "Error": {"Code": "InvalidVpcID.NotFound",
                   "Message": "The vpc ID 'vpc-0123456789abcdef0' does not exist"}},
        {"ResourceId": "subnet-0123456789abcdef0",
         "Error": {"Code": "InvalidVpcID.Malformed",
                   "Message": 'Invalid id: "subnet-0123456789abcdef0"'}}]


def test_request_errors(ec2, vpc):
    base = {"ResourceIds": [vpc], "ResourceType": "VPC"}
    cwl = dict(base, LogGroupName="g", DeliverLogsPermissionArn=ROLE)
    cases = [
        (dict(cwl, TrafficType="SOME"), "InvalidParameterValue"),
        (dict(cwl), "MissingParameter"),
        (dict(cwl, TrafficType="ALL", MaxAggregationInterval=120), "InvalidParameter"),
        (dict(cwl, TrafficType="ALL", LogFormat="${version} ${nope}"), "InvalidParameter"),
        (dict(base, TrafficType="ALL", LogGroupName="g"), "InvalidParameter"),
        (dict(base, TrafficType="ALL", DeliverLogsPermissionArn=ROLE), "MissingParameter"),
        (dict(base, TrafficType="ALL", LogDestinationType="s3"), "InvalidParameter"),
        (dict(base, ResourceType="TransitGateway", TrafficType="ALL", LogDestinationType="s3",
              LogDestination=BUCKET), "InvalidParameter"),
    ]
    for kwargs, code in cases:
        assert error(ec2.create_flow_logs, **kwargs)["Code"] == code, kwargs
    err = error(ec2.create_flow_logs, **base, TrafficType="ALL", LogDestinationType="s3",
                LogDestination=BUCKET, DeliverLogsPermissionArn=ROLE)
    assert err == {"Code": "InvalidParameter",
                   "Message": "DeliverLogsPermissionArn is not applicable for s3 delivery"}
    assert ec2.describe_flow_logs(Filter=[
        {"Name": "resource-id", "Values": [vpc]}])["FlowLogs"] == []


def test_filters_and_delete(ec2, vpc):
    a = to_logs(ec2, [vpc], traffic="ACCEPT", group="filters-a")["FlowLogIds"][0]
    b = ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="REJECT",
                             LogDestinationType="s3", LogDestination=BUCKET, TagSpecifications=[
                                 {"ResourceType": "vpc-flow-log",
                                  "Tags": [{"Key": "Name", "Value": "b"}]}])["FlowLogIds"][0]

    def ids(name, value) -> set[str]:
        found = ec2.describe_flow_logs(Filter=[{"Name": name, "Values": [value]},
                                               {"Name": "resource-id", "Values": [vpc]}])
        return {f["FlowLogId"] for f in found["FlowLogs"]}

    assert ids("resource-id", vpc) == {a, b}
    assert ids("traffic-type", "ACCEPT") == {a}
    assert ids("log-group-name", "filters-a") == {a}
    assert ids("log-destination-type", "s3") == {b}
    assert ids("flow-log-id", b) == {b}
    assert ids("deliver-log-status", "SUCCESS") == {a, b}
    assert ids("tag:Name", "b") == {b}
    err = error(ec2.describe_flow_logs, Filter=[{"Name": "bogus", "Values": ["x"]}])
    assert err["Code"] == "InvalidParameterValue"

    missing = "fl-0123456789abcdef0"
    out = ec2.delete_flow_logs(FlowLogIds=[a, missing])
    assert out["Unsuccessful"] == [{"ResourceId": missing, "Error": {
        "Code": "InvalidFlowLogId.NotFound",
        "Message": f"These flow log ids in the input list are not found: [TotalCount: 1] "
                   f"{missing}"}}]
    assert ids("resource-id", vpc) == {b}


def test_flow_log_goes_with_its_resource(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    fl_id = to_logs(ec2, [subnet], resource_type="Subnet")["FlowLogIds"][0]
    ec2.delete_subnet(SubnetId=subnet)
    assert ec2.describe_flow_logs(FlowLogIds=[fl_id])["FlowLogs"] == []


def test_flow_logs_with_the_cli(server, vpc):
    out = server.aws("ec2", "create-flow-logs", "--resource-type", "VPC", "--resource-ids", vpc,
                     "--traffic-type", "ALL", "--log-group-name", "cli-flow",
                     "--deliver-logs-permission-arn", ROLE)
    [fl_id] = out["FlowLogIds"]
    shown = server.aws("ec2", "describe-flow-logs", "--filter",
                       f"Name=resource-id,Values={vpc}")["FlowLogs"]
    assert [f["FlowLogId"] for f in shown] == [fl_id]
    assert server.aws("ec2", "delete-flow-logs", "--flow-log-ids", fl_id)["Unsuccessful"] == []


def test_s3_destination_without_its_bucket(ec2, vpc):
    """A bucket that is not in S3 (issue 12): each resource is reported in Unsuccessful with
    AWS's words, and no flow log is made."""
    missing = "arn:aws:s3:::no-such-flow-log-bucket/logs/"
    out = ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
                               LogDestinationType="s3", LogDestination=missing)
    assert out["FlowLogIds"] == []
    assert out["Unsuccessful"] == [{"ResourceId": vpc, "Error": {
        "Code": "400", "Message": "Access Denied for LogDestination: no-such-flow-log-bucket. "
                                  "Please check LogDestination permission"}}]
    assert ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])[
        "FlowLogs"] == []


def test_tags_for_another_resource_type_are_refused(ec2, vpc):
    err = error(ec2.create_flow_logs, ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
                LogDestinationType="s3", LogDestination=BUCKET,
                TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert err["Code"] == "InvalidParameterValue"
    assert err["Message"] == "'vpc' is not a valid taggable resource type for this operation."
    assert ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])[
        "FlowLogs"] == []


def test_s3_destination_that_is_not_a_bucket_arn(ec2, vpc):
    for destination in ("arn:aws:s3:bucket", "arn:aws:s3:::"):
        err = error(ec2.create_flow_logs, ResourceIds=[vpc], ResourceType="VPC",
                    TrafficType="ALL", LogDestinationType="s3", LogDestination=destination)
        assert err["Code"] == "InvalidParameter"
