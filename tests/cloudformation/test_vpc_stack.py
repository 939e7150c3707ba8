"""A VPC stack (VPC, two private subnets in two AZs, route tables, a security group) deployed
by CreateStack, visible through EC2's own API, and deleted leaving nothing."""

from __future__ import annotations

from tests.cloudformation.conftest import outputs, wait
from tests.conftest import unique

VPC_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Description: private network for a function
Parameters:
  Cidr:
    Type: String
    Default: 10.20.0.0/16
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: !Ref Cidr
      EnableDnsSupport: true
      EnableDnsHostnames: 'true'
      Tags:
        - Key: Name
          Value: !Sub '${AWS::StackName}-vpc'
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: !Select [0, !Cidr [!GetAtt Vpc.CidrBlock, 4, 8]]
      AvailabilityZone: !Select [0, !GetAZs '']
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: !Select [1, !Cidr [!GetAtt Vpc.CidrBlock, 4, 8]]
      AvailabilityZone: !Select [1, !GetAZs '']
  RouteTable:
    Type: AWS::EC2::RouteTable
    Properties:
      VpcId: !Ref Vpc
  AssocA:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: {RouteTableId: !Ref RouteTable, SubnetId: !Ref SubnetA}
  AssocB:
    Type: AWS::EC2::SubnetRouteTableAssociation
    Properties: {RouteTableId: !Ref RouteTable, SubnetId: !Ref SubnetB}
  FunctionSg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: the function group
      VpcId: !Ref Vpc
  DbSg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: the database group
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 3306
          ToPort: '3306'
          SourceSecurityGroupId: !Ref FunctionSg
Outputs:
  VpcId:
    Value: !Ref Vpc
  Subnets:
    Value: !Join [',', [!Ref SubnetA, !Ref SubnetB]]
  DefaultGroup:
    Value: !GetAtt Vpc.DefaultSecurityGroup
  DbGroup:
    Value: !GetAtt DbSg.GroupId
"""


def test_vpc_stack_is_visible_through_ec2_and_deleted_leaving_nothing(server, cfn):
    ec2 = server.client("ec2")
    name = unique("vpc")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=VPC_TEMPLATE)["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:")
    stack = wait(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Description"] == "private network for a function"
    assert stack["Parameters"] == [{"ParameterKey": "Cidr", "ParameterValue": "10.20.0.0/16"}]
    out = outputs(stack)
    vpc = ec2.describe_vpcs(VpcIds=[out["VpcId"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.20.0.0/16"
    assert {"Key": "Name", "Value": f"{name}-vpc"} in vpc["Tags"]
    subnets = ec2.describe_subnets(SubnetIds=out["Subnets"].split(","))["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.20.0.0/24", "10.20.1.0/24"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    tables = ec2.describe_route_tables(Filters=[
        {"Name": "association.subnet-id", "Values": out["Subnets"].split(",")}])["RouteTables"]
    assert len(tables) == 1
    db_group = ec2.describe_security_groups(GroupIds=[out["DbGroup"]])["SecurityGroups"][0]
    rule = db_group["IpPermissions"][0]
    assert (rule["FromPort"], rule["ToPort"]) == (3306, 3306)
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert {r["LogicalResourceId"] for r in resources} == {
        "Vpc", "SubnetA", "SubnetB", "RouteTable", "AssocA", "AssocB", "FunctionSg", "DbSg"}
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources)
    by_id = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    assert by_id["Vpc"] == out["VpcId"]
    one = cfn.describe_stack_resource(StackName=name, LogicalResourceId="DbSg")
    assert one["StackResourceDetail"]["PhysicalResourceId"] == out["DbGroup"]
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE"
    assert events[0]["LogicalResourceId"] == name
    assert events[-1]["ResourceStatusReason"] == "User Initiated"

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=stack_id, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [out["VpcId"]]}])[
        "Vpcs"] == []
    assert ec2.describe_security_groups(Filters=[
        {"Name": "group-id", "Values": [out["DbGroup"]]}])["SecurityGroups"] == []
    gone = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    summaries = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert stack_id in [s["StackId"] for s in summaries]
