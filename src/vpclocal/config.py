"""Server settings, from command-line flags, VPCLOCAL_* environment variables and the config
file (`<data_dir>/vpclocal.toml` or `vpclocal up --config PATH`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=lambda: Path(".vpclocal"))
    region: str = field(default_factory=lambda: os.environ.get("VPCLOCAL_REGION", "us-east-1"))
    account_id: str = field(
        default_factory=lambda: os.environ.get("VPCLOCAL_ACCOUNT_ID", "000000000000"))
    # the network model realized in Linux namespaces (vpclocal.fabric): on unless
    # VPCLOCAL_FABRIC=0 or --no-fabric (where the kernel cannot, the server says so and runs)
    fabric: bool = field(default_factory=lambda: os.environ.get("VPCLOCAL_FABRIC", "1").lower()
                         not in ("0", "false", "no", "off"))
    # public hosts declared in the config file (network/hosts.py), put in the store at start
    internet_hosts: list[dict] = field(default_factory=list)
    # flow log records are aggregated over at most this many seconds (besides the flow log's
    # MaxAggregationInterval, 60 or 600): 0 leaves AWS's interval alone
    flow_log_interval: float = field(default_factory=lambda: _seconds(
        "VPCLOCAL_FLOW_LOG_INTERVAL", 5.0))

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name) or default))
    except ValueError:
        return default
