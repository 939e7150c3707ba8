"""Update semantics from AWS's resource schemas (issue 14): a change to a createOnly property
replaces the resource, any other updates it in place; a change set says which before it runs
(Replacement, Details' RequiresRecreation); a resource missing a required property fails with
CloudFormation's validation message."""

from __future__ import annotations

import json

from tests.cloudformation.conftest import settle, wait
from tests.lambda_.conftest import unique


def template(cidr: str, group_tag: str, public: bool = False) -> str:
    return json.dumps({"Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.42.0.0/16"}},
        "Subnet": {"Type": "AWS::EC2::Subnet",
                   "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": cidr,
                                  "MapPublicIpOnLaunch": public}},
        "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "GroupDescription": "app",
            "Tags": [{"Key": "tier", "Value": group_tag}]}}}})


def physical(cfn, name: str) -> dict:
    return {r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}


def test_change_set_says_what_replaces_and_execution_does_it(server, cfn):
    ec2 = server.client("ec2")
    name = unique("upd")
    cfn.create_stack(StackName=name, TemplateBody=template("10.42.1.0/24", "a"))
    wait(cfn, name)
    before = physical(cfn, name)

    cfn.create_change_set(StackName=name, ChangeSetName="next",
                          TemplateBody=template("10.42.2.0/24", "b"))
    cfn.get_waiter("change_set_create_complete").wait(
        StackName=name, ChangeSetName="next", WaiterConfig={"Delay": 1})
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
               for c in cfn.describe_change_set(StackName=name,
                                                ChangeSetName="next")["Changes"]}
    assert set(changes) == {"Subnet", "Group"}
    subnet, group = changes["Subnet"], changes["Group"]
    assert (subnet["Action"], subnet["Replacement"], subnet["Scope"]) == (
        "Modify", "True", ["Properties"])
    assert subnet["Details"] == [{"Target": {"Attribute": "Properties", "Name": "CidrBlock",
                                             "RequiresRecreation": "Always"},
                                  "Evaluation": "Static", "ChangeSource": "DirectModification"}]
    assert group["Replacement"] == "False"
    assert group["Details"][0]["Target"] == {"Attribute": "Properties", "Name": "Tags",
                                             "RequiresRecreation": "Never"}

    cfn.execute_change_set(StackName=name, ChangeSetName="next")
    wait(cfn, name, "stack_update_complete")
    after = physical(cfn, name)
    assert after["Group"] == before["Group"]  # updated in place
    assert after["Vpc"] == before["Vpc"]
    assert after["Subnet"] != before["Subnet"]  # replaced: a new subnet, the old one deleted
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [after["Vpc"]]}])
    assert [s["CidrBlock"] for s in subnets["Subnets"]] == ["10.42.2.0/24"]
    group_tags = ec2.describe_security_groups(GroupIds=[after["Group"]])["SecurityGroups"][0]
    assert {"Key": "tier", "Value": "b"} in group_tags["Tags"]
    reasons = [e.get("ResourceStatusReason") for e in cfn.describe_stack_events(
        StackName=name)["StackEvents"] if e["LogicalResourceId"] == "Subnet"]
    assert "Requested update requires the creation of a new physical resource; hence " \
           "creating one." in reasons
    # a property AWS updates without interruption: the same subnet, its attribute changed
    cfn.update_stack(StackName=name, TemplateBody=template("10.42.2.0/24", "b", public=True))
    wait(cfn, name, "stack_update_complete")
    assert physical(cfn, name)["Subnet"] == after["Subnet"]
    shown = ec2.describe_subnets(SubnetIds=[after["Subnet"]])["Subnets"][0]
    assert shown["MapPublicIpOnLaunch"] is True
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [after["Vpc"]]}])["Vpcs"] == []


def test_a_missing_required_property_fails_the_resource(cfn):
    name = unique("req")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {
        "Orphan": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.0.0.0/24"}}}}))
    assert settle(cfn, name)["StackStatus"] == "ROLLBACK_COMPLETE"
    [failed] = [e for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
                if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["ResourceStatusReason"] == (
        "Properties validation failed for resource Orphan with message:\n"
        "#: required key [VpcId] not found")


def test_validate_template_refuses_types_aws_does_not_have(cfn):
    try:
        cfn.validate_template(TemplateBody=json.dumps({"Resources": {
            "A": {"Type": "AWS::EC2::Vpc"}}}))  # the type is AWS::EC2::VPC
    except cfn.exceptions.ClientError as exc:
        assert exc.response["Error"]["Message"] == (
            "Template format error: Unrecognized resource types: [AWS::EC2::Vpc]")
    else:
        raise AssertionError("accepted an unknown type")
