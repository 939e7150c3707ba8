"""`vpclocal reach` as a user runs it: a subprocess against the live server.

The VPC is built through the EC2 API (boto3): a public subnet with a NAT gateway, a private
subnet routed to it, a client interface and a "database" interface whose group has no inbound
rules. Exit status: 0 reachable, 1 blocked, 2 error.
"""

from __future__ import annotations

import http.server
import json
import re
import shlex
import signal
import subprocess
import threading

import pytest

from tests.conftest import BIN, held_port, into_closed_pipe
from vpclocal.network.addr import DEFAULT_INTERNET_HOST
from vpclocal.network.names import public_address

ACCOUNT = "000000000000"
CIDR = "10.231.0.0/16"  # unusual, so that the interfaces' private addresses name only them
HOP = re.compile(r"^\s+(\d+) (ok |XX )(\S+)\s+(\S+)")
# Addresses of the simulated internet that vpclocal may also hand out as Elastic IPs.
SIMULATED_INTERNET = {DEFAULT_INTERNET_HOST, public_address("www.example.com")}


def vpclocal(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["vpclocal", "reach", *args], env=server.env(), capture_output=True,
                          text=True, timeout=60, check=False)


def hops(stdout: str) -> list[tuple[int, bool, str, str]]:
    """The hop table: (sequence, allowed, component id, component type) per line."""
    out = []
    for line in stdout.splitlines():
        m = HOP.match(line)
        if m:
            out.append((int(m[1]), m[2] == "ok ", m[3], m[4]))
    return out


def eip(ec2) -> str:
    got = ec2.allocate_address(Domain="vpc")
    while got["PublicIp"] in SIMULATED_INTERNET:  # keep it, unused; see test_network_insights
        got = ec2.allocate_address(Domain="vpc")
    return got["AllocationId"]


@pytest.fixture(scope="module")
def net(ec2):
    vpc = ec2.create_vpc(CidrBlock=CIDR)["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

    def subnet(cidr: str) -> str:
        return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr,
                                 AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]

    def table(*subnets: str) -> str:
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        for s in subnets:
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=s)
        return rtb

    public = subnet("10.231.1.0/24")
    public_rtb = table(public)
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip(ec2))["NatGateway"][
        "NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(
        NatGatewayIds=[nat], WaiterConfig={"Delay": 0.05, "MaxAttempts": 40})
    private, data = subnet("10.231.10.0/24"), subnet("10.231.11.0/24")
    private_rtb = table(private, data)
    ec2.create_route(RouteTableId=private_rtb, DestinationCidrBlock="0.0.0.0/0",
                     NatGatewayId=nat)

    def group(name: str) -> str:
        return ec2.create_security_group(VpcId=vpc, GroupName=name, Description=name)["GroupId"]

    def eni(subnet_id: str, group_id: str) -> dict:
        return ec2.create_network_interface(SubnetId=subnet_id, Groups=[group_id])[
            "NetworkInterface"]

    app_sg, db_sg = group("app"), group("db")
    client, db = eni(private, app_sg), eni(data, db_sg)
    return {"vpc": vpc, "igw": igw, "nat": nat, "public": public, "private": private,
            "data": data, "private_rtb": private_rtb, "app_sg": app_sg, "db_sg": db_sg,
            "group": group, "eni": eni, "client": client["NetworkInterfaceId"],
            "client_ip": client["PrivateIpAddress"], "db": db["NetworkInterfaceId"],
            "db_ip": db["PrivateIpAddress"]}


# ---- human output ----------------------------------------------------------------------------


