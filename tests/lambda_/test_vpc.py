"""Functions in a VPC: VpcConfig validation as AWS words it, Pending -> Active, shared
Hyperplane ENIs in the EC2 model, and the guide's exercise step 6 through the aws CLI."""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_and_status as error_of
from tests.lambda_.conftest import (
    BASIC,
    arn,
    lambda_enis,
    make_role,
    unique,
    wait_state,
    zipped,
)

NO_VPC = {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": False}
ENI_DESCRIPTION = re.compile(r"AWS Lambda VPC ENI-(.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                             r"[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def create_vpc_fn(create, vpc_role):
    def make(name=None, **kwargs):
        return create(name, Role=vpc_role, **kwargs)
    return make


def combos(enis: list[dict]) -> set[tuple[str, frozenset]]:
    return {(e["SubnetId"], frozenset(g["GroupId"] for g in e["Groups"])) for e in enis}


# ---- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    {"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": []},
    {"SubnetIds": [], "SecurityGroupIds": ["sg-0123456789abcdef0"]},
    {"SubnetIds": ["subnet-0123456789abcdef0"]},
])
def test_lists_must_coexist(create_vpc_fn, config):
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig=config)
    assert error_of(caught) == ("InvalidParameterValueException",
                                "SubnetIds and SecurityIds must coexist or be both empty list.",
                                400)


def test_list_lengths_are_model_constraints(create_vpc_fn, network):
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig={"SubnetIds": [f"subnet-{i:017x}" for i in range(17)],
                                 "SecurityGroupIds": [network.sg]})
    code, message, status = error_of(caught)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value '[subnet-")
    assert "at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length " \
           "less than or equal to 16" in message
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig={"SubnetIds": network.subnets,
                                 "SecurityGroupIds": [f"sg-{i:017x}" for i in range(6)]})
    assert "at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have " \
           "length less than or equal to 5" in error_of(caught)[1]


def test_role_needs_eni_permissions(lam, create, iam, network):
    without = make_role(iam, BASIC)
    config = {"SubnetIds": network.subnets, "SecurityGroupIds": [network.sg]}
    with pytest.raises(ClientError) as caught:
        create(Role=without, VpcConfig=config)
    assert error_of(caught) == ("InvalidParameterValueException",
                                ("The provided execution role does not have permissions to call "
                                "CreateNetworkInterface on EC2"), 400)
    # an inline policy granting the five actions is enough
    name = without.rpartition("/")[2]
    iam.put_role_policy(RoleName=name, PolicyName="eni", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses"]}]}))
    fn = create(Role=without, VpcConfig=config)["FunctionName"]
    # ... and switching a VPC function to a role without them is refused
    other = make_role(iam, BASIC)
    wait_state(lam, fn)
    with pytest.raises(ClientError) as caught:
        lam.update_function_configuration(FunctionName=fn, Role=other)
    assert "does not have permissions to call CreateNetworkInterface" in error_of(caught)[1]


def test_unknown_security_group_and_subnet(create_vpc_fn, network):
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig={"SubnetIds": network.subnets,
                                 "SecurityGroupIds": ["sg-0000000000000dead"]})
    assert error_of(caught) == (
        "InvalidParameterValueException", ("Error occurred while DescribeSecurityGroups. EC2 "
        "Error Code: InvalidGroup.NotFound. EC2 Error Message: The security group "
        "'sg-0000000000000dead' does not exist"), 400)
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig={"SubnetIds": ["subnet-0000000000000dead"],
                                 "SecurityGroupIds": [network.sg]})
    assert error_of(caught)[1] == (
        "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. EC2 "
        "Error Message: The subnet ID 'subnet-0000000000000dead' does not exist")


def test_resources_of_different_vpcs(create_vpc_fn, network, ec2):
    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    other_sg = ec2.create_security_group(VpcId=other_vpc, GroupName=unique("group"),
                                         Description="t")["GroupId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.1.1.0/24")["Subnet"][
        "SubnetId"]
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig={"SubnetIds": network.subnets,
                                 "SecurityGroupIds": [network.sg, other_sg]})
    assert error_of(caught) == ("InvalidParameterValueException",
                                "Security Groups are required to be in the same VPC", 400)
    with pytest.raises(ClientError) as caught:
        create_vpc_fn(VpcConfig={"SubnetIds": [network.subnets[0], other_subnet],
                                 "SecurityGroupIds": [network.sg]})
    code, message, _ = error_of(caught)
    assert code == "InvalidParameterValueException"
    assert message == (f"Error occurred while CreateNetworkInterface. EC2 Error Code: "
                       f"InvalidParameter. EC2 Error Message: Security group {network.sg} and "
                       f"subnet {other_subnet} belong to different networks.")


