"""The guide's exercise, steps 1-2 and 4-7, through the real `aws` CLI on a fresh server
without the fabric: the control plane, Hyperplane ENIs, warm invokes and logs.

Step 4's handler here needs no database (tests/fabric/test_walkthrough.py runs the whole
exercise, RDS included, in the fabric). Steps 1, 2, 5, 6 and 7 run verbatim (only `sleep` is
stubbed).
"""

from __future__ import annotations

import json
import subprocess
import time

from tests.conftest import Server, guide_step

STEPS = [guide_step(1), guide_step(2), guide_step(5)]

# Step 4 stand-in: the same packaging commands, a handler without pymysql.
STEP_4 = r"""
mkdir -p lambda-package
cat > lambda-package/lambda_function.py <<'PY'
import json
import os

calls = 0  # module state survives warm invocations, as the guide's connection reuse relies on


def lambda_handler(event, context):
    global calls
    calls += 1
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "Hello from the VPC!", "calls": calls,
                            "db_host": os.environ["DB_HOST"],
                            "function": context.function_name}),
    }
PY
cd lambda-package
zip -qr ../lambda-vpc-rds.zip .
cd ..
DB_ENDPOINT=my-test-db.example.us-east-1.rds.amazonaws.com
"""

# Step 6 verbatim; step 7 verbatim once the function is Active (the guide's step 7 invokes at
# once; AWS answers 409 while a function is Pending)
STEP_6 = guide_step(6)
STEP_7 = "aws lambda wait function-active-v2 --function-name VPCRDSFunction\n" + guide_step(7)


def test_steps_1_to_7(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        script = "set -e\nsleep() { :; }\n" + "".join(STEPS)
        script += STEP_4 + STEP_6 + STEP_7
        script += '\necho "VARS $LAMBDA_SG $PRIVATE_SUBNET_1 $PRIVATE_SUBNET_2"\n'
        work = tmp_path / "work"
        work.mkdir()
        out = subprocess.run(["bash", "-c", script], cwd=work, env=srv.env(),
                             capture_output=True, text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr
        assert "Lambda function created!" in out.stdout
        response = json.loads((work / "response.json").read_text())
        assert response["statusCode"] == 200
        body = json.loads(response["body"])
        assert body == {"message": "Hello from the VPC!", "calls": 1,
                        "db_host": "my-test-db.example.us-east-1.rds.amazonaws.com",
                        "function": "VPCRDSFunction"}
        lambda_sg, subnet_1, subnet_2 = out.stdout.split("VARS ")[1].split()

        # The function got one Hyperplane ENI per subnet, as on AWS.
        enis = srv.client("ec2").describe_network_interfaces(Filters=[
            {"Name": "interface-type", "Values": ["lambda"]}])["NetworkInterfaces"]
        assert sorted(e["SubnetId"] for e in enis) == sorted([subnet_1, subnet_2])
        assert all(e["Groups"][0]["GroupId"] == lambda_sg for e in enis)
        assert all(e["Description"].startswith("AWS Lambda VPC ENI-VPCRDSFunction-")
                   for e in enis)

        # A second invoke is warm: the module state persists.
        lam = srv.client("lambda")
        again = json.loads(lam.invoke(FunctionName="VPCRDSFunction")["Payload"].read())
        assert json.loads(again["body"])["calls"] == 2

        # Logs are delivered a moment after the invocation, as on AWS.
        logs = srv.client("logs")
        deadline = time.monotonic() + 5
        while True:
            streams = logs.describe_log_streams(
                logGroupName="/aws/lambda/VPCRDSFunction")["logStreams"]
            messages = [e["message"] for s in streams for e in logs.get_log_events(
                logGroupName="/aws/lambda/VPCRDSFunction",
                logStreamName=s["logStreamName"])["events"]]
            reports = sum(m.startswith("REPORT RequestId: ") for m in messages)
            if reports == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert sum(m.startswith("START RequestId: ") for m in messages) == 2
        assert sum(m.startswith("REPORT RequestId: ") for m in messages) == 2
    finally:
        srv.stop()
