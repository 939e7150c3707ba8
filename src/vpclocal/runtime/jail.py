"""Each execution environment's jail: what a Firecracker microVM gives a function on AWS, made
of Linux primitives, the way a jailer would.

- **Processes**: a PID namespace of its own (`unshare --pid --fork --kill-child`), so the
  function sees only its own processes (a fresh /proc), and every descendant dies with the
  environment, `setsid` or not: the namespace's init is a shell that waits for the runtime,
  and the kernel kills the whole namespace when that init goes.
- **Files**: a mount namespace of its own in which /tmp is a private directory of the
  environment's user (disk-backed, as Lambda's /tmp is, no file larger than the function's
  EphemeralStorage), removed when the environment ends; the other world-writable places
  (/var/tmp, /dev/shm, /run/lock) are empty and read-only, as on Lambda.
- **Limits**: memory (MemorySize, no swap) and 1,024 processes/threads (Lambda's quota),
  counting every process of the environment, in a cgroup of its own: cgroup v2 where the
  machine delegates a subtree with the memory and pids controllers, else the v1 memory and
  pids hierarchies. Without either (FALLBACK): the memory of the environment's processes is
  polled and the environment killed when it goes over, and processes are limited per function
  user (RLIMIT_NPROC), which every environment of that function shares.

Everything here runs as the server (root): the jail's init mounts and joins its cgroups, then
becomes the function's user (setpriv, no new privileges) and runs the runtime.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PROCESS_LIMIT = 1024  # Lambda's "Processes/threads" quota per execution environment
# paths the function could otherwise write for another function (or leave behind)
SHARED_WRITABLE = ("/var/tmp", "/dev/shm", "/run/lock")
FALLBACK = ("memory is watched (the environment is killed over MemorySize) and processes are "
            "limited per function user")

# The init of the PID namespace: join the cgroups, mount, limit, become the function's user.
# $1: the fstab of this environment; $2: its file-size limit in 512-byte blocks; $3: the
# process limit for `ulimit -p` ('' with a pids cgroup); then cgroup.procs files up to '--',
# then the command. It waits for the runtime instead of exec'ing it: the namespace's init
# must not be the function (init ignores signals it has no handler for, and reaps orphans).
INIT = r"""
fstab=$1 blocks=$2 nproc=$3; shift 3
while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift
mount -a --fstab "$fstab" || { echo "vpclocal: cannot make the environment's /tmp" >&2; exit 125; }
ulimit -f "$blocks" || exit 125
[ -z "$nproc" ] || ulimit -p "$nproc" || exit 125
"$@"
"""


@dataclass(frozen=True)
class Cgroups:
    """Where environments' cgroups go: one directory per controller (a single one for v2)."""

    form: str = ""  # "v2" | "v1" | "" (none: FALLBACK)
    bases: tuple[tuple[str, Path], ...] = ()  # (controller, directory); "unified" for v2
    reason: str = ""  # why there are none

    def remove(self) -> None:
        for _, base in self.bases:
            _rmdir_tree(base)


