"""The sandbox: one private user + mount + PID + network namespace tree owned by the server.

    with Sandbox() as sb:                         # starts the agent (agent.py) inside it
        router, eni = sb.ns_new(2)
        sb.ip(router, "link add ...")             # `ip -batch` inside that namespace
        sb.nft(router, "table ip vpc { ... }")    # `nft -f` inside that namespace

Layout: the server starts `setpriv --pdeathsig KILL unshare --user --map-root-user --net
--mount --pid --fork --kill-child --mount-proc python -m vpclocal.fabric.agent` (the `root`
form, variant.py, leaves out `--user --map-root-user`: namespaces owned by the host's user
namespace, for a server that is root). At start the agent probes, in a scratch namespace,
what nftables may do here, and the sandbox's `variant` says which data path the compiler
uses. The agent is
PID 1 of the new PID namespace and holds every further network namespace (per VPC router, per
ENI) by a file descriptor: nothing is named under /run/netns or mounted on the host, and
nothing is ever connected to the host's network namespace.

Lifetime: when the server exits, cleanly or by SIGKILL, `unshare` gets SIGKILL (its parent
death signal; note that it fires when the *thread* that started the sandbox ends, so start it
from a long-lived thread), which SIGKILLs the agent (--kill-child); the agent also exits when
the server's end of its socket closes. The agent being PID 1, its death kills every process in
the sandbox, and the namespaces, held only by those processes, disappear with them.

The other way round, the agent or `unshare` may die while the server runs (an OOM killer, a
user's kill): `unshare` exits either way (it waits for the agent; --kill-child takes the
agent along when it goes first), and wait_exit() wakes on its pidfd, so the server can notice
at once and build a new sandbox (service.py).
"""

from __future__ import annotations

import functools
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Self

from .agent import recv_frame, send_frame
from .variant import REWRITE_PROBE, Variant, VariantError, choose, unprobed, wanted_sandbox

AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent.py")  # stdlib only

TOOLS = ("unshare", "setpriv", "nsenter", "ip", "nft", "conntrack")
UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork",
           "--kill-child", "--mount-proc"]


def unshare_argv(sandbox: str = "userns") -> list[str]:
    """`unshare` for a sandbox form (variant.SANDBOXES)."""
    return UNSHARE if sandbox == "userns" else [a for a in UNSHARE
                                                if a not in ("--user", "--map-root-user")]


class FabricError(RuntimeError):
    """The sandbox is unavailable, or a command inside it failed."""


@dataclass(frozen=True)
class Space:
    """A network namespace inside the sandbox: the agent's descriptor for it, and the PID
    (inside the sandbox) of its holder process when it has one."""

    ns: int
    pid: int | None = None


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


def available(sandbox: str | None = None) -> tuple[bool, str]:
    """(True, "") when the fabric can run here (in the sandbox form asked for, by default the
    one VPCLOCAL_FABRIC_SANDBOX names), else (False, why not)."""
    try:
        form = sandbox or wanted_sandbox()
    except VariantError as exc:
        return False, str(exc)
    return _available(form)


