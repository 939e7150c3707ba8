"""aws-sam-cli's `sam build` and `sam deploy` (from .venv-sam, which `make setup` installs)
against vpclocal: the managed stack aws-sam-cli-managed-default (its bucket and bucket policy)
made through a change set, the code uploaded to it, the app deployed through change sets, an
update, and `sam delete`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, unique

SAM = ROOT / ".venv-sam" / "bin" / "sam"
pytestmark = pytest.mark.skipif(not SAM.exists(),
                                reason="aws-sam-cli is not installed (make setup installs it)")

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: python3.11
      Environment:
        Variables:
          GREETING: hello
Outputs:
  FunctionName:
    Value: !Ref Hello
"""


def sam(server, cwd: Path, *args: str, env: dict | None = None) -> str:
    """`sam ARGS` in the app's directory, pointed at the server (more `env` if given); its
    output."""
    # no telemetry; the stack events polled every 0.2 s instead of the CLI's 5 s
    env = {**server.env(), "SAM_CLI_TELEMETRY": "0", "SAM_CLI_POLL_DELAY": "0.2",
           **(env or {})}
    proc = subprocess.run([str(SAM), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def app(work: Path, answer: str) -> None:
    (work / "hello").mkdir(exist_ok=True)
    (work / "template.yaml").write_text(TEMPLATE)
    (work / "hello" / "requirements.txt").write_text("")
    (work / "hello" / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        f"    return {{'answer': {answer!r}, 'greeting': os.environ['GREETING']}}\n")


def test_sam_build_deploy_update_and_delete(server, tmp_path):
    stack = unique("samapp")
    deploy = ("deploy", "--stack-name", stack, "--region", "us-east-1", "--resolve-s3",
              "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--no-progressbar")
    app(tmp_path, "first")
    assert "Build Succeeded" in sam(server, tmp_path, "build")
    assert (tmp_path / ".aws-sam" / "build" / "Hello" / "app.py").exists()
    out = sam(server, tmp_path, *deploy)
    assert f"Successfully created/updated stack - {stack} in us-east-1" in out, out

    cfn, s3, lam = (server.client(s) for s in ("cloudformation", "s3", "lambda"))
    managed = cfn.describe_stacks(StackName="aws-sam-cli-managed-default")["Stacks"][0]
    assert managed["StackStatus"] == "CREATE_COMPLETE"
    assert {"Key": "ManagedStackSource", "Value": "AwsSamCli"} in managed["Tags"]
    bucket = next(o["OutputValue"] for o in managed["Outputs"]
                  if o["OutputKey"] == "SourceBucket")
    assert f"Managed S3 bucket: {bucket}" in out
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    uploaded = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(k.endswith(".template") for k in uploaded), uploaded  # the template and the
    assert any(not k.endswith(".template") for k in uploaded), uploaded  # code zip

    deployed = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert deployed["StackStatus"] == "CREATE_COMPLETE"
    assert deployed["ChangeSetId"].split("/")[1].startswith("samcli-deploy")
    function = next(o["OutputValue"] for o in deployed["Outputs"])
    answer = json.loads(lam.invoke(FunctionName=function)["Payload"].read())
    assert answer == {"answer": "first", "greeting": "hello"}

    app(tmp_path, "second")  # new code: an update through a change set
    sam(server, tmp_path, "build")
    out = sam(server, tmp_path, *deploy)
    assert "* Modify" in out and "AWS::Lambda::Function" in out, out
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == \
        "UPDATE_COMPLETE"
    answer = json.loads(lam.invoke(FunctionName=function)["Payload"].read())
    assert answer["answer"] == "second"

    out = sam(server, tmp_path, "delete", "--stack-name", stack, "--region", "us-east-1",
              "--no-prompts")
    assert "Deleted successfully" in out, out
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=function)
    # the managed stack stays, for the next deploy
    assert cfn.describe_stacks(StackName="aws-sam-cli-managed-default")["Stacks"]