def test_blocked_path_prints_the_hops_the_code_and_the_fix(server, net):
    out = vpclocal(server, net["client"], net["db"], "--port", "5432")
    assert out.returncode == 1, out.stderr
    text = out.stdout
    assert text.splitlines()[0] == f"{net['client']} -> {net['db']}:5432 (tcp)"
    assert "forward path:" in text and "return path:" in text
    table = hops(text)
    forward = table[:[seq for seq, *_ in table].index(1, 1)]
    assert [h[2] for h in forward][:2] == [net["client"], net["app_sg"]]
    assert forward[-1][2] == net["db_sg"] and forward[-1][1] is False  # XX: it blocks here
    assert all(allowed for _seq, allowed, *_ in forward[:-1])
    assert (net["private_rtb"], "route-table") in [(h[2], h[3]) for h in forward]
    assert "route 10.231.0.0/16 -> local" in text
    assert "BLOCKED" in text and "REACHABLE" not in text
    assert f"  ENI_SG_RULES_MISMATCH: no ingress rule of {net['db_sg']}" in text
    assert "to open it (verified by re-analysis):" in text
    command = (f"aws ec2 authorize-security-group-ingress --group-id {net['db_sg']} "
               f"--ip-permissions 'IpProtocol=tcp,FromPort=5432,ToPort=5432,"
               f"UserIdGroupPairs=[{{GroupId={net['app_sg']}}}]'")
    assert f"      {command}" in text.splitlines()


def test_reachable_path_through_the_nat_gateway_to_a_hostname(server, net):
    address = public_address("www.example.com")
    out = vpclocal(server, net["client"], "www.example.com", "--port", "443")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{net['client']} -> {address}:443 (tcp)"
    assert "REACHABLE" in lines and "BLOCKED" not in out.stdout
    table = hops(out.stdout)
    assert all(allowed for _seq, allowed, *_ in table)
    kinds = {h[2]: h[3] for h in table}
    assert kinds[net["nat"]] == "natgateway" and kinds[net["igw"]] == "internet-gateway"
    assert kinds[address] == "internet"
    assert f"route 0.0.0.0/0 -> {net['nat']}" in out.stdout


def test_a_reader_that_goes_away_ends_it_quietly(server, net):
    """`vpclocal reach --json | head`: no BrokenPipeError traceback, the end `cat` has."""
    for extra in ([], ["--json"]):
        argv = ["vpclocal", "reach", net["client"], net["db"], "--port", "5432", *extra]
        proc = into_closed_pipe(argv, server.env())
        assert proc.returncode == -signal.SIGPIPE, (proc.returncode, proc.stderr)
        assert proc.stderr == ""


def test_protocol_icmp(server, net):
    out = vpclocal(server, net["client"], net["db"], "--protocol", "icmp")
    assert out.returncode == 1
    assert "(icmp)" in out.stdout.splitlines()[0]
    assert "ENI_SG_RULES_MISMATCH: no ingress rule" in out.stdout


# ---- --json ------------------------------------------------------------------------------------


def test_json_for_a_blocked_and_a_reachable_path(server, net):
    out = vpclocal(server, net["client"], net["db"], "--port", "5432", "--json")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert result["reachable"] is False and result["analysis"] is None
    (blocked,) = result["blocked"]
    assert blocked["source"]["id"] == net["client"]
    assert blocked["destination"] == {
        "id": net["db"], "type": "network-interface", "address": net["db_ip"],
        "vpc_id": net["vpc"], "subnet_id": net["data"]}
    (e,) = blocked["explanations"]
    assert (e["code"], e["component"]["id"], e["direction"]) == (
        "ENI_SG_RULES_MISMATCH", net["db_sg"], "ingress")
    assert blocked["fixes_verified"] is True
    assert blocked["fixes"][0]["resolves"] == "ENI_SG_RULES_MISMATCH"

    out = vpclocal(server, net["client"], "203.0.113.7", "--port", "443", "--json")
    assert out.returncode == 0
    result = json.loads(out.stdout)
    assert result["reachable"] is True and result["blocked"] == []
    analysis = result["analysis"]
    assert analysis["destination"]["type"] == "internet"
    ids = [h["component"]["id"] for h in analysis["forward_path"]]
    assert ids.index(net["private_rtb"]) < ids.index(net["nat"]) < ids.index(net["igw"])
    assert "fixes" not in analysis