# ---- states and ENIs ----------------------------------------------------------------------------


def test_pending_then_active_with_enis(lam, ec2, create_vpc_fn, network):
    name = unique()
    config = create_vpc_fn(name, VpcConfig={"SubnetIds": network.subnets,
                                            "SecurityGroupIds": [network.sg]})
    assert config["State"] == "Pending"
    assert config["StateReason"] == "The function is being created."
    assert config["StateReasonCode"] == "Creating"
    assert config["VpcConfig"] == {"SubnetIds": network.subnets,
                                   "SecurityGroupIds": [network.sg], "VpcId": network.vpc,
                                   "Ipv6AllowedForDualStack": False}
    with pytest.raises(ClientError) as caught:
        lam.update_function_configuration(FunctionName=name, Timeout=5)
    assert error_of(caught) == (
        "ResourceConflictException", ("The operation cannot be performed at this time. The "
        f"resource {arn(name)} is currently in the following state: 'Pending'. "
        "StateReasonCode: 'Creating'"), 409)
    active = wait_state(lam, name)
    assert active["State"] == "Active"
    assert active["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in active and "StateReasonCode" not in active
    enis = lambda_enis(ec2, network.vpc)
    assert combos(enis) == {(s, frozenset([network.sg])) for s in network.subnets}
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=network.subnets)[
        "Subnets"]}
    for eni in enis:
        assert ENI_DESCRIPTION.fullmatch(eni["Description"]).group(1) == name
        assert eni["InterfaceType"] == "lambda"
        assert eni["RequesterManaged"] is True
        assert eni["Status"] == "in-use"
        assert "Association" not in eni  # never a public IP
        cidr = ipaddress.ip_network(subnets[eni["SubnetId"]]["CidrBlock"])
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in cidr
    # a requester-managed ENI cannot be deleted by the account
    with pytest.raises(ClientError) as caught:
        ec2.delete_network_interface(NetworkInterfaceId=enis[0]["NetworkInterfaceId"])
    assert caught.value.response["Error"]["Code"] == "InvalidNetworkInterface.InUse"


def test_enis_shared_per_subnet_and_group_set(lam, ec2, create_vpc_fn, network):
    a, b = network.subnets
    first = create_vpc_fn(VpcConfig={"SubnetIds": [a, b], "SecurityGroupIds": [network.sg]})
    second = create_vpc_fn(VpcConfig={"SubnetIds": [b], "SecurityGroupIds": [network.sg]})
    third = create_vpc_fn(VpcConfig={"SubnetIds": [a], "SecurityGroupIds": [network.sg2]})
    both = create_vpc_fn(VpcConfig={"SubnetIds": [a],
                                    "SecurityGroupIds": [network.sg2, network.sg]})
    for fn in (first, second, third, both):
        assert wait_state(lam, fn["FunctionName"])["State"] == "Active"
    sg, sg2 = frozenset([network.sg]), frozenset([network.sg2])
    expected = {(a, sg), (b, sg), (a, sg2), (a, sg | sg2)}
    enis = lambda_enis(ec2, network.vpc)
    assert combos(enis) == expected
    assert len(enis) == 4  # one per combination, not one per function

    lam.delete_function(FunctionName=first["FunctionName"])
    assert combos(lambda_enis(ec2, network.vpc)) == expected - {(a, sg)}  # b+sg: second's
    lam.delete_function(FunctionName=second["FunctionName"])
    assert combos(lambda_enis(ec2, network.vpc)) == {(a, sg2), (a, sg | sg2)}
    with pytest.raises(ClientError) as caught:  # still used by `both`'s ENI
        ec2.delete_security_group(GroupId=network.sg)
    assert caught.value.response["Error"]["Code"] == "DependencyViolation"
    lam.delete_function(FunctionName=both["FunctionName"])
    ec2.delete_security_group(GroupId=network.sg)
    lam.delete_function(FunctionName=third["FunctionName"])
    assert lambda_enis(ec2, network.vpc) == []
    ec2.delete_security_group(GroupId=network.sg2)
    for subnet in network.subnets:
        ec2.delete_subnet(SubnetId=subnet)


