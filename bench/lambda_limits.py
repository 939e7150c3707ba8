"""How soon Lambda's limits stop a function, through the Invoke API: a 1 s timeout, and a
128 MB memory size exceeded while the memory is held. The tests check only the order of events
(never before the timeout; killed while it holds the memory, not once it returns); this prints
the times.
Run: .venv/bin/python bench/lambda_limits.py
"""

from __future__ import annotations

import base64
import io
import json
import re
import statistics
import sys
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))
from common import start_vpclocal, stop

ROUNDS = 5
SLEEPER = "import time\ndef handler(e, c):\n    time.sleep(5)\n"
HOG = ("import time\ndef handler(e, c):\n    data = b'x' * (200 * 1024 * 1024)\n"
       "    time.sleep(5)\n    return len(data)\n")


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def invoke(lam, name: str) -> tuple[float, dict, float]:
    """(wall seconds, error payload, the REPORT line's Duration in ms)."""
    began = time.perf_counter()
    response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    wall = time.perf_counter() - began
    error = json.loads(response["Payload"].read())
    report = base64.b64decode(response["LogResult"]).decode().splitlines()[-1]
    return wall, error, float(re.search(r"\tDuration: ([\d.]+) ms", report)[1])


def main() -> None:
    proc, url = start_vpclocal()
    try:
        client = {"endpoint_url": url, "region_name": "us-east-1",
                  "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        lam = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1},
                                                   read_timeout=30), **client)
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}
        role = boto3.client("iam", **client).create_role(
            RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        for name, source, extra in (("sleeper", SLEEPER, {"Timeout": 1}),
                                    ("hog", HOG, {"Timeout": 10, "MemorySize": 128})):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                Handler="index.handler", Code={"ZipFile": zipped(source)},
                                **extra)
        timed_out, answered, reported, killed = [], [], [], []
        for _ in range(ROUNDS):
            wall, error, duration = invoke(lam, "sleeper")
            assert error["errorType"] == "Sandbox.Timedout", error
            timed_out.append(duration)
            answered.append(wall * 1000)
            reported.append(float(re.search(r"after ([\d.]+) seconds", error["errorMessage"])[1]))
            _, error, duration = invoke(lam, "hog")
            assert error["errorType"] == "Runtime.ExitError", error
            killed.append(duration)
    finally:
        stop(proc)
    print(f"Lambda limits, python3.12, n={ROUNDS}")
    print(f"  1 s timeout: REPORT Duration {statistics.median(timed_out):.1f} ms (median; max "
          f"{max(timed_out):.1f}), 'Task timed out after {statistics.median(reported):.2f} "
          f"seconds'; the client has the error after {statistics.median(answered):.0f} ms "
          "(a cold start included: the timeout ended the previous environment)")
    print(f"  200 MB held over a 128 MB memory size: killed {statistics.median(killed):6.1f} ms "
          f"into the invocation (median, allocation included; max {max(killed):.1f}; "
          "the function would hold it 5 s)")


if __name__ == "__main__":
    main()
