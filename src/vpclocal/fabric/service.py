"""The fabric inside the server (`vpclocal up --fabric`): built from the store at start,
re-applied after every committed change of the network model, and where functions run.

Lifecycle: start() runs a long-lived thread that starts the sandbox (its parent-death signal
is tied to the thread that started it: a short-lived one would take the fabric with it) and
builds every region's model from the store; a restart builds from the store again. The store
calls back after each commit (Store.watch); a commit that touched a network kind bumps `seq`
and wakes the thread, which waits until QUIET passes without another (SETTLE at most), so a
burst of API calls is applied once, then compiles a snapshot of every region into one plan
(VPC and ENI ids are unique across regions) and converges the kernel. `applied` is the `seq`
the kernel reflects; a failed apply is retried (the reconciler then rebuilds from scratch).

Functions: place(eni_ids) is a runtime Placement in one of the ENIs' network namespaces:
the environment's process is started there (nsenter, as the server, which owns the sandbox),
and everything it needs from the server reaches it without any link between that namespace
and the server's own: the agent binds listening sockets *inside* the namespace and passes
them to the server (a socket stays in the namespace it was made in), so

- the Runtime API listens on 127.0.0.1:<any port> inside the namespace, served by the
  server's event loop on that socket: the runtime client connects over the namespace's own
  loopback, no relay, no extra hop;
- the vpclocal endpoint: a relay listens on 127.0.0.1:<the server's port> inside each ENI
  namespace that runs functions and copies each connection to the server's real listener, so
  AWS_ENDPOINT_URL stays http://127.0.0.1:<port>.

Traffic the function sends anywhere else leaves by the ENI's eth0, from the ENI's address,
through its VPC router's rules. place_public() does the same in the Lambda service network
(reconciler.py) for functions without VpcConfig: the internet, and no VPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
import time
from typing import Any

from vpclocal.network.topology import KINDS, Topology
from vpclocal.runtime.types import Placement

from . import Fabric, FabricError, Plan, Space, available, compile_plan

log = logging.getLogger("vpclocal.fabric")

NETWORK_KINDS = frozenset(KINDS)
QUIET = 0.005  # seconds without another network commit before applying
SETTLE = 0.03  # ... but never waiting longer than this after the first one
CONVERGE_TIMEOUT = 5.0  # a placement waits this long for the fabric to catch up
LAMBDA_SERVICE = "lambda-service"  # the relays' key of the Lambda service network


class _Snapshot:
    """A store view whose dicts are copies (records themselves are never mutated)."""

    def __init__(self, view) -> None:
        self.view = view

    def all(self, kind: str) -> dict:
        return dict(self.view.all(kind))


class FabricService:
    def __init__(self, store, endpoint: tuple[str, int]) -> None:
        self.store = store
        self.endpoint = endpoint  # the server's listener, where endpoint relays connect
        self.fabric: Fabric | None = None
        self.reason = ""  # why the fabric is unavailable
        self.seq = 0  # network commits seen
        self.applied = 0  # the seq the kernel reflects
        self.figures: dict[str, Any] = {"applies": 0, "failures": 0, "last_apply_ms": 0.0,
                                        "last_latency_ms": 0.0, "max_latency_ms": 0.0}
        self._cond = threading.Condition()
        self._dirty_since: float | None = None
        self._stopping = False
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._relays: dict[str, tuple[Space, asyncio.Server]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._place_lock: asyncio.Lock | None = None
        self._turn = itertools.count()

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> bool:
        """Start the sandbox and build it from the store; False (and `reason`) if it cannot."""
        ok, why = available()
        if not ok:
            self.reason = why
            return False
        self.store.watch(self._on_commit)
        self._thread = threading.Thread(target=self._run, name="vpclocal-fabric", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.reason = "the first build did not finish in time"
        return self.running

    @property
    def running(self) -> bool:
        return self.fabric is not None and not self.reason

    def summary(self) -> str:
        if not self.running:
            return (f"fabric unavailable: {self.reason}; functions in a VPC run outside it, "
                    "unisolated")
        plan = self.fabric.reconciler.plan if self.fabric else Plan()
        return (f"fabric on: {len(plan.routers)} VPCs, {len(plan.enis)} ENIs built in "
                f"{self.figures['last_apply_ms']:.0f} ms")

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        for _space, server in self._relays.values():
            server.close()
        self._relays.clear()

    def _run(self) -> None:
        try:
            self.fabric = Fabric().start()
        except FabricError as exc:
            self.reason = str(exc)
            self._ready.set()
            return
        try:
            while True:
                failed = False
                try:
                    self._apply()
                except Exception as exc:  # noqa: BLE001 - keep serving; retried below
                    failed = True
                    self.figures["failures"] += 1
                    log.error("fabric apply failed (retrying): %s", exc)
                    time.sleep(1.0)
                self._ready.set()
                with self._cond:
                    while self.seq == self.applied and not failed and not self._stopping:
                        self._cond.wait()
                    if self._stopping:
                        return
                self._settle()
        finally:
            self.fabric.close()

    # ---- changes -------------------------------------------------------------------------

    def _on_commit(self, kinds: set[tuple[str, str]]) -> None:
        """Store.watch callback (on the writer's thread, under the store's lock)."""
        if any(kind in NETWORK_KINDS for _scope, kind in kinds):
            with self._cond:
                self.seq += 1
                if self._dirty_since is None:
                    self._dirty_since = time.perf_counter()
                self._cond.notify_all()

    def _settle(self) -> None:
        """Wait for a quiet moment: a burst of commits is applied once."""
        first = time.perf_counter()
        seen = self.seq
        while time.perf_counter() - first < SETTLE:
            time.sleep(QUIET)
            if self.seq == seen:
                return
            seen = self.seq

    def _apply(self) -> None:
        with self._cond:
            target, since = self.seq, self._dirty_since
            self._dirty_since = None
        start = time.perf_counter()
        plan = self.plan()
        assert self.fabric is not None
        self.fabric.reconciler.apply(plan)
        done = time.perf_counter()
        with self._cond:
            self.applied = max(self.applied, target)
            self._cond.notify_all()
        f = self.figures
        f["applies"] += 1
        f["last_apply_ms"] = (done - start) * 1000
        if since is not None:
            f["last_latency_ms"] = (done - since) * 1000
            f["max_latency_ms"] = max(f["max_latency_ms"], f["last_latency_ms"])
        if self._loop is not None and self._relays:
            self._loop.call_soon_threadsafe(self._prune)

    def plan(self) -> Plan:
        """Every region's model, compiled from one consistent snapshot of the store."""
        store = self.store
        with store.transaction("global"):  # the store's lock; writes nothing
            regions = sorted({r for kind in KINDS for r in store.scopes(kind)})
            topologies = [Topology.from_view(_Snapshot(store.view(r))) for r in regions]
        plan = Plan()
        for topology in topologies:
            plan.update(compile_plan(topology))
        return plan

    def wait_applied(self, timeout: float = CONVERGE_TIMEOUT) -> bool:
        """Block until the kernel reflects every network commit made before this call."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self.seq
            while self.applied < target and self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # ---- functions -----------------------------------------------------------------------

    def space(self, eni_id: str) -> Space | None:
        return self.fabric.reconciler.enis.get(eni_id) if self.fabric else None

    async def place(self, eni_ids: list[str]) -> Placement:
        """A Placement in one of these ENIs' namespaces (taken in turn), or an unisolated one
        whose note says why not."""
        if not self.running:
            return Placement(note=f"vpclocal: the fabric is unavailable ({self.reason}): this "
                             "function runs outside its VPC, unisolated.")
        if os.geteuid() != 0:
            return Placement(note="vpclocal: functions run in the fabric only when the server "
                             "runs as root: this function runs outside its VPC, unisolated.")
        self._loop = asyncio.get_running_loop()
        if self._place_lock is None:
            self._place_lock = asyncio.Lock()
        async with self._place_lock:
            await asyncio.to_thread(self.wait_applied)
            spaces = [(e, s) for e in eni_ids if (s := self.space(e)) is not None]
            if not spaces:
                return Placement(note=f"vpclocal: {', '.join(eni_ids)} not in the fabric yet: "
                                 "this function runs outside its VPC, unisolated.")
            eni_id, space = spaces[next(self._turn) % len(spaces)]
            try:
                return await self._place(eni_id, space)
            except FabricError as exc:
                return Placement(note=f"vpclocal: cannot start in {eni_id} ({exc}): this "
                                 "function runs outside its VPC, unisolated.")

    @property
    def internet(self) -> Space | None:
        """The internet namespace (where public hosts answer), while the fabric runs."""
        return self.fabric.internet if self.running and self.fabric else None

    async def place_public(self) -> Placement | None:
        """A Placement in the Lambda service network, for functions without VpcConfig: they
        reach the internet (from one public address) and no VPC. None where the fabric
        cannot place functions (they run in the server's network, as without the fabric)."""
        if not self.running or os.geteuid() != 0:
            return None
        self._loop = asyncio.get_running_loop()
        if self._place_lock is None:
            self._place_lock = asyncio.Lock()
        assert self.fabric is not None
        async with self._place_lock:
            try:
                space = await asyncio.to_thread(lambda: self.fabric.lambda_service)
                return await self._place(LAMBDA_SERVICE, space)
            except FabricError as exc:
                log.error("cannot place a function in the Lambda service network: %s", exc)
                return None

    async def _place(self, eni_id: str, space: Space) -> Placement:
        assert self.fabric is not None
        sandbox = self.fabric.sandbox
        relay = self._relays.get(eni_id)
        if relay is None or relay[0] is not space:
            if relay is not None:
                relay[1].close()
            sock = await asyncio.to_thread(sandbox.listen, space, "127.0.0.1", self.endpoint[1])
            server = await asyncio.start_server(self._relay, sock=sock)
            self._relays[eni_id] = (space, server)
        listener = await asyncio.to_thread(sandbox.listen, space, "127.0.0.1", 0)
        try:
            netns = await asyncio.to_thread(sandbox.netns_fd, space)
        except BaseException:
            listener.close()
            raise
        return Placement(listener=listener, netns_fd=netns,
                         endpoint_url=f"http://127.0.0.1:{self.endpoint[1]}",
                         current=lambda: self._space_of(eni_id) is space)

    def _space_of(self, eni_id: str) -> Space | None:
        if eni_id == LAMBDA_SERVICE:
            return self.fabric.lambda_service if self.running and self.fabric else None
        return self.space(eni_id)

    def _prune(self) -> None:
        """Close the relays of ENI namespaces that are gone (they would keep them alive)."""
        for eni_id, (space, server) in list(self._relays.items()):
            if self._space_of(eni_id) is not space:
                server.close()
                del self._relays[eni_id]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection to the endpoint from inside a namespace, copied to the server."""
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.endpoint)
        except OSError:
            writer.close()
            return
        ends = (writer, up_writer)
        await asyncio.gather(_copy(reader, up_writer, ends), _copy(up_reader, writer, ends))
        for end in ends:
            end.close()

    # ---- status --------------------------------------------------------------------------

    def status(self) -> dict:
        out: dict[str, Any] = {"enabled": True, "running": self.running, "reason": self.reason,
                               "seq": self.seq, "applied": self.applied, **self.figures}
        if self.fabric is not None and self.running:
            _unshare, agent = self.fabric.sandbox.host_pids
            out["agent_pid"] = agent
            # for tools run as root on this host: nsenter --net=<netns> ...
            out["enis"] = {e: {"netns": f"/proc/{agent}/fd/{s.ns}"}
                           for e, s in list(self.fabric.reconciler.enis.items())}
            out["internet"] = {"netns": f"/proc/{agent}/fd/{self.fabric.internet.ns}"}
            out["lambda_service"] = {
                "netns": f"/proc/{agent}/fd/{self.fabric.lambda_service.ns}"}
        return out


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ends) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        for end in ends:  # one side is gone: so is the other
            with contextlib.suppress(Exception):
                end.close()
