"""Shared process handling for engine servers (MariaDB, PostgreSQL, pgbouncer, Redis).

A server is a real program from a Debian package, started in its own session and tracked by
PID. `Placement` says where it listens: the host's loopback, where vpclocal manages it; the
fabric publishes it at its ENI's private address (fabric/published.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class EngineError(Exception):
    """A server could not be set up, started or changed; the message says why."""


@dataclass(frozen=True)
class Placement:
    bind: str = "127.0.0.1"
    port: int = 0


def free_port(host: str = "127.0.0.1") -> int:
    """A free port for a server of ours, below the kernel's ephemeral range when it can: a
    server keeps its port across restarts, and while it is down an outgoing connection (a
    relay's, a client's) could take an ephemeral one as its source port, and the restart
    would fail with EADDRINUSE."""
    low = _ephemeral_start()
    if low > SERVER_PORTS[0]:
        for _ in range(64):
            port = random.randrange(SERVER_PORTS[0], min(low, SERVER_PORTS[1]))
            if port_free(host, port):
                return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


SERVER_PORTS = (10000, 32768)  # where free_port looks first (the ephemeral range starts above)


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def socket_dir(root: Path) -> Path:
    """Where a server's unix sockets go: a short path of its own, the same for the same `root`
    across restarts. A socket's path holds at most 107 bytes, and data directories can be
    deep (a test's tmp_path alone takes 70)."""
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"vpclocal-{digest}"


def server_user(name: str) -> pwd.struct_passwd | None:
    """The account a server runs as: `name` when we are root (MariaDB, PostgreSQL and pgbouncer
    refuse root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise EngineError(f"user {name} is missing: install the Debian package") from exc


def own_dir(path: Path, user: pwd.struct_passwd | None, mode: int = 0o700) -> Path:
    """Create a directory the server user owns, and let that user reach it: as root, give
    others search (not read) permission on the ancestors that lack it. Whatever stands at
    `path` and is not ours goes first, never followed: run directories sit in the shared
    temp dir at a predictable path, where function code could plant a link."""
    _claim(path, user)
    path.mkdir(parents=True, exist_ok=True)
    _claim(path, user)  # (a race: planted between the look and the mkdir)
    os.chmod(path, mode, follow_symlinks=False)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        for parent in path.resolve().parents:
            st = parent.stat()
            if not st.st_mode & 0o001:
                os.chmod(parent, st.st_mode | 0o001)
    return path


def _claim(path: Path, user: pwd.struct_passwd | None) -> None:
    """Remove what stands at `path` unless it is a directory of ours (or of `user`)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    ours = {os.geteuid()} | ({user.pw_uid} if user is not None else set())
    if stat.S_ISDIR(st.st_mode) and st.st_uid in ours:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)  # someone else's directory (rmtree follows no link in it)
    else:
        os.unlink(path)  # a link or a file: removed, never followed


def write_private(path: Path, text: str, user: pwd.struct_passwd | None) -> Path:
    """A 0600 file for the server user, made anew: a link planted at `path` is removed, never
    written through."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        if user is not None:
            os.fchown(fh.fileno(), user.pw_uid, user.pw_gid)
        fh.write(text)
    return path


def _as_user(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [],
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir,
                    "LANG": "C.UTF-8"}}


def run(cmd: list[str], user: pwd.struct_passwd | None, *, timeout: float = 60,
        stdin: str | None = None) -> str:
    """Run a short command (initdb, a client) as the server user; its stdout, or EngineError."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False, **_as_user(user))
    if proc.returncode != 0:
        raise EngineError(f"{Path(cmd[0]).name} failed: {(proc.stderr or proc.stdout)[-2000:]}")
    return proc.stdout


def spawn(cmd: list[str], user: pwd.struct_passwd | None, log: Path) -> subprocess.Popen:
    """Start a long-running server in its own session (a signal to us does not reach it)."""
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                **_as_user(user))


def running(pid: int | None, marker: str) -> bool:
    """Is `pid` alive and one of ours (its command line names `marker`, e.g. its data dir)?"""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and marker.encode() in cmdline


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int | None, marker: str, *, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a server we started, by PID (only if it is still ours); SIGKILL after `timeout`."""
    if not running(pid, marker):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while running(pid, marker) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.02)
    if running(pid, marker):
        os.kill(pid, signal.SIGKILL)
    while running(pid, marker):
        _reap(pid)
        time.sleep(0.02)
    _wait_gone(pid)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """`running` turns False as soon as an exiting process's command line is torn down, a
    moment before it is gone: wait for that moment, reaping it if it is our child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return  # reaped
        except ChildProcessError:  # not (or no longer) our child: gone once /proc says so
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.005)


def answering(running, ready, timeout: float = 30) -> bool:
    """A server of ours found running at start: the vpclocal that ran it may have been killed
    while it was still starting or shutting down. Wait until it answers (True) or has exited
    (False: start a new one)."""
    deadline = time.monotonic() + timeout
    while running():
        if ready():
            return True
        if time.monotonic() > deadline:
            raise EngineError(f"a server of ours neither answers nor exits after {timeout:.0f} s")
        time.sleep(0.05)
    return False


def wait_for(check, proc: subprocess.Popen | None, log: Path, timeout: float = 30,
             output: Path | None = None) -> None:
    """Poll `check()` until true; EngineError with the log's tail if the server exits first
    (and its `output`'s: what it wrote before it opened its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise EngineError(f"server exited ({proc.returncode}): {_tail(log, output)}")
        time.sleep(0.01)
    raise EngineError(f"server not ready after {timeout:.0f} s: {_tail(log, output)}")


def _tail(log: Path, output: Path | None = None) -> str:
    texts = []
    for path in (output, log):
        try:
            texts.append(path.read_text(errors="replace")[-1500:] if path else "")
        except OSError:
            pass
    return "\n".join(t for t in texts if t.strip())


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