def test_fix_from_json_run_with_the_aws_cli_opens_the_path(server, net):
    cache_sg = net["group"]("cache")
    cache = net["eni"](net["data"], cache_sg)["NetworkInterfaceId"]
    out = vpclocal(server, net["client"], cache, "--port", "6379", "--json")
    assert out.returncode == 1
    (blocked,) = json.loads(out.stdout)["blocked"]
    assert blocked["fixes_verified"] is True
    for fix in blocked["fixes"]:
        for command in fix["commands"]:
            argv = shlex.split(command)
            assert argv[:2] == ["aws", "ec2"] and "<" not in command
            done = subprocess.run([str(BIN / "aws"), *argv[1:]], env=server.env(), check=False,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
    again = vpclocal(server, net["client"], cache, "--port", "6379")
    assert again.returncode == 0, again.stdout
    assert "REACHABLE" in again.stdout


# ---- names ---------------------------------------------------------------------------------------


def test_sources_and_destinations_by_arn_address_and_hostname(server, net):
    arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/{net['client']}"
    by_arn = json.loads(vpclocal(server, arn, net["db"], "--port", "5432", "--json").stdout)
    assert by_arn["blocked"][0]["source"]["id"] == net["client"]

    db_arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/{net['db']}"
    out = vpclocal(server, net["client_ip"], db_arn, "--port", "5432", "--json")
    (blocked,) = json.loads(out.stdout)["blocked"]
    assert blocked["source"]["id"] == net["client"]
    assert blocked["destination"]["id"] == net["db"]

    out = vpclocal(server, net["client_ip"], net["db_ip"], "--port", "5432", "--json")
    assert out.returncode == 1
    (blocked,) = json.loads(out.stdout)["blocked"]
    assert (blocked["source"]["id"], blocked["destination"]["id"]) == (net["client"], net["db"])

    # the S3 endpoint's hostname: a prefix-list address, reached here through the NAT gateway
    out = vpclocal(server, net["client"], "s3.us-east-1.amazonaws.com", "--port", "443",
                   "--json")
    assert out.returncode == 0, out.stdout
    analysis = json.loads(out.stdout)["analysis"]
    assert analysis["destination"]["address"] == public_address("s3.us-east-1.amazonaws.com")
    assert analysis["destination"]["type"] == "aws-service"
    assert net["nat"] in [h["component"]["id"] for h in analysis["forward_path"]]

    # an internal EC2 name of the interface
    name = "ip-" + net["db_ip"].replace(".", "-") + ".ec2.internal"
    out = vpclocal(server, net["client"], name, "--port", "5432", "--json")
    assert json.loads(out.stdout)["blocked"][0]["destination"]["id"] == net["db"]


# ---- errors: exit status 2 ----------------------------------------------------------------------


def test_unknown_component_is_an_error(server, net):
    out = vpclocal(server, "eni-0123456789abcdef0", net["db"], "--port", "5432")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == (
        "vpclocal reach: unknown or unsupported component 'eni-0123456789abcdef0'")
    out = vpclocal(server, net["client"], "eni-0123456789abcdef0", "--port", "5432", "--json")
    assert out.returncode == 2 and out.stdout == ""


def test_unresolvable_names_and_missing_ports_are_errors(server, net):
    out = vpclocal(server, net["client"], "db.nowhere.invalid", "--port", "5432")
    assert out.returncode == 2
    assert "cannot resolve 'db.nowhere.invalid'" in out.stderr
    out = vpclocal(server, net["client"], net["db"])
    assert out.returncode == 2
    assert "port is required" in out.stderr


def test_unreachable_endpoint_is_an_error(server, net):
    with held_port() as sock:  # nothing listens there, nor can meanwhile
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        out = vpclocal(server, net["client"], net["db"], "--port", "5432", "--endpoint",
                       endpoint)
    assert out.returncode == 2
    assert out.stderr.startswith(f"vpclocal reach: cannot reach the server at {endpoint}")


def test_an_endpoint_that_is_not_vpclocal_is_an_error(server, net):
    class NotVpclocal(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b"<html>404 Not Found</html>"
            self.send_response(404)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), NotVpclocal)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{httpd.server_address[1]}"
        out = vpclocal(server, net["client"], net["db"], "--port", "5432",
                       "--endpoint", endpoint)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith(f"vpclocal reach: {endpoint} is not a vpclocal server")