def _own_cgroup(hierarchy: str) -> str:
    """The server's cgroup path in one hierarchy ('' names the v2 one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == hierarchy or hierarchy in controllers.split(","):
            return path
    raise OSError(f"no {hierarchy or 'unified'} hierarchy in /proc/self/cgroup")


def detect_cgroups(name: str) -> Cgroups:
    """Make this server's cgroup directory `name` under its own cgroup, in the form the machine
    allows; nothing made when neither works."""
    if os.geteuid() != 0:
        return Cgroups(reason="cgroups need a root server")
    root = Path("/sys/fs/cgroup")
    problems = []
    if (root / "cgroup.controllers").exists():  # unified (v2)
        try:
            parent = root / _own_cgroup("").lstrip("/")
            base = parent / name
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+memory +pids")
            return Cgroups("v2", (("unified", base),))
        except OSError as exc:  # e.g. the parent holds processes (no internal processes)
            problems.append(f"cgroup v2: {exc.strerror or exc}")
    try:
        bases = []
        for controller in ("memory", "pids"):
            base = root / controller / _own_cgroup(controller).lstrip("/") / name
            base.mkdir(exist_ok=True)
            bases.append((controller, base))
        return Cgroups("v1", tuple(bases))
    except OSError as exc:
        problems.append(f"cgroup v1: {exc.strerror or exc}")
    return Cgroups(reason="; ".join(problems))


@dataclass
class Jail:
    """One environment's jail: `wrap` a command in it, read its memory, remove what is left."""

    directory: Path  # the environment's own, in the server's data dir (0700)
    uid: int
    gid: int
    memory_mb: int
    storage_mb: int
    cgroups: Cgroups
    cgroup_dirs: list[tuple[str, Path]] = field(default_factory=list)

    def prepare(self, keep: list[str]) -> None:
        """Make the environment's directories, fstab and cgroups. `keep`: paths the function
        must still see (its code, the runtime, the CA bundle) that lie under a place the jail
        covers (/tmp, SHARED_WRITABLE): each is bound into the cover at the same place."""
        self.directory.mkdir(mode=0o700)
        private = self.directory / "tmp"
        private.mkdir(mode=0o700)
        os.chown(private, self.uid, self.gid)
        covers = {"/tmp": private}
        for n, path in enumerate(p for p in SHARED_WRITABLE if os.path.isdir(p)):
            covers[path] = self.directory / f"cover-{n}"  # empty, and read-only to it
            covers[path].mkdir(mode=0o555)
        mounts = [(str(cover), path, "rbind" if path == "/tmp" else "rbind,ro")
                  for path, cover in covers.items()]
        for path in sorted({os.path.normpath(p) for p in keep if os.path.exists(p)}):
            covered = next((c for c in covers if path.startswith(c + "/")), None)
            if covered is None:
                continue
            relative = os.path.relpath(path, covered)
            target = covers[covered] / relative
            # mount points: root's, passable (the server's umask would make them 0700)
            for directory in [*reversed(target.parents[:len(Path(relative).parents) - 1]),
                              *([target] if os.path.isdir(path) else [])]:
                directory.mkdir(exist_ok=True)
                directory.chmod(0o755)
            if not os.path.isdir(path):
                target.touch()
            mounts.append((path, str(target), "bind,ro"))
        lines = [f"{_escape(source)} {_escape(target)} none {options} 0 0"
                 for source, target, options in _in_order(mounts)]
        fstab = self.directory / "fstab"
        fstab.write_text("\n".join(lines) + "\n")
        limit = str(self.memory_mb * 1024 * 1024)
        for controller, base in self.cgroups.bases:
            cgroup = base / self.directory.name
            cgroup.mkdir()
            self.cgroup_dirs.append((controller, cgroup))
            if controller == "unified":
                _write(cgroup / "memory.max", limit)
                _write(cgroup / "memory.swap.max", "0", optional=True)
                _write(cgroup / "pids.max", str(PROCESS_LIMIT))
            elif controller == "memory":
                _write(cgroup / "memory.limit_in_bytes", limit)
                _write(cgroup / "memory.memsw.limit_in_bytes", limit, optional=True)
            else:
                _write(cgroup / "pids.max", str(PROCESS_LIMIT))

    def wrap(self, command: list[str]) -> list[str]:
        """`command` run in the jail as the function's user."""
        tools = _tools()
        blocks = str(self.storage_mb * 2048)  # ulimit -f counts 512-byte blocks
        nproc = "" if self.cgroups.form else str(PROCESS_LIMIT)
        procs = [str(d / "cgroup.procs") for _, d in self.cgroup_dirs]
        return [tools["unshare"], "--pid", "--fork", "--kill-child", "--mount-proc", "--",
                tools["sh"], "-c", INIT, "init", str(self.directory / "fstab"), blocks, nproc,
                *procs, "--",
                tools["setpriv"], f"--reuid={self.uid}", f"--regid={self.gid}",
                "--clear-groups", "--no-new-privs", "--", *command]

    @property
    def limited(self) -> bool:
        """The kernel enforces the memory limit (else the caller watches it)."""
        return bool(self.cgroups.form)

    def memory_kb(self) -> tuple[int, int] | None:
        """(now, peak) in kB from the cgroup; None without one."""
        for controller, cgroup in self.cgroup_dirs:
            if controller == "unified":
                now = _read_int(cgroup / "memory.current")
                return now // 1024, max(now, _read_int(cgroup / "memory.peak")) // 1024
            if controller == "memory":
                now = _read_int(cgroup / "memory.usage_in_bytes")
                return now // 1024, _read_int(cgroup / "memory.max_usage_in_bytes") // 1024
        return None

    def oom_killed(self) -> bool:
        """The kernel killed a process of the environment for going over its memory."""
        for _, cgroup in self.cgroup_dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    text = (cgroup / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip() not in ("", "0"):
                        return True
        return False

    def pids(self) -> list[int]:
        """Every process of the environment, from a cgroup (empty without one)."""
        for _, cgroup in self.cgroup_dirs[:1]:
            try:
                return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
            except OSError:
                return []
        return []

    def remove(self) -> None:
        """Once its processes are gone: its cgroups, its /tmp and everything else of it."""
        for _, cgroup in self.cgroup_dirs:
            _rmdir_tree(cgroup)
        self.cgroup_dirs.clear()
        # rmtree works on descriptors: links the function planted in its /tmp are removed,
        # never followed
        shutil.rmtree(self.directory, ignore_errors=True)


def _in_order(mounts: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Mounts ordered so that none covers the source of one still to come (the data dir may
    lie under /tmp or /var/tmp, which the jail covers)."""
    def covers(target: str, source: str) -> bool:
        return source == target or source.startswith(target.rstrip("/") + "/")

    ordered, todo = [], list(mounts)
    while todo:
        ready = next((m for m in todo if not any(covers(m[1], o[0]) for o in todo if o is not m)),
                     todo[0])  # a cycle cannot be ordered: the mount then fails, and says so
        ordered.append(ready)
        todo.remove(ready)
    return ordered


@cache
def _tools() -> dict[str, str]:
    """Where the jail's programs are: looked up once, not on every cold start."""
    return {name: shutil.which(name) or name for name in ("unshare", "sh", "setpriv")}


def _escape(path: str) -> str:
    """A path as fstab writes it (spaces and tabs octal-escaped)."""
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def _write(path: Path, value: str, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except FileNotFoundError:
        if not optional:
            raise


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _rmdir_tree(directory: Path) -> None:
    """Remove a cgroup directory and its children (a cgroup empties a moment after its last
    process has exited)."""
    if not directory.is_dir():
        return
    for child in directory.iterdir():
        if child.is_dir():
            _rmdir_tree(child)
    for _ in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


class Jails:
    """The server's jails: a directory of environments in its data dir, and its cgroups."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cgroups = Cgroups(reason="not started")

    def start(self) -> None:
        # what a previous run left (it was killed): nothing of it runs any more
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(mode=0o700, parents=True)
        if os.environ.get("VPCLOCAL_LAMBDA_CGROUPS") == "none":  # the fallback, forced
            self.cgroups = Cgroups(reason="VPCLOCAL_LAMBDA_CGROUPS=none")
        else:
            self.cgroups = detect_cgroups(f"vpclocal-{os.getpid()}")

    def new(self, name: str, uid: int, gid: int, memory_mb: int, storage_mb: int) -> Jail:
        return Jail(self.root / name, uid, gid, memory_mb, storage_mb, self.cgroups)

    def stop(self) -> None:
        self.cgroups.remove()
        shutil.rmtree(self.root, ignore_errors=True)
