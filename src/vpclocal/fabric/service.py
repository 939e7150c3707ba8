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

Each apply also brings along what the server serves inside the fabric, before it counts as
done (a function placed after it finds them in place):
- the simulated internet: once the reconciler has the internet namespace, an Internet
  (internet.py) answers in it: echo hosts on every public address, and the AWS public
  endpoints relayed to this server; `trust_env()` gives the variables that make a function
  trust its local CA;
- the VPC resolvers, in the routers that are new (resolvers.py);
- the database and cache endpoints published at their ENIs' addresses (published.py).

Recovery: the sandbox can die under the server (its agent killed by an OOM killer or a user),
and every namespace with it. A watcher thread per sandbox wakes when its process exits
(Sandbox.wait_exit, a pidfd), and a failed apply checks it too; either marks the fabric lost
(logged once) and counts as a network commit, so placements and invokes wait for the rebuild
as for any change. The fabric thread (it must start the sandbox: see above) starts a new one
and builds it from the store as a restart does. Everything the server holds in the old one
follows by identity: placements, endpoint relays, resolvers, published endpoints and the
internet's hosts all compare their Space with the new fabric's, which are all new objects, so
environments placed there stop being `current` and the pool replaces them.

Functions: place() and place_public() put a function's environment in an ENI's namespace or
in the Lambda service network (placement.py), or fail (runtime.Unplaceable): function code
never runs in the server's network. With `vpc=False` (--no-fabric) the service keeps only the
sandbox, where each environment gets a network namespace of its own that reaches nothing but
the vpclocal endpoint.

Failure: an apply that fails FAIL_LIMIT times in a row the same way (a statement the kernel
refuses) is `failed`: logged once with the kernel's words, shown by status(), and retried
only after the next network change (or RETRY_FAILED seconds); meanwhile placements in VPCs
fail at once instead of waiting. Flow logs: with `deliver`, a Collector
(flowlogs.py) reads the routers' counters and delivers the records while the fabric runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vpclocal.network.topology import KINDS, Topology
from vpclocal.runtime.types import Placement

from . import Fabric, FabricError, Plan, Space, available, compile_plan, dns, interface_endpoints
from .ca import trust_env
from .flowlogs import Collector, Deliver
from .interface_endpoints import InterfaceEndpoints
from .internet import Internet
from .placement import Placements
from .published import KINDS as PUBLISHED_KINDS
from .published import Published, wanted
from .resolvers import Resolvers

log = logging.getLogger("vpclocal.fabric")

# faults injected into the network (FIS aws:network:disrupt-connectivity), region scope: one
# record per experiment action and subnet, {"SubnetId", "Scope", "ExperimentId", "Cidrs"}
# (Cidrs: what a scope other than `all` denies, resolved when the action starts); a subnet
# with any record is compiled disrupted (compiler.compile_plan, by disruptions()) until the
# last one goes
DISRUPTIONS = "fabric.disruption"
# kinds whose commits re-apply the fabric: the network model, the endpoints it publishes, and
# the disruptions in force
NETWORK_KINDS = frozenset(KINDS) | frozenset(PUBLISHED_KINDS) | {DISRUPTIONS}
QUIET = 0.005  # seconds without another network commit before applying
SETTLE = 0.03  # ... but never waiting longer than this after the first one
CONVERGE_TIMEOUT = 5.0  # a placement waits this long for the fabric to catch up
FAIL_LIMIT = 3  # failures in a row, the same way, before the fabric counts as failed
RETRY_FAILED = 30.0  # seconds between tries of a failed fabric, without a change


def disruptions(records) -> dict[str, frozenset[str] | None]:
    """The compiler's disruption input from the records in force: per subnet, the union of
    the CIDRs its records deny, or None (everything) when one is scope `all`, or has no
    CIDRs (fail closed: a record the provider did not resolve disrupts everything)."""
    out: dict[str, frozenset[str] | None] = {}
    for d in records:
        subnet, cidrs = d["SubnetId"], d.get("Cidrs")
        if d.get("Scope", "all") == "all" or cidrs is None:
            out[subnet] = None
        elif subnet not in out or out[subnet] is not None:
            out[subnet] = (out.get(subnet) or frozenset()) | frozenset(cidrs)
    return out


class _Snapshot:
    """A store view whose dicts are copies (records themselves are never mutated)."""

    def __init__(self, view) -> None:
        self.view = view

    def all(self, kind: str) -> dict:
        return dict(self.view.all(kind))


