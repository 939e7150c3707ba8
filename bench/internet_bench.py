"""Simulated internet speed: echo requests from a client namespace to the internet namespace
over a veth (the World of tests/fabric/test_internet.py), and the AWS relay to a live server.

Figures: HTTP keep-alive requests per second, HTTPS full handshakes per second (one request
per new connection, certificate verified against vpclocal's bundle), HTTPS keep-alive
requests per second, and the relay's round trip to the server (its health route through the
s3 endpoint over HTTPS keep-alive) against the same route asked of the server directly on
loopback. One Python client, sequential requests.

Run: .venv/bin/python bench/internet_bench.py [--count 500]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import Server
from tests.fabric.test_internet import World
from vpclocal.fabric import available

CLIENT = r"""
import http.client, json, socket, ssl, sys, time
count, addr, name, scheme, port, path, keep, cafile = json.loads(sys.argv[1])
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real(addr if host == name else host, *a, **k)
ctx = ssl.create_default_context(cafile=cafile)
def conn():
    if scheme == "https":
        return http.client.HTTPSConnection(name, port, context=ctx, timeout=5)
    return http.client.HTTPConnection(name, port, timeout=5)
c = conn()
start = time.perf_counter()
for _ in range(count):
    if not keep:
        c.close()
        c = conn()
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    assert r.status == 200
print(json.dumps(time.perf_counter() - start))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    ok, why = available()
    if not ok:
        sys.exit(f"fabric unavailable: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data").start()
        world = World(Path(tmp) / "internet", ("127.0.0.1", server.port))
        try:
            bundle = str(world.internet.ca.bundle)

            def rate(addr, name, scheme, path, keep, port=None) -> float:
                port = port or (443 if scheme == "https" else 80)
                argv = [sys.executable, "-c", CLIENT, json.dumps(
                    [args.count, addr, name, scheme, port, path, keep, bundle])]
                if addr == "127.0.0.1":  # the server's own listener, from the host
                    out = subprocess.run(argv, capture_output=True, text=True, check=True)
                    return args.count / json.loads(out.stdout)
                result = world.sb.run([(argv, world.client, "")])[0]
                assert result.rc == 0, result.err
                return args.count / json.loads(result.out)

            host = ("198.51.100.20", "www.example.com")
            s3 = ("203.0.113.193", "s3.us-east-1.amazonaws.com")
            figures = {
                "http keep-alive echo (req/s)": rate(*host, "http", "/", True),
                "https keep-alive echo (req/s)": rate(*host, "https", "/", True),
                "https new connection per echo (req/s)": rate(*host, "https", "/", False),
                "https keep-alive via s3 relay to the server (req/s)":
                    rate(*s3, "https", "/_vpclocal/health", True),
                "http keep-alive to the server, direct on loopback (req/s)":
                    rate("127.0.0.1", "localhost", "http", "/_vpclocal/health", True,
                         server.port),
            }
        finally:
            world.close()
            server.stop()
    for name, value in figures.items():
        print(f"{name:<55} {value:8.0f}")


if __name__ == "__main__":
    main()
