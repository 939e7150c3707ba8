"""The fabric's agent: PID 1 of the sandbox, the hands that change its kernel state.

It runs inside the private user + mount + PID + network namespaces that sandbox.py creates
and does what the server asks over one Unix socket (frames: 4-byte length + JSON, file
descriptors riding along for `spawn`): create and drop network namespaces (held by file
descriptors, so nothing is ever named or mounted on the host), write per-namespace sysctls,
run batches of `ip` / `nft` commands inside a namespace, and spawn long-lived processes.

It exits when the server's end of the socket closes; being PID 1, its exit kills every
process in the sandbox, and with them every namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_HEADER = struct.Struct("!I")
MAX_FDS = 8


def lo_up() -> None:
    """Bring up `lo` in the current network namespace (a new one starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, 0x8913, struct.pack("16sh14x", b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


# ---- framing (shared with sandbox.py) --------------------------------------------------------


def send_frame(sock: socket.socket, obj: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
    body = json.dumps(obj).encode()
    data = _HEADER.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data], list(fds))
        if sent < len(data):
            sock.sendall(data[sent:])
    else:
        sock.sendall(data)


def recv_frame(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """One frame and the descriptors sent with it; (None, []) at end of stream."""
    head, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, MAX_FDS)
    if not head:
        return None, fds
    while len(head) < _HEADER.size:
        more = sock.recv(_HEADER.size - len(head))
        if not more:
            return None, fds
        head += more
    (size,) = _HEADER.unpack(head)
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None, fds
        chunks.append(chunk)
        left -= len(chunk)
    return json.loads(b"".join(chunks)), fds


# ---- the agent --------------------------------------------------------------------------------


class Agent:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.root = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.spaces: dict[int, subprocess.Popen | None] = {}  # ns fd -> holder process
        self.children: dict[int, subprocess.Popen] = {}
        self.nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self.sleep = shutil.which("sleep") or "/bin/sleep"

    def serve(self) -> None:
        while True:
            req, fds = recv_frame(self.sock)
            if req is None:
                return
            try:
                reply = getattr(self, "op_" + req.pop("op"))(*([fds] if fds else []), **req)
            except Exception as exc:  # noqa: BLE001 - report, don't die: the server decides
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                self._reap()
            send_frame(self.sock, reply)

    # ---- namespaces ------------------------------------------------------------------------

    def op_ns_new(self, count: int = 1, sysctl: dict | None = None, holder: bool = False) -> dict:
        """New network namespaces with lo up and the given sysctls; a holder process gives
        `ip ... netns <pid>` a way to name a namespace that has no name."""
        made = []
        for _ in range(count):
            if _libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            try:
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
                lo_up()
                for key, value in (sysctl or {}).items():
                    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                        f.write(str(value))
            finally:
                setns(self.root)
            proc = None
            if holder:  # setns before exec: in the namespace by the time Popen returns
                proc = subprocess.Popen(
                    [self.sleep, "infinity"],
                    preexec_fn=lambda fd=fd: setns(fd),  # noqa: PLW1509 - one thread here
                    stdin=subprocess.DEVNULL, start_new_session=True)
            self.spaces[fd] = proc
            made.append({"ns": fd, "pid": proc.pid if proc else None})
        return {"spaces": made}

    def op_ns_del(self, spaces: list[int]) -> dict:
        for fd in spaces:
            proc = self.spaces.pop(fd, None)
            if proc is not None:
                proc.kill()
                proc.wait()
            os.close(fd)
        return {}

    # ---- commands --------------------------------------------------------------------------

    def _argv(self, argv: list[str], ns: int | None) -> list[str]:
        exe = shutil.which(argv[0]) or argv[0]
        if ns is None:
            return [exe, *argv[1:]]
        if ns not in self.spaces:
            raise ValueError(f"no namespace {ns}")
        return [self.nsenter, f"--net=/proc/{os.getpid()}/fd/{ns}", exe, *argv[1:]]

    def op_run(self, jobs: list[dict], parallel: int = 1) -> dict:
        """Run [{argv, ns, input}] with up to `parallel` at a time; every job runs."""
        results: list[dict | None] = [None] * len(jobs)
        running: list[tuple[int, subprocess.Popen, str]] = []

        def finish(index, proc, text):
            out, err = proc.communicate(text)
            results[index] = {"rc": proc.returncode, "out": out, "err": err}

        for index, job in enumerate(jobs):
            if len(running) >= max(1, parallel):
                finish(*running.pop(0))
            proc = subprocess.Popen(self._argv(job["argv"], job.get("ns")), text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            running.append((index, proc, job.get("input") or ""))
        for item in running:
            finish(*item)
        return {"results": results}

    def op_spawn(self, fds: list[int], argv: list[str], ns: int | None = None,
                 env: dict | None = None, cwd: str | None = None) -> dict:
        """A long-lived process with the caller's stdin/stdout/stderr (sent as descriptors)."""
        try:
            stdio = (fds + [None, None, None])[:3]
            proc = subprocess.Popen(self._argv(argv, ns), stdin=stdio[0], stdout=stdio[1],
                                    stderr=stdio[2], env=env, cwd=cwd, start_new_session=True)
        finally:
            for fd in fds:
                os.close(fd)
        self.children[proc.pid] = proc
        return {"pid": proc.pid}

    def op_signal(self, pid: int, sig: int = signal.SIGKILL) -> dict:
        proc = self.children.get(pid)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
        return {}

    def op_wait(self, pid: int, timeout: float = 10.0) -> dict:
        proc = self.children.get(pid)
        if proc is None:
            return {"rc": None}
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return {"rc": None}
        self.children.pop(pid, None)
        return {"rc": rc}

    def op_ping(self) -> dict:
        return {"pid": os.getpid(), "time": time.time()}

    def _reap(self) -> None:
        """As PID 1, reap orphans (processes whose parent died); our own children are reaped
        through their Popen, which keeps their exit status for `wait`."""
        mine = {p.pid: p for p in self.children.values()}
        mine.update((p.pid, p) for p in self.spaces.values() if p is not None)
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            if info.si_pid in mine:
                mine.pop(info.si_pid).poll()
            else:
                os.waitpid(info.si_pid, 0)


def main() -> None:
    fd = int(sys.argv[1])
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 ignores it otherwise
    try:
        Agent(sock).serve()
    except (ConnectionError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
