"""The console in a real headless Chromium: it draws the guide's section 8 topology built
through the API, shows the path between two clicked nodes (and, with the database's security
group rule removed, the blocking rule and the fix that the real `aws` CLI then applies), the
live flows the fabric counts, the doctor's findings and the bill; and its drawing of section 8
matches a committed reference screenshot.

The tests of this module build on each other's state, in order (one server, one topology)."""

from __future__ import annotations

import json
import os
import re
import shlex
import urllib.error
import urllib.request

import pytest

from tests.console import screenshots
from tests.fabric.conftest import needs_fabric

# the function and its flows need the fabric, which needs root
pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
REFERENCE = "section8.png"


def get(server, path: str) -> dict:
    with urllib.request.urlopen(server.endpoint + path, timeout=30) as answer:
        return json.load(answer)


def node(page, eni: str):
    return page.locator(f'.node[data-id="{eni}"]')


def enis(server, guide) -> dict[str, list[dict]]:
    """The section 8 VPC's interfaces by kind, as the topology endpoint describes them."""
    vpc = next(v for v in get(server, "/_vpclocal/console/topology")["vpcs"]
               if v["id"] == guide.vpc)
    out: dict[str, list[dict]] = {}
    for subnet in vpc["subnets"]:
        for eni in subnet["enis"]:
            out.setdefault(eni["kind"], []).append(eni)
    return out


def click_path(page, source: str, destination: str) -> str:
    """Click two nodes; the verdict the page shows."""
    node(page, source).click()
    node(page, destination).click()
    page.wait_for_selector("#path-result .verdict")
    return page.inner_text("#path-result .verdict")


def test_served_and_linked_from_the_start_line(server, guide):
    log = server.log.read_text()
    assert f"Console: {server.endpoint}/_vpclocal/console" in log
    with urllib.request.urlopen(server.endpoint + "/_vpclocal/console", timeout=30) as answer:
        assert answer.headers["content-type"].startswith("text/html")
        assert b"/_vpclocal/console/static/console.js" in answer.read()
    for bad in ("..%2Fadmin.py", "nothing.js", "__init__.py"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{server.endpoint}/_vpclocal/console/static/{bad}",
                                   timeout=30)
        assert caught.value.code == 404


def test_topology_from_the_store(server, guide):
    topology = get(server, "/_vpclocal/console/topology")
    vpcs = {v["id"]: v for v in topology["vpcs"]}
    assert topology["vpcs"][0]["id"] == guide.vpc  # your VPCs before the default one
    vpc = vpcs[guide.vpc]
    assert vpc["zones"] == ["us-east-1a", "us-east-1b"]
    assert [(s["id"], s["public"]) for s in vpc["subnets"]] == [
        (guide.subnets[0], False), (guide.subnets[1], False)]  # no route to the IGW
    assert [g["type"] for g in vpc["gateways"]] == ["igw"]
    default = next(v for v in topology["vpcs"] if v["default"])
    assert default["subnets"] and all(s["public"] for s in default["subnets"])
    by_kind = enis(server, guide)
    assert [e["label"] for e in by_kind["rds"]] == [guide.database]
    assert by_kind["rds"][0]["id"] == guide.db_eni and by_kind["rds"][0]["port"] == 3306
    # one Hyperplane ENI per subnet, owned by the function
    assert sorted(e["label"] for e in by_kind["lambda"]) == [guide.function] * 2
    assert {e["reach"] for e in by_kind["lambda"]} == {f"function:{guide.function}"}


def test_draws_section8(page, server, guide):
    card = page.locator(f'#vpc-{guide.vpc}')
    assert card.locator("h3").inner_text().startswith("lambda-vpc-rds")
    assert card.locator(".az-title").all_text_contents() == ["us-east-1a", "us-east-1b"]
    for subnet, name in zip(guide.subnets, ("private-subnet-1", "private-subnet-2"), strict=True):
        drawn = card.locator(f'.subnet[data-id="{subnet}"]')
        assert drawn.get_attribute("class") == "subnet private"
        assert name in drawn.text_content()
    by_kind = enis(server, guide)
    for eni in by_kind["lambda"]:
        assert node(page, eni["id"]).get_attribute("data-kind") == "lambda"
        assert guide.function in node(page, eni["id"]).text_content()
    assert guide.database in node(page, guide.db_eni).text_content()
    assert "10.0.10.4" in node(page, guide.db_eni).text_content()
    assert card.locator('.gateway.igw').text_content().strip().endswith("lambda-igw")
    # each drawn thing lies inside the card's drawing
    box = card.locator(".canvas").bounding_box()
    assert box["width"] > 600 and box["height"] > 150
    # a node is chosen from the keyboard too
    node(page, guide.db_eni).focus()
    page.keyboard.press("Enter")
    assert "selected-src" in node(page, guide.db_eni).get_attribute("class")