def test_published_version_keeps_its_enis(lam, ec2, create_vpc_fn, network):
    name = unique()
    create_vpc_fn(name, VpcConfig={"SubnetIds": network.subnets[:1],
                                   "SecurityGroupIds": [network.sg]}, Publish=True)
    version = wait_state(lam, name)
    assert version["State"] == "Active"
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["State"] == "Active"
    eni_ids = {e["NetworkInterfaceId"] for e in lambda_enis(ec2, network.vpc)}
    assert len(eni_ids) == 1
    # detach $LATEST: version 1 still runs in the VPC, so its ENI stays
    detached = lam.update_function_configuration(
        FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    assert detached["VpcConfig"] == NO_VPC
    assert detached["LastUpdateStatus"] == "InProgress"
    wait_state(lam, name, "LastUpdateStatus", "Successful")
    assert {e["NetworkInterfaceId"] for e in lambda_enis(ec2, network.vpc)} == eni_ids
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert lambda_enis(ec2, network.vpc) == []


def test_update_vpc_config(lam, ec2, create_vpc_fn, network):
    name = unique()
    create_vpc_fn(name, VpcConfig={"SubnetIds": network.subnets[:1],
                                   "SecurityGroupIds": [network.sg]})
    wait_state(lam, name)
    updated = lam.update_function_configuration(
        FunctionName=name, VpcConfig={"SubnetIds": network.subnets,
                                      "SecurityGroupIds": [network.sg2]})
    assert updated["State"] == "Active"
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    with pytest.raises(ClientError) as caught:
        lam.update_function_code(FunctionName=name, ZipFile=zipped("y = 1\n"))
    assert error_of(caught)[1] == ("The operation cannot be performed at this time. An update "
                                   f"is in progress for resource: {arn(name)}")
    assert wait_state(lam, name, "LastUpdateStatus", "Successful")["LastUpdateStatus"] == \
        "Successful"
    sg2 = frozenset([network.sg2])
    assert combos(lambda_enis(ec2, network.vpc)) == {(s, sg2) for s in network.subnets}
    lam.delete_function(FunctionName=name)
    assert lambda_enis(ec2, network.vpc) == []


def test_subnet_without_free_addresses_fails_the_function(lam, ec2, create_vpc_fn, network):
    small = ec2.create_subnet(VpcId=network.vpc, CidrBlock="10.0.99.0/28")["Subnet"]
    for _ in range(small["AvailableIpAddressCount"]):
        ec2.create_network_interface(SubnetId=small["SubnetId"])
    name = unique()
    created = create_vpc_fn(name, VpcConfig={"SubnetIds": [small["SubnetId"]],
                                             "SecurityGroupIds": [network.sg]})
    assert created["State"] == "Pending"
    failed = wait_state(lam, name, value="Failed")
    assert failed["State"] == "Failed"
    assert failed["StateReasonCode"] == "SubnetOutOfIPAddresses"
    assert "no available IP addresses" in failed["StateReason"]
    assert failed["LastUpdateStatus"] == "Failed"
    assert lambda_enis(ec2, network.vpc) == []


def reach(server, **query) -> dict:
    request = urllib.request.Request(server.endpoint + "/_vpclocal/reach", method="POST",
                                     data=json.dumps(query).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_reach_finds_the_function_enis(server, ec2, lam, create_vpc_fn, network):
    """`function:NAME` stands for the function's ENIs: what its security group lets through
    answers the reachability query, in both directions of the verdict."""
    name = unique()
    create_vpc_fn(name, VpcConfig={"SubnetIds": network.subnets[:1],
                                   "SecurityGroupIds": [network.sg]})
    wait_state(lam, name)
    [eni] = [e["NetworkInterfaceId"] for e in lambda_enis(ec2, network.vpc)
             if e["SubnetId"] == network.subnets[0]
             and [g["GroupId"] for g in e["Groups"]] == [network.sg]]
    db = ec2.create_network_interface(SubnetId=network.subnets[1], Groups=[network.sg2])[
        "NetworkInterface"]["NetworkInterfaceId"]
    ec2.authorize_security_group_ingress(GroupId=network.sg2, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": network.sg}]}])
    allowed = reach(server, source=f"function:{name}", destination=db, protocol="tcp",
                    port=5432)
    assert allowed["reachable"] is True and allowed["blocked"] == []
    assert allowed["analysis"]["source"]["id"] == eni
    assert allowed["analysis"]["destination"]["id"] == db
    denied = reach(server, source=f"function:{name}", destination=db, protocol="tcp", port=22)
    assert denied["reachable"] is False and denied["analysis"] is None
    [blocked] = denied["blocked"]
    assert blocked["source"]["id"] == eni
    assert [(e["code"], e["component"]["id"], e["direction"])
            for e in blocked["explanations"]] == [
        ("ENI_SG_RULES_MISMATCH", network.sg2, "ingress")]


# ---- the aws CLI --------------------------------------------------------------------------------


def test_cli_waiter_on_a_vpc_function(server, vpc_role, network, tmp_path):
    package = tmp_path / "fn.zip"
    package.write_bytes(zipped())
    name = unique()
    created = server.aws(
        "lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
        "--role", vpc_role, "--handler", "index.handler", "--zip-file", f"fileb://{package}",
        "--vpc-config", f"SubnetIds={network.subnets[0]},SecurityGroupIds={network.sg}")
    assert created["State"] == "Pending"
    server.aws("lambda", "wait", "function-active-v2", "--function-name", name)
    got = server.aws("lambda", "get-function", "--function-name", name)
    assert got["Configuration"]["State"] == "Active"
    server.aws("lambda", "update-function-configuration", "--function-name", name,
               "--vpc-config", "SubnetIds=[],SecurityGroupIds=[]")
    server.aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    assert server.aws("lambda", "get-function-configuration", "--function-name", name)[
        "VpcConfig"] == NO_VPC


def test_cli_waiter_reports_failure(server, ec2, vpc_role, network, tmp_path):
    small = ec2.create_subnet(VpcId=network.vpc, CidrBlock="10.0.98.0/28")["Subnet"]
    for _ in range(small["AvailableIpAddressCount"]):
        ec2.create_network_interface(SubnetId=small["SubnetId"])
    package = tmp_path / "fn.zip"
    package.write_bytes(zipped())
    name = unique()
    server.aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
               "--role", vpc_role, "--handler", "index.handler", "--zip-file",
               f"fileb://{package}", "--vpc-config",
               f"SubnetIds={small['SubnetId']},SecurityGroupIds={network.sg}")
    proc = server.aws("lambda", "wait", "function-active-v2", "--function-name", name,
                      check=False)
    assert proc.returncode != 0
    assert "Failed" in proc.stderr


def test_guide_exercise_step_6(server, ec2, iam, tmp_path):
    """Section 8, steps 1-2 and 5 set up with boto3; step 6 exactly as the guide runs it."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    private_1 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24",
                                  AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    private_2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.20.0/24",
                                  AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    lambda_sg = ec2.create_security_group(GroupName="lambda-sg", VpcId=vpc,
                                          Description="Security group for Lambda")["GroupId"]
    role_name = unique("lambda-vpc-rds-role")
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    for policy in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"):
        iam.attach_role_policy(RoleName=role_name,
                               PolicyArn=f"arn:aws:iam::aws:policy/service-role/{policy}")
    package = tmp_path / "lambda-vpc-rds.zip"
    package.write_bytes(zipped("import json\n\ndef lambda_handler(event, context):\n"
                               "    return {'statusCode': 200}\n", "lambda_function.py"))
    name = unique("VPCRDSFunction")
    db_endpoint = "my-test-db.abc123.us-east-1.rds.amazonaws.com"
    created = server.aws(
        "lambda", "create-function",
        "--function-name", name,
        "--runtime", "python3.9",
        "--role", role_arn,
        "--handler", "lambda_function.lambda_handler",
        "--zip-file", f"fileb://{package}",
        "--timeout", "30",
        "--vpc-config", f"SubnetIds={private_1},{private_2},SecurityGroupIds={lambda_sg}",
        "--environment",
        f"Variables={{DB_HOST={db_endpoint},DB_USER=admin,DB_PASSWORD=MyPassword123!}}")
    assert created["VpcConfig"] == {"SubnetIds": [private_1, private_2],
                                    "SecurityGroupIds": [lambda_sg], "VpcId": vpc,
                                    "Ipv6AllowedForDualStack": False}
    assert created["Environment"] == {"Variables": {
        "DB_HOST": db_endpoint, "DB_USER": "admin", "DB_PASSWORD": "MyPassword123!"}}
    assert (created["Runtime"], created["Timeout"]) == ("python3.9", 30)
    server.aws("lambda", "wait", "function-active-v2", "--function-name", name)
    assert combos(lambda_enis(ec2, vpc)) == {(private_1, frozenset([lambda_sg])),
                                             (private_2, frozenset([lambda_sg]))}
    # step 8, cleanup: the function goes, then its ENIs, then the security group can go
    server.aws("lambda", "delete-function", "--function-name", name)
    assert lambda_enis(ec2, vpc) == []
    server.aws("ec2", "delete-security-group", "--group-id", lambda_sg)
