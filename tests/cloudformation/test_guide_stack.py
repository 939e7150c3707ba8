"""The guide's section 5 template completed into the section 8 stack
(examples/lambda-vpc-rds-cfn/): built, packaged and deployed with the README's commands against a
fabric server, the function answers from the real database; delete-stack leaves nothing (no
ENIs, no DB instance, no VPC)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pymysql
import pytest

from tests.cloudformation.conftest import outputs
from tests.conftest import ROOT, unique
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import start_server

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

EXAMPLE = ROOT / "examples" / "lambda-vpc-rds-cfn"


@pytest.fixture
def fabric_server(tmp_path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def build(work: Path) -> None:
    """The README's build step (`pip install pymysql -t build`: this venv's copy, offline)."""
    shutil.copy(EXAMPLE / "template.yaml", work / "template.yaml")
    (work / "build").mkdir()
    shutil.copytree(Path(pymysql.__file__).parent, work / "build" / "pymysql")
    shutil.copy(ROOT / "examples" / "lambda-vpc-rds" / "lambda_function.py", work / "build")


def cli(server, *args: str) -> str:
    """A README command (`aws ...` printing text): its stdout."""
    proc = server.aws(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_guide_stack_deployed_answers_and_deleted_leaving_nothing(fabric_server, tmp_path):
    server = fabric_server
    build(tmp_path)
    bucket = unique("artifacts")
    cli(server, "s3", "mb", f"s3://{bucket}")
    cli(server, "cloudformation", "package", "--template-file", str(tmp_path / "template.yaml"),
        "--s3-bucket", bucket, "--output-template-file", str(tmp_path / "packaged.yaml"))
    packaged = (tmp_path / "packaged.yaml").read_text()
    assert f"S3Bucket: {bucket}" in packaged, packaged
    name = "lambda-vpc-rds"
    deployed = cli(server, "cloudformation", "deploy", "--template-file",
                   str(tmp_path / "packaged.yaml"), "--stack-name", name,
                   "--capabilities", "CAPABILITY_IAM")
    assert f"Successfully created/updated stack - {name}" in deployed

    cfn = server.client("cloudformation")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Parameters"] == [{"ParameterKey": "DBPassword", "ParameterValue": "****"}]
    out = outputs(stack)
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert len(resources) == 20
    assert {r["ResourceStatus"] for r in resources} == {"CREATE_COMPLETE"}

    # seen through the services' own APIs
    ec2, rds, lam = (server.client(s) for s in ("ec2", "rds", "lambda"))
    subnets = ec2.describe_subnets(SubnetIds=out["PrivateSubnets"].split(","))["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b"]
    function_sg = ec2.describe_security_groups(
        GroupIds=[out["LambdaSecurityGroup"]])["SecurityGroups"][0]
    assert function_sg["IpPermissionsEgress"] == [{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [],
        "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": [{
            "GroupId": out["RDSSecurityGroup"], "UserId": function_sg["OwnerId"]}]}]
    db = rds.describe_db_instances()["DBInstances"][0]
    assert db["Endpoint"]["Address"] == out["DBEndpoint"]
    assert db["DBInstanceStatus"] == "available"
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [out["RDSSecurityGroup"]]
    config = lam.get_function_configuration(FunctionName=out["FunctionName"])
    assert config["Environment"]["Variables"]["DB_HOST"] == out["DBEndpoint"]
    assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(out["PrivateSubnets"].split(","))

    # step 7: the function answers from the real database
    answer = lam.invoke(FunctionName=out["FunctionName"], Payload=b"{}")
    body = json.loads(answer["Payload"].read())
    assert body["statusCode"] == 200, body
    assert json.loads(body["body"])["message"] == "Successfully connected to RDS!"
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [out["VpcId"]]}])["NetworkInterfaces"]

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [out["VpcId"]]}])["NetworkInterfaces"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"] == []
    igw = next(r["PhysicalResourceId"] for r in resources
               if r["ResourceType"] == "AWS::EC2::InternetGateway")
    assert ec2.describe_internet_gateways(Filters=[
        {"Name": "internet-gateway-id", "Values": [igw]}])["InternetGateways"] == []
    assert ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [out["VpcId"]]}])["SecurityGroups"] == []
    assert rds.describe_db_instances()["DBInstances"] == []
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert lam.list_functions()["Functions"] == []
    assert server.client("iam").list_roles()["Roles"] == []
