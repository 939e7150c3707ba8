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
import functools
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
# A namespace's guard of Runtime API listeners (op_guard): a SYN to one of `ports` on
# loopback leaves only from the user `owners` pairs with that port
GUARD = """table ip guard {
  set ports { type inet_service; }
  set owners { type inet_service . uid; }
  chain out { type filter hook output priority 0; policy accept; }
}
flush chain ip guard out
add rule ip guard out ip daddr 127.0.0.0/8 tcp dport @ports tcp dport . meta skuid != @owners reject with tcp reset
"""


def lo_up() -> None:
    """Bring up `lo` in the current network namespace (a new one starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, 0x8913, struct.pack("16sh14x", b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


# ---- rtnetlink: an ENI's side of its veth without starting a process ------------------------

RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, NLMSG_ERROR = 16, 20, 24, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINKINFO, IFLA_GROUP, IFLA_NET_NS_FD = 1, 3, 18, 27, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS, IFA_F_NOPREFIXROUTE = 1, 2, 8, 0x200
RTA_OIF, RTA_GATEWAY, RTNH_F_ONLINK = 4, 5, 4
IFF_UP = 1


def _attr(kind: int, data: bytes) -> bytes:
    size = 4 + len(data)
    return struct.pack("HH", size, kind) + data + b"\0" * (-size % 4)


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("BxHiII", socket.AF_UNSPEC, 0, index, flags, change)


class Netlink:
    """A NETLINK_ROUTE socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, body: bytes, flags: int = 0) -> None:
        self.seq += 1
        head = struct.pack("IHHII", 16 + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK,
                           self.seq, 0)
        self.sock.send(head + body)
        reply = self.sock.recv(65536)
        if struct.unpack_from("H", reply, 4)[0] == NLMSG_ERROR:
            err = struct.unpack_from("i", reply, 16)[0]
            if err:
                raise OSError(-err, f"rtnetlink {kind}: {os.strerror(-err)}")

    def veth(self, name: str, mac: str | None, peer: str, peer_ns: int, peer_group: int) -> None:
        peer_info = (_ifinfo() + _attr(IFLA_IFNAME, peer.encode() + b"\0")
                     + _attr(IFLA_NET_NS_FD, struct.pack("I", peer_ns))
                     + _attr(IFLA_GROUP, struct.pack("I", peer_group)))
        info = (_attr(IFLA_INFO_KIND, b"veth\0")
                + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_info)))
        body = _ifinfo() + _attr(IFLA_IFNAME, name.encode() + b"\0") + _attr(IFLA_LINKINFO, info)
        if mac:
            body += _attr(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

    def up(self, index: int) -> None:
        self.request(RTM_NEWLINK, _ifinfo(index, IFF_UP, IFF_UP))

    def address(self, index: int, address: str, plen: int, noprefixroute: bool = True) -> None:
        packed = socket.inet_aton(address)
        body = (struct.pack("BBBBI", socket.AF_INET, plen, 0, 0, index)
                + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
                + _attr(IFA_FLAGS, struct.pack("I", IFA_F_NOPREFIXROUTE if noprefixroute else 0)))
        self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)

    def default_route(self, index: int, gateway: str) -> None:
        """default via gateway dev index onlink (main table, boot protocol, unicast)."""
        body = (struct.pack("BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, RTNH_F_ONLINK)
                + _attr(RTA_GATEWAY, socket.inet_aton(gateway)) + _attr(RTA_OIF, struct.pack("I", index)))
        self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)


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


@functools.lru_cache(maxsize=1)
def _libnftables():
    """libnftables through ctypes (None where it is missing: op_guard runs nft instead)."""
    try:
        lib = ctypes.CDLL("libnftables.so.1")
    except OSError:
        return None
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    return lib


