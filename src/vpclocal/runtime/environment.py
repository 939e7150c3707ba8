"""An execution environment: one OS process running a function's runtime, serving one
invocation at a time through its own Runtime API listener.

Python runtimes run AWS's runtime interface client (`awslambdaric <handler>`); `provided.*`
runtimes run the package's `bootstrap`. stdout and stderr share one pipe, read as log lines;
the process's exit is watched through a pidfd, so nothing polls or blocks the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from vpclocal.runtime.api import Connection, RuntimeApi
from vpclocal.runtime.jail import FALLBACK, Jail
from vpclocal.runtime.sandbox import Launch, bootstrap_code
from vpclocal.runtime.types import (
    BOOTSTRAP_RUNTIMES,
    FunctionSpec,
    Placement,
    RuntimeConfig,
    Unplaceable,
)

MAX_LINE = 256 * 1024  # CloudWatch Logs' event size: longer output is split
EXEC_FAILED = {126: "permission denied", 127: "no such file or directory"}  # exit statuses


def _enter(placement: Placement, launch: Launch, mount_ns: int | None = None,
           become: bool = True) -> list[str]:
    """`nsenter` into the placement's network namespace (and a mount namespace, with its
    working directory), becoming the function's user after entering unless the jail does it
    (nsenter execs: the process keeps its PID)."""
    argv = [shutil.which("nsenter") or "nsenter", f"--net=/proc/self/fd/{placement.netns_fd}"]
    if mount_ns is not None:
        # entering a mount namespace moves to its root: --wd=. returns to the directory
        # nsenter started in (the task root)
        argv += [f"--mount=/proc/self/fd/{mount_ns}", "--wd=."]
    if become and launch.uid is not None:
        argv += ["-S", str(launch.uid), "-G", str(launch.gid if launch.gid is not None
                                                  else launch.uid)]
    return [*argv, "--"]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc (children of each thread group leader)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


_resolver_spaces: dict[str, int] = {}  # resolv.conf text -> a mount namespace's descriptor
_resolver_lock = threading.Lock()


def resolv_conf(placement: Placement) -> str:
    """/etc/resolv.conf as EC2 writes it in a VPC: its resolver, and its search domain."""
    text = f"nameserver {placement.resolver}\n"
    return text + f"search {placement.search}\n" if placement.search else text


def resolver_space(text: str) -> int:
    """A mount namespace in which /etc/resolv.conf says `text`, made once per text (per VPC)
    and held by this descriptor for the server's lifetime, so a cold start only enters it
    (nsenter --mount: no cost to measure; making one takes about 12 ms).

    A throwaway `unshare --mount --propagation slave` (mounts made on the host later still
    appear inside; nothing made inside reaches the host) bind-mounts a file on
    /etc/resolv.conf, says ready and waits while its namespace is opened here; then it exits
    and the file is removed (the mount keeps it)."""
    with _resolver_lock:
        if text in _resolver_spaces:
            return _resolver_spaces[text]
        fd, path = tempfile.mkstemp(prefix="vpclocal-resolv-", suffix=".conf")
        try:
            os.write(fd, text.encode())
            os.fchmod(fd, 0o644)
            os.close(fd)
            script = (f'{shutil.which("mount") or "mount"} --bind "$0" /etc/resolv.conf && '
                      "echo ready && read -r _")
            proc = subprocess.Popen(
                [shutil.which("unshare") or "unshare", "--mount", "--propagation", "slave",
                 "--", shutil.which("sh") or "/bin/sh", "-c", script, path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                if proc.stdout.readline() != b"ready\n":
                    raise OSError(proc.stderr.read().decode(errors="replace").strip()
                                  or "unshare --mount failed")
                space = os.open(f"/proc/{proc.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            finally:
                proc.stdin.close()
                proc.wait()
                proc.stdout.close()
                proc.stderr.close()
        finally:
            os.unlink(path)
        _resolver_spaces[text] = space
        return space


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _field_kb(status: bytes, name: bytes) -> int:
    """A `Name:   1234 kB` field of /proc/<pid>/status."""
    at = status.find(name)
    if at < 0:
        return 0
    end = status.find(b"kB", at)
    return int(status[at + len(name):end])


def _resident_kb(pids: list[int]) -> tuple[int, int]:
    """(resident, sum of peak residents) of processes, in kB."""
    rss = hwm = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as status:
                data = status.read()
        except OSError:
            continue
        rss += _field_kb(data, b"\nVmRSS:")
        hwm += _field_kb(data, b"\nVmHWM:")
    return rss, max(rss, hwm)


class Invocation:
    __slots__ = (
        "client_context",
        "cognito_identity",
        "deadline_ms",
        "future",
        "invoked_arn",
        "payload",
        "request_id",
        "trace_id",
    )

    def __init__(self, request_id: str, payload: bytes, invoked_arn: str,
                 client_context: str | None, timeout_s: float,
                 cognito_identity: str | None = None) -> None:
        self.request_id = request_id
        self.payload = payload
        self.invoked_arn = invoked_arn
        self.client_context = client_context
        self.cognito_identity = cognito_identity
        self.deadline_ms = now_ms() + int(timeout_s * 1000)
        self.trace_id = (f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
                         f"Parent={secrets.token_hex(8)};Sampled=0")
        # resolved with (kind, body, error type): kind ok | error | exit | timeout
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()

    def headers(self) -> dict[str, str]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.invoked_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
        }
        if self.client_context:
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        if self.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = self.cognito_identity
        return headers


class Environment:
    def __init__(self, spec: FunctionSpec, config: RuntimeConfig, launch: Launch,
                 task_root: Path, *, provisioned: bool = False, jail: Jail | None = None,
                 ) -> None:
        self.spec = spec
        self.jail = jail  # None: the process runs as it is (a server that cannot jail)
        self.config = config
        self.launch = launch
        self.task_root = task_root
        self.provisioned = provisioned
        self.id = uuid.uuid4().hex
        day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
        self.stream = f"{day}/[{spec.version}]{self.id}"
        self.api = RuntimeApi(self)
        self.proc: subprocess.Popen | None = None
        self.alive = False  # the process runs
        self.dying = False  # killed, its exit not yet seen
        self.current: Invocation | None = None
        self.init_ms = 0.0
        self.init_reported = provisioned  # provisioned inits do not show in a REPORT
        self.init_error: tuple[str, bytes] | None = None  # (error type, body) from /init/error
        self.spawn_error = ""  # why the process could not start
        self.exit_code: int | None = None
        self.last_used = self.created = time.monotonic()
        self.peak_kb = 0
        self.output: list[tuple[int, str]] = []
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[bool] = loop.create_future()
        self.exited: asyncio.Future[int] = loop.create_future()
        self._parked: Connection | None = None
        self._pending: Invocation | None = None
        self._fd = -1
        self._pidfd = -1
        self._partial = b""
        self._started = 0.0
        self._status_fd = -1
        self.placement: Placement | None = None
        self._unguard = None  # undoes Placement.guard once the environment is gone
        self._oom = False  # its cgroup's verdict, kept once the cgroup is gone

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self, credentials: dict[str, str]) -> None:
        """Spawn the process; `ready` resolves when it asks for its first invocation."""
        self._started = time.monotonic()
        placement = self.placement = (await self.config.placement(self.spec)
                                      if self.config.placement else None)
        try:
            await self._spawn(credentials, placement)
        finally:
            if placement is not None:
                placement.release()

    async def _spawn(self, credentials: dict[str, str], placement: Placement | None) -> None:
        loop = asyncio.get_running_loop()
        bind, advertised = self.config.api_hosts(self.spec)
        try:
            if placement is not None and placement.listener is not None:
                bind, advertised = "namespace", placement.advertise
                _, port = await self.api.listen(sock=placement.listener)
            else:
                _, port = await self.api.listen(bind)
        except OSError as exc:
            self.spawn_error = f"listen {bind}: {(exc.strerror or str(exc)).lower()}"
            self._finish(None)
            return
        variables = self.variables(f"{advertised}:{port}", credentials)
        if (placement is not None and placement.endpoint_url is not None
                and "AWS_ENDPOINT_URL" not in self.spec.environment):  # unless its own
            variables.pop("AWS_ENDPOINT_URL", None)
            if placement.endpoint_url:
                variables["AWS_ENDPOINT_URL"] = placement.endpoint_url
        if placement is not None:
            own = dict(self.spec.environment)
            variables.update((k, v) for k, v in placement.environment.items() if k not in own)
        for note in self.notes():
            self.output.append((now_ms(), note))
        command, user = self.command(), {"user": self.launch.uid, "group": self.launch.gid,
                                         "extra_groups": [] if self.launch.uid is not None
                                         else None}
        if self.jail is not None:
            keep = [str(self.task_root), self.launch.python, *self.launch.runtime_paths,
                    *(v for v in variables.values() if v.startswith("/tmp/"))]
            try:
                self.jail.prepare(keep)
            except OSError as exc:
                raise Unplaceable(f"cannot make the environment's jail: {exc}") from exc
            command, user = self.jail.wrap(command), {}  # its init becomes the function's user
        fds: tuple[int, ...] = ()
        if placement is not None and placement.netns_fd >= 0:
            if placement.guard is not None and self.launch.uid is not None:
                try:  # its Runtime API: for its own user only (others share the namespace)
                    self._unguard = await asyncio.to_thread(placement.guard, self.launch.uid)
                except Exception as exc:
                    raise Unplaceable(f"cannot guard the function's Runtime API: {exc}") from exc
            mount_ns = None
            if placement.resolver:  # its /etc/resolv.conf names the VPC's resolver
                try:
                    mount_ns = await asyncio.to_thread(resolver_space, resolv_conf(placement))
                except OSError as exc:
                    note = f"vpclocal: names resolve by the host's /etc/resolv.conf here ({exc})."
                    self.output.append((now_ms(), note))
            command = _enter(placement, self.launch, mount_ns,
                             become=self.jail is None) + command
            fds = (placement.netns_fd,) if mount_ns is None else (placement.netns_fd, mount_ns)
            user = {}  # nsenter enters as the server's user, then becomes the function's
        read_fd, write_fd = os.pipe()
        try:
            # fork+exec inline: a few ms at most, and the pidfd needs the child at once
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                command, cwd=self.task_root, env=variables, stdin=subprocess.DEVNULL,
                stdout=write_fd, stderr=write_fd, start_new_session=True, close_fds=True,
                pass_fds=fds, **user)
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            self.spawn_error = f"fork/exec {exc.filename or command[0]}: " \
                               f"{(exc.strerror or str(exc)).lower()}"
            self._finish(None)
            return
        os.close(write_fd)
        self.alive = True
        self._fd = read_fd
        os.set_blocking(read_fd, False)
        loop.add_reader(read_fd, self._read_output)
        self._pidfd = os.pidfd_open(self.proc.pid)
        loop.add_reader(self._pidfd, self._on_exit)

    def command(self) -> list[str]:
        if self.spec.runtime.startswith(BOOTSTRAP_RUNTIMES):
            return [str(self.task_root / "bootstrap")]
        # -S: no site-packages of the interpreter; the function's own come first on the path
        return [self.launch.python, "-S", "-c", bootstrap_code(self.launch.runtime_paths),
                self.spec.handler]

    def variables(self, api_address: str, credentials: dict[str, str]) -> dict[str, str]:
        spec = self.spec
        python_bin = os.path.dirname(self.launch.python)
        env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8",
               "TZ": ":UTC", "PYTHONPATH": str(self.task_root)}
        if self.config.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.config.endpoint_url
        env.update(spec.environment)  # may override the above, not what follows (reserved)
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": ("provisioned-concurrency" if self.provisioned
                                               else "on-demand"),
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "LAMBDA_RUNTIME_DIR": self.launch.runtime_paths[0] if self.launch.runtime_paths
            else "",
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "AWS_ACCESS_KEY_ID": credentials.get("AccessKeyId", "test"),
            "AWS_SECRET_ACCESS_KEY": credentials.get("SecretAccessKey", "test"),
        })
        if credentials.get("SessionToken"):
            env["AWS_SESSION_TOKEN"] = credentials["SessionToken"]
        return env

    def notes(self) -> list[str]:
        notes = []
        if self.jail is not None and not self.jail.limited:
            notes.append(f"vpclocal: no cgroups here ({self.jail.cgroups.reason}): {FALLBACK}.")
        runtime = self.spec.runtime
        if runtime.startswith("python"):
            host = ".".join(self.launch.python_version.split(".")[:2])
            if runtime != f"python{host}":
                notes.append(f"vpclocal: runtime {runtime} runs on Python "
                              f"{self.launch.python_version} here.")
        return notes

    async def wait_ready(self, timeout: float) -> bool | None:
        """True: initialized; False: init failed; None: init timed out (and was killed)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.ready), timeout)
        except TimeoutError:
            self.kill()
            return None

    @property
    def usable(self) -> bool:
        return self.alive and not self.dying and (self.placement is None
                                                  or self.placement.current())

    @property
    def note(self) -> str:
        """A line for each invocation's log about where this environment runs."""
        return self.placement.note if self.placement is not None else ""

    def kill(self) -> None:
        self.dying = True
        if self.proc is not None and self.alive:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _on_exit(self) -> None:
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        code = self.proc.wait()
        if self.jail is not None and 128 < code <= 128 + 64:
            code = 128 - code  # the jail's init reports a death by signal n as 128+n
        try:  # whatever the function left behind in its process group goes too
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._read_output()
        loop.remove_reader(self._fd)
        os.close(self._fd)
        if self._partial:
            self._line(self._partial)
            self._partial = b""
        if self.jail is not None and code in EXEC_FAILED and not self.ready.done():
            self._exec_failed(code)
        if self._status_fd >= 0:
            os.close(self._status_fd)
            self._status_fd = -1
        self._finish(code)

    def _exec_failed(self, code: int) -> None:
        """setpriv could not exec the runtime (126/127, as shells say): the same spawn error as
        an unjailed start, without setpriv's own line in the function's log."""
        program = self.command()[0]
        self.output = [(ts, line) for ts, line in self.output
                       if not line.startswith(f"setpriv: failed to execute {program}")]
        self.spawn_error = f"fork/exec {program}: {EXEC_FAILED[code]}"

    def _finish(self, code: int | None) -> None:
        self.alive = False
        self.exit_code = code
        if not self.ready.done():
            self.ready.set_result(False)
        inv = self.current
        if inv is not None and not inv.future.done():
            inv.future.set_result(("exit", b"", None))
        self.api.close()
        retire = self.placement.retire if self.placement is not None else None
        if retire is not None:  # e.g. the namespace made for this environment alone
            self.placement.retire = None
            asyncio.get_running_loop().run_in_executor(None, retire)
        unguard, self._unguard = self._unguard, None
        if unguard is not None:
            asyncio.get_running_loop().run_in_executor(None, unguard)
        if self.jail is not None:  # its namespace is gone with its init: nothing runs in it
            counted = self.jail.memory_kb()  # what its cgroup saw, before it goes
            self.peak_kb = max(self.peak_kb, counted[1] if counted else 0)
            self._oom = self.jail.oom_killed()
            asyncio.get_running_loop().run_in_executor(None, self.jail.remove)
        if not self.exited.done():
            self.exited.set_result(code if code is not None else -1)

    # ---- output --------------------------------------------------------------------------

    def _read_output(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(self._fd)
                return
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                self._line(line)
            while len(self._partial) > MAX_LINE:
                self._line(self._partial[:MAX_LINE])
                self._partial = self._partial[MAX_LINE:]

    def _line(self, raw: bytes) -> None:
        ts = now_ms()
        for at in range(0, max(len(raw), 1), MAX_LINE):
            self.output.append((ts, raw[at:at + MAX_LINE].decode("utf-8", "replace")))

    def take_output(self) -> list[tuple[int, str]]:
        """Log lines so far: everything the process wrote before it posted its result."""
        if self.alive:
            self._read_output()
        if self._partial:  # text without a newline still belongs to this invocation
            self._line(self._partial)
            self._partial = b""
        out, self.output = self.output, []
        return out

    @property
    def limited(self) -> bool:
        """The kernel holds the environment to its memory (else the pool watches it)."""
        return self.jail is not None and self.jail.limited

    def oom_killed(self) -> bool:
        """The kernel killed one of its processes for going over its memory."""
        if self.jail is None:
            return False
        return self.jail.oom_killed() if self.alive else self._oom

    def pids(self) -> list[int]:
        """Every process of the environment."""
        if self.proc is None or not self.alive:
            return []
        return (self.jail.pids() if self.limited else []) or process_tree(self.proc.pid)

    def memory_kb(self) -> tuple[int, int]:
        """(used now, peak) by the environment, in kB; once it is gone, (0, the peak last
        seen). From its cgroup when jailed in one, else the resident memory of its processes
        (the process alone: one pread of /proc/<pid>/status, kept open, on every invoke)."""
        if self.proc is None or not self.alive:
            return 0, self.peak_kb
        if self.jail is not None:
            counted = self.jail.memory_kb()
            if counted is None:  # no cgroup: every process of the jail, summed
                counted = _resident_kb(process_tree(self.proc.pid))
            self.peak_kb = max(self.peak_kb, *counted)
            return counted[0], self.peak_kb
        try:
            if self._status_fd < 0:
                self._status_fd = os.open(f"/proc/{self.proc.pid}/status", os.O_RDONLY)
            data = os.pread(self._status_fd, 4096, 0)
        except OSError:
            return 0, self.peak_kb
        hwm = _field_kb(data, b"\nVmHWM:")
        rss = _field_kb(data, b"\nVmRSS:")
        self.peak_kb = max(self.peak_kb, hwm, rss)
        return rss, self.peak_kb

    # ---- the Runtime API's side ----------------------------------------------------------

    def dispatch(self, inv: Invocation) -> None:
        """Hand an invocation to the runtime: now if it waits on /next, else when it asks."""
        self.current = inv
        conn, self._parked = self._parked, None
        if conn is None or not conn.deliver(inv.headers(), inv.payload):
            self._pending = inv

    def on_next(self, conn: Connection) -> None:
        if not self.ready.done():
            self.init_ms = (time.monotonic() - self._started) * 1000
            self.ready.set_result(True)
        inv, self._pending = self._pending, None
        if inv is None or not conn.deliver(inv.headers(), inv.payload):
            self._parked = conn

    def on_result(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        inv = self.current
        if inv is None or inv.request_id != request_id or inv.future.done():
            return False
        inv.future.set_result(("ok" if error_type is None else "error", body, error_type))
        return True

    def on_init_error(self, error_type: str | None, body: bytes) -> bool:
        if self.ready.done():
            return False
        self.init_error = (error_type or "Runtime.Unknown", body)
        return True
