"""The console: a web page served by vpclocal (/_vpclocal/console) that draws each VPC and
asks the server's own endpoints for the rest (reachability, doctor, cost, live flows).

The page is plain HTML, CSS and JavaScript in static/, written for vpclocal: no library, no
CDN; the server builds what it draws (topology.py) so the page only lays it out.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_ASSET = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def asset(name: str) -> tuple[bytes, str] | None:
    """A static file's bytes and content type, or None: only plain names inside static/."""
    path = STATIC / name
    if not _ASSET.fullmatch(name) or path.suffix not in _TYPES or not path.is_file():
        return None
    return path.read_bytes(), _TYPES[path.suffix]


def live_flows(fabric, vpcs: set[str]) -> dict:
    """The flow counters' recent edges in these VPCs (GET /_vpclocal/console/flows). Only
    VPCs with a flow log are counted by the fabric."""
    collector = getattr(fabric, "flow_logs", None)
    if collector is None:
        return {"counting": False, "edges": []}
    return {"counting": True, "edges": collector.recent(vpcs, time.time())}