class Agent:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.root = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.spaces: dict[int, subprocess.Popen | None] = {}  # ns fd -> holder process
        self.nft_ctx: dict[int, object] = {}  # ns fd -> a libnftables runner in it (op_guard)
        self.children: dict[int, subprocess.Popen] = {}
        self.nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self.sleep = shutil.which("sleep") or "/bin/sleep"

    def serve(self) -> None:
        while True:
            req, fds = recv_frame(self.sock)
            if req is None:
                return
            out: list[int] = []  # descriptors going back with the reply (then closed here)
            try:
                reply = getattr(self, "op_" + req.pop("op"))(*([fds] if fds else []), **req)
                if isinstance(reply, tuple):
                    reply, out = reply
            except Exception as exc:  # noqa: BLE001 - report, don't die: the server decides
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                self._reap()
            try:
                send_frame(self.sock, reply, out)
            finally:
                for fd in out:
                    os.close(fd)

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
            runner = self.nft_ctx.pop(fd, None)
            if runner is not None:
                runner.free()
            proc = self.spaces.pop(fd, None)
            if proc is not None:
                proc.kill()
                proc.wait()
            os.close(fd)
        return {}

    def op_plug(self, enis: list[dict]) -> dict:
        """For each ENI namespace: eth0 (a veth whose peer, the router's port, goes to the
        router's namespace with the subnet's group, still down), its addresses without a
        subnet route, and the default route to the subnet's router."""
        for e in enis:
            setns(e["ns"])
            nl = Netlink()
            try:
                nl.veth("eth0", e.get("mac"), e["port"], e["router"], e["group"])
                index = socket.if_nametoindex("eth0")
                for address in e["addresses"]:
                    ip, plen = address.split("/")
                    nl.address(index, ip, int(plen))
                nl.up(index)
                nl.default_route(index, e["gateway"])
            finally:
                nl.close()
                setns(self.root)
        return {}

    def op_veth(self, links: list[dict]) -> dict:
        """Veth pairs between two namespaces [{ns, name, peer_ns, peer}], both ends down and
        without addresses (the router uplinks and peering links; `ip` configures them)."""
        for link in links:
            setns(link["ns"])
            nl = Netlink()
            try:
                nl.veth(link["name"], None, link["peer"], link["peer_ns"], 0)
            finally:
                nl.close()
                setns(self.root)
        return {}

    def op_ns_fd(self, ns: int) -> tuple[dict, list[int]]:
        """A descriptor of a namespace for the server (to start a process in it)."""
        if ns not in self.spaces:
            raise ValueError(f"no namespace {ns}")
        return {}, [os.dup(ns)]

    def op_listen(self, ns: int, host: str = "127.0.0.1", port: int = 0,
                  backlog: int = 64, udp: bool = False) -> tuple[dict, list[int]]:
        """A listening TCP socket (or a bound UDP one) inside a namespace, for the server to
        serve: a socket stays in the namespace it was made in, so the server serves clients
        in there without any link between that namespace and its own."""
        if ns not in self.spaces:
            raise ValueError(f"no namespace {ns}")
        setns(ns)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        finally:
            setns(self.root)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            if not udp:
                sock.listen(backlog)
            bound = sock.getsockname()
            return {"host": bound[0], "port": bound[1]}, [sock.detach()]
        finally:
            sock.close()

    def op_guard(self, ns: int, port: int, uid: int, remove: bool = False) -> dict:
        """Only `uid` may connect to 127.0.0.1:`port` in a namespace (a function's Runtime API
        listener, among the other environments of its namespace): the namespace's `guard`
        table (GUARD) rejects any other user's SYN. By libnftables in this process (a tenth
        of a millisecond; an `nft` process would cost 20 ms of a cold start), else by nft."""
        if ns not in self.spaces:
            raise ValueError(f"no namespace {ns}")
        verb = "delete" if remove else "add"
        text = (f"{verb} element ip guard ports {{ {port} }}\n"
                f"{verb} element ip guard owners {{ {port} . {uid} }}\n")
        nft = self._nft(ns) if _libnftables() is not None else None
        if nft is None:
            setns(ns)
            try:
                out = subprocess.run(["nft", "-f", "-"], input=GUARD + text, text=True,
                                     capture_output=True, check=False)
            finally:
                setns(self.root)
            if out.returncode != 0 and not remove:
                raise RuntimeError(out.stderr.strip())
            return {}
        nft(text, not remove)
        return {}

    def _nft(self, ns: int):
        """A libnftables context in a namespace, its guard table made (on first use)."""
        found = self.nft_ctx.get(ns)
        if found is not None:
            return found
        lib = _libnftables()
        setns(ns)  # the context's netlink socket is made in the namespace it runs in
        try:
            ctx = lib.nft_ctx_new(0)
        finally:
            setns(self.root)
        lib.nft_ctx_buffer_error(ctx)

        def run(text: str, check: bool = True) -> None:
            if lib.nft_run_cmd_from_buffer(ctx, text.encode()) != 0 and check:
                raise RuntimeError(lib.nft_ctx_get_error_buffer(ctx).decode().strip())

        run(GUARD)
        run.free = lambda: lib.nft_ctx_free(ctx)
        self.nft_ctx[ns] = run
        return run

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
