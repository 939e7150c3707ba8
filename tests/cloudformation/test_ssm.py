"""CloudFormation and Parameter Store: the AWS::SSM::Parameter resource (on the SSM
provider), parameters of AWS::SSM::Parameter::Value<...> types resolved at create and update
(shown as ResolvedValue), and {{resolve:ssm:...}} dynamic references."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.cloudformation.conftest import outputs, settle, wait
from tests.conftest import unique


@pytest.fixture(scope="module")
def ssm(server):
    return server.client("ssm")


def test_parameter_resource_created_updated_replaced_and_deleted(cfn, ssm):
    stack, name = unique("ssmres"), f"/{unique('cfn')}/level"

    def body(value: str, param_name: str, tags: dict) -> str:
        return json.dumps({"Resources": {
            "Named": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": param_name, "Type": "String", "Value": value, "Tags": tags,
                "Description": "from a stack"}},
            "Generated": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Type": "StringList", "Value": {"Fn::Join": [",", ["a", "b"]]}}}},
            "Outputs": {"Name": {"Value": {"Ref": "Named"}},
                        "Value": {"Value": {"Fn::GetAtt": ["Named", "Value"]}},
                        "Generated": {"Value": {"Ref": "Generated"}}}})

    cfn.create_stack(StackName=stack, TemplateBody=body("info", name, {"team": "blue"}))
    out = outputs(wait(cfn, stack))
    assert (out["Name"], out["Value"]) == (name, "info")
    assert out["Generated"].startswith("CFN-Generated-")
    assert ssm.get_parameter(Name=out["Generated"])["Parameter"]["Value"] == "a,b"
    got = ssm.get_parameter(Name=name)["Parameter"]
    assert (got["Value"], got["Type"], got["Version"]) == ("info", "String", 1)
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)[
        "TagList"] == [{"Key": "team", "Value": "blue"}]
    # a new value: the same parameter, a new version
    cfn.update_stack(StackName=stack, TemplateBody=body("debug", name, {"team": "red"}))
    wait(cfn, stack, "stack_update_complete")
    got = ssm.get_parameter(Name=name)["Parameter"]
    assert (got["Value"], got["Version"]) == ("debug", 2)
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)[
        "TagList"] == [{"Key": "team", "Value": "red"}]
    # a new name replaces it: the old one is deleted
    cfn.update_stack(StackName=stack, TemplateBody=body("debug", name + "2", {}))
    wait(cfn, stack, "stack_update_complete")
    assert ssm.get_parameter(Name=name + "2")["Parameter"]["Version"] == 1
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=name)
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack,
                                                  WaiterConfig={"Delay": 1})
    found = ssm.get_parameters(Names=[name + "2", out["Generated"]])
    assert found["Parameters"] == []


def test_parameter_resource_on_an_existing_name_fails_with_ssms_error(cfn, ssm):
    stack, name = unique("ssmdup"), f"/{unique('taken')}"
    ssm.put_parameter(Name=name, Value="mine", Type="String")
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps({"Resources": {
        "P": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": name, "Type": "String", "Value": "theirs"}}}}))
    assert settle(cfn, stack)["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
              if e["ResourceStatus"] == "CREATE_FAILED"]
    assert "The parameter already exists." in failed[0]["ResourceStatusReason"]
    assert "HandlerErrorCode: AlreadyExists" in failed[0]["ResourceStatusReason"]
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "mine"  # left alone


TYPED = {
    "Parameters": {
        "Size": {"Type": "AWS::SSM::Parameter::Value<String>"},
        "Zones": {"Type": "AWS::SSM::Parameter::Value<List<String>>"},
        "Subnet": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Subnet::Id>"}},
    "Resources": {"Copy": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Type": "String", "Value": {"Fn::Join": ["|", [
            {"Ref": "Size"}, {"Fn::Select": [1, {"Ref": "Zones"}]}, {"Ref": "Subnet"}]]}}}},
    "Outputs": {"Copy": {"Value": {"Fn::GetAtt": ["Copy", "Value"]}}},
}


def test_parameter_store_types_resolved_at_create_and_update(cfn, ssm):
    stack, base = unique("ssmtyped"), f"/{unique('typed')}"
    ssm.put_parameter(Name=f"{base}/size", Value="large", Type="String")
    ssm.put_parameter(Name=f"{base}/zones", Value="us-east-1a,us-east-1b", Type="StringList")
    ssm.put_parameter(Name=f"{base}/subnet", Value="subnet-0123", Type="String")
    given = [{"ParameterKey": "Size", "ParameterValue": f"{base}/size"},
             {"ParameterKey": "Zones", "ParameterValue": f"{base}/zones"},
             {"ParameterKey": "Subnet", "ParameterValue": f"{base}/subnet"}]
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(TYPED), Parameters=given)
    created = wait(cfn, stack)
    assert outputs(created)["Copy"] == "large|us-east-1b|subnet-0123"
    shown = {p["ParameterKey"]: p for p in created["Parameters"]}
    assert shown["Size"] == {"ParameterKey": "Size", "ParameterValue": f"{base}/size",
                             "ResolvedValue": "large"}
    assert shown["Zones"]["ResolvedValue"] == "us-east-1a,us-east-1b"
    # an update reads Parameter Store again, previous values too
    ssm.put_parameter(Name=f"{base}/size", Value="small", Overwrite=True)
    cfn.update_stack(StackName=stack, UsePreviousTemplate=True, Parameters=[
        {"ParameterKey": k, "UsePreviousValue": True} for k in ("Size", "Zones", "Subnet")])
    updated = wait(cfn, stack, "stack_update_complete")
    assert outputs(updated)["Copy"] == "small|us-east-1b|subnet-0123"
    assert {p["ParameterKey"]: p.get("ResolvedValue") for p in updated["Parameters"]}[
        "Size"] == "small"
    # a change set shows what it would resolve to
    ssm.put_parameter(Name=f"{base}/size", Value="medium", Overwrite=True)
    cfn.create_change_set(StackName=stack, ChangeSetName="resize", UsePreviousTemplate=True,
                          Parameters=[{"ParameterKey": k, "UsePreviousValue": True}
                                      for k in ("Size", "Zones", "Subnet")])
    cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName="resize",
                                                      WaiterConfig={"Delay": 1})
    described = cfn.describe_change_set(StackName=stack, ChangeSetName="resize")
    assert {p["ParameterKey"]: p.get("ResolvedValue") for p in described["Parameters"]}[
        "Size"] == "medium"


def test_parameter_store_types_refused_when_missing_or_secure(cfn, ssm):
    base = f"/{unique('refused')}"
    ssm.put_parameter(Name=f"{base}/secret", Value="pw", Type="SecureString")
    template = json.dumps({"Parameters": {"P": {"Type": "AWS::SSM::Parameter::Value<String>"}},
                           "Resources": {"R": {"Type": "AWS::SSM::Parameter", "Properties": {
                               "Type": "String", "Value": {"Ref": "P"}}}}})
    for value, message in (
            (f"{base}/none", (f"Unable to fetch parameters [{base}/none] from parameter store "
                             "for this account.")),
            (f"{base}/secret", (f"Parameters [{base}/secret] referenced by template have types "
                               "not supported by CloudFormation."))):
        with pytest.raises(ClientError) as info:
            cfn.create_stack(StackName=unique("ssmbad"), TemplateBody=template,
                             Parameters=[{"ParameterKey": "P", "ParameterValue": value}])
        assert info.value.response["Error"]["Code"] == "ValidationError"
        assert info.value.response["Error"]["Message"] == message
        with pytest.raises(ClientError) as info:  # a change set is refused the same way
            cfn.create_change_set(StackName=unique("ssmbad"), ChangeSetName="c",
                                  ChangeSetType="CREATE", TemplateBody=template,
                                  Parameters=[{"ParameterKey": "P", "ParameterValue": value}])
        assert info.value.response["Error"]["Message"] == message


def test_dynamic_references(cfn, ssm):
    stack, base = unique("ssmdyn"), f"/{unique('dyn')}"
    ssm.put_parameter(Name=f"{base}/db", Value="db-1", Type="String")
    ssm.put_parameter(Name=f"{base}/db", Value="db-2", Type="String", Overwrite=True)
    ssm.put_parameter(Name=f"{base}/pw", Value="hunter2", Type="SecureString")
    template = {"Resources": {
        "Latest": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Value": f"host={{{{resolve:ssm:{base}/db}}}}"}},
        "First": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Value": {"Fn::Sub": f"{{{{resolve:ssm:{base}/db:1}}}}"}}},
        "Secret": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Value": f"{{{{resolve:ssm-secure:{base}/pw:1}}}}"}}},
        "Outputs": {k: {"Value": {"Ref": k}} for k in ("Latest", "First", "Secret")}}
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    names = outputs(wait(cfn, stack))
    assert ssm.get_parameter(Name=names["Latest"])["Parameter"]["Value"] == "host=db-2"
    assert ssm.get_parameter(Name=names["First"])["Parameter"]["Value"] == "db-1"
    assert ssm.get_parameter(Name=names["Secret"])["Parameter"]["Value"] == "hunter2"
    # the stack's records keep the reference as written (never the secret)
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    props = [e.get("ResourceProperties", "") for e in events
             if e["LogicalResourceId"] == "Secret"]
    assert all("hunter2" not in p for p in props)
    assert any("resolve:ssm-secure" in p for p in props)
    template["Resources"]["Latest"]["Properties"]["Value"] = f"{{{{resolve:ssm:{base}/no}}}}"
    with pytest.raises(ClientError) as info:
        cfn.create_stack(StackName=unique("ssmdyn"), TemplateBody=json.dumps(template))
    assert info.value.response["Error"]["Message"] == \
        f"Parameters: [ssm:{base}/no] cannot be found."