def test_screenshot_of_section8(page, guide, tmp_path):
    """The section 8 VPC as drawn, against reference/section8.png (VPCLOCAL_UPDATE_SCREENSHOTS=1
    rewrites it)."""
    card = page.locator(f'#vpc-{guide.vpc}')
    screenshots.compare(card.screenshot(animations="disabled", caret="hide"), REFERENCE,
                        tmp_path / "screenshots")


def test_path_from_the_function_to_the_database(page, server, guide):
    function_eni = enis(server, guide)["lambda"][0]["id"]
    assert click_path(page, function_eni, guide.db_eni).startswith(
        f"Reachable: {guide.function} → {guide.database} tcp/3306")
    hops = page.locator("ol.hops li").all_inner_texts()
    assert any(guide.rds_sg in h and "(ingress)" in h and "tcp 3306-3306" in h and
               guide.lambda_sg in h for h in hops), hops
    assert page.locator("ol.hops li.blocking").count() == 0
    assert page.locator(".edge.path-ok").count() == 1
    assert "on-path" in node(page, guide.db_eni).get_attribute("class")


def test_doctor_findings_and_cost(page, server, guide):
    finding = page.locator('.finding[data-check="vpc-without-flow-logs"]')
    assert guide.vpc in finding.inner_text()
    assert "aws ec2 create-flow-logs" in finding.inner_text()
    expected = [f["id"] for f in get(server, "/_vpclocal/doctor")["findings"]]
    assert page.locator(".finding").evaluate_all(
        "els => els.map(e => e.dataset.check)") == expected
    bill = get(server, "/_vpclocal/cost")
    assert bill["total"] > 0  # the db.t3.micro instance
    assert page.inner_text("#cost-total") == f"${bill['total']:.2f}"
    assert "db.t3.micro" in page.inner_text("#cost")


def invoke(server, guide) -> str:
    answer = server.client("lambda").invoke(FunctionName=guide.function, Payload=json.dumps(
        {"host": "10.0.10.4", "port": 3306}))
    return json.load(answer["Payload"])["connect"]


def wait_for_edge(page, cls: str) -> None:
    """Polled flows (every 2 s) draw an edge of this class; 30 s at most."""
    page.wait_for_selector(f".overlay .edge.{cls}", state="attached", timeout=30_000)


def test_live_flows(page, server, guide):
    assert "flow log" in page.inner_text("#flows")  # none counted without one
    ec2, logs = server.client("ec2"), server.client("logs")
    logs.create_log_group(logGroupName="/vpc/console")
    ec2.create_flow_logs(ResourceIds=[guide.vpc], ResourceType="VPC", TrafficType="ALL",
                         LogDestinationType="cloud-watch-logs", LogGroupName="/vpc/console",
                         DeliverLogsPermissionArn="arn:aws:iam::000000000000:role/flowlogs",
                         MaxAggregationInterval=60)
    page.reload()
    page.wait_for_selector("body[data-drawn]")
    invoke(server, guide)
    wait_for_edge(page, "accept")
    rows = page.locator("#flows tr.flow.accept").all_inner_texts()
    assert any(f"→ {guide.database}:3306" in r and "ACCEPT" in r for r in rows), rows
    # the database's replies count on the same edge, not one of their own
    assert all(f"{guide.database} →" not in r for r in rows), rows


