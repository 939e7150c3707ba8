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

Recovery: the sandbox can die under the server (its agent killed by an OOM killer or a user),
and every namespace with it. A watcher thread per sandbox wakes when its process exits
(Sandbox.wait_exit, a pidfd), and a failed apply checks it too; either marks the fabric lost
(logged once) and counts as a network commit, so placements and invokes wait for the rebuild
as for any change. The fabric thread (it must start the sandbox: see above) starts a new one
and builds it from the store as a restart does. Everything the server holds in the old one
follows by identity: placements, endpoint relays, resolvers, published endpoints and the
internet's hosts all compare their Space with the new fabric's, which are all new objects, so
environments placed there stop being `current` and the pool replaces them.

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
(reconciler.py) for functions without VpcConfig: the internet, and no VPC; their resolver
answers public names only, on the namespace's own loopback (PUBLIC_RESOLVER).

The simulated internet: once the reconciler has the internet namespace (`Reconciler.internet`),
an Internet (internet.py) answers in it: echo hosts on every public address, and the AWS
public endpoints relayed to this server; `trust_env()` gives the variables that make a
function trust its local CA.

DNS: each VPC router answers DNS at the VPC resolver's addresses (dns.py): after every apply,
the agent binds a UDP and a TCP socket on port 53 at each of them inside each router that is
new (a rebuild or a restart makes every router new) and a resolver thread's event loop serves
them (its own loop: answers do not wait behind the API's work), from a Zone per VPC that is
rebuilt from the store, at the next query, after any commit. A placed function's
/etc/resolv.conf names its VPC's resolver (Placement.resolver, runtime/environment.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vpclocal.network.topology import KINDS, Topology
from vpclocal.runtime.types import Placement

from . import Fabric, FabricError, Plan, Space, available, compile_plan, dns
from .ca import trust_env
from .flowlogs import Collector, Deliver
from .hints import blocked_line
from .internet import Internet
from .published import KINDS as PUBLISHED_KINDS
from .published import Published, wanted
from .relay import pipe

log = logging.getLogger("vpclocal.fabric")

# kinds whose commits re-apply the fabric: the network model, and the endpoints it publishes
NETWORK_KINDS = frozenset(KINDS) | frozenset(PUBLISHED_KINDS)
QUIET = 0.005  # seconds without another network commit before applying
SETTLE = 0.03  # ... but never waiting longer than this after the first one
CONVERGE_TIMEOUT = 5.0  # a placement waits this long for the fabric to catch up
LAMBDA_SERVICE = "lambda-service"  # the relays' key of the Lambda service network
PUBLIC_RESOLVER = "127.0.0.53"  # the Lambda service network's resolver, on its own loopback


class _Snapshot:
    """A store view whose dicts are copies (records themselves are never mutated)."""

    def __init__(self, view) -> None:
        self.view = view

    def all(self, kind: str) -> dict:
        return dict(self.view.all(kind))


class _Resolver:
    """One VPC's resolver: the router namespace its sockets were bound in, and their server."""

    def __init__(self, space: Space, addresses: tuple[str, ...], served: list) -> None:
        self.space = space
        self.addresses = addresses
        self.served = served


class FabricService:
    def __init__(self, store, endpoint: tuple[str, int], data_dir: Path | None = None,
                 deliver: Deliver | None = None, flow_log_interval: float | None = None
                 ) -> None:
        self.store = store
        self.endpoint = endpoint  # the server's listener, where endpoint relays connect
        self.data_dir = data_dir  # the local CA lives in <data_dir>/ca (no data dir: no internet)
        self.internet: Internet | None = None
        self.internet_error = ""
        self.deliver = deliver  # flow log records to CloudWatch Logs (flowlogs.py)
        self.flow_log_interval = flow_log_interval
        self.flow_logs: Collector | None = None
        self.fabric: Fabric | None = None
        self.reason = ""  # why the fabric is unavailable
        self.seq = 0  # network commits seen
        self.applied = 0  # the seq the kernel reflects
        self.figures: dict[str, Any] = {"applies": 0, "failures": 0, "last_apply_ms": 0.0,
                                        "last_latency_ms": 0.0, "max_latency_ms": 0.0,
                                        "restarts": 0, "last_restart": "",
                                        "last_restart_ms": 0.0}
        self._lost = ""  # why the running sandbox is gone, until a new one replaces it
        self._lost_at: float | None = None  # when that was noticed, until the rebuild is done
        self._cond = threading.Condition()
        self._dirty_since: float | None = None
        self._stopping = False
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._relays: dict[str, tuple[Space, asyncio.Server]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._place_lock: asyncio.Lock | None = None
        self.published: Published | None = None  # endpoints at ENI addresses (on the loop)
        self._turn = itertools.count()
        # DNS (see the module docstring)
        self.names_seq = 0  # commits seen (any kind: RDS endpoints are not network kinds)
        self._regions: dict[str, str] = {}  # VPC id -> its region (from the last plan)
        self._zones: dict[str, tuple[int, dns.Zone | None]] = {}
        self._resolvers: dict[str, _Resolver] = {}
        self._public_resolver: _Resolver | None = None  # the Lambda service network's
        self._dns_loop: asyncio.AbstractEventLoop | None = None
        self._dns_thread: threading.Thread | None = None
        self._declared: tuple[int, dict[str, str]] = (-1, {})
        self._public = dns.public_lookup(self.declared_hosts)

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 120.0,
              loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Start the sandbox and build it from the store; False (and `reason`) if it cannot.
        `loop` is the server's event loop, which serves what the fabric publishes."""
        self._loop = loop or self._loop
        ok, why = available()
        if not ok:
            self.reason = why
            return False
        self.store.watch(self._on_commit)
        self._start_dns()
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
        if self.published is not None:
            self.published.close()
        self._stop_dns()

    def _run(self) -> None:
        try:
            self.fabric = self._new_fabric()
        except FabricError as exc:
            self.reason = str(exc)
            self._ready.set()
            return
        if self.deliver is not None:
            self.flow_logs = Collector(self, self.deliver, self.flow_log_interval).start()
        try:
            while True:
                failed, recovering = False, bool(self._lost)
                try:
                    if recovering:
                        self._recover()
                    self._apply()
                except Exception as exc:  # noqa: BLE001 - keep serving; retried below
                    failed = True
                    self.figures["failures"] += 1
                    self._check(self.fabric)  # a failed call may be the first sign
                    if recovering or not self._lost:
                        log.error("fabric apply failed (retrying): %s", exc)
                    with self._cond:  # a second later, or at once when the sandbox died
                        self._cond.wait_for(
                            lambda r=recovering: self._stopping or (self._lost and not r), 1.0)
                self._ready.set()
                with self._cond:
                    while (self.seq == self.applied and not failed and not self._lost
                           and not self._stopping):
                        self._cond.wait()
                    if self._stopping:
                        return
                if not self._lost:
                    self._settle()
        finally:
            if self.flow_logs is not None:
                self.flow_logs.stop()
            if self.internet is not None:
                self.internet.stop()
            self.fabric.close()

    # ---- recovery ------------------------------------------------------------------------

    def _new_fabric(self) -> Fabric:
        """A started sandbox, and a thread that waits for it to die."""
        fabric = Fabric().start()
        unshare, agent = fabric.sandbox.host_pids

        def watch() -> None:
            rc = fabric.sandbox.wait_exit()
            # unshare dies by a signal only when it was its own (it exits 1 after its agent)
            how = (f"unshare (pid {unshare}) killed by {signal.Signals(-rc).name}"
                   if rc is not None and rc < 0 else f"unshare exited with status {rc}")
            self._lose(fabric, f"the sandbox's agent (pid {agent}) is gone: {how}")

        threading.Thread(target=watch, name="vpclocal-fabric-watch", daemon=True).start()
        return fabric

    def _lose(self, fabric: Fabric | None, why: str) -> None:
        """The sandbox of `fabric` is dead (from its watcher, or after a failed call)."""
        with self._cond:
            if self._stopping or fabric is None or fabric is not self.fabric or self._lost:
                return  # stopping (its end is expected), an old one, or already known
            self._lost, self._lost_at = why, time.perf_counter()
            self.seq += 1  # waiters for the fabric now wait for the rebuild
            self._cond.notify_all()
        log.error("fabric lost: %s; rebuilding it from the store", why)

    def _check(self, fabric: Fabric | None) -> None:
        if fabric is not None and not fabric.sandbox.alive:
            self._lose(fabric, "the sandbox's agent is gone: a call to it failed")

    def _recover(self) -> None:
        """Replace a dead sandbox by a new one; the apply that follows builds it all."""
        old = self.fabric
        fabric = self._new_fabric()  # a failure is retried by the loop
        try:
            fabric.reconciler.internet  # noqa: B018 - made here, not by a status() racing it
        except BaseException:
            fabric.close()
            raise
        self.fabric = fabric  # from here, nothing placed in the old one is current
        published, self.published = self.published, None
        if published is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(published.close)  # its servers live on the loop
        if old is not None:
            old.close()
        self.figures["restarts"] += 1
        self.figures["last_restart"] = self._lost
        self._lost = ""

    # ---- changes -------------------------------------------------------------------------

    def _on_commit(self, kinds: set[tuple[str, str]]) -> None:
        """Store.watch callback (on the writer's thread, under the store's lock)."""
        self.names_seq += 1
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
        plan, endpoints = self.plan(with_endpoints=True)
        assert self.fabric is not None
        self.fabric.reconciler.apply(plan)
        self._sync_internet()
        self._sync_resolvers()
        self._sync_published(endpoints)
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
        if self._lost_at is not None and not self._lost:  # noticed dead -> rebuilt
            f["last_restart_ms"] = (done - self._lost_at) * 1000
            self._lost_at = None
        if self._loop is not None and self._relays:
            self._loop.call_soon_threadsafe(self._prune)

    def _sync_published(self, endpoints) -> None:
        """Database and cache endpoints follow their ENIs' namespaces, before the apply counts
        as done: a client placed after it finds them listening."""
        if self._loop is None:
            return
        assert self.fabric is not None
        if self.published is None:
            self.published = Published(self.fabric.sandbox)
        spaces = dict(self.fabric.reconciler.enis)
        done = asyncio.run_coroutine_threadsafe(self.published.sync(endpoints, spaces),
                                                self._loop)
        try:
            done.result(timeout=CONVERGE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the rest of the fabric is in force anyway
            log.error("publishing endpoints failed: %s", exc)

    def _sync_internet(self) -> None:
        """Serve the internet namespace the reconciler keeps (a rebuild from scratch makes a
        new one: the hosts move to it)."""
        assert self.fabric is not None
        # Reconciler.internet comes with the gateways work: until the reconciler has it,
        # getattr finds none and nothing answers on the simulated internet.
        space = getattr(self.fabric.reconciler, "internet", None)
        if space is None or self.data_dir is None:
            if self.internet is not None and self.internet.running:
                self.internet.stop()
            return
        if self.internet is not None and self.internet.running and self.internet.space is space:
            return
        try:
            if self.internet is None:
                self.internet = Internet(self.data_dir, self.endpoint)
            self.internet.start(self.fabric.sandbox, space)
            self.internet_error = ""
        except Exception as exc:  # noqa: BLE001 - the VPC keeps working; retried next apply
            self.internet_error = str(exc)
            log.error("the simulated internet cannot start: %s", exc)

    def trust_env(self) -> dict[str, str]:
        """Variables that make a function's clients trust the local CA (empty without one)."""
        return trust_env(self.data_dir) if self.data_dir is not None else {}

    def function_env(self, region: str) -> dict[str, str]:
        """What a function in the fabric needs to reach the AWS public endpoints the way
        unchanged code does on AWS: S3 and DynamoDB at their public names (across the VPC to
        the simulated internet, so only through a NAT gateway or a gateway endpoint), trusting
        the local CA. Functions run as another user: they get a copy of the CA files where
        that user can read them."""
        if self.internet is None or not self.internet.running:
            return {}
        env = {"AWS_ENDPOINT_URL_S3": f"https://s3.{region}.amazonaws.com",
               "AWS_ENDPOINT_URL_DYNAMODB": f"https://dynamodb.{region}.amazonaws.com"}
        digest = hashlib.sha1(str(Path(self.data_dir).resolve()).encode()).hexdigest()[:12]
        public = Path(tempfile.gettempdir()) / f"vpclocal-ca-{digest}"  # one per data dir
        public.mkdir(mode=0o755, exist_ok=True)
        for name, path in self.trust_env().items():
            copy = public / Path(path).name
            if not copy.exists() or copy.stat().st_mtime < Path(path).stat().st_mtime:
                shutil.copyfile(path, copy)
                copy.chmod(0o644)
            env[name] = str(copy)
        return env

    def plan(self, with_endpoints: bool = False):
        """Every region's model, compiled from one consistent snapshot of the store (and
        the endpoints to publish, from the same snapshot)."""
        store = self.store
        with store.transaction("global"):  # the store's lock; writes nothing
            regions = sorted({r for kind in KINDS for r in store.scopes(kind)})
            topologies = [Topology.from_view(_Snapshot(store.view(r))) for r in regions]
            endpoints = wanted(store)
        self._regions = {v: r for r, t in zip(regions, topologies, strict=True) for v in t.vpcs}
        plan = Plan()
        for topology in topologies:
            plan.update(compile_plan(topology))
        return (plan, endpoints) if with_endpoints else plan

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

    async def caught_up(self) -> None:
        """Wait (off the loop) until the kernel reflects every network change committed so
        far: an invocation right after an API change meets the changed network."""
        if self.running and self.applied < self.seq:
            await asyncio.to_thread(self.wait_applied)

    # ---- functions -----------------------------------------------------------------------

    def space(self, eni_id: str) -> Space | None:
        return self.fabric.reconciler.enis.get(eni_id) if self.fabric else None

    async def place(self, eni_ids: list[str], region: str = "us-east-1") -> Placement:
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
            for retry in (True, False):
                await asyncio.to_thread(self.wait_applied)
                fabric = self.fabric
                assert fabric is not None
                spaces = [(e, s) for e in eni_ids
                          if (s := fabric.reconciler.enis.get(e)) is not None]
                if not spaces:
                    return Placement(note=f"vpclocal: {', '.join(eni_ids)} not in the fabric "
                                     "yet: this function runs outside its VPC, unisolated.")
                eni_id, space = spaces[next(self._turn) % len(spaces)]
                try:
                    return await self._place(fabric, eni_id, space, region)
                except FabricError as exc:
                    if retry and self._gone(fabric):
                        continue  # the sandbox died under us: place it in the new one
                    return Placement(note=f"vpclocal: cannot start in {eni_id} ({exc}): "
                                     "this function runs outside its VPC, unisolated.")
        raise AssertionError("unreachable")

    async def place_public(self, region: str = "us-east-1") -> Placement | None:
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
            for retry in (True, False):
                await asyncio.to_thread(self.wait_applied)
                fabric = self.fabric
                try:
                    space = await asyncio.to_thread(lambda f=fabric: f.lambda_service)
                    return await self._place(fabric, LAMBDA_SERVICE, space, region)
                except FabricError as exc:
                    if retry and self._gone(fabric):
                        continue  # the sandbox died under us: place it in the new one
                    log.error("cannot place a function in the Lambda service network: %s", exc)
                    return None
        raise AssertionError("unreachable")

    def _gone(self, fabric: Fabric | None) -> bool:
        """After a failed call: was it because that sandbox died (then it is being rebuilt)?"""
        self._check(fabric)
        return fabric is not self.fabric or bool(self._lost)

    async def _place(self, fabric: Fabric, eni_id: str, space: Space, region: str
                     ) -> Placement:
        # the sandbox the space belongs to: a new one numbers its namespaces alike
        sandbox = fabric.sandbox
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
        environment = await asyncio.to_thread(self.function_env, region)
        resolver, search = self.resolver_of(eni_id)
        return Placement(listener=listener, netns_fd=netns,
                         endpoint_url=f"http://127.0.0.1:{self.endpoint[1]}",
                         environment=environment,
                         current=lambda: self._space_of(eni_id) is space,
                         explain=None if eni_id == LAMBDA_SERVICE else (
                             lambda address, port: self.explain(region, eni_id, address, port)),
                         resolver=resolver, search=search)

    def _space_of(self, eni_id: str) -> Space | None:
        if eni_id == LAMBDA_SERVICE:
            return self.fabric.lambda_service if self.running and self.fabric else None
        return self.space(eni_id)

    def explain(self, region: str, eni_id: str, address: str, port: int) -> str | None:
        """Why a connection from this ENI to address:port never opened (hints.py)."""
        with self.store.transaction(region):  # the store's lock, for reading
            return blocked_line(self.store.view(region), eni_id, address, port)

    def resolver_of(self, eni_id: str) -> tuple[str, str]:
        """(the VPC resolver's address, the search domain) for an ENI's namespace."""
        assert self.fabric is not None
        if eni_id == LAMBDA_SERVICE:
            return (PUBLIC_RESOLVER, "") if self._public_resolver is not None else ("", "")
        plan = self.fabric.reconciler.plan
        eni = plan.enis.get(eni_id)
        router = plan.routers.get(eni.vpc) if eni is not None else None
        if router is None or not router.resolver:
            return "", ""
        return router.resolver[0], dns.internal_domain(self._regions.get(eni.vpc, "us-east-1"))

    def _prune(self) -> None:
        """Close the relays of ENI namespaces that are gone (they would keep them alive)."""
        for eni_id, (space, server) in list(self._relays.items()):
            if self._space_of(eni_id) is not space:
                server.close()
                del self._relays[eni_id]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection to the endpoint from inside a namespace, copied to the server."""
        await pipe(reader, writer, *self.endpoint)

    # ---- DNS -------------------------------------------------------------------------------

    def _start_dns(self) -> None:
        ready = threading.Event()

        def run() -> None:
            try:
                import uvloop
                loop = uvloop.new_event_loop()
            except ImportError:
                loop = asyncio.new_event_loop()
            self._dns_loop = loop
            asyncio.set_event_loop(loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._dns_thread = threading.Thread(target=run, name="vpclocal-dns", daemon=True)
        self._dns_thread.start()
        ready.wait()

    def _stop_dns(self) -> None:
        loop = self._dns_loop
        if loop is None:
            return

        def close() -> None:
            for r in [*self._resolvers.values(), *filter(None, [self._public_resolver])]:
                for served in r.served:
                    served.close()
            self._resolvers.clear()
            self._public_resolver = None
            loop.stop()

        loop.call_soon_threadsafe(close)
        if self._dns_thread is not None:
            self._dns_thread.join(5)
        self._dns_loop = None

    def _sync_resolvers(self) -> None:
        """Resolver sockets follow the routers (on the fabric thread, after an apply)."""
        assert self.fabric is not None
        reconciler = self.fabric.reconciler
        routers = reconciler.routers
        for vpc_id in list(self._resolvers):
            r = self._resolvers[vpc_id]
            plan = reconciler.plan.routers.get(vpc_id)
            if (routers.get(vpc_id) is not r.space or plan is None
                    or plan.resolver != r.addresses):
                del self._resolvers[vpc_id]
                self._zones.pop(vpc_id, None)
                self.close_dns(r.served)
        for vpc_id, space in routers.items():
            addresses = reconciler.plan.routers[vpc_id].resolver
            if vpc_id in self._resolvers or not addresses:
                continue
            served = self.serve_dns(space, addresses, self._lookup_for(vpc_id))
            self._resolvers[vpc_id] = _Resolver(space, addresses, served)
        space = getattr(self.fabric, "lambda_service", None)
        public = self._public_resolver
        if public is not None and public.space is not space:
            self.close_dns(public.served)
            self._public_resolver = public = None
        if public is None and space is not None:
            served = self.serve_dns(space, (PUBLIC_RESOLVER,), self.public_lookup)
            self._public_resolver = _Resolver(space, (PUBLIC_RESOLVER,), served)

    def serve_dns(self, space: Space, addresses, lookup: dns.Lookup) -> list[dns.Served]:
        """Answer DNS with `lookup` on port 53 (UDP and TCP) at addresses of a namespace (they
        must be on one of its interfaces): sockets bound there by the agent, served by the
        resolver thread. close() each Served with close_dns() when the namespace goes. (For
        other networks too: the Lambda service network answers with public_lookup().)"""
        assert self.fabric is not None and self._dns_loop is not None
        served = []
        for address in addresses:
            udp = self.fabric.sandbox.listen(space, address, dns.PORT, udp=True)
            tcp = self.fabric.sandbox.listen(space, address, dns.PORT)
            served.append(asyncio.run_coroutine_threadsafe(dns.serve(udp, tcp, lookup),
                                                           self._dns_loop).result())
        return served

    def close_dns(self, served: list[dns.Served]) -> None:
        if self._dns_loop is not None:
            for s in served:
                self._dns_loop.call_soon_threadsafe(s.close)

    def public_lookup(self, name: str) -> dns.Result:
        """Public names only (dns.public_lookup), for a network without a VPC."""
        return self._public(name)

    def declared_hosts(self) -> dict[str, str]:
        """The user's public hosts, read again after any commit."""
        seq, hosts = self._declared
        if seq != self.names_seq:
            seq = self.names_seq
            with self.store.transaction("global"):  # the store's lock; writes nothing
                hosts = dns.declared_hosts(self.store.view("global"))
            self._declared = (seq, hosts)
        return hosts

    def _lookup_for(self, vpc_id: str) -> dns.Lookup:
        def lookup(name: str) -> dns.Result:
            z = self.zone(vpc_id)
            return z.lookup(name) if z is not None else dns.IGNORE
        return lookup

    def zone(self, vpc_id: str) -> dns.Zone | None:
        """The VPC's zone as of the last commit (rebuilt at most once per commit)."""
        seq = self.names_seq
        cached = self._zones.get(vpc_id)
        if cached is not None and cached[0] == seq:
            return cached[1]
        store = self.store
        with store.transaction("global"):  # the store's lock; writes nothing
            region = self._regions.get(vpc_id)
            if region is None or store.view(region).get("vpcs", vpc_id) is None:
                region = next((r for r in store.scopes("vpcs")
                               if store.view(r).get("vpcs", vpc_id) is not None), None)
            z = dns.zone(store.view(region), vpc_id) if region is not None else None
        self._zones[vpc_id] = (seq, z)
        return z

    # ---- status --------------------------------------------------------------------------

    def status(self) -> dict:
        out: dict[str, Any] = {"enabled": True, "running": self.running, "reason": self.reason,
                               "seq": self.seq, "applied": self.applied, **self.figures,
                               "lost": self._lost}
        if self.fabric is not None and self.running:
            out["sandbox_pid"], agent = self.fabric.sandbox.host_pids
            out["agent_pid"] = agent
            internet = self.internet
            out["internet"] = {"running": bool(internet and internet.running),
                               "error": self.internet_error,
                               **(internet.figures if internet else {})}
            # for tools run as root on this host: nsenter --net=<netns> ...
            out["internet"]["netns"] = f"/proc/{agent}/fd/{self.fabric.internet.ns}"
            out["lambda_service"] = {
                "netns": f"/proc/{agent}/fd/{self.fabric.lambda_service.ns}"}
            # for tools run as root on this host: nsenter --net=<netns> ...
            out["enis"] = {e: {"netns": f"/proc/{agent}/fd/{s.ns}"}
                           for e, s in list(self.fabric.reconciler.enis.items())}
            out["resolvers"] = {v: list(r.addresses) for v, r in list(self._resolvers.items())}
        if self.flow_logs is not None:
            out["flow_logs"] = dict(self.flow_logs.figures)
        return out

