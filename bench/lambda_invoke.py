"""Lambda Invoke speed: a hello-world Python function through the HTTP Invoke API.

Same run, same machine: warm invoke latency (boto3 and a raw HTTP client), the floor (a raw
HTTP round trip to a trivial loopback server), their ratio, cold starts (without the fabric:
each environment in a namespace of its own; and, as root, a VPC function's in the fabric) and
invokes/s at concurrency 10. Goals (issue 4): warm ≤ 5× the floor, cold start ≤ 50 ms, ≥ 1,000 invokes/s
on 2 cores.
Run: .venv/bin/python bench/lambda_invoke.py
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))
from common import free_port, median_ms, percentile_ms, start_vpclocal, stop, timed

WARM = 2000
COLD = 20
CONCURRENCY = 10
THROUGHPUT_SECONDS = 5.0
HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"
# vpclocal reads the service from the SigV4 scope and checks no signature: a fixed header
# lets a raw client call Invoke with no signing cost of its own
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host, Signature=0")

FLOOR_SERVER = """
import asyncio, sys
RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 2\\r\\n\\r\\n{}"
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def raw_invoker(port: int, path: str, headers: dict[str, str]):
    """A keep-alive connection POSTing `{}` to `path`; returns a call."""
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def call() -> bytes:
        try:
            conn.request("POST", path, b"{}", headers)
            response = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            conn.close()  # the server closed the idle keep-alive connection: once more
            conn.request("POST", path, b"{}", headers)
            response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {body[:200]!r}")
        return body
    return call


def wait_updated(lam, name: str) -> None:
    while lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] != "Successful":
        time.sleep(0.005)


def throughput(port: int, path: str, headers: dict[str, str]) -> tuple[float, int]:
    """Invokes/s with CONCURRENCY clients, each on its own connection, for a fixed time."""
    counts = [0] * CONCURRENCY
    errors = [0]
    stop_at = time.monotonic() + THROUGHPUT_SECONDS
    start = threading.Barrier(CONCURRENCY + 1)

    def worker(i: int) -> None:
        call = raw_invoker(port, path, headers)
        call()  # warm this client's connection and environment
        start.wait()
        while time.monotonic() < stop_at:
            try:
                call()
                counts[i] += 1
            except Exception:  # noqa: BLE001 - counted, not fatal
                errors[0] += 1
                call = raw_invoker(port, path, headers)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began), errors[0]


def vpc_cold_starts() -> tuple[list[float], list[float]]:
    """Cold starts of a VPC function in the fabric (root): invoke wall time, Init Duration."""
    proc, url = start_vpclocal(fabric=True)
    try:
        client = {"endpoint_url": url, "region_name": "us-east-1",
                  "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        lam = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}),
                           **client)
        ec2, iam = boto3.client("ec2", **client), boto3.client("iam", **client)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(VpcId=vpc, GroupName="fn", Description="fn")["GroupId"]
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
        iam.attach_role_policy(RoleName="bench", PolicyArn="arn:aws:iam::aws:policy/"
                               "service-role/AWSLambdaVPCAccessExecutionRole")
        lam.create_function(FunctionName="hello", Runtime="python3.12",
                            Role=role["Role"]["Arn"], Handler="index.handler",
                            Code={"ZipFile": zipped(HELLO)},
                            VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [sg]})
        while lam.get_function_configuration(FunctionName="hello")["State"] != "Active":
            time.sleep(0.05)
        return cold_starts(lam)
    finally:
        stop(proc)


def cold_starts(lam) -> tuple[list[float], list[float]]:
    cold_wall, init = [], []
    for i in range(COLD):
        # a changed configuration gets new execution environments, as on AWS
        lam.update_function_configuration(FunctionName="hello",
                                          Environment={"Variables": {"RUN": str(i)}})
        wait_updated(lam, "hello")
        began = time.perf_counter()
        response = lam.invoke(FunctionName="hello", Payload=b"{}", LogType="Tail")
        cold_wall.append(time.perf_counter() - began)
        report = base64.b64decode(response["LogResult"]).decode().splitlines()[-1]
        found = re.search(r"Init Duration: ([\d.]+) ms", report)
        assert found, report
        init.append(float(found[1]))
    return cold_wall, init


def main() -> None:
    floor_port = free_port()
    floor = subprocess.Popen([sys.executable, "-c", FLOOR_SERVER, str(floor_port)],
                             stdout=subprocess.PIPE, text=True)
    floor.stdout.readline()
    proc, url = start_vpclocal()
    try:
        port = int(url.rsplit(":", 1)[1])
        client = {"endpoint_url": url, "region_name": "us-east-1",
                  "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        lam = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}),
                           **client)
        iam = boto3.client("iam", **client)
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))
        lam.create_function(FunctionName="hello", Runtime="python3.12",
                            Role=role["Role"]["Arn"], Handler="index.handler",
                            Code={"ZipFile": zipped(HELLO)})

        def boto_invoke():
            return lam.invoke(FunctionName="hello", Payload=b"{}")["Payload"].read()

        assert json.loads(boto_invoke()) == {"hello": "world"}
        timed(boto_invoke, 200)  # warm up both sides
        warm_boto = timed(boto_invoke, WARM)
        path = "/2015-03-31/functions/hello/invocations"
        headers = {"Authorization": AUTH, "Content-Type": "application/json"}
        raw = raw_invoker(port, path, headers)
        timed(raw, 200)
        warm_raw = timed(raw, WARM)
        floor_call = raw_invoker(floor_port, "/", {"Content-Type": "application/json"})
        timed(floor_call, 200)
        floor_rtt = timed(floor_call, WARM)

        cold_wall, init = cold_starts(lam)

        timed(raw, 50)
        rate, errors = throughput(port, path, headers)
    finally:
        stop(proc)
        floor.terminate()
        floor.wait()

    floor_ms = median_ms(floor_rtt)
    raw_ms = median_ms(warm_raw)
    print("Lambda Invoke, hello world (python3.12 via awslambdaric), one machine, same run")
    print(f"  warm invoke, boto3          median {median_ms(warm_boto):7.3f} ms   "
          f"p99 {percentile_ms(warm_boto, 99):7.3f} ms")
    print(f"  warm invoke, raw HTTP       median {raw_ms:7.3f} ms   "
          f"p99 {percentile_ms(warm_raw, 99):7.3f} ms")
    print(f"  floor: trivial loopback HTTP median {floor_ms:6.3f} ms")
    print(f"  ratio warm/floor (raw HTTP both) {raw_ms / floor_ms:5.1f}x   (goal <= 5x)")
    print(f"  ratio warm boto3/floor          {median_ms(warm_boto) / floor_ms:5.1f}x")
    print(f"  cold start, invoke wall time    median {median_ms(cold_wall):6.1f} ms   "
          f"(goal <= 50 ms); Init Duration median {statistics.median(init):.1f} ms")
    print(f"  throughput at concurrency {CONCURRENCY}      {rate:7.0f} invokes/s   "
          f"(goal >= 1000/s; {errors} errors)")
    if os.geteuid() == 0:  # functions run in the fabric only when the server is root
        vpc_wall, vpc_init = vpc_cold_starts()
        print(f"  cold start of a VPC function (fabric on) median {median_ms(vpc_wall):6.1f} ms"
              f"   (goal <= 50 ms); Init Duration median {statistics.median(vpc_init):.1f} ms")


if __name__ == "__main__":
    main()
