"""`vpclocal cost` and /_vpclocal/cost against a server of its own: a NAT gateway with its
Elastic IP, an interface endpoint in two AZs, a db.t3.micro MySQL instance, a function invoked
three times and a log group, each line and the total checked against prices.json; the doctor's
fixes priced; the CLI's text and JSON; the route refused to code in the fabric."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BIN, free_port, served, unique
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, wait_state, zipped
from vpclocal import admin
from vpclocal.fabric.relay import FROM_FABRIC
from vpclocal.protocols import HttpRequest

PRICES = json.loads((Path(__file__).parents[2] / "src" / "vpclocal" / "doctor" /
                     "prices.json").read_text())
HOURS = 730
INVOKES = 3
LOG_MESSAGES = ["x" * 1000, "héllo wörld"]  # 1000 and 13 bytes (UTF-8)


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    yield from served(tmp_path_factory, "cost")


def get_bill(server, **query) -> dict:
    url = server.endpoint + "/_vpclocal/cost"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def cost(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vpclocal"), "cost", *args], env=server.env(),
                          capture_output=True, text=True, timeout=60, check=False)


def lines_of(bill: dict, item: str) -> list[dict]:
    return [line for line in bill["lines"] if line["item"] == item]


@pytest.fixture(scope="module")
def region(own):
    """The resources, built through the API; their ids."""
    ec2, rds, lam, logs = (own.client(s) for s in ("ec2", "rds", "lambda", "logs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    private = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                 AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=table, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)[
        "NatGateway"]["NatGatewayId"]
    # one NAT gateway (in 1a) for the private subnets of both zones
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0",
                     NatGatewayId=nat)
    for subnet in private:
        ec2.associate_route_table(RouteTableId=private_table, SubnetId=subnet)
    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc, ServiceName="com.amazonaws.us-east-1.sqs",
        SubnetIds=private, PrivateDnsEnabled=False)["VpcEndpoint"]["VpcEndpointId"]

    rds.create_db_subnet_group(DBSubnetGroupName="cost", DBSubnetGroupDescription="t",
                               SubnetIds=private)
    rds.create_db_instance(DBInstanceIdentifier="costdb", DBInstanceClass="db.t3.micro",
                           Engine="mysql", MasterUsername="admin",
                           MasterUserPassword="Secret123", AllocatedStorage=20,
                           DBSubnetGroupName="cost")

    iam = own.client("iam")
    group = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    # a function in the private subnets (S3 and DynamoDB through the NAT: the doctor says so)
    in_vpc = unique("vpcfn")
    lam.create_function(FunctionName=in_vpc, Runtime="python3.12",
                        Role=make_role(iam, BASIC, VPC_ACCESS), Handler="index.handler",
                        Code={"ZipFile": zipped()}, VpcConfig={"SubnetIds": private,
                                                               "SecurityGroupIds": [group]})
    assert wait_state(lam, in_vpc)["State"] == "Active"
    # a function out of any VPC, invoked a few times, 256 MB
    function = unique("fn")
    lam.create_function(FunctionName=function, Runtime="python3.12", Role=make_role(iam, BASIC),
                        Handler="index.handler", Code={"ZipFile": zipped()}, MemorySize=256)
    assert wait_state(lam, function)["State"] == "Active"
    for _ in range(INVOKES):
        assert lam.invoke(FunctionName=function)["StatusCode"] == 200

    logs.create_log_group(logGroupName="/app/cost")
    logs.create_log_stream(logGroupName="/app/cost", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/app/cost", logStreamName="s", logEvents=[
        {"timestamp": now, "message": m} for m in LOG_MESSAGES])

    # the invocations' metrics and logs are written off the invoke path: wait for them
    deadline = time.monotonic() + 30
    while True:
        bill = get_bill(own)
        requests = [line for line in lines_of(bill, "Lambda requests")
                    if line["resources"] == [function]]
        reports = _reports(logs, function)
        if requests and requests[0]["quantity"] == INVOKES and len(reports) == INVOKES:
            break
        assert time.monotonic() < deadline, (bill, reports)
        time.sleep(0.2)
    return {"vpc": vpc, "nat": nat, "allocation": allocation, "endpoint": endpoint,
            "private": private, "private_table": private_table, "function": function,
            "in_vpc": in_vpc}


def _log_events(logs, group: str) -> list[dict]:
    try:
        return logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []


def _reports(logs, function: str) -> list[str]:
    return [e["message"] for e in _log_events(logs, f"/aws/lambda/{function}")
            if e["message"].startswith("REPORT")]


def test_each_line_and_the_total(own, region):
    bill = get_bill(own)
    assert bill["region"] == "us-east-1" and bill["hours_per_month"] == HOURS
    assert bill["prices"] == {"date": PRICES["date"], "region": "us-east-1",
                              "file": "prices.json"}
    assert bill["month"] == time.strftime("%Y-%m", time.gmtime())

    nat_hours, = lines_of(bill, "NAT gateway hours")
    assert nat_hours["resources"] == [region["nat"]]
    assert nat_hours["quantity"] == HOURS and nat_hours["rate"] == PRICES["nat_gateway"]["per_hour"]
    assert nat_hours["monthly"] == pytest.approx(HOURS * 0.045) == pytest.approx(32.85)
    nat_data, = lines_of(bill, "NAT gateway data processed")
    assert nat_data["monthly"] is None and nat_data["note"] == "data processing not measured"

    endpoint, = lines_of(bill, "interface endpoint AZ-hours")
    assert endpoint["resources"] == [region["endpoint"]]
    assert endpoint["quantity"] == 2 * HOURS  # one endpoint in two zones
    assert endpoint["monthly"] == pytest.approx(
        2 * HOURS * PRICES["interface_endpoint"]["per_az_hour"]) == pytest.approx(14.60)
    assert "us-east-1a, us-east-1b" in endpoint["note"]
    ep_data, = lines_of(bill, "interface endpoint data processed")
    assert ep_data["monthly"] is None and ep_data["note"] == "data processing not measured"
    assert bill["not_measured"] == ["NAT gateway data processed",
                                    "interface endpoint data processed"]

    # the NAT gateway's Elastic IP; nothing else here holds a public address
    eip, = lines_of(bill, "public IPv4 address hours (Elastic IPs)")
    assert eip["resources"] == [region["allocation"]]
    assert eip["monthly"] == pytest.approx(HOURS * PRICES["public_ipv4"]["per_hour"]) \
        == pytest.approx(3.65)
    assert not lines_of(bill, "public IPv4 address hours (auto-assigned)")

    db, = lines_of(bill, "RDS mysql db.t3.micro instance hours (Single-AZ)")
    assert db["resources"] == ["costdb"] and db["quantity"] == HOURS
    assert db["monthly"] == pytest.approx(HOURS * PRICES["rds"]["per_hour"]["mysql"][
        "db.t3.micro"]) == pytest.approx(12.41)

    # Lambda: the invocations, and each one's billed duration as its REPORT line says
    logs = own.client("logs")
    fn = region["function"]
    requests, = [x for x in lines_of(bill, "Lambda requests") if x["resources"] == [fn]]
    assert requests["quantity"] == INVOKES
    assert requests["monthly"] == pytest.approx(INVOKES * 0.20 / 1e6)
    billed_ms = sum(int(re.search(r"Billed Duration: (\d+) ms", r)[1])
                    for r in _reports(logs, fn))
    duration, = [x for x in lines_of(bill, "Lambda duration") if x["resources"] == [fn]]
    assert duration["quantity"] == pytest.approx(billed_ms / 1000 * 256 / 1024)
    assert duration["monthly"] == pytest.approx(
        billed_ms / 1000 * 0.25 * PRICES["lambda"]["per_gb_second"]["x86_64"])
    assert f"{billed_ms} ms billed at 256 MB, x86_64" == duration["note"]
    # the function never invoked has no usage lines
    assert not [x for x in bill["lines"] if x["resources"] == [region["in_vpc"]]]

    # CloudWatch Logs: the bytes of the events stored, the function's logs too
    app_logs, = [x for x in lines_of(bill, "CloudWatch Logs ingestion")
                 if x["resources"] == ["/app/cost"]]
    size = sum(len(m.encode()) for m in LOG_MESSAGES)
    assert size == 1013 and app_logs["note"] == f"{size} bytes"
    assert app_logs["monthly"] == pytest.approx(size / 1024 ** 3 * 0.50)
    fn_logs, = [x for x in lines_of(bill, "CloudWatch Logs ingestion")
                if x["resources"] == [f"/aws/lambda/{fn}"]]
    fn_size = sum(len(e["message"].encode()) for e in _log_events(logs, f"/aws/lambda/{fn}"))
    assert fn_logs["note"] == f"{fn_size} bytes"

    priced = [x["monthly"] for x in bill["lines"] if x["monthly"] is not None]
    assert bill["total"] == pytest.approx(sum(priced))
    hourly = 32.85 + 14.60 + 3.65 + 12.41
    assert hourly < bill["total"] < hourly + 0.01  # usage of a few invocations: fractions of a cent


def test_savings_of_the_doctor_fixes(own, region):
    savings = {s["id"]: s for s in get_bill(own)["savings"]}
    # one NAT for two zones: the fix adds a NAT gateway and its Elastic IP, a cost increase
    shared = savings["nat-gateway-shared-across-azs"]
    assert region["nat"] in shared["resources"]
    assert shared["monthly_saving"] == pytest.approx(-HOURS * (0.045 + 0.005)) \
        == pytest.approx(-36.50)
    assert shared["note"].startswith("a cost increase: 1 more NAT gateway(s)")
    # S3 and DynamoDB through the NAT: the gateway endpoint is free, the volume not measured
    through = savings["gateway-service-through-nat"]
    assert through["monthly_saving"] is None
    assert "data processing not measured" in through["note"]
    assert set(savings) == {"nat-gateway-shared-across-azs", "gateway-service-through-nat"}


def test_another_month_prices_only_the_hourly_parts(own, region):
    bill = get_bill(own, month="2020-01")
    assert bill["month"] == "2020-01"
    assert not [x for x in bill["lines"] if x["service"] in ("Lambda", "CloudWatch Logs")]
    assert bill["total"] == pytest.approx(32.85 + 14.60 + 3.65 + 12.41)


def test_cli_text_and_json(own, region):
    text = cost(own)
    assert text.returncode == 0, text.stderr
    out = text.stdout.splitlines()
    assert out[0] == ("AWS bill for a month of us-east-1 as configured now (730 hours; usage "
                      f"as recorded in {time.strftime('%Y-%m', time.gmtime())}; us-east-1 "
                      f"prices of {PRICES['date']})")
    nat, endpoint = region["nat"], region["endpoint"]
    assert f"      $32.85  NAT gateway hours ({nat}): 730 hours x $0.045" in out
    assert (f"           -  NAT gateway data processed ({nat}): data processing not measured"
            in out)
    assert (f"      $14.60  interface endpoint AZ-hours ({endpoint}): 1,460 AZ-hours x $0.01; "
            "com.amazonaws.us-east-1.sqs in us-east-1a, us-east-1b") in out
    assert (f"       $3.65  public IPv4 address hours (Elastic IPs) ({region['allocation']}): "
            "730 address-hours x $0.005") in out
    assert ("      $12.41  RDS mysql db.t3.micro instance hours (Single-AZ) (costdb): "
            "730 instance-hours x $0.017") in out
    assert "      $63.51  total a month" in out  # the usage adds less than half a cent
    assert ("not priced, data processing not measured: NAT gateway data processed, "
            "interface endpoint data processed") in out
    assert "  nat-gateway-shared-across-azs: costs $36.50: a cost increase: 1 more NAT " \
           "gateway(s) with an Elastic IP each, $36.50 a month apiece, buy the availability" in out
    assert any(line.startswith("  gateway-service-through-nat: n/a: ") for line in out)

    as_json = cost(own, "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == get_bill(own)

    old = json.loads(cost(own, "--json", "--month", "2020-01").stdout)
    assert old["month"] == "2020-01" and old["total"] == pytest.approx(63.51)

    bad = cost(own, "--month", "last")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == "vpclocal cost: month 'last' is not YYYY-MM\n"

    # another region has its own state: an empty bill
    other = json.loads(cost(own, "--json", "--region", "eu-west-1").stdout)
    assert (other["region"], other["lines"], other["total"], other["savings"]) == (
        "eu-west-1", [], 0, [])


def test_no_server_is_an_error(own):
    env = own.env() | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    failed = subprocess.run([str(BIN / "vpclocal"), "cost"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert failed.returncode == 2
    assert failed.stderr.startswith("vpclocal cost: cannot reach the server")


def test_refused_to_code_in_the_fabric():
    port = 40000 + free_port() % 20000
    FROM_FABRIC[port] = None  # a connection a relay opened from inside the fabric
    try:
        answer = admin.handle(None, HttpRequest("GET", "/_vpclocal/cost", {}, {}, b"",
                                                client=("127.0.0.1", port)))
    finally:
        del FROM_FABRIC[port]
    assert answer.status == 403


def test_a_fix_that_adds_a_nat_gateway_says_what_it_costs(own):
    """A function in a private subnet with no way out: the fix creates a NAT gateway (and
    its Elastic IP), so it costs a month of both; the region's bill has no hourly line."""
    region = "us-west-2"
    ec2, lam = own.client("ec2", region), own.client("lambda", region)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24",
                               AvailabilityZone="us-west-2a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.12",
                        Role=make_role(own.client("iam"), BASIC, VPC_ACCESS),
                        Handler="index.handler", Code={"ZipFile": zipped()},
                        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]})
    assert wait_state(lam, name)["State"] == "Active"
    bill = get_bill(own, region=region)
    assert bill["lines"] == [] and bill["total"] == 0
    saving, = [s for s in bill["savings"] if s["id"] == "private-subnet-without-egress"]
    assert saving["monthly_saving"] == pytest.approx(-36.50)
    assert saving["note"].startswith("a cost increase: a NAT gateway and its Elastic IP, $36.50")