@functools.lru_cache(maxsize=4)
def _available(sandbox: str) -> tuple[bool, str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return False, f"missing tools: {', '.join(missing)} (make setup installs them)"
    probe = ("ip link add name va type veth peer name vb && "
             "printf 'table ip t { chain c { type filter hook forward priority 0; "
             "ct state established accept; }; }' | nft -f -")
    try:
        proc = subprocess.run([*unshare_argv(sandbox), "sh", "-c", probe], check=False,
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot create namespaces: {exc}"
    if proc.returncode != 0:
        what = "user + network namespace" if sandbox == "userns" else "network namespace"
        return False, (f"cannot create a private {what} with veth and "
                       f"nftables here: {proc.stderr.strip() or proc.returncode}")
    return True, ""


class Sandbox:
    def __init__(self, sandbox: str | None = None) -> None:
        self.form = sandbox  # variant.SANDBOXES; None: as VPCLOCAL_FABRIC_SANDBOX says
        self.variant: Variant | None = None  # known once started
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._pidfd: int | None = None  # unshare's, opened before anyone can reap it
        self._lock = threading.Lock()

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        try:
            form = self.form or wanted_sandbox()
        except VariantError as exc:
            raise FabricError(str(exc)) from exc
        ok, why = available(form)
        if not ok:
            raise FabricError(why)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [shutil.which("setpriv") or "setpriv", "--pdeathsig", "KILL", *unshare_argv(form),
                sys.executable, "-I", AGENT, str(theirs.fileno())]
        try:
            # a session of its own: a Ctrl-C in the server's terminal is the server's to
            # handle (it stops the sandbox last), not a signal that kills the sandbox under it
            self.proc = subprocess.Popen(argv, pass_fds=(theirs.fileno(),),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            theirs.close()
        self.sock = ours
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):  # before Linux 5.3: wait_exit() waits by waitpid
            self._pidfd = None
        try:
            self.call("ping")
            nat = unprobed()
            self.variant = (Variant(form, nat, "forced, unprobed (VPCLOCAL_FABRIC_PROBE=0)")
                            if nat else choose(form, self._refused()))
        except (FabricError, VariantError) as exc:
            self.close()
            raise FabricError(str(exc)) from exc
        return self

    def _refused(self) -> str:
        """What the kernel says to a header rewrite in a scratch namespace of this sandbox
        ("" when it allows it)."""
        [scratch] = self.ns_new(1)
        try:
            r = self.run([(["nft", "-f", "-"], scratch, REWRITE_PROBE)])[0]
        finally:
            self.ns_del([scratch])
        if r.rc == 0:
            return ""
        lines = [line.split("Error: ", 1)[1] for line in r.err.splitlines() if "Error: " in line]
        return lines[0] if lines else (r.err.strip() or f"nft exited {r.rc}")

    def close(self) -> None:
        """Stop the agent: every namespace and process of the sandbox goes with it."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self) -> int | None:
        """Block until the sandbox's process exits, and return its status (negative: the
        signal that killed it). Woken by the kernel through a pidfd (not by polling), and
        without Popen's wait lock, so `alive` stays true to the moment meanwhile."""
        proc, fd = self.proc, self._pidfd
        self._pidfd = None  # this call owns it now
        if proc is None:
            return None
        if fd is not None:
            try:
                select.select([fd], [], [])
            finally:
                os.close(fd)
        return proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def host_pids(self) -> tuple[int, int | None]:
        """(unshare's PID, the agent's PID) as the host sees them."""
        assert self.proc is not None
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = f.read().split()
        except OSError:
            children = []
        return pid, int(children[0]) if children else None

    # ---- requests ------------------------------------------------------------------------------

    def call(self, op: str, fds: tuple[int, ...] = (), **args) -> dict:
        reply, extra = self.call_fds(op, fds, **args)
        for fd in extra:
            os.close(fd)
        return reply

    def call_fds(self, op: str, fds: tuple[int, ...] = (), **args) -> tuple[dict, list[int]]:
        """A request whose reply carries descriptors: the caller owns (and closes) them."""
        with self._lock:
            if self.sock is None:
                raise FabricError("the sandbox is not running")
            try:
                send_frame(self.sock, dict(args, op=op), fds)
                reply, extra = recv_frame(self.sock)
            except OSError as exc:
                raise FabricError(f"the sandbox agent is gone: {exc}") from exc
        if reply is None or "error" in reply:
            for fd in extra:
                os.close(fd)
            if reply is None:
                raise FabricError("the sandbox agent exited")
            raise FabricError(f"{op}: {reply['error']}")
        return reply, extra

    def ns_new(self, count: int = 1, *, sysctl: dict | None = None,
               holder: bool = False) -> list[Space]:
        reply = self.call("ns_new", count=count, sysctl=sysctl or {}, holder=holder)
        return [Space(s["ns"], s["pid"]) for s in reply["spaces"]]

    def ns_del(self, spaces: list[Space]) -> None:
        if spaces:
            self.call("ns_del", spaces=[s.ns for s in spaces])

    def run(self, jobs: list[tuple[list[str], Space | None, str]], parallel: int = 1
            ) -> list[Result]:
        """Run (argv, namespace or None for the sandbox's own, stdin text) jobs."""
        if not jobs:
            return []
        reply = self.call("run", parallel=parallel, jobs=[
            {"argv": argv, "ns": ns.ns if ns else None, "input": text} for argv, ns, text in jobs])
        return [Result(r["rc"], r["out"], r["err"]) for r in reply["results"]]

    def check(self, jobs: list[tuple[list[str], Space | None, str]], parallel: int = 1
              ) -> list[Result]:
        results = self.run(jobs, parallel)
        for (argv, _ns, text), r in zip(jobs, results, strict=True):
            if r.rc != 0:
                raise FabricError(f"{' '.join(argv)} failed ({r.rc}): {r.err.strip()}\n"
                                  f"{_statement(r.err, text)}input:\n{text[:2000]}")
        return results

    def plug(self, enis: list[dict]) -> None:
        """Give ENI namespaces their eth0, addresses and default route (agent.op_plug)."""
        if enis:
            self.call("plug", enis=enis)

    def veth(self, links: list[tuple[Space, str, Space, str]]) -> None:
        """Veth pairs (namespace, name, peer namespace, peer name), down (agent.op_veth)."""
        if links:
            self.call("veth", links=[{"ns": a.ns, "name": x, "peer_ns": b.ns, "peer": y}
                                     for a, x, b, y in links])

    def ip(self, space: Space | None, batch: str) -> str:
        return self.check([(["ip", "-batch", "-"], space, batch)])[0].out

    def nft(self, space: Space | None, ruleset: str) -> str:
        return self.check([(["nft", "-f", "-"], space, ruleset)])[0].out

    def sh(self, space: Space | None, command: str) -> Result:
        return self.run([(["sh", "-c", command], space, "")])[0]

    def guard(self, space: Space, port: int, uid: int, remove: bool = False) -> None:
        """Let only `uid` connect to 127.0.0.1:`port` in a namespace (agent.op_guard)."""
        self.call("guard", ns=space.ns, port=port, uid=uid, remove=remove)

    def netns_fd(self, space: Space) -> int:
        """A descriptor of a namespace, owned by the caller: `nsenter --net=/proc/self/fd/N`
        puts a process started by the server in it."""
        return self.call_fds("ns_fd", ns=space.ns)[1][0]

    def listen(self, space: Space, host: str = "127.0.0.1", port: int = 0, *,
               udp: bool = False) -> socket.socket:
        """A listening TCP socket (or a bound UDP socket) inside a namespace, for the server
        to serve."""
        return socket.socket(fileno=self.call_fds("listen", ns=space.ns, host=host, port=port,
                                                  udp=udp)[1][0])

    # ---- processes -----------------------------------------------------------------------------

    def spawn(self, argv: list[str], space: Space | None = None, *, stdin=None, stdout=None,
              stderr=None, env: dict | None = None, cwd: str | None = None) -> int:
        """Start a long-lived process in a namespace with the given file objects (or
        descriptors) as its stdio; returns its PID inside the sandbox."""
        fds = []
        for stream in (stdin, stdout, stderr):
            fd = stream if isinstance(stream, int) else (
                stream.fileno() if stream is not None else os.open(os.devnull, os.O_RDWR))
            fds.append(fd)
        try:
            return self.call("spawn", fds=tuple(fds), argv=argv,
                             ns=space.ns if space else None, env=env, cwd=cwd)["pid"]
        finally:
            for stream, fd in zip((stdin, stdout, stderr), fds, strict=True):
                if stream is None:
                    os.close(fd)

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        self.call("signal", pid=pid, sig=int(sig))

    def wait(self, pid: int, timeout: float = 10.0) -> int | None:
        return self.call("wait", pid=pid, timeout=timeout)["rc"]


def _statement(err: str, text: str) -> str:
    """The input line an error names (`/dev/stdin:66:36-43: Error: …` from nft, `Command
    failed -:3` from ip), as a line of its own, or ""."""
    found = re.search(r"/dev/stdin:(\d+):|failed -:(\d+)", err)
    if not found:
        return ""
    number = int(found.group(1) or found.group(2))
    lines = text.splitlines()
    return f"statement: {lines[number - 1].strip()}\n" if 0 < number <= len(lines) else ""
