"""Fixtures shared by every test: a real vpclocal server, boto3 clients and the `aws` CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import weakref
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Servers start without the fabric unless a test asks for it (VPCLOCAL_FABRIC=1, as the tests
# under tests/fabric/ do): the control plane's tests need no namespaces.
os.environ.setdefault("VPCLOCAL_FABRIC", "0")
# The guide's exercise, each step's commands exactly as the guide prints them
GUIDE_STEPS = ROOT / "examples" / "lambda-vpc-rds" / "steps"


def guide_step(number: int, start: str | None = None, end: str | None = None) -> str:
    """Step `number` of the guide's exercise, or the part of it from the line `start` up to
    the line `end` (e.g. the EC2 part of the step 8 cleanup)."""
    text = next(GUIDE_STEPS.glob(f"{number}-*.sh")).read_text()
    first = text.index(start) if start else 0
    return text[first:text.index(end) if end else len(text)]
BIN = Path(sys.executable).parent

# VPCLOCAL_STRICT=1 (`make test-ci`, and so CI, which runs as root with every package installed):
# a skipped or xfailed test fails, unless it skips for one of these reasons. Only what a
# machine may lack without any core capability (the fabric, root-only isolation, a served
# service) depending on it belongs here.
ALLOWED_SKIPS = {
    "no curl on this machine",  # one example bootstrap script that uses curl (runtime tests)
    # kernels older than 6.18 allow header rewriting in a user namespace: there is no
    # refused statement to force (the variants themselves still run: tests/fabric)
    "this kernel allows header rewriting in a user namespace",
    "this kernel allows header rewriting: no refused statement to force",
}
STRICT = os.environ.get("VPCLOCAL_STRICT") == "1"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return message.removeprefix("Skipped: ")


def _strict(report, what: str):
    """In strict mode, a skip that is not allowed, and any xfail or xpass, is a failure."""
    if not STRICT:
        return report
    if hasattr(report, "wasxfail"):
        report.longrepr = (f"VPCLOCAL_STRICT=1: this {what} is expected to fail "
                           f"({report.wasxfail}), and expected failures are not allowed")
        del report.wasxfail
        report.outcome = "failed"
    elif report.skipped and _skip_reason(report) not in ALLOWED_SKIPS:
        report.longrepr = (f"VPCLOCAL_STRICT=1: this {what} was skipped ({_skip_reason(report)})"
                           "; only the reasons in ALLOWED_SKIPS (tests/conftest.py) may skip")
        report.outcome = "failed"
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    return _strict((yield), "test")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector):
    return _strict((yield), "module")


def unique(prefix: str = "r") -> str:
    """A name no other test uses: prefix-<10 hex digits>."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def held_port() -> socket.socket:
    """A socket on a free loopback port, bound but not listening: a connection to the port is
    refused, and no other bind(0) is given the port while the socket is open. With SO_REUSEADDR
    on it, a server that binds the port with SO_REUSEADDR (vpclocal's uvicorn) still can."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A port free now (for a command that fails before it binds; others: held_port())."""
    with held_port() as sock:
        return sock.getsockname()[1]


def into_closed_pipe(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command whose stdout is a pipe nobody reads any more (`cmd | head` once head has
    exited): its first write fails. stderr is captured."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, env=env, text=True,
                              timeout=60, check=False)
    finally:
        os.close(write)


STOP_TIMEOUT = 60  # seconds a server may take to stop gracefully before it is killed


class Server:
    """A `vpclocal up` subprocess on a free port with its own data directory."""

    def __init__(self, data_dir: Path, port: int | None = None, args: tuple[str, ...] = (),
                 terminal: bool = False) -> None:
        self.data_dir = data_dir
        self.args = args  # more `vpclocal up` flags
        # started as a shell starts a foreground job: a process group of its own, which
        # interrupt() signals as a Ctrl-C in the terminal does
        self.terminal = terminal
        if port is None:
            # the port stays ours while this object lives, across restarts: no other server is
            # given it (nor answers this one's health check)
            held = held_port()
            weakref.finalize(self, held.close)
            port = held.getsockname()[1]
        self.port = port
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(BIN / "vpclocal"), "up", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.args],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=self.terminal)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/_vpclocal/health", timeout=1) as r:
                    if json.load(r)["status"] in ("running", "degraded"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def stop(self, sig: int = 15) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                # a loaded machine's graceful stop (databases, the fabric) can take a while; a
                # server killed before it ends leaves its database servers running
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def interrupt(self) -> int:
        """Ctrl-C in the server's terminal: SIGINT to its whole process group (a `terminal`
        server's); its exit status."""
        assert self.terminal and self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(30)

    def client(self, service: str, region: str = "us-east-1"):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        env = dict(os.environ)
        env.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=region,
                   AWS_PAGER="", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
        return env

    def aws(self, *args: str, check: bool = True, region: str = "us-east-1"):
        """Run the real `aws` CLI; returns parsed JSON output (or the CompletedProcess)."""
        proc = subprocess.run([str(BIN / "aws"), *args, "--output", "json"],
                              env=self.env(region), capture_output=True, text=True, timeout=120,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {proc.stderr}")
        if not check:
            return proc
        return json.loads(proc.stdout) if proc.stdout.strip() else {}


def served(tmp_path_factory, name: str):
    """A fixture's server of its own (data under a fresh directory), stopped afterwards."""
    srv = Server(tmp_path_factory.mktemp(name) / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    yield from served(tmp_path_factory, "vpclocal")


@pytest.fixture(scope="session")
def ec2(server):
    return server.client("ec2")


@pytest.fixture
def vpc(ec2):
    """A fresh 10.0.0.0/16 VPC for one test."""
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return vpc_id
