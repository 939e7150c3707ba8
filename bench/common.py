"""Helpers for benchmarks: start servers on free ports, time calls, print tables."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error still means it is up
                return
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def start_vpclocal(fabric: bool = False) -> tuple[subprocess.Popen, str]:
    """A server; without the fabric unless asked (the control plane and the runtime are
    measured on their own)."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="vpclocal-bench-")
    proc = subprocess.Popen([str(BIN / "vpclocal"), "up", "--port", str(port), "--data-dir", data,
                             "--fabric" if fabric else "--no-fabric"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/_vpclocal/health")
    return proc, url


def start_fabric_vpclocal() -> tuple[subprocess.Popen, str]:
    """A server with the fabric, for benches that need it (they exit saying why when this
    machine cannot run it)."""
    import os

    from vpclocal.fabric import available

    if os.geteuid() != 0:
        sys.exit("needs root (nsenter into the fabric's namespaces)")
    ok, why = available()
    if not ok:
        sys.exit(f"the fabric cannot run here: {why}")
    return start_vpclocal(fabric=True)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def timed(fn, repeat: int) -> list[float]:
    """Seconds per call, `repeat` calls."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def percentile_ms(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000
