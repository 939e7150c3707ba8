"""The runtime's vocabulary: what runs (FunctionSpec), how (RuntimeConfig), what came back."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

# The runtime families vpclocal runs, as name prefixes: every python3.x runtime runs on the
# machine's Python with awslambdaric (a different minor version is noted in the function's
# log), provided.* through the package's bootstrap.
PYTHON_RUNTIMES = ("python3.",)
BOOTSTRAP_RUNTIMES = ("provided.al2", "provided.al2023", "provided")


@dataclass(frozen=True)
class FunctionSpec:
    """One function version's configuration as an environment runs it.

    Frozen and hashable: environments are pooled per spec, so any change (code, memory,
    variables...) gets fresh environments, as an update does on AWS.
    """

    name: str
    arn: str  # unqualified function ARN
    runtime: str
    handler: str
    code_path: str  # the deployment package (zip)
    code_sha: str  # CodeSha256
    version: str = "$LATEST"
    region: str = "us-east-1"
    memory_mb: int = 128
    storage_mb: int = 512  # EphemeralStorage: the size of its /tmp
    timeout_s: int = 3
    environment: tuple[tuple[str, str], ...] = ()
    role: str = ""
    log_group: str = ""
    revision: str = ""  # RevisionId: a deleted and re-created function is another one

    @property
    def group(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    @property
    def pool_key(self) -> tuple[str, str, str]:
        """Specs with the same key replace each other (an updated function)."""
        return (self.region, self.arn, self.version)


@dataclass
class Result:
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the function failed
    log_tail: str = ""  # base64 of the last 4 KB of the invocation's log
    status: str = "success"  # success | error | timeout
    duration_ms: float = 0.0
    cold: bool = False


class Unplaceable(Exception):
    """An environment has nowhere isolated to run (its VPC's network is not in force, or no
    namespace can be made): the invocation fails, and says why; code never runs in the
    server's own network instead."""


class Throttled(Exception):
    """The invocation would exceed a concurrency limit (Lambda's 429)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Placement:
    """Where one environment runs, when RuntimeConfig.placement says (the fabric puts a VPC
    function's environments in its Hyperplane ENI's network namespace).

    The environment's process enters the namespace `netns_fd` names before it execs, and finds
    its Runtime API at `advertise`:port of `listener`, a socket bound inside that namespace and
    served by the server: nothing links the namespace to the server's own network. With a
    `resolver`, its /etc/resolv.conf says `nameserver <resolver>` and `search <search>`, as on
    an EC2 instance in that VPC (a mount namespace per VPC; runtime/environment.py).
    """

    listener: socket.socket | None = None  # the Runtime API's listening socket
    advertise: str = "127.0.0.1"  # AWS_LAMBDA_RUNTIME_API host
    netns_fd: int = -1  # owned by the placement until release()
    # AWS_ENDPOINT_URL inside the namespace: None keeps RuntimeConfig's, "" sets none (the
    # fabric: clients reach AWS's public names across the network, as on AWS)
    endpoint_url: str | None = None
    environment: dict[str, str] = field(default_factory=dict)  # more, unless the function's own
    note: str = ""  # one line in every invocation's log (e.g. why it runs unisolated)
    current: Callable[[], bool] = lambda: True  # False once the namespace is gone
    # the log line explaining why a connection (address, port) never opened, or None
    explain: Callable[[str, int], str | None] | None = None
    resolver: str = ""  # the VPC resolver's address (base + 2), for /etc/resolv.conf
    search: str = ""  # its search domain: ec2.internal, or <region>.compute.internal
    retire: Callable[[], None] | None = None  # when the environment is gone (its namespace's)
    # let only this uid reach the Runtime API listener (other environments share the
    # namespace); returns what undoes it. Blocking: call it off the event loop
    guard: Callable[[int], Callable[[], None]] | None = None

    def release(self) -> None:
        """Close the namespace's descriptor (the process holds its namespace itself)."""
        if self.netns_fd >= 0:
            os.close(self.netns_fd)
            self.netns_fd = -1


LogWriter = Callable[[str, str, str, list[tuple[int, str]]], None]  # region, group, stream, events
MetricWriter = Callable[[str, list[dict]], None]  # region, MetricDatum dicts (AWS/Lambda)
Credentials = Callable[[FunctionSpec], dict[str, str]]  # AccessKeyId, SecretAccessKey, ...
# None: the server's network (a Runtime used alone, as in its tests; the server always places)
Placer = Callable[[FunctionSpec], Awaitable[Placement | None]]


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class RuntimeConfig:
    data_dir: Path
    endpoint_url: str = ""  # AWS_ENDPOINT_URL inside functions: this vpclocal server
    # Each environment's Runtime API listens on api_host and the environment is told
    # api_advertise (default the same). `api_address(spec) -> (bind, advertised)` overrides
    # both per function: an environment in a network namespace needs an address it reaches.
    api_host: str = "127.0.0.1"
    api_advertise: str = ""
    api_address: Callable[[FunctionSpec], tuple[str, str]] | None = None
    idle_seconds: float = field(
        default_factory=lambda: _env_float("VPCLOCAL_LAMBDA_IDLE_SECONDS", 300))
    # environments are recycled after this long (AWS recycles them every few hours), well
    # within the lifetime of the role credentials they were given
    max_age_seconds: float = 4 * 3600
    account_concurrency: int = field(
        default_factory=lambda: int(_env_float("VPCLOCAL_LAMBDA_CONCURRENCY", 1000)))
    init_timeout_s: float = 10.0  # AWS's limit on the init phase
    memory_poll_s: float = 0.02  # RSS check while an invocation runs
    write_logs: LogWriter | None = None
    write_metrics: MetricWriter | None = None
    credentials: Credentials | None = None
    run_unprivileged: bool = True
    placement: Placer | None = None  # per environment: where it runs (see Placement)

    def api_hosts(self, spec: FunctionSpec) -> tuple[str, str]:
        if self.api_address is not None:
            return self.api_address(spec)
        return self.api_host, self.api_advertise or self.api_host
