"""The runtime: pools of execution environments, concurrency limits, invocation semantics.

Environments are pooled per FunctionSpec. An invocation takes an idle environment (warm) or
starts one (cold); an environment serves one invocation at a time and goes back to its pool
afterwards with its module state. Idle environments are reclaimed after `idle_seconds`;
provisioned ones are kept ready. A changed spec (an updated function) retires the old pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict, deque
from pathlib import Path

from vpclocal.runtime.code import CodeCache
from vpclocal.runtime.connections import opening
from vpclocal.runtime.environment import Environment, Invocation, now_ms
from vpclocal.runtime.jail import FALLBACK, Jails
from vpclocal.runtime.sandbox import FUNCTION_UIDS, Launch, claim_uids, detect, runtime_paths
from vpclocal.runtime.telemetry import Telemetry, report_line, tail
from vpclocal.runtime.types import (
    BOOTSTRAP_RUNTIMES,
    PYTHON_RUNTIMES,
    FunctionSpec,
    Result,
    RuntimeConfig,
    Throttled,
    Unplaceable,
)

log = logging.getLogger("vpclocal.runtime")
MAX_RESPONSE = 6 * 1024 * 1024
# a connection still opening after this long is looked into (connections.py; and again at
# this interval): a dropped SYN gets one explaining log line per destination
OPENING_S = 0.3
EVIDENCE = 1000  # invocation times kept per function (the doctor's evidence)


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] \
        + "Z"


def _exit_text(code: int | None) -> str:
    """How AWS describes a runtime's exit: `exit status 1`, `signal: killed`."""
    if code is None or code >= 0:
        return f"exit status {code if code is not None else 1}"
    return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Runtime:
    def __init__(self, config: RuntimeConfig, launch: Launch | None = None) -> None:
        self.config = config
        self.launch = launch
        self.telemetry = Telemetry(config.write_logs, config.write_metrics)
        self.code = CodeCache(config.data_dir / "lambda" / "tasks")
        self._envs: set[Environment] = set()
        self._idle: dict[FunctionSpec, list[Environment]] = defaultdict(list)
        self._specs: dict[tuple[str, str, str], FunctionSpec] = {}  # pool key -> current
        self._provisioned: dict[FunctionSpec, int] = {}
        self._starting: dict[FunctionSpec, int] = defaultdict(int)  # provisioned, spawning
        self._inflight: dict[tuple[str, str], int] = defaultdict(int)
        self._inflight_region: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task] = set()
        self._reaper: asyncio.Task | None = None
        self._uids: dict[tuple[str, str], int] = {}  # (region, function) -> its own uid
        self._uid_block, self._uid_lock = FUNCTION_UIDS, -1  # this server's (claim_uids)
        self._by_key: dict[str, Environment] = {}  # its credentials' access key -> it
        # each environment in a jail of its own, when functions run as users of their own
        self.jails: Jails | None = None
        # what invocations showed, per (region, function): when the latest ran, and the
        # connections the network dropped ((address, port) -> the hint line)
        self.invocations: dict[tuple[str, str], deque[float]] = defaultdict(
            lambda: deque(maxlen=EVIDENCE))
        self.blocked: dict[tuple[str, str], dict[tuple[str, int], str]] = defaultdict(dict)

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self.launch is None:
            self.launch = await asyncio.to_thread(detect) if self.config.run_unprivileged \
                else await asyncio.to_thread(_own_launch)
        if not self.launch.can_reach(self.code.root):
            # the data directory sits where the function's user cannot enter (e.g. under
            # /root): code goes to a directory of this run in the system's temp dir instead
            scratch = tempfile.mkdtemp(prefix="vpclocal-tasks-")
            os.chmod(scratch, 0o755)
            self.code.root = Path(scratch)
        if self.launch.uid is not None:
            self._uid_block, self._uid_lock = await asyncio.to_thread(claim_uids)
            self.jails = Jails(self.config.data_dir / "lambda" / "environments")
            await asyncio.to_thread(self.jails.start)
        self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for task in list(self._tasks):
            task.cancel()
        envs = list(self._envs)
        for env in envs:
            env.kill()
        if envs:
            await asyncio.wait([asyncio.ensure_future(e.exited) for e in envs], timeout=5)
        self.telemetry.close()
        if self.jails is not None:
            await asyncio.to_thread(self.jails.stop)
        if self._uid_lock >= 0:  # its functions' processes are gone: the block is free
            os.close(self._uid_lock)
            self._uid_lock = -1
        if self.code.root.name.startswith("vpclocal-tasks-"):
            shutil.rmtree(self.code.root, ignore_errors=True)

    def note(self, access_key: str, line: str) -> None:
        """A line for the log of the environment holding these credentials (any thread)."""
        env = self._by_key.get(access_key)
        if env is not None:
            env.output.append((now_ms(), line))

    def isolation(self) -> str:
        """One line for the server's start: how function code runs here, or why it does not."""
        assert self.launch is not None
        if self.launch.refused:
            return f"Lambda functions will not run: {self.launch.refused}."
        if self.jails is None:
            return "Lambda functions run as the server's user, unjailed (a library's choice)."
        cgroups = self.jails.cgroups
        limits = (f"memory and processes limited by cgroup {cgroups.form}" if cgroups.form
                  else f"no cgroups ({cgroups.reason}): {FALLBACK}")
        return ("Lambda functions run jailed: a user of their own each, their own PID, mount "
                f"(a private /tmp) and network namespaces; {limits}.")

    # ---- concurrency ---------------------------------------------------------------------

    def concurrency(self, region: str, name: str | None = None) -> int:
        """Invocations running now, of one function or of a region."""
        return self._inflight[(region, name)] if name else self._inflight_region[region]

    def _admit(self, spec: FunctionSpec, reserved: int | None) -> int:
        key = (spec.region, spec.name)
        if reserved is not None:
            if self._inflight[key] >= reserved:
                self.telemetry.metric(spec.region, spec.name, "Throttles", 1)
                raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._inflight_region[spec.region] >= self.config.account_concurrency:
            self.telemetry.metric(spec.region, spec.name, "Throttles", 1)
            raise Throttled("ConcurrentInvocationLimitExceeded")
        self._inflight[key] += 1
        self._inflight_region[spec.region] += 1
        return self._inflight[key]

    def _release(self, spec: FunctionSpec) -> None:
        self._inflight[(spec.region, spec.name)] -= 1
        self._inflight_region[spec.region] -= 1

    # ---- environments --------------------------------------------------------------------

    def _current(self, spec: FunctionSpec) -> None:
        """Make `spec` the one its function version runs; retire the previous one."""
        old = self._specs.get(spec.pool_key)
        if old == spec:
            return
        self._specs[spec.pool_key] = spec
        if old is not None:
            self._provisioned.pop(old, None)
            for env in self._idle.pop(old, []):
                env.kill()

    def _take(self, spec: FunctionSpec) -> Environment | None:
        idle = self._idle.get(spec)
        while idle:
            env = idle.pop()  # the most recently used: the others may go idle and be reaped
            if env.usable:
                return env
            env.kill()  # e.g. its namespace died with the fabric's sandbox: not left running
        return None

    def _give_back(self, env: Environment) -> None:
        env.last_used = time.monotonic()
        if env.usable and self._specs.get(env.spec.pool_key) == env.spec:
            self._idle[env.spec].append(env)
        else:
            env.kill()

    async def _spawn(self, spec: FunctionSpec, provisioned: bool = False) -> Environment:
        assert self.launch is not None
        if not spec.runtime.startswith(BOOTSTRAP_RUNTIMES + PYTHON_RUNTIMES):
            raise ValueError(f"vpclocal cannot run the runtime {spec.runtime}")
        if self.launch.refused:  # nothing runs rather than something unisolated
            raise Unplaceable(self.launch.refused)
        launch = self._launch_for(spec)
        task_root = await self.code.extract(spec.code_path, spec.code_sha, launch.uid)
        jail = None if self.jails is None or launch.uid is None else self.jails.new(
            uuid.uuid4().hex, launch.uid, launch.gid or launch.uid, spec.memory_mb,
            spec.storage_mb)
        env = Environment(spec, self.config, launch, task_root, provisioned=provisioned,
                          jail=jail)
        credentials = self.config.credentials(spec) if self.config.credentials else {}
        self._envs.add(env)
        if credentials.get("AccessKeyId"):
            self._by_key[credentials["AccessKeyId"]] = env
            env.exited.add_done_callback(
                lambda _: self._by_key.pop(credentials["AccessKeyId"], None))
        env.exited.add_done_callback(lambda _: self._forget(env))
        try:
            await env.start(credentials)
        except Unplaceable as exc:  # nothing ran: the invoke fails, the function's log says why
            self._envs.discard(env)
            self.telemetry.log(spec, env.stream, [(now_ms(), f"vpclocal: {exc}")])
            raise
        return env

    def _launch_for(self, spec: FunctionSpec) -> Launch:
        """How this function's environments run: as its own user when functions run
        unprivileged at all (a uid of this server's block, sandbox.claim_uids)."""
        assert self.launch is not None
        if self.launch.uid is None:
            return self.launch
        key = (spec.region, spec.name)
        uid = self._uids.get(key)
        if uid is None:
            # past a block's worth of functions, uids are shared (within this server only)
            uid = self._uids[key] = self._uid_block[len(self._uids) % len(self._uid_block)]
        return dataclasses.replace(self.launch, uid=uid, gid=uid)

    def _forget(self, env: Environment) -> None:
        self._envs.discard(env)
        idle = self._idle.get(env.spec)
        if idle and env in idle:
            idle.remove(env)

    def provision(self, spec: FunctionSpec, count: int) -> None:
        """Keep `count` environments of `spec` initialized (provisioned concurrency)."""
        self._current(spec)
        if count <= 0:
            self._provisioned.pop(spec, None)
        else:
            self._provisioned[spec] = count
        self._top_up(spec)

    def provisioned(self) -> dict[FunctionSpec, int]:
        """Provisioned concurrency targets now kept."""
        return dict(self._provisioned)

    def provisioned_ready(self, spec: FunctionSpec) -> int:
        return sum(1 for e in self._envs if e.spec == spec and e.provisioned and e.usable
                   and e.ready.done() and e.ready.result())

    def _top_up(self, spec: FunctionSpec) -> None:
        want = self._provisioned.get(spec, 0)
        mine = [e for e in self._envs if e.spec == spec and e.provisioned and not e.dying]
        for env in mine[want:]:
            env.provisioned = False  # the reaper reclaims it once idle
        for _ in range(want - len(mine) - self._starting[spec]):
            self._starting[spec] += 1
            self._background(self._start_provisioned(spec))

    async def _start_provisioned(self, spec: FunctionSpec) -> None:
        try:
            env = await self._spawn(spec, provisioned=True)
        except Exception:
            log.exception("provisioning %s failed", spec.arn)
            return
        finally:
            self._starting[spec] -= 1
        ok = await env.wait_ready(self.config.init_timeout_s)
        self.telemetry.log(spec, env.stream, env.take_output())
        if ok:
            self._give_back(env)
        else:
            env.kill()

    def _background(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap(self) -> None:
        idle_s = self.config.idle_seconds
        while True:
            await asyncio.sleep(min(max(idle_s / 4, 0.05), 5.0))
            now = time.monotonic()
            for envs in list(self._idle.values()):
                for env in list(envs):
                    if not env.usable or env.created < now - self.config.max_age_seconds or (
                            not env.provisioned and env.last_used < now - idle_s):
                        envs.remove(env)
                        env.kill()
            for spec in list(self._provisioned):
                self._top_up(spec)

    # ---- invoke --------------------------------------------------------------------------

    async def invoke(self, spec: FunctionSpec, payload: bytes, *, request_id: str | None = None,
                     invoked_arn: str | None = None, client_context: str | None = None,
                     log_tail: bool = False, reserved: int | None = None,
                     cognito_identity: str | None = None,
                     injected_error: bool = False) -> Result:
        """Run one invocation to its end. Raises Throttled when a concurrency limit is hit.
        injected_error: a fault (FIS) fails it once it has run, so it counts in Errors."""
        request_id = request_id or str(uuid.uuid4())
        concurrent = self._admit(spec, reserved)
        try:
            self._current(spec)
            self.telemetry.metric(spec.region, spec.name, "ConcurrentExecutions", concurrent)
            self.telemetry.metric(spec.region, "", "ConcurrentExecutions",
                                  self._inflight_region[spec.region])
            result, lines, env = await self._run(spec, payload or b"{}", request_id,
                                                 invoked_arn or spec.arn, client_context,
                                                 cognito_identity)
        finally:
            self._release(spec)
        self.telemetry.log(spec, env.stream, lines)
        failed = result.function_error is not None or injected_error
        self.telemetry.metric(spec.region, spec.name, "Invocations", 1)
        self.invocations[(spec.region, spec.name)].append(time.time())
        self.telemetry.metric(spec.region, spec.name, "Errors", 1 if failed else 0)
        self.telemetry.metric(spec.region, spec.name, "Duration", round(result.duration_ms, 2))
        if log_tail:
            result.log_tail = tail(lines)
        return result

    async def _run(self, spec: FunctionSpec, payload: bytes, request_id: str, invoked_arn: str,
                   client_context: str | None, cognito_identity: str | None,
                   ) -> tuple[Result, list, Environment]:
        lines: list[tuple[int, str]] = []
        env = self._take(spec)
        cold = env is None
        if env is None:
            env = await self._spawn(spec)
            try:
                ok = await env.wait_ready(self.config.init_timeout_s)
            except asyncio.CancelledError:
                env.kill()
                raise
            lines += env.take_output()
            if not ok:
                result = self._init_failed(env, request_id, lines, timed_out=ok is None)
                return result, lines, env
        else:
            lines += env.take_output()  # stray output between invocations
        init_ms = None
        if not env.init_reported:
            env.init_reported = True
            init_ms = env.init_ms
            if env.placement is not None and env.placement.init_note:
                lines.append((now_ms(), env.placement.init_note))

        inv = Invocation(request_id, payload, invoked_arn, client_context, spec.timeout_s,
                         cognito_identity)
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        lines.append((now_ms(), f"START RequestId: {request_id} Version: {spec.version}"))
        if env.note:
            lines.append((now_ms(), env.note))
        limit_kb = spec.memory_mb * 1024
        oom = False

        def on_deadline() -> None:
            if not inv.future.done():
                inv.future.set_result(("timeout", b"", None))
                env.kill()

        def watch_memory() -> None:
            nonlocal oom, poll
            if inv.future.done():
                return
            if env.memory_kb()[0] > limit_kb:
                oom = True
                env.kill()
            else:
                poll = loop.call_later(self.config.memory_poll_s, watch_memory)

        hints: list[tuple[int, str]] = []
        explained: set[tuple[str, int]] = set()
        explain = env.placement.explain if env.placement is not None else None

        def watch_connections() -> None:
            nonlocal watch
            if inv.future.done() or env.proc is None or explain is None:
                return
            for destination in sorted(opening(env.pids()) - explained):
                explained.add(destination)
                line = explain(*destination)
                if line:
                    hints.append((now_ms(), line))
                    self.blocked[(spec.region, spec.name)][destination] = line
            watch = loop.call_later(OPENING_S, watch_connections)

        deadline = loop.call_later(spec.timeout_s, on_deadline)
        # the kernel holds a jailed environment to its memory; else it is watched
        poll = None if env.limited else loop.call_later(self.config.memory_poll_s,
                                                         watch_memory)
        watch = loop.call_later(OPENING_S, watch_connections) if explain else None
        env.dispatch(inv)
        try:
            kind, body, error_type = await inv.future
        finally:
            deadline.cancel()
            if poll is not None:
                poll.cancel()
            if watch is not None:
                watch.cancel()
            if not inv.future.done():  # cancelled mid-invocation: the environment is lost
                env.kill()
        duration = (time.monotonic() - start) * 1000
        env.current = None
        lines += env.take_output()
        lines += hints
        _, peak_kb = env.memory_kb()
        if env.limited:
            # the kernel killed a process over the limit, and the runtime died (of it)
            oom = oom or (kind == "exit" and env.oom_killed())
        elif kind in ("ok", "error") and peak_kb > limit_kb:
            # the peak went over the limit between two polls: the kernel would have killed it
            oom = True
            env.kill()
        max_used = math.ceil(peak_kb / 1024)
        end_ms = now_ms()
        status = None
        report_error = None
        if oom:
            kind = "exit"
        if kind == "ok" and len(body) > MAX_RESPONSE:
            kind, error_type = "error", "Function.ResponseSizeTooLarge"
            body = _error_payload(error_type, "Response payload size exceeded maximum allowed "
                                  "payload size (6291556 bytes).")
        if kind == "timeout":
            status = "timeout"
            elapsed = f"{duration / 1000:.2f}"
            lines.append((end_ms, (f"{_iso(end_ms)} {request_id} Task timed out after {elapsed} "
                                  "seconds")))
            body = _error_payload("Sandbox.Timedout", f"RequestId: {request_id} Error: Task "
                                  f"timed out after {elapsed} seconds")
        elif kind == "exit":
            status = "error"
            report_error = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
            message = (f"RequestId: {request_id} Error: Runtime exited with error: "
                       f"{'signal: killed' if oom else _exit_text(env.exit_code)}")
            lines.append((end_ms, f"{message}\n{report_error}"))
            body = _error_payload(report_error, message)
        lines.append((end_ms, f"END RequestId: {request_id}"))
        lines.append((end_ms, report_line(request_id, duration, spec.memory_mb, max_used,
                                          init_ms, status, report_error)))
        self._give_back(env)
        result = Result(body, None if kind == "ok" else "Unhandled",
                        status="success" if kind == "ok" else (status or "error"),
                        duration_ms=duration, cold=cold)
        return result, lines, env

    def _init_failed(self, env: Environment, request_id: str, lines: list,
                     timed_out: bool) -> Result:
        """An environment that never became ready: AWS's error for the invocation."""
        spec = env.spec
        init_ms = env.init_ms or (time.monotonic() - env._started) * 1000
        if env.init_error is not None:
            error_type, body = env.init_error
        elif env.spawn_error:
            error_type = "Runtime.InvalidEntrypoint"
            body = _error_payload(error_type, f"RequestId: {request_id} Error: "
                                  f"{env.spawn_error}")
        elif timed_out:
            error_type = "Sandbox.Timedout"
            body = _error_payload(error_type, f"RequestId: {request_id} Error: Task timed out "
                                  f"after {init_ms / 1000:.2f} seconds")
        else:
            error_type = "Runtime.ExitError"
            body = _error_payload(error_type, f"RequestId: {request_id} Error: Runtime exited "
                                  f"with error: {_exit_text(env.exit_code)}")
        now = now_ms()
        # INIT_REPORT as AWS logs an init failure during an invoke (tab-separated)
        lines.append((now, (f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: invoke\t"
                           f"Status: error\tError Type: {error_type}")))
        lines.append((now, f"START RequestId: {request_id} Version: {spec.version}"))
        if env.note:
            lines.append((now, env.note))
        lines.append((now, f"END RequestId: {request_id}"))
        max_used = math.ceil(env.memory_kb()[1] / 1024)
        lines.append((now, report_line(request_id, init_ms, spec.memory_mb, max_used, None,
                                       "error", error_type)))
        env.kill()
        return Result(body, "Unhandled", status="error", duration_ms=init_ms, cold=True)


def _own_launch() -> Launch:
    return Launch(os.path.realpath(sys.executable),
                  ".".join(map(str, sys.version_info[:3])), runtime_paths())

