"""The runtime library driven directly: real awslambdaric processes, no server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from vpclocal.runtime import FunctionSpec, Runtime, RuntimeConfig
from vpclocal.runtime.sandbox import detect

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def package(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


async def until(condition, timeout: float = 10.0) -> None:
    """Wait for condition() to hold; fail if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true after {timeout} s"
        await asyncio.sleep(0.01)


class Harness:
    """Builds specs from sources, runs a Runtime, records what it logs and measures."""

    def __init__(self, tmp_path: Path, launch) -> None:
        self.tmp_path = tmp_path
        self.launch = launch
        self.logs: list[tuple[str, str, str, list[tuple[int, str]]]] = []
        self.metrics: list[tuple[str, list[dict]]] = []
        self.count = 0

    def spec(self, source: str | None = None, *, files: dict | None = None,
             modes: dict | None = None, **fields) -> FunctionSpec:
        self.count += 1
        files = files or {"lambda_function.py": source or ""}
        blob = package(files, modes)
        path = self.tmp_path / f"code-{self.count}.zip"
        path.write_bytes(blob)
        name = fields.pop("name", f"fn{self.count}")
        args = {"name": name, "arn": ARN + name, "runtime": "python3.12",
                "handler": "lambda_function.handler", "code_path": str(path),
                "code_sha": base64.b64encode(hashlib.sha256(blob).digest()).decode()}
        args.update(fields)
        return FunctionSpec(**args)

    def config(self, **fields) -> RuntimeConfig:
        return RuntimeConfig(
            data_dir=self.tmp_path / "data", endpoint_url="http://127.0.0.1:1",
            write_logs=lambda *a: self.logs.append(a),
            write_metrics=lambda *a: self.metrics.append(a), **fields)

    def run(self, body, **config):
        """asyncio.run(body(runtime)) with a started runtime, stopped afterwards."""
        async def main():
            runtime = Runtime(self.config(**config), launch=self.launch)
            await runtime.start()
            try:
                return await body(runtime)
            finally:
                await runtime.stop()
        return asyncio.run(main())

    def lines(self, stream: str | None = None) -> list[str]:
        return [message for _, _, s, events in self.logs for _, message in events
                if stream is None or s == stream]

    def streams(self) -> list[str]:
        return list(dict.fromkeys(s for _, _, s, _ in self.logs))


@pytest.fixture(scope="session")
def launch():
    found = detect()
    if os.geteuid() == 0:
        assert found.uid is not None, found.refused  # this machine can run code unprivileged
    return found


@pytest.fixture
def harness(tmp_path, launch) -> Harness:
    return Harness(tmp_path, launch)

