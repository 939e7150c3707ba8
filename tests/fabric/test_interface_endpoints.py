"""Issue 19 end to end: every AWS API a function calls crosses its VPC's network.

The same unchanged boto3 code (`boto3.client("sts").get_caller_identity()`, no endpoint
configured) in a private subnet: without a NAT gateway or an endpoint it times out, and the
log names the fix; through an STS interface endpoint whose group admits the function's it
works, and the server records the call as arriving through that endpoint; without that rule
it times out again, the hint naming the endpoint's group; with private DNS off the public
name no longer leads to the endpoint while the endpoint's own name still does; through a NAT
gateway it works, from the NAT gateway's address.
"""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import applied, fabric_status, invoke, start_server
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

HANDLER = """
import json
import os
import urllib.request
import boto3

def handler(event, context):
    assert "AWS_ENDPOINT_URL" not in os.environ  # nothing but the network leads to AWS
    if event.get("op") == "ec2":
        boto3.client("ec2").describe_network_interfaces(MaxResults=5)
        return {"ec2": "ok"}
    sts = boto3.client("sts", endpoint_url=event.get("url"))
    return {"arn": sts.get_caller_identity()["Arn"]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("endpoints") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def net(server):
    """A private subnet with a route table of its own, and a VPC function in it."""
    ec2, lam = server.client("ec2"), server.client("lambda")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    fn_sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                        Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                        Code={"ZipFile": zipped(HANDLER)}, Timeout=3,
                        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [fn_sg]})
    wait_state(lam, name)
    return {"vpc": vpc, "subnet": subnet, "rtb": rtb, "fn_sg": fn_sg, "name": name}


def reach(server, net, destination: str) -> dict:
    """`vpclocal reach` from the function's network interface to destination:443."""
    eni = server.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "group-id", "Values": [net["fn_sg"]]}])["NetworkInterfaces"][0]
    request = urllib.request.Request(
        server.endpoint + "/_vpclocal/reach", method="POST", data=json.dumps({
            "source": eni["NetworkInterfaceId"], "destination": destination,
            "port": 443}).encode())
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


def hint(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("vpclocal: connection"))


def timed_out(server, net, event=None) -> str:
    payload, error, log = invoke(server.client("lambda"), net["name"], event or {})
    assert error == "Unhandled" and payload["errorType"] == "Sandbox.Timedout", (payload, log)
    return log


def works(server, net, event=None) -> str:
    payload, error, log = invoke(server.client("lambda"), net["name"], event or {})
    assert error is None, (payload, log)
    assert payload["arn"].startswith("arn:aws:sts::000000000000:assumed-role/"), payload
    return log


def test_1_without_nat_or_endpoint_sts_times_out_with_the_fix(server, net):
    log = timed_out(server, net)
    line = hint(log)
    assert ":443/tcp" in line and "NO_ROUTE_TO_DESTINATION" in line, line
    assert ("create-vpc-endpoint --vpc-id " + net["vpc"] + " --vpc-endpoint-type Interface "
            "--service-name com.amazonaws.us-east-1.sts") in line, line
    assert f"--source-group {net['fn_sg']}" in line, line


def test_2_through_an_interface_endpoint_it_works_and_the_server_knows(server, net):
    ec2 = server.client("ec2")
    ec2.modify_vpc_attribute(VpcId=net["vpc"], EnableDnsHostnames={"Value": True})
    sg = ec2.create_security_group(VpcId=net["vpc"], GroupName="sts-endpoint",
                                   Description="sts endpoint")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": net["fn_sg"]}]}])
    endpoint = ec2.create_vpc_endpoint(
        VpcId=net["vpc"], ServiceName="com.amazonaws.us-east-1.sts",
        VpcEndpointType="Interface", SubnetIds=[net["subnet"]],
        SecurityGroupIds=[sg])["VpcEndpoint"]
    assert endpoint["PrivateDnsEnabled"] is True
    net["vpce"], net["endpoint_sg"] = endpoint["VpcEndpointId"], sg
    net["vpce_name"] = endpoint["DnsEntries"][0]["DnsName"]
    applied(server)
    works(server, net)
    status = fabric_status(server)["interface_endpoints"][net["vpce"]]
    assert status["service"] == "sts" and status["vpc"] == net["vpc"]
    assert status["network_interfaces"] == endpoint["NetworkInterfaceIds"]
    [call] = [c for c in status["calls"] if c["operation"] == "GetCallerIdentity"]
    assert call["service"] == "sts" and call["source"].startswith("10.9.1."), call
    # the engine follows the VPC resolver's private DNS name to the endpoint's interface
    analysis = reach(server, net, "sts.us-east-1.amazonaws.com")
    assert analysis["reachable"] is True, analysis
    assert endpoint["NetworkInterfaceIds"][0] in json.dumps(analysis), analysis


