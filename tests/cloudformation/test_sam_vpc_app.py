"""examples/sam-vpc-app deployed as its README says (`sam build && sam deploy`, settings from
its samconfig.toml) against a fabric server: the function in the VPC reads its database user
from Parameter Store through the NAT gateway (allowed by SAM's SSMParameterReadPolicy) and
answers from the real database, the S3 gateway endpoint routes the private subnets, and
deleting the stack leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pymysql
import pytest

from tests.cloudformation.conftest import outputs
from tests.cloudformation.test_sam_cli import SAM, sam
from tests.conftest import ROOT
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import start_server

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(not SAM.exists(), reason="aws-sam-cli is not installed "
                                 "(make setup installs it)")]

EXAMPLE = ROOT / "examples" / "sam-vpc-app"


@pytest.fixture
def fabric_server(tmp_path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def pymysql_wheel(into: Path) -> None:
    """A wheel of this venv's PyMySQL, for `sam build`'s pip to find offline (the tests
    reach no index)."""
    site = Path(pymysql.__file__).parent.parent
    version = pymysql.VERSION_STRING
    with zipfile.ZipFile(into / f"PyMySQL-{version}-py3-none-any.whl", "w") as wheel:
        for top in ("pymysql", f"PyMySQL-{version}.dist-info"):
            for path in sorted((site / top).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and \
                        path.name not in ("INSTALLER", "REQUESTED", "direct_url.json"):
                    wheel.write(path, path.relative_to(site))


def test_sam_vpc_app_deployed_answers_and_deleted_leaving_nothing(fabric_server, tmp_path):
    server = fabric_server
    work = tmp_path / "app"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns(".aws-sam"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pymysql_wheel(wheels)
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    assert "Build Succeeded" in sam(server, work, "build", env=offline)
    assert (work / ".aws-sam" / "build" / "AppFunction" / "pymysql").is_dir()
    out = sam(server, work, "deploy")
    assert "Successfully created/updated stack - sam-vpc-app in us-east-1" in out, out

    cfn, ec2, rds, lam = (server.client(s) for s in ("cloudformation", "ec2", "rds", "lambda"))
    stack = cfn.describe_stacks(StackName="sam-vpc-app")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = outputs(stack)
    resources = cfn.describe_stack_resources(StackName="sam-vpc-app")["StackResources"]
    kinds = sorted(r["ResourceType"] for r in resources)
    assert kinds.count("AWS::EC2::Subnet") == 3 and "AWS::Lambda::Function" in kinds
    assert "AWS::IAM::Role" in kinds  # SAM's role for the function
    assert {r["ResourceStatus"] for r in resources} == {"CREATE_COMPLETE"}
    nat = ec2.describe_nat_gateways(NatGatewayIds=[out["NatGatewayId"]])["NatGateways"][0]
    assert nat["State"] == "available"
    endpoint = ec2.describe_vpc_endpoints(
        VpcEndpointIds=[out["S3EndpointId"]])["VpcEndpoints"][0]
    private = ec2.describe_route_tables(RouteTableIds=endpoint["RouteTableIds"])[
        "RouteTables"][0]
    targets = {r.get("DestinationCidrBlock") or r.get("DestinationPrefixListId"):
               r.get("NatGatewayId") or r.get("GatewayId") for r in private["Routes"]}
    assert targets["0.0.0.0/0"] == out["NatGatewayId"]
    assert any(k.startswith("pl-") and v == out["S3EndpointId"] for k, v in targets.items())
    config = lam.get_function_configuration(FunctionName=out["FunctionName"])
    assert config["VpcConfig"]["VpcId"] == out["VpcId"]
    role = config["Role"].rsplit("/", 1)[1]
    attached = server.client("iam").list_attached_role_policies(RoleName=role)
    policies = server.client("iam").list_role_policies(RoleName=role)["PolicyNames"]
    assert policies or attached["AttachedPolicies"]  # VPCAccessPolicy, as SAM expands it

    # the README's invoke, and one through boto3: the real database answers
    answered = sam(server, work, "remote", "invoke", "AppFunction", "--stack-name",
                   "sam-vpc-app")
    assert "Successfully connected to RDS!" in answered, answered
    body = json.loads(json.loads(lam.invoke(FunctionName=out["FunctionName"])["Payload"]
                                 .read())["body"])
    assert (body["message"], body["db_user"]) == ("Successfully connected to RDS!", "admin")
    # the user comes from Parameter Store: a new value there reaches the function (and the
    # database refuses that user)
    server.client("ssm").put_parameter(Name="/sam-vpc-app/db-user", Value="nobody",
                                       Overwrite=True)
    body = json.loads(json.loads(lam.invoke(FunctionName=out["FunctionName"])["Payload"]
                                 .read())["body"])
    assert body["message"] == "Failed to connect to RDS" and "nobody" in body["error"], body

    # what `sam delete` does (test_sam_cli.py runs it), waited on without its 30 s polls
    cfn.delete_stack(StackName="sam-vpc-app")
    cfn.get_waiter("stack_delete_complete").wait(StackName="sam-vpc-app",
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    assert cfn.describe_stacks()["Stacks"][0]["StackName"] == "aws-sam-cli-managed-default"
    assert len(cfn.describe_stacks()["Stacks"]) == 1
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"] == []
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [out["VpcId"]]}])["NetworkInterfaces"] == []
    assert [n["State"] for n in ec2.describe_nat_gateways(
        NatGatewayIds=[out["NatGatewayId"]])["NatGateways"]] in ([], ["deleted"])
    assert rds.describe_db_instances()["DBInstances"] == []
    assert server.client("ssm").describe_parameters()["Parameters"] == []
    assert lam.list_functions()["Functions"] == []
