"""What IAM's deciding costs (issue 13): describe-vpcs and a warm Lambda invoke over raw HTTP,
signed with a role session's key, on a server that decides (the default) and on one with
VPCLOCAL_IAM=off, in the same run; and the account root's key on the deciding server (which
decides nothing for it). Goal: at most 10 % more than without enforcement.
Run: .venv/bin/python bench/iam_authorization.py
"""

from __future__ import annotations

import http.client
import io
import json
import os
import sys
import zipfile
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from common import median_ms, start_vpclocal, stop, timed

CALLS = 4000
ROUNDS = 8
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
    "Action": "sts:AssumeRole"}, {"Effect": "Allow",
                                   "Principal": {"Service": "lambda.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}]}
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ec2:Describe*", "lambda:InvokeFunction"], "Resource": "*"},
    {"Effect": "Deny", "Action": "ec2:DeleteVpc", "Resource": "*"}]}
HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"


def client(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def setup(url: str) -> str:
    """A role a session of which may describe and invoke; a function. -> the session's key"""
    iam = client(url, "iam")
    role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="bench", PolicyName="p", PolicyDocument=json.dumps(POLICY))
    iam.attach_role_policy(RoleName="bench", PolicyArn="arn:aws:iam::aws:policy/service-role/"
                           "AWSLambdaBasicExecutionRole")
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as archive:
        archive.writestr("index.py", HELLO)
    lam = client(url, "lambda")
    lam.create_function(FunctionName="hello", Runtime="python3.12", Handler="index.handler",
                        Role=role["Role"]["Arn"], Code={"ZipFile": blob.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName="hello")
    lam.invoke(FunctionName="hello")  # warm
    credentials = client(url, "sts").assume_role(RoleArn=role["Role"]["Arn"],
                                                 RoleSessionName="bench")["Credentials"]
    return credentials["AccessKeyId"]


def caller(url: str, key: str, service: str, method: str, path: str, body: bytes,
           headers: dict[str, str]):
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    auth = (f"AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")
    headers = dict(headers, Authorization=auth, Host="localhost")

    def call() -> None:
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # the server closed the idle keep-alive connection between two batches
            conn.close()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
        data = response.read()
        assert response.status == 200, data[:300]
    return call


def callers(url: str, key: str) -> dict:
    return {
        "describe-vpcs": caller(url, key, "ec2", "POST", "/",
                                b"Action=DescribeVpcs&Version=2016-11-15",
                                {"Content-Type": "application/x-www-form-urlencoded"}),
        "warm invoke": caller(url, key, "lambda", "POST",
                              "/2015-03-31/functions/hello/invocations", b"{}",
                              {"Content-Type": "application/json"}),
    }


def main() -> None:
    deciding, deciding_url = start_vpclocal()
    os.environ["VPCLOCAL_IAM"] = "off"
    permissive, permissive_url = start_vpclocal()
    del os.environ["VPCLOCAL_IAM"]
    try:
        configs = {"decided": callers(deciding_url, setup(deciding_url)),
                   "VPCLOCAL_IAM=off": callers(permissive_url, setup(permissive_url)),
                   "root key": callers(deciding_url, "test")}
        samples = {(c, op): [] for c in configs for op in ("describe-vpcs", "warm invoke")}
        for fns in configs.values():
            for fn in fns.values():
                timed(fn, 200)  # warm up
        # interleaved batches: drift in the machine's speed falls on every configuration alike
        for _ in range(ROUNDS):
            for config, fns in configs.items():
                for op, fn in fns.items():
                    samples[(config, op)] += timed(fn, CALLS // ROUNDS)
    finally:
        stop(deciding)
        stop(permissive)
    print(f"IAM authorization, raw HTTP, {CALLS} calls each (interleaved, same run), median")
    for op in ("describe-vpcs", "warm invoke"):
        on, off, root = (median_ms(samples[(c, op)]) for c in configs)
        print(f"  {op:14s} a role session's key: decided {on:.3f} ms, VPCLOCAL_IAM=off "
              f"{off:.3f} ms: {(on / off - 1) * 100:+.1f} % (goal <= +10 %); "
              f"the root's key (nothing to decide) {root:.3f} ms: decided "
              f"{(on / root - 1) * 100:+.1f} %")


if __name__ == "__main__":
    main()