def test_3_an_endpoint_group_without_the_rule_times_out_and_the_hint_names_it(server, net):
    ec2 = server.client("ec2")
    rule = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "UserIdGroupPairs": [{"GroupId": net["fn_sg"]}]}]
    ec2.revoke_security_group_ingress(GroupId=net["endpoint_sg"], IpPermissions=rule)
    applied(server)
    line = hint(timed_out(server, net))
    assert net["endpoint_sg"] in line and ":443/tcp" in line, line
    analysis = reach(server, net, "sts.us-east-1.amazonaws.com")
    assert analysis["reachable"] is False and net["endpoint_sg"] in json.dumps(analysis)
    ec2.authorize_security_group_ingress(GroupId=net["endpoint_sg"], IpPermissions=rule)
    applied(server)
    works(server, net)


def test_4_private_dns_off_only_the_endpoints_own_name_leads_to_it(server, net):
    ec2 = server.client("ec2")
    ec2.modify_vpc_endpoint(VpcEndpointId=net["vpce"], PrivateDnsEnabled=False)
    applied(server)
    line = hint(timed_out(server, net))
    assert "NO_ROUTE_TO_DESTINATION" in line, line  # the public address again: no way there
    works(server, net, {"url": f"https://{net['vpce_name']}"})
    ec2.modify_vpc_endpoint(VpcEndpointId=net["vpce"], PrivateDnsEnabled=True)
    applied(server)
    works(server, net)


def test_5_through_a_nat_gateway_it_works_from_the_nat_gateways_address(server, net):
    ec2 = server.client("ec2")
    ec2.delete_vpc_endpoints(VpcEndpointIds=[net["vpce"]])
    public = ec2.create_subnet(VpcId=net["vpc"], CidrBlock="10.9.100.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
    public_rtb = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rtb, SubnetId=public)
    allocation = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation["AllocationId"]
                                 )["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat],
                                                 WaiterConfig={"Delay": 1})
    ec2.create_route(RouteTableId=net["rtb"], DestinationCidrBlock="0.0.0.0/0",
                     NatGatewayId=nat)
    applied(server)
    works(server, net)
    # the server sees calls come from the NAT gateway's Elastic IP: a role that may call EC2
    # only from there still can
    iam = server.client("iam")
    role = server.client("lambda").get_function_configuration(
        FunctionName=net["name"])["Role"].rsplit("/", 1)[1]
    iam.put_role_policy(RoleName=role, PolicyName="only-from-the-nat", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*",'
        '"Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"'
        + allocation["PublicIp"] + '/32"}}}]}'))
    payload, error, log = invoke(server.client("lambda"), net["name"], {"op": "ec2"})
    assert (error, payload) == (None, {"ec2": "ok"}), log
    iam.put_role_policy(RoleName=role, PolicyName="only-from-the-nat", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:*",'
        '"Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"'
        + allocation["PublicIp"] + '/32"}}}]}'))
    payload, error, log = invoke(server.client("lambda"), net["name"], {"op": "ec2"})
    assert error == "Unhandled" and "UnauthorizedOperation" in payload["errorMessage"], payload



def test_a_function_without_a_vpc_reaches_every_api_over_the_internet(server):
    lam = server.client("lambda")
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                        Role=make_role(server.client("iam"), BASIC, VPC_ACCESS),
                        Code={"ZipFile": zipped(HANDLER)}, Timeout=10)
    wait_state(lam, name)
    works(server, {"name": name})
    payload, error, log = invoke(lam, name, {"op": "ec2"})
    assert (error, payload) == (None, {"ec2": "ok"}), log
