"""The simulated internet's hosts, served in a namespace of a real sandbox and reached from
another one over a veth, by real TLS clients run inside the sandbox (python's http.client
and ssl, boto3): echo over HTTP and HTTPS, certificates verified against vpclocal's bundle,
SNI names, the client's address as the host sees it, and the AWS public endpoints relayed to
a live vpclocal server.

Layout (all inside the sandbox, nothing on the host's network):

    client ns  192.0.2.10/24 eth0 ==veth== c0 192.0.2.1/24  internet ns
               default via 192.0.2.1                        local 198.51.100.0/24 dev lo
                                                            local 203.0.113.0/24 dev lo

Names resolve inside the client script (a table given to it: the VPC resolver is another
component).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import Server
from tests.fabric.conftest import needs_fabric
from vpclocal.fabric import Sandbox
from vpclocal.fabric.ca import CertificateAuthority, trust_env
from vpclocal.fabric.internet import Internet
from vpclocal.network.names import AWS_SERVICE_ADDRESSES

pytestmark = needs_fabric

CLIENT_ADDRESS = "192.0.2.10"
HOSTS = {"api.stripe.com": "198.51.100.28", "www.example.com": "198.51.100.20",
         "s3.us-east-1.amazonaws.com": AWS_SERVICE_ADDRESSES["s3"],
         "photos.s3.us-east-1.amazonaws.com": AWS_SERVICE_ADDRESSES["s3"],
         "dynamodb.us-east-1.amazonaws.com": AWS_SERVICE_ADDRESSES["dynamodb"]}

# requests on one connection: prints [{status, headers, body}] and the peer certificate
CLIENT = r"""
import http.client, json, socket, ssl, sys
from urllib.parse import urlsplit
spec = json.loads(sys.argv[1])
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real(spec["hosts"].get(host, host), *a, **k)
url = urlsplit(spec["url"])
try:
    if url.scheme == "https":
        ctx = ssl.create_default_context(cafile=spec.get("cafile"))
        conn = http.client.HTTPSConnection(url.hostname, url.port or 443, context=ctx, timeout=5)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
    out = []
    for _ in range(spec.get("repeat", 1)):
        target = url.path + ("?" + url.query if url.query else "")
        conn.request(spec.get("method", "GET"), target or "/",
                     body=spec.get("body", "").encode() or None, headers=spec.get("headers", {}))
        r = conn.getresponse()
        raw = r.read()
        out.append({"status": r.status, "headers": dict(r.getheaders()),
                    "body": json.loads(raw) if raw else None})
    cert = conn.sock.getpeercert() if url.scheme == "https" else None
    print(json.dumps({"responses": out, "cert": cert}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
"""

# boto3 as a function would run it: the CA bundle from trust_env(), an https endpoint name
BOTO3 = r"""
import json, os, socket, sys
spec = json.loads(sys.argv[1])
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real(spec["hosts"].get(host, host), *a, **k)
os.environ.update(spec["env"])
import boto3
sts = boto3.client("sts", endpoint_url=spec["endpoint"], region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
print(json.dumps(sts.get_caller_identity()["Account"]))
"""


class World:
    """A sandbox with an internet namespace served by Internet and a client namespace."""

    def __init__(self, data_dir, endpoint) -> None:
        self.sb = Sandbox().start()
        self.inet, self.client = self.sb.ns_new(2, holder=True)
        self.sb.ip(self.inet, "route add local 198.51.100.0/24 dev lo\n"
                              "route add local 203.0.113.0/24 dev lo\n")
        self.sb.ip(self.client, f"link add eth0 type veth peer name c0 netns {self.inet.pid}\n"
                                f"addr add {CLIENT_ADDRESS}/24 dev eth0\nlink set eth0 up\n"
                                "route add default via 192.0.2.1\n")
        self.sb.ip(self.inet, "addr add 192.0.2.1/24 dev c0\nlink set c0 up\n")
        self.internet = Internet(data_dir, endpoint).start(self.sb, self.inet)

    def close(self) -> None:
        self.internet.stop()
        self.sb.close()

    def run(self, code: str, spec: dict) -> dict:
        spec = {"hosts": HOSTS, **spec}
        result = self.sb.run([([sys.executable, "-c", code, json.dumps(spec)], self.client,
                               "")])[0]
        assert result.rc == 0, result.err
        return json.loads(result.out)

    def get(self, url: str, **spec) -> dict:
        spec.setdefault("cafile", str(self.internet.ca.bundle))
        return self.run(CLIENT, {"url": url, **spec})

    def echo(self, url: str, **spec) -> dict:
        got = self.get(url, **spec)
        assert "error" not in got, got
        assert got["responses"][0]["status"] == 200, got
        return got["responses"][0]["body"]


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    w = World(tmp_path_factory.mktemp("internet"), ("127.0.0.1", server.port))
    yield w
    w.close()


def test_http_echo(world):
    body = world.echo("http://www.example.com/orders/7?expand=items&expand=tax&empty=",
                      method="POST", body='{"amount": 12}',
                      headers={"Content-Type": "application/json", "X-Trace": "abc"})
    assert body["method"] == "POST"
    assert body["path"] == "/orders/7"
    assert body["query"] == {"expand": ["items", "tax"], "empty": [""]}
    assert body["headers"]["x-trace"] == "abc"
    assert body["headers"]["content-type"] == "application/json"
    assert body["body"] == '{"amount": 12}' and body["bodyEncoding"] == "utf-8"
    assert body["host"] == "www.example.com"
    assert body["scheme"] == "http" and body["sni"] is None
    assert body["server"] == {"address": HOSTS["www.example.com"], "port": 80}
    assert body["client"]["address"] == CLIENT_ADDRESS


def test_https_echo_verified_against_the_bundle(world):
    got = world.get("https://api.stripe.com/v1/charges?limit=3")
    assert "error" not in got, got
    body = got["responses"][0]["body"]
    assert body["scheme"] == "https"
    assert body["sni"] == "api.stripe.com" and body["host"] == "api.stripe.com"
    assert body["query"] == {"limit": ["3"]}
    assert body["server"] == {"address": HOSTS["api.stripe.com"], "port": 443}
    assert body["client"]["address"] == CLIENT_ADDRESS
    assert ("DNS", "api.stripe.com") in {tuple(san) for san in got["cert"]["subjectAltName"]}
    issuer = {k: v for rdn in got["cert"]["issuer"] for k, v in rdn}
    assert issuer["commonName"] == "vpclocal local CA"


def test_every_address_answers_and_the_host_sees_which(world):
    for address in ("198.51.100.1", "198.51.100.254", "203.0.113.5", "203.0.113.100"):
        body = world.echo(f"http://{address}/")
        assert body["server"]["address"] == address and body["host"] == address


def test_https_to_an_address_without_sni(world):
    """A client that connects to an address sends no SNI: the certificate names the address."""
    got = world.get("https://198.51.100.9/")
    assert "error" not in got, got
    body = got["responses"][0]["body"]
    assert body["sni"] is None and body["server"]["address"] == "198.51.100.9"
    assert ["IP Address", "198.51.100.9"] in got["cert"]["subjectAltName"]


def test_without_the_bundle_the_certificate_is_not_trusted(world):
    """Only clients given vpclocal's bundle trust its CA: the system roots do not."""
    got = world.get("https://api.stripe.com/", cafile=None)
    assert "CERTIFICATE_VERIFY_FAILED" in got["error"]


def test_keep_alive_and_binary_bodies(world):
    got = world.get("https://www.example.com/upload", method="PUT", repeat=3,
                    body="caf\u00e9")
    assert [r["status"] for r in got["responses"]] == [200, 200, 200]
    ports = {r["body"]["client"]["port"] for r in got["responses"]}
    assert len(ports) == 1  # one connection
    assert got["responses"][0]["body"]["body"] == "café"
    assert got["responses"][0]["headers"]["Connection"] == "keep-alive"


def test_a_malformed_request_gets_400(world):
    code = r"""
import json, socket, sys
s = socket.create_connection(("198.51.100.3", 80), timeout=5)
s.sendall(b"NONSENSE\r\n\r\n")
print(json.dumps(s.recv(4096).decode().split("\r\n")[0]))
"""
    assert world.run(code, {}) == "HTTP/1.1 400 Bad Request"


def test_s3_bucket_names_share_the_wildcard_certificate(world):
    got = world.get("https://photos.s3.us-east-1.amazonaws.com/_vpclocal/health")
    assert "error" not in got, got
    sans = {tuple(san) for san in got["cert"]["subjectAltName"]}
    assert sans == {("DNS", "s3.us-east-1.amazonaws.com"),
                    ("DNS", "*.s3.us-east-1.amazonaws.com")}
    endpoint = world.get("https://s3.us-east-1.amazonaws.com/_vpclocal/health")["cert"]
    assert endpoint["serialNumber"] == got["cert"]["serialNumber"]  # one leaf for both


def test_the_s3_endpoint_reaches_the_server_over_https(world):
    """Decrypted and relayed: the server itself answers (its health route here)."""
    got = world.get("https://s3.us-east-1.amazonaws.com/_vpclocal/health", repeat=2)
    assert "error" not in got, got
    for response in got["responses"]:
        assert response["status"] == 200 and response["body"]["status"] == "running"
    assert world.internet.figures["relayed"] >= 1


def test_boto3_with_the_trust_env_reaches_the_server_through_the_relay(world):
    env = trust_env(world.internet.data_dir)
    for name in ("s3", "dynamodb"):
        account = world.run(BOTO3, {"endpoint": f"https://{name}.us-east-1.amazonaws.com",
                                    "env": env})
        assert account == "000000000000"
    # port 80 goes through as it came
    assert world.run(BOTO3, {"endpoint": "http://dynamodb.us-east-1.amazonaws.com",
                             "env": {}}) == "000000000000"


def test_the_ca_is_made_once_and_leaves_are_kept(tmp_path):
    first = CertificateAuthority(tmp_path / "ca")
    ctx = first.context("api.stripe.com")
    assert first.context("API.stripe.com.") is ctx  # cached per name
    leaves = sorted(p.name for p in first.hosts.iterdir())
    assert len(leaves) == 1
    again = CertificateAuthority(tmp_path / "ca")
    assert again.cert_pem == first.cert_pem
    assert again.hosts == first.hosts
    again.context("api.stripe.com")
    assert sorted(p.name for p in again.hosts.iterdir()) == leaves
    assert oct((tmp_path / "ca" / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    bundle = (tmp_path / "ca" / "bundle.pem").read_bytes()
    assert bundle.endswith(first.cert_pem) and bundle.count(b"BEGIN CERTIFICATE") > 1
    env = trust_env(tmp_path)
    assert env["AWS_CA_BUNDLE"] == env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"] == str(
        (tmp_path / "ca" / "bundle.pem").resolve())


def test_stop_frees_the_ports_and_start_serves_again(world):
    world.internet.stop()
    got = world.get("http://198.51.100.4/")
    assert "ConnectionRefused" in got["error"]
    world.internet.start(world.sb, world.inet)
    assert world.echo("http://198.51.100.4/")["server"]["address"] == "198.51.100.4"


# ---- wired into `vpclocal up --fabric` ------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (nsenter into the fabric)")
def test_the_fabric_serves_the_internet(tmp_path):
    from unittest import mock

    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
        server = Server(tmp_path / "data").start()
    try:
        with urllib.request.urlopen(server.endpoint + "/_vpclocal/fabric", timeout=5) as r:
            status = json.load(r)
        assert status["internet"]["running"], status
        code = ("import json, urllib.request; print(json.load(urllib.request.urlopen("
                "'http://203.0.113.193/_vpclocal/health', timeout=5))['status'], "
                "json.load(urllib.request.urlopen('http://198.51.100.5/', timeout=5))"
                "['server']['address'])")
        out = subprocess.run(["nsenter", f"--net={status['internet']['netns']}",
                              sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=30, check=False)
        assert out.stdout.split() == ["running", "198.51.100.5"], out.stderr
    finally:
        server.stop()
