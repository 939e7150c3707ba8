"""An STS call from a warm VPC function through an interface endpoint (issue 19), against the
same call through the relay functions had before: a relay in the function's own network
namespace to the server's endpoint (what AWS_ENDPOINT_URL named; it remains only where there
is no network to cross, --no-fabric), in the same run. Goal: at most 2x.

The function makes CALLS calls with one boto3 client (kept-alive connections, as a warm
function's module-level client does) and reports the median per call, timed inside it.
Run (root, the fabric): .venv/bin/python bench/interface_endpoint.py
"""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from common import start_fabric_vpclocal, start_vpclocal, stop

CALLS = 300
ROUNDS = 5
HANDLER = """
import statistics, time, boto3
sts = boto3.client("sts")

def handler(event, context):
    samples = []
    for _ in range(event["calls"]):
        start = time.perf_counter()
        sts.get_caller_identity()
        samples.append(time.perf_counter() - start)
    return {"median_ms": statistics.median(samples) * 1000}
"""
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def client(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def zipped(code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", code)
    return buf.getvalue()


def function(url: str, vpc: bool) -> str:
    """The function (in a private subnet with an STS interface endpoint, when `vpc`)."""
    iam, lam = client(url, "iam"), client(url, "lambda")
    role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="bench", PolicyArn="arn:aws:iam::aws:policy/service-role/"
                           "AWSLambdaVPCAccessExecutionRole")
    extra = {}
    if vpc:
        ec2 = client(url, "ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
        fn_sg, ep_sg = (ec2.create_security_group(VpcId=vpc_id, GroupName=n, Description=n)
                        ["GroupId"] for n in ("fn", "endpoint"))
        ec2.authorize_security_group_ingress(GroupId=ep_sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "UserIdGroupPairs": [{"GroupId": fn_sg}]}])
        ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.sts",
                                VpcEndpointType="Interface", SubnetIds=[subnet],
                                SecurityGroupIds=[ep_sg])
        extra["VpcConfig"] = {"SubnetIds": [subnet], "SecurityGroupIds": [fn_sg]}
    lam.create_function(FunctionName="sts-bench", Runtime="python3.12", Role=role,
                        Handler="index.handler", Code={"ZipFile": zipped(HANDLER)},
                        Timeout=60, MemorySize=1024, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName="sts-bench",
                                              WaiterConfig={"Delay": 0.2})
    return "sts-bench"


def median_per_call(url: str, name: str) -> float:
    out = client(url, "lambda").invoke(FunctionName=name,
                                       Payload=json.dumps({"calls": CALLS}).encode())
    payload = json.loads(out["Payload"].read())
    if out.get("FunctionError"):
        raise RuntimeError(payload)
    return payload["median_ms"]


def main() -> None:
    fabric, fabric_url = start_fabric_vpclocal()
    plain, plain_url = start_vpclocal(fabric=False)
    try:
        endpoint_fn, relay_fn = function(fabric_url, vpc=True), function(plain_url, vpc=False)
        for url, name in ((fabric_url, endpoint_fn), (plain_url, relay_fn)):
            deadline = time.monotonic() + 60
            while True:  # warm: the first invoke also waits for the endpoint to answer
                try:
                    median_per_call(url, name)
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
        through_endpoint, through_relay = [], []
        for _ in range(ROUNDS):  # interleaved: both see the same machine
            through_endpoint.append(median_per_call(fabric_url, endpoint_fn))
            through_relay.append(median_per_call(plain_url, relay_fn))
    finally:
        stop(fabric)
        stop(plain)
    a, b = sorted(through_endpoint)[ROUNDS // 2], sorted(through_relay)[ROUNDS // 2]
    print(f"sts GetCallerIdentity from a warm function, median of {ROUNDS} rounds of {CALLS} "
          "calls:")
    print(f"  through an STS interface endpoint (TLS, VPC rules): {a:.3f} ms per call")
    print(f"  through the namespace relay to the server (before):  {b:.3f} ms per call")
    print(f"  ratio: {a / b:.2f}x (goal <= 2x)")


if __name__ == "__main__":
    main()
