"""Stack life cycles against the real server: a failing resource rolls back with the
service's own error, exports and Fn::ImportValue across stacks, and a SAM function in a VPC
packaged and deployed by `aws cloudformation package` / `deploy` (a change set), updated,
and invoked."""

from __future__ import annotations

import json
import textwrap

from tests.cloudformation.conftest import outputs, settle, wait
from tests.conftest import unique

NETWORK = """
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.30.0.0/16}
  Subnet:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.30.1.0/24, AvailabilityZone: us-east-1a}
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: function group, VpcId: !Ref Vpc}
Outputs:
  Subnet:
    Value: !Ref Subnet
    Export: {Name: !Sub '${AWS::StackName}-subnet'}
  Group:
    Value: !GetAtt Group.GroupId
    Export: {Name: !Sub '${AWS::StackName}-group'}
"""


def test_failing_resource_rolls_back_with_the_services_error(server, cfn):
    ec2 = server.client("ec2")
    name = unique("fail")
    body = """
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.40.0.0/16}
  Bad:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.99.0.0/24}
"""
    cfn.create_stack(StackName=name, TemplateBody=body)
    stack = settle(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    rollback = next(e for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS")
    assert rollback["ResourceStatusReason"] == \
        "The following resource(s) failed to create: [Bad]. Rollback requested by user."
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "Bad"
    assert failed[0]["ResourceStatusReason"].startswith(
        "Resource handler returned message: \"The CIDR '10.99.0.0/24' is invalid. "
        "(Service: Ec2, Status Code: 400, Request ID: ")
    statuses = [e["ResourceStatus"] for e in reversed(events) if e["LogicalResourceId"] == name]
    assert statuses == ["CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"]
    vpc_id = next(e["PhysicalResourceId"] for e in events if e["LogicalResourceId"] == "Vpc"
                  and e["ResourceStatus"] == "DELETE_COMPLETE")
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []


def test_unsupported_type_fails_the_stack(cfn):
    name = unique("unsup")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(
        {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}))
    stack = settle(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
              if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["ResourceStatusReason"].startswith("Unsupported resource type AWS::SQS::Queue")


def test_validation_errors(cfn):
    name = unique("bad")
    for body, message in [
        ("Resources: {}", "Template format error: At least one Resources member must be defined."),
        ("Resources:\n  A: {Type: AWS::SQS::Queue, DependsOn: Nope}",
         ("Template format error: Unresolved resource dependencies [Nope] in the Resources "
         "block of the template")),
        (("Resources:\n  A: {Type: AWS::SQS::Queue, DependsOn: B}\n"
         "  B: {Type: AWS::SQS::Queue, DependsOn: A}"),
         "Template format error: Circular dependency between resources: [A, B]"),
        # types AWS does not have (its resource schemas), each named once, in order
        (("Resources:\n  A: {Type: AWS::Foo::Bar}\n  B: {Type: AWS::EC2::VPC}\n"
         "  C: {Type: Foo::Baz}\n  D: {Type: AWS::Foo::Bar}"),
         "Template format error: Unrecognized resource types: [AWS::Foo::Bar, Foo::Baz]"),
    ]:
        try:
            cfn.create_stack(StackName=name, TemplateBody=body)
        except cfn.exceptions.ClientError as exc:
            assert exc.response["Error"] == {"Type": "Sender", "Code": "ValidationError",
                                             "Message": message}
        else:
            raise AssertionError(f"accepted {body!r}")
    try:
        cfn.describe_stacks(StackName=name)
    except cfn.exceptions.ClientError as exc:
        assert exc.response["Error"]["Message"] == f"Stack with id {name} does not exist"
    else:
        raise AssertionError("a stack never created was described")


def test_exports_and_import_value_across_stacks(server, cfn):
    net = unique("net")
    wait(cfn, net) if cfn.create_stack(StackName=net, TemplateBody=NETWORK) else None
    exports = {e["Name"]: e for e in cfn.list_exports()["Exports"]}
    subnet = exports[f"{net}-subnet"]["Value"]
    assert subnet.startswith("subnet-")
    assert exports[f"{net}-subnet"]["ExportingStackId"].split("/")[1] == net
    app = unique("app")
    cfn.create_stack(StackName=app, TemplateBody=f"""
Resources:
  Extra:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !ImportValue {net}-group
      IpProtocol: tcp
      FromPort: 443
      ToPort: 443
      CidrIp: 10.30.0.0/16
Outputs:
  Imported:
    Value: !ImportValue {net}-subnet
""")
    assert outputs(wait(cfn, app))["Imported"] == subnet
    assert cfn.list_imports(ExportName=f"{net}-subnet")["Imports"] == [app]
    cfn.delete_stack(StackName=net)
    blocked = settle(cfn, net)
    assert blocked["StackStatus"] == "DELETE_FAILED"
    assert blocked["StackStatusReason"] == \
        f"Export {net}-subnet cannot be deleted as it is in use by {app}"
    cfn.delete_stack(StackName=app)
    cfn.get_waiter("stack_delete_complete").wait(StackName=app,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    cfn.delete_stack(StackName=net)
    cfn.get_waiter("stack_delete_complete").wait(StackName=net,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert f"{net}-subnet" not in {e["Name"] for e in cfn.list_exports()["Exports"]}


SAM_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Resources:
  Function:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: ./src
      Timeout: 10
      Environment:
        Variables: {GREETING: !Ref Greeting}
      VpcConfig:
        SubnetIds: [!ImportValue NET-subnet]
        SecurityGroupIds: [!ImportValue NET-group]
      Policies:
        - VPCAccessPolicy: {}
Outputs:
  FunctionName:
    Value: !Ref Function
  RoleArn:
    Value: !GetAtt FunctionRole.Arn
"""


def _cli(server, *args: str) -> str:
    """Run an `aws cloudformation` command that prints text (package, deploy): its stdout."""
    proc = server.aws("cloudformation", *args, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def test_sam_function_in_a_vpc_packaged_deployed_updated_and_invoked(server, cfn, tmp_path):
    net = unique("net")
    cfn.create_stack(StackName=net, TemplateBody=NETWORK)
    wait(cfn, net)
    bucket = unique("artifacts")
    server.client("s3").create_bucket(Bucket=bucket)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(textwrap.dedent("""
        import os
        def handler(event, context):
            return {"message": os.environ["GREETING"] + " " + event["name"]}
    """))
    (tmp_path / "template.yaml").write_text(SAM_TEMPLATE.replace("NET", net))
    _cli(server, "package", "--template-file", str(tmp_path / "template.yaml"),
               "--s3-bucket", bucket, "--output-template-file", str(tmp_path / "packaged.yaml"))
    assert f"s3://{bucket}/" in (tmp_path / "packaged.yaml").read_text()
    app = unique("sam")
    _cli(server, "deploy", "--template-file", str(tmp_path / "packaged.yaml"),
               "--stack-name", app, "--capabilities", "CAPABILITY_IAM")
    stack = cfn.describe_stacks(StackName=app)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    function = outputs(stack)["FunctionName"]
    lam = server.client("lambda")
    config = lam.get_function_configuration(FunctionName=function)
    assert config["VpcConfig"]["SubnetIds"] == [outputs(wait(cfn, net))["Subnet"]]
    assert config["Role"] == outputs(stack)["RoleArn"]
    role = config["Role"].split("/")[-1]
    attached = server.client("iam").list_attached_role_policies(RoleName=role)
    assert "AWSLambdaBasicExecutionRole" in {
        p["PolicyName"] for p in attached["AttachedPolicies"]}
    processed = cfn.get_template(StackName=app, TemplateStage="Processed")["TemplateBody"]
    assert "AWS::Lambda::Function" in json.dumps(processed)
    original = cfn.get_template(StackName=app)["TemplateBody"]
    assert "AWS::Serverless::Function" in json.dumps(original)

    def invoke() -> dict:
        answer = lam.invoke(FunctionName=function, Payload=json.dumps({"name": "vpc"}))
        return json.loads(answer["Payload"].read())

    assert invoke() == {"message": "hello vpc"}

    # an update through a change set: the parameter changes the function's environment
    _cli(server, "deploy", "--template-file", str(tmp_path / "packaged.yaml"),
               "--stack-name", app, "--capabilities", "CAPABILITY_IAM",
               "--parameter-overrides", "Greeting=bonjour")
    stack = cfn.describe_stacks(StackName=app)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["Parameters"] == [{"ParameterKey": "Greeting", "ParameterValue": "bonjour"}]
    assert outputs(stack)["FunctionName"] == function  # updated in place
    assert invoke() == {"message": "bonjour vpc"}
    change_sets = cfn.list_change_sets(StackName=app)["Summaries"]
    assert [c["ExecutionStatus"] for c in change_sets] == ["EXECUTE_COMPLETE"]
    # nothing to change: the change set fails with AWS's reason, which the CLI recognizes
    again = _cli(server, "deploy", "--template-file", str(tmp_path / "packaged.yaml"),
                 "--stack-name", app, "--capabilities", "CAPABILITY_IAM",
                 "--parameter-overrides", "Greeting=bonjour", "--no-fail-on-empty-changeset")
    assert f"No changes to deploy. Stack {app} is up to date" in again

    cfn.delete_stack(StackName=app)
    cfn.get_waiter("stack_delete_complete").wait(StackName=app,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert function not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    cfn.delete_stack(StackName=net)