class FabricService:
    """The fabric of a running server: its lifecycle, its apply loop and its recovery; it
    owns the placements (placement.py) and the resolvers (resolvers.py)."""

    def __init__(self, store, endpoint: tuple[str, int], data_dir: Path | None = None,
                 deliver: Deliver | None = None, flow_log_interval: float | None = None,
                 vpc: bool = True) -> None:
        self.vpc = vpc  # False (--no-fabric): the sandbox only, for isolated functions
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
        self.failed = ""  # why applying has failed FAIL_LIMIT times in a row, the same way
        self.last_error = ""  # the last apply's error ("" once one succeeds)
        self._same = 0  # failures in a row with last_error
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
        # the server's event loop: it serves the relays and what the fabric publishes
        self.loop: asyncio.AbstractEventLoop | None = None
        self.published: Published | None = None  # endpoints at ENI addresses (on the loop)
        # interface VPC endpoints' listeners (on the internet's loop), and their recent calls
        self.interfaces: InterfaceEndpoints | None = None
        self.endpoint_calls: dict = {}
        self.names_seq = 0  # commits seen (any kind: RDS endpoints are not network kinds)
        self.regions: dict[str, str] = {}  # VPC id -> its region (from the last plan)
        self.placements = Placements(self)
        self.resolvers = Resolvers(self)

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 120.0,
              loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Start the sandbox and build it from the store; False (and `reason`) if it cannot.
        `loop` is the server's event loop, which serves what the fabric publishes."""
        self.loop = loop or self.loop
        ok, why = available()
        if not ok:
            self.reason = why
            return False
        if self.vpc:
            self.store.watch(self._on_commit)
            self.resolvers.start()
        self._thread = threading.Thread(target=self._run, name="vpclocal-fabric", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.reason = "the first build did not finish in time"
        return self.running

    @property
    def running(self) -> bool:
        return self.fabric is not None and not self.reason

    @property
    def state(self) -> str:
        """off (--no-fabric), unavailable, failed, recovering, applying or applied."""
        if not self.vpc:
            return "off"
        if not self.running:
            return "unavailable"
        if self.failed:
            return "failed"
        if self._lost:
            return "recovering"
        return "applied" if self.applied >= self.seq else "applying"

    @property
    def variant(self):
        return self.fabric.variant if self.fabric is not None else None

    def vpc_behind(self, address: str) -> str | None:
        """The VPC whose router's uplink `address` is: a gateway endpoint's traffic reaches
        the service from it (IAM's aws:SourceVpc)."""
        fabric = self.fabric
        if fabric is None:
            return None
        reconciler = fabric.reconciler
        return next((vpc for vpc in list(reconciler.uplinks)
                     if reconciler.router_address(vpc) == address), None)

    def summary(self) -> str:
        """The start-up line: what the fabric is, and what that means for functions."""
        if not self.running:
            what = "fabric off (--no-fabric), and its sandbox" if not self.vpc else "fabric"
            return (f"{what} unavailable: {self.reason}; functions do not run (their invokes "
                    "fail with ResourceNotReadyException), never in the server's network")
        variant = self.variant
        how = f"variant {variant.name}: {variant.why}" if variant else ""
        if not self.vpc:
            return ("fabric off (--no-fabric / VPCLOCAL_FABRIC=0): each function runs in a "
                    "network namespace of its own that reaches only this endpoint (no VPC, "
                    f"no internet, no databases); {how}")
        if self.state == "failed":
            return (f"fabric FAILED to apply ({how}): {self.failed}; functions in VPCs do not "
                    "run until it applies")
        plan = self.fabric.reconciler.plan if self.fabric else Plan()
        return (f"fabric on: {_count(len(plan.routers), 'VPC')}, "
                f"{_count(len(plan.enis), 'ENI')} built in "
                f"{self.figures['last_apply_ms']:.0f} ms; {how}")

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        self.placements.close()
        if self.published is not None:
            self.published.close()
        self.resolvers.stop()

    def _run(self) -> None:
        try:
            self.fabric = self._new_fabric()
        except FabricError as exc:
            self.reason = str(exc)
            self._ready.set()
            return
        if self.deliver is not None and self.vpc:
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
                    self._check(self.fabric)  # a failed call may be the first sign
                    self._failure(exc, recovering)
                    seen = self.seq
                    with self._cond:  # a second later (a failed fabric: after a change, or
                        # RETRY_FAILED), or at once when the sandbox died
                        self._cond.wait_for(
                            lambda r=recovering, n=seen: self._stopping or (
                                self._lost and not r) or self.seq != n,
                            RETRY_FAILED if self.failed else 1.0)
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
            self._drop_interfaces()
            if self.internet is not None:
                self.internet.stop()
            self.fabric.close()

    def _failure(self, exc: Exception, recovering: bool) -> None:
        """Count a failed apply; the same failure FAIL_LIMIT times in a row is `failed`."""
        self.figures["failures"] += 1
        error = refused_statement(str(exc))
        self._same = self._same + 1 if error == self.last_error else 1
        self.last_error = error
        if self._same >= FAIL_LIMIT and not self.failed:
            with self._cond:
                self.failed = error
                self._cond.notify_all()  # waiting placements give up at once
            log.error("fabric FAILED: the same error %d times in a row; functions in VPCs do "
                      "not run until it applies (retried after the next network change): %s",
                      self._same, error)
        elif (recovering or not self._lost) and not self.failed:
            log.error("fabric apply failed (retrying): %s", error)

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

    def gone(self, fabric: Fabric | None) -> bool:
        """After a failed call: was it because that sandbox died (then it is being rebuilt)?"""
        self._check(fabric)
        return fabric is not self.fabric or bool(self._lost)

    def _recover(self) -> None:
        """Replace a dead sandbox by a new one; the apply that follows builds it all."""
        old = self.fabric
        fabric = self._new_fabric()  # a failure is retried by the loop
        try:
            if self.vpc:
                fabric.reconciler.internet  # noqa: B018 - made here, not by a status() racing it
        except BaseException:
            fabric.close()
            raise
        self.fabric = fabric  # from here, nothing placed in the old one is current
        published, self.published = self.published, None
        if published is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(published.close)  # its servers live on the loop
        self._drop_interfaces()
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
                self.failed = ""  # tried again now: placements wait for the outcome
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
        if not self.vpc:  # the sandbox alone: nothing to apply
            with self._cond:
                self.applied = max(self.applied, target)
            return
        start = time.perf_counter()
        plan, (endpoints, interfaces) = self.plan(with_endpoints=True)
        assert self.fabric is not None
        self.fabric.reconciler.apply(plan)
        self._sync_internet()
        self.resolvers.sync()
        self._sync_published(endpoints)
        self._sync_interfaces(interfaces)
        done = time.perf_counter()
        with self._cond:
            self.applied = max(self.applied, target)
            self.failed = self.last_error = ""
            self._same = 0
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

    def plan(self, with_endpoints: bool = False):
        """Every region's model, compiled from one consistent snapshot of the store (and
        the endpoints to publish, from the same snapshot)."""
        store = self.store
        with store.transaction("global"):  # the store's lock; writes nothing
            regions = sorted({r for kind in KINDS for r in store.scopes(kind)})
            topologies = [Topology.from_view(_Snapshot(store.view(r))) for r in regions]
            disrupted = [disruptions(store.view(r).values(DISRUPTIONS)) for r in regions]
            endpoints = wanted(store), interface_endpoints.wanted(store)
        self.regions = {v: r for r, t in zip(regions, topologies, strict=True) for v in t.vpcs}
        plan = Plan()
        nat = self.fabric.reconciler.nat if self.fabric is not None else "rewrite"
        for topology, subnets in zip(topologies, disrupted, strict=True):
            plan.update(compile_plan(topology, nat, subnets))
        return (plan, endpoints) if with_endpoints else plan

    def wait_applied(self, timeout: float = CONVERGE_TIMEOUT) -> bool:
        """Block until the kernel reflects every network commit made before this call; False
        when it does not within `timeout`, or cannot (the fabric is down or failed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self.seq
            while self.applied < target and self.running and not self.failed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self.applied >= target and self.running

    async def caught_up(self) -> None:
        """Wait (off the loop) until the kernel reflects every network change committed so
        far: an invocation right after an API change meets the changed network."""
        if self.running and self.applied < self.seq:
            await asyncio.to_thread(self.wait_applied)

    def health(self) -> dict:
        """The fabric's part of /_vpclocal/health: `degraded` whenever functions in VPCs
        cannot run as configured."""
        degraded = self.vpc and self.state in ("unavailable", "failed", "recovering")
        variant = self.variant
        return {"state": self.state, "degraded": degraded,
                "variant": variant.name if variant else None,
                "error": self.reason or self.failed or self.last_error}

    # ---- what an apply brings along ------------------------------------------------------

    def _sync_published(self, endpoints) -> None:
        """Database and cache endpoints follow their ENIs' namespaces, before the apply counts
        as done: a client placed after it finds them listening."""
        if self.loop is None:
            return
        assert self.fabric is not None
        if self.published is None:
            self.published = Published(self.fabric.sandbox)
        spaces = dict(self.fabric.reconciler.enis)
        done = asyncio.run_coroutine_threadsafe(self.published.sync(endpoints, spaces),
                                                self.loop)
        try:
            done.result(timeout=CONVERGE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the rest of the fabric is in force anyway
            log.error("publishing endpoints failed: %s", exc)

    def _sync_interfaces(self, targets: dict) -> None:
        """Interface endpoints answer at their ENIs (interface_endpoints.py), served on the
        simulated internet's loop, before the apply counts as done."""
        internet = self.internet
        if internet is None or not internet.running:
            return  # without the internet's CA and loop no endpoint answers: they time out
        assert self.fabric is not None
        if self.interfaces is None:
            if not targets:
                return
            self.interfaces = InterfaceEndpoints(self.fabric.sandbox, internet.ca, self.endpoint)
        spaces = dict(self.fabric.reconciler.enis)
        try:
            internet.run(self.interfaces.sync(targets, spaces), CONVERGE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the rest of the fabric is in force anyway
            log.error("serving interface endpoints failed: %s", exc)

    def _interface_status(self) -> dict:
        """Each interface endpoint that answers: its service, VPC, the ENIs listening for
        it, and the calls the server received through it lately."""
        interfaces = self.interfaces
        out: dict[str, dict] = {}
        if interfaces is None:
            return out
        for eni_id, port in sorted(interfaces.listeners):
            target = interfaces.targets.get(eni_id)
            if target is None or port != 443:
                continue
            entry = out.setdefault(target.endpoint, {
                "service": target.service, "vpc": target.vpc, "network_interfaces": [],
                "calls": list(self.endpoint_calls.get(target.endpoint, ()))})
            entry["network_interfaces"].append(eni_id)
        return out

    def _drop_interfaces(self) -> None:
        """Close the interface endpoints' listeners (before their loop, the internet's, goes)."""
        interfaces, self.interfaces = self.interfaces, None
        if interfaces is not None and self.internet is not None and self.internet.running:
            self.internet.run_soon(interfaces.close)

    def _sync_internet(self) -> None:
        """Serve the internet namespace the reconciler keeps (a rebuild from scratch makes a
        new one: the hosts move to it)."""
        assert self.fabric is not None
        space = self.fabric.reconciler.internet  # the reconciler makes it on first use
        if self.data_dir is None:
            if self.internet is not None and self.internet.running:
                self.internet.stop()
            return
        if self.internet is not None and self.internet.running and self.internet.space is space:
            return
        self._drop_interfaces()  # their listeners live on the internet's loop
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

    # ---- functions (placement.py) and DNS (resolvers.py) ----------------------------------

    def space(self, eni_id: str) -> Space | None:
        return self.fabric.reconciler.enis.get(eni_id) if self.fabric else None

    async def place(self, eni_ids: list[str], region: str = "us-east-1") -> Placement:
        """A Placement in one of these ENIs' namespaces, or an unisolated one whose note says
        why not (Placements.place)."""
        return await self.placements.place(eni_ids, region)

    async def place_public(self, region: str = "us-east-1") -> Placement | None:
        """A Placement in the Lambda service network, or None (Placements.place_public)."""
        return await self.placements.place_public(region)

    def explain(self, region: str, eni_id: str, address: str, port: int) -> str | None:
        return self.placements.explain(region, eni_id, address, port)

    def resolver_of(self, eni_id: str) -> tuple[str, str]:
        return self.placements.resolver_of(eni_id)

    def serve_dns(self, space: Space, addresses, lookup: dns.Lookup) -> list[dns.Served]:
        """Answer DNS with `lookup` at addresses of a namespace (Resolvers.serve)."""
        return self.resolvers.serve(space, addresses, lookup)

    def close_dns(self, served: list[dns.Served]) -> None:
        self.resolvers.close(served)

    def public_lookup(self, name: str) -> dns.Result:
        return self.resolvers.public_lookup(name)

    def declared_hosts(self) -> dict[str, str]:
        return self.resolvers.declared_hosts()

    def zone(self, vpc_id: str) -> dns.Zone | None:
        return self.resolvers.zone(vpc_id)

    # ---- status --------------------------------------------------------------------------

    def status(self) -> dict:
        """GET /_vpclocal/fabric (admin.py): whether the fabric runs, how far it has applied
        the model, and where its namespaces are."""
        variant = self.variant
        out: dict[str, Any] = {
            "enabled": self.vpc, "running": self.running, "state": self.state,
            "reason": self.reason, "failed": self.failed, "last_error": self.last_error,
            "variant": {**asdict(variant), "name": variant.name} if variant else None,
            "seq": self.seq, "applied": self.applied, **self.figures, "lost": self._lost}
        if self.fabric is not None and self.running and self.vpc:
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
            out["enis"] = {e: {"netns": f"/proc/{agent}/fd/{s.ns}"}
                           for e, s in list(self.fabric.reconciler.enis.items())}
            out["resolvers"] = {v: list(r.addresses)
                                for v, r in list(self.resolvers.vpcs.items())}
            out["interface_endpoints"] = self._interface_status()
        if self.flow_logs is not None:
            out["flow_logs"] = dict(self.flow_logs.figures)
        return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def refused_statement(error: str) -> str:
    """An apply's error in a few lines: the kernel's words and the statement they are about
    (nft prints the statement under its "Error:" line), not the whole batch it was in."""
    lines = error.split("\ninput:\n", 1)[0].strip().splitlines()
    return "\n".join(lines[:4])
