"""Who runs function code, with which interpreter.

Function code is untrusted: when the server runs as root, each function's environments run as
a user of their own (FUNCTION_UIDS: never the server's, never another function's, no
supplementary groups), so one function cannot read another's /proc/PID/environ (its role's
credentials), signal or ptrace it, or read its code (each function's copy is its own, 0500).
Which interpreter they can run is found out as one of those users: it must be able to run a
Python interpreter that imports awslambdaric; the server's own may sit under a directory only
root can enter (a pyenv build under /root), so the system's interpreter of the same version is
tried too, with the runtime's packages on its path. When nothing works, or the server is not
root, no function code runs at all (Launch.refused says why): never unisolated.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NOT_ROOT = ("function code runs only in a jail of its own (a user of its own, its own PID, mount "
            "and network namespaces, cgroup limits), which only a root server can make; as "
            "this server's user it could read the server's data (every function's credentials "
            "among it) and signal the server: run vpclocal as root (sudo make up) to invoke "
            "functions")
# uids (and gids of the same number) given to functions, one each: a range no account of a
# Debian system uses (as container runtimes do for their subordinate ids)
FUNCTION_UIDS = range(200_000, 265_536)
UID_BLOCK = 1024  # each server claims a block of its own: two servers never share a uid
UID_LOCKS = Path("/run/vpclocal")


def claim_uids() -> tuple[range, int]:
    """A block of FUNCTION_UIDS no other server on this machine holds, and the descriptor
    whose lock holds it (released by the kernel when this process ends, however it ends)."""
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for first in range(FUNCTION_UIDS.start, FUNCTION_UIDS.stop, UID_BLOCK):
        fd = os.open(UID_LOCKS / f"uids-{first}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return range(first, first + UID_BLOCK), fd
    raise OSError(f"every block of function uids is held by another server ({UID_LOCKS})")


@dataclass(frozen=True)
class Launch:
    python: str  # interpreter for pythonX.Y runtimes
    python_version: str  # "3.11.7"
    runtime_paths: tuple[str, ...]  # where awslambdaric and boto3 live (like /var/runtime)
    uid: int | None = None  # None: as the server's user (only a library user's own choice)
    gid: int | None = None
    refused: str = ""  # why no function code runs here at all (it would not be isolated)

    def can_reach(self, path: Path) -> bool:
        """Whether the function's user can open files under `path`."""
        return self.uid is None or reachable(path, self.uid, self.gid or self.uid)


def runtime_paths() -> tuple[str, ...]:
    found: list[str] = []
    for module in ("awslambdaric", "runtime_client", "simplejson", "boto3", "botocore"):
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        # a package's __init__.py sits one level deeper than a plain module or extension
        site = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        if str(site) not in found:
            found.append(str(site))
    return tuple(found)


def bootstrap_code(paths: tuple[str, ...]) -> str:
    """`python -S -c` code that runs awslambdaric, its packages after the function's own."""
    return (f"import sys; sys.path.extend({list(paths)!r}); "
            "from awslambdaric.__main__ import main; main(sys.argv)")


def reachable(path: Path, uid: int, gid: int) -> bool:
    """Every directory down to `path` searchable by uid/gid, judged from the mode bits."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _probe(python: str, paths: tuple[str, ...], uid: int | None, gid: int | None) -> str | None:
    """The interpreter's version when it runs awslambdaric as uid, else None."""
    code = (f"import sys; sys.path.extend({list(paths)!r}); import awslambdaric.bootstrap; "
            "print(sys.version.split()[0])")
    kwargs = {} if uid is None else {"user": uid, "group": gid, "extra_groups": []}
    try:
        out = subprocess.run([python, "-S", "-c", code], capture_output=True, text=True,
                             timeout=20, cwd="/", check=False, **kwargs)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def detect() -> Launch:
    """Decide once, at start: a few probe processes, as the first function uid (a uid of no
    account: owner or group of nothing)."""
    paths = runtime_paths()
    own = os.path.realpath(sys.executable)
    version = ".".join(map(str, sys.version_info[:3]))
    if os.geteuid() != 0:
        return Launch(own, version, paths, refused=NOT_ROOT)
    uid = gid = FUNCTION_UIDS.start
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    candidates = [own] + [f"{d}/{minor}" for d in ("/usr/bin", "/usr/local/bin")]
    if not all(reachable(Path(p), uid, gid) for p in paths):
        candidates = []  # the runtime's packages themselves are out of the user's reach
    for python in dict.fromkeys(candidates):
        if os.path.exists(python):
            found = _probe(python, paths, uid, gid)
            if found:
                return Launch(python, found, paths, uid, gid)
    return Launch(own, version, paths, refused=(
        "function code runs only as a user of its own, and no Python interpreter with "
        f"awslambdaric from {', '.join(paths)} runs as one here (install vpclocal where "
        "others can read it)"))