def test_blocked_path_shows_the_rule_and_the_fix(page, server, guide):
    server.aws("ec2", "revoke-security-group-ingress", "--group-id", guide.rds_sg,
               "--protocol", "tcp", "--port", "3306", "--source-group", guide.lambda_sg)
    function_eni = enis(server, guide)["lambda"][0]["id"]
    assert click_path(page, function_eni, guide.db_eni).startswith("Blocked:")
    blocking = page.locator("ol.hops li.blocking")
    assert blocking.count() == 1
    assert guide.rds_sg in blocking.inner_text() and "(ingress)" in blocking.inner_text()
    assert "ENI_SG_RULES_MISMATCH" in blocking.inner_text()
    assert "blocking" in node(page, guide.db_eni).get_attribute("class")
    assert page.locator(".edge.path-blocked").count() == 1
    fixes = page.locator("pre.fix-command").all_inner_texts()
    assert fixes and fixes[0].startswith(
        f"aws ec2 authorize-security-group-ingress --group-id {guide.rds_sg}"), fixes
    # the refused connection shows as a rejected flow
    invoke(server, guide)
    wait_for_edge(page, "reject")
    # the fix, run with the real aws CLI, opens the path again
    args = shlex.split(fixes[0])
    server.aws(*args[1:])
    page.locator("#check").click()
    page.wait_for_function(
        "document.querySelector('#path-result .verdict')?.textContent.startsWith('Reachable')")
    assert re.search(r"tcp 3306-3306 " + guide.lambda_sg,
                     page.inner_text("#path-result")) is not None


def test_gateways_endpoints_and_peering(page, server, guide):
    """A second VPC with a public subnet, a NAT gateway, an S3 gateway endpoint, an interface
    endpoint, peered with section 8's: each drawn with what it is."""
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(VpcId=vpc, InternetGatewayId=igw)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24",
                                AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    public_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)[
        "NatGateway"]["NatGatewayId"]
    private_rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    ec2.associate_route_table(RouteTableId=private_rtb, SubnetId=private)
    s3 = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3",
                                 RouteTableIds=[private_rtb])["VpcEndpoint"]["VpcEndpointId"]
    sqs = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.sqs",
                                  VpcEndpointType="Interface", SubnetIds=[private],
                                  PrivateDnsEnabled=False)[
        "VpcEndpoint"]["VpcEndpointId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=guide.vpc, PeerVpcId=vpc)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)

    drawn = next(v for v in get(server, "/_vpclocal/console/topology")["vpcs"]
                 if v["id"] == vpc)
    assert [(s["id"], s["public"], s["default_route"]) for s in drawn["subnets"]] == [
        (public, True, igw), (private, False, nat)]
    assert [(g["type"], g["id"]) for g in drawn["gateways"]] == [
        ("igw", igw), ("nat", nat), ("gateway-endpoint", s3)]
    assert [(p["id"], p["peer_vpc"]) for p in drawn["peerings"]] == [(pcx, guide.vpc)]
    kinds = {e["kind"]: e for s in drawn["subnets"] for e in s["enis"]}
    assert kinds["nat"]["label"] == nat and kinds["endpoint"]["label"] == "sqs endpoint"
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[sqs])["VpcEndpoints"][0]
    assert kinds["endpoint"]["id"] in endpoint["NetworkInterfaceIds"]

    page.reload()
    page.wait_for_selector("body[data-drawn]")
    card = page.locator(f"#vpc-{vpc}")
    assert card.locator(f'.subnet[data-id="{public}"]').get_attribute("class") == "subnet public"
    for kind, ident in (("igw", igw), ("nat", nat), ("gateway-endpoint", s3),
                        ("peering", pcx)):
        assert card.locator(f'.gateway.{kind}[data-id="{ident}"]').count() == 1, kind
    assert card.locator('.node.eni[data-kind="nat"]').text_content().startswith(f"NAT{nat}")
    assert card.locator('.node[data-kind="endpoint"]').text_content() \
        .startswith("EPsqs endpoint")
    # the peering shows in both VPCs
    assert page.locator(f'#vpc-{guide.vpc} .gateway.peering[data-id="{pcx}"]').count() == 1


def test_interfaces_are_written_as_their_subnet_nears_the_screen(page, server):
    """A long VPC: its far subnets' interfaces come into the page when scrolled to (what
    keeps 10,000 of them fast: bench/console.py), and are then drawn like any other."""
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    enis = []
    for n in range(30):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.2.{n}.0/24",
                                   AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        enis.append(ec2.create_network_interface(SubnetId=subnet)[
            "NetworkInterface"]["NetworkInterfaceId"])
    page.reload()
    page.wait_for_selector("body[data-drawn]")
    last = page.locator(f'#vpc-{vpc} .subnet:has-text("10.2.29.0/24")')
    assert last.count() == 1
    assert node(page, enis[-1]).count() == 0  # far below the screen: not written yet
    last.scroll_into_view_if_needed()
    node(page, enis[-1]).wait_for()
    assert node(page, enis[-1]).get_attribute("data-kind") == "eni"
    assert "10.2.29.4" in node(page, enis[-1]).text_content()
