"""Function logs and AWS/Lambda metrics, buffered off the invoke path.

Lines and data points are queued as invocations finish and written a few milliseconds later
in batches (one write per log stream, one per region for metrics) by a writer thread: the
store's SQLite commits stay off the event loop and off the invoke path.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from vpclocal.runtime.types import FunctionSpec, LogWriter, MetricWriter

log = logging.getLogger("vpclocal.runtime")
FLUSH_DELAY = 0.02
TAIL_BYTES = 4096


def tail(lines: list[tuple[int, str]]) -> str:
    """X-Amz-Log-Result: base64 of the last 4 KB of an invocation's log."""
    text = "".join(message + "\n" for _, message in lines).encode()
    return base64.b64encode(text[-TAIL_BYTES:]).decode()


def report_line(request_id: str, duration_ms: float, memory_mb: int, max_used_mb: int,
                init_ms: float | None = None, status: str | None = None,
                error_type: str | None = None) -> str:
    fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms",
              f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
              f"Memory Size: {memory_mb} MB", f"Max Memory Used: {max_used_mb} MB"]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if status is None:
        return "\t".join(fields) + "\t"
    fields.append(f"Status: {status}")
    if error_type:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields)


class Telemetry:
    def __init__(self, write_logs: LogWriter | None, write_metrics: MetricWriter | None) -> None:
        self.write_logs = write_logs
        self.write_metrics = write_metrics
        self._logs: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
        # (region, function name or "" for the account) -> metric -> Counter of values
        self._metrics: dict[tuple[str, str], dict[str, Counter]] = defaultdict(
            lambda: defaultdict(Counter))
        self._handle: asyncio.TimerHandle | None = None
        # one thread: batches land in the order they were taken
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lambda-telemetry")

    def log(self, spec: FunctionSpec, stream: str, lines: list[tuple[int, str]]) -> None:
        if lines and self.write_logs is not None:
            self._logs[(spec.region, spec.group, stream)].extend(lines)
            self._schedule()

    def metric(self, region: str, function: str, name: str, value: float) -> None:
        if self.write_metrics is not None:
            self._metrics[(region, function)][name][value] += 1
            self._schedule()

    def _schedule(self) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Hand what is queued to the writer thread."""
        self._handle = None
        logs, self._logs = self._logs, defaultdict(list)
        metrics, self._metrics = self._metrics, defaultdict(lambda: defaultdict(Counter))
        if logs or metrics:
            self._writer.submit(self._write, logs, metrics)

    def close(self) -> None:
        """Write everything queued, and wait for it."""
        if self._handle is not None:
            self._handle.cancel()
        self.flush()
        self._writer.shutdown(wait=True)

    def _write(self, logs: dict, metrics: dict) -> None:
        for (region, group, stream), lines in logs.items():
            try:
                self.write_logs(region, group, stream, lines)  # type: ignore[misc]
            except Exception:  # a broken sink must not break invocations
                log.exception("writing function logs to %s failed", group)
        by_region: dict[str, list[dict]] = defaultdict(list)
        for (region, function), names in metrics.items():
            dims = [{"Name": "FunctionName", "Value": function}] if function else []
            for name, counts in names.items():
                unit = "Milliseconds" if name == "Duration" else "Count"
                by_region[region].append({
                    "MetricName": name, "Dimensions": dims, "Unit": unit,
                    "Values": list(counts.keys()), "Counts": list(counts.values())})
        for region, points in by_region.items():
            try:
                self.write_metrics(region, points)  # type: ignore[misc]
            except Exception:
                log.exception("writing AWS/Lambda metrics failed")
