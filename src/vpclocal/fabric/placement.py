"""Placing functions in the fabric: where an execution environment runs, and what reaches it.

place(eni_ids) is a runtime Placement in one of the ENIs' network namespaces: the
environment's process is started there (nsenter, as the server, which owns the sandbox), and
everything it needs from the server reaches it without any link between that namespace and
the server's own: the agent binds listening sockets *inside* the namespace and passes them
to the server (a socket stays in the namespace it was made in), so

- the Runtime API listens on 127.0.0.1:<any port> inside the namespace, served by the
  server's event loop on that socket: the runtime client connects over the namespace's own
  loopback, no relay, no extra hop;
- the AWS APIs: nothing of the server's. A function's SDK finds every service at its public
  name (no AWS_ENDPOINT_URL), which its resolver answers with the service's address on the
  simulated internet, or an interface endpoint's in its VPC; the connection crosses the VPC
  like any other (a NAT gateway, a gateway or interface endpoint, or nothing: a timeout) and
  is relayed to the server there (internet.py, interface_endpoints.py). The function trusts
  the local CA that signs those names (function_env).

Traffic the function sends leaves by the ENI's eth0, from the ENI's address, through its VPC
router's rules; its /etc/resolv.conf names its VPC's resolver (resolvers.py). place_public()
does the same in the Lambda service network (reconciler.py) for functions without
VpcConfig: the internet, and no VPC; their resolver answers public names only.

Fail closed: where a function cannot be placed (the fabric is down or failed, its ENI is not
applied in time (service.CONVERGE_TIMEOUT), the server is not root and so cannot enter namespaces),
place() raises runtime.Unplaceable, which fails the invoke with its reason: code never runs
in the server's network. place_isolated() is where functions go without the VPC fabric
(--no-fabric, or a function without VpcConfig when the fabric is down): a network namespace
made for that one environment, with only `lo`, the Runtime API and a relay to the server's
endpoint (its AWS_ENDPOINT_URL: there is no network to cross) in it, deleted when the
environment ends.

A placement waits for the fabric to reflect every network commit made before it, and stays
`current` while its namespace is the fabric's: a rebuild or a new sandbox (service.py,
recovery) makes new namespaces, and the pool replaces the environments placed in old ones.
If the sandbox dies under a placement, it is placed again in the new one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from vpclocal.runtime.types import Placement, Unplaceable

from . import Fabric, FabricError, Space, dns
from .hints import blocked_line
from .plan import ENI_SYSCTL
from .relay import pipe
from .resolvers import PUBLIC_RESOLVER

if TYPE_CHECKING:
    from .service import FabricService

log = logging.getLogger("vpclocal.fabric")

LAMBDA_SERVICE = "lambda-service"  # the relays' key of the Lambda service network


class Placements:
    """The placements of a FabricService (which owns it): the turn among a function's ENIs.
    Everything else (the fabric, the store, the simulated internet) is the service's."""

    def __init__(self, service: FabricService) -> None:
        self.service = service
        self._lock: asyncio.Lock | None = None  # made on the server's loop
        self._turn = itertools.count()
        self._ca_copies: Path | None = None  # function_env's directory (made on first use)

    def _can_enter(self) -> None:
        """Raise Unplaceable unless the server can put a process in the sandbox's namespaces."""
        service = self.service
        if not service.running:
            raise Unplaceable(f"the vpclocal fabric is unavailable ({service.reason}): "
                              "functions do not run outside it")
        if os.geteuid() != 0:
            raise Unplaceable("functions run only inside network namespaces, which the "
                              "server enters only when it runs as root: run vpclocal as root")

    async def place(self, eni_ids: list[str], region: str = "us-east-1") -> Placement:
        """A Placement in one of these ENIs' namespaces (taken in turn); Unplaceable when none
        is in force (the function never runs outside its VPC)."""
        service = self.service
        if not service.vpc:
            return await self.place_isolated(
                "vpclocal: the fabric is off (--no-fabric): this function is not in its VPC; "
                "it reaches only the vpclocal endpoint.")
        self._can_enter()
        service.loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for retry in (True, False):
                if not await asyncio.to_thread(service.wait_applied):
                    why = (service.failed or service.reason or service.last_error
                           or "not applied in time")
                    raise Unplaceable(f"the function's VPC network ({', '.join(eni_ids)}) is "
                                      f"not in force in the vpclocal fabric: {why}")
                fabric = service.fabric
                assert fabric is not None
                spaces = [(e, s) for e in eni_ids
                          if (s := fabric.reconciler.enis.get(e)) is not None]
                if not spaces:
                    raise Unplaceable(f"the function's network interfaces ({', '.join(eni_ids)})"
                                      " are not in the vpclocal fabric")
                eni_id, space = spaces[next(self._turn) % len(spaces)]
                try:
                    return await self._place(fabric, eni_id, space, region)
                except FabricError as exc:
                    if retry and service.gone(fabric):
                        continue  # the sandbox died under us: place it in the new one
                    raise Unplaceable(f"cannot start in {eni_id}: {exc}") from exc
        raise AssertionError("unreachable")

    async def place_isolated(self, note: str = "") -> Placement:
        """A network namespace for one environment alone: `lo`, its Runtime API and the
        vpclocal endpoint, nothing else; gone with the environment."""
        service = self.service
        if service.fabric is None or not service.fabric.sandbox.alive:
            why = service.reason or "the sandbox is not running"
            raise Unplaceable(f"no network namespace can be made here ({why}): functions do "
                              "not run in the server's network")
        if os.geteuid() != 0:
            self._can_enter()
        loop = service.loop = asyncio.get_running_loop()
        sandbox = service.fabric.sandbox
        endpoint = service.endpoint
        try:
            [space] = await asyncio.to_thread(sandbox.ns_new, 1, sysctl=ENI_SYSCTL)
        except FabricError as exc:
            raise Unplaceable(f"no network namespace for the function: {exc}") from exc
        relay = listener = None
        try:
            sock = await asyncio.to_thread(sandbox.listen, space, "127.0.0.1", endpoint[1])
            relay = await asyncio.start_server(self._relay, sock=sock)
            listener = await asyncio.to_thread(sandbox.listen, space, "127.0.0.1", 0)
            netns = await asyncio.to_thread(sandbox.netns_fd, space)
        except BaseException as exc:
            if relay is not None:
                relay.close()
            if listener is not None:
                listener.close()
            await asyncio.to_thread(_forget, sandbox, space)
            if isinstance(exc, FabricError):
                raise Unplaceable(f"no network namespace for the function: {exc}") from exc
            raise

        def retire() -> None:  # off the loop, once the environment has exited
            loop.call_soon_threadsafe(relay.close)
            _forget(sandbox, space)

        # alone in its namespace: no other environment to guard its Runtime API from
        return Placement(listener=listener, netns_fd=netns, note=note,
                         endpoint_url=f"http://127.0.0.1:{endpoint[1]}",
                         current=lambda: sandbox is self._sandbox(), retire=retire)

    def _sandbox(self):
        fabric = self.service.fabric
        return fabric.sandbox if fabric is not None else None

    async def place_public(self, region: str = "us-east-1") -> Placement:
        """A Placement in the Lambda service network, for functions without VpcConfig: they
        reach the internet (from one public address) and no VPC. Without the VPC fabric, an
        isolated namespace (place_isolated)."""
        service = self.service
        if not service.vpc:
            return await self.place_isolated()
        if not service.running:
            return await self.place_isolated(
                f"vpclocal: the fabric is unavailable ({service.reason}): this function "
                "reaches only the vpclocal endpoint, not the internet.")
        self._can_enter()
        service.loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock = asyncio.Lock()
        assert service.fabric is not None
        async with self._lock:
            for retry in (True, False):
                await asyncio.to_thread(service.wait_applied)
                fabric = service.fabric
                try:
                    space = await asyncio.to_thread(lambda f=fabric: f.lambda_service)
                    return await self._place(fabric, LAMBDA_SERVICE, space, region)
                except FabricError as exc:
                    if retry and service.gone(fabric):
                        continue  # the sandbox died under us: place it in the new one
                    raise Unplaceable("cannot place the function in the Lambda service "
                                      f"network: {exc}") from exc
        raise AssertionError("unreachable")

    async def _place(self, fabric: Fabric, eni_id: str, space: Space, region: str
                     ) -> Placement:
        # the sandbox the space belongs to: a new one numbers its namespaces alike
        sandbox = fabric.sandbox
        listener = await asyncio.to_thread(sandbox.listen, space, "127.0.0.1", 0)
        try:
            netns = await asyncio.to_thread(sandbox.netns_fd, space)
        except BaseException:
            listener.close()
            raise
        environment = await asyncio.to_thread(self.function_env)
        resolver, search = self.resolver_of(eni_id)
        return Placement(listener=listener, netns_fd=netns, guard=_guard(sandbox, space, listener),
                         note=_unguarded(sandbox), endpoint_url="", environment=environment,
                         current=lambda: self.space_of(eni_id) is space,
                         explain=None if eni_id == LAMBDA_SERVICE else (
                             lambda address, port: self.explain(region, eni_id, address, port)),
                         resolver=resolver, search=search)

    def space_of(self, eni_id: str) -> Space | None:
        """The namespace an ENI (or the Lambda service network) has in the fabric now."""
        service = self.service
        if eni_id == LAMBDA_SERVICE:
            return service.fabric.lambda_service if service.running and service.fabric else None
        return service.space(eni_id)

    def explain(self, region: str, eni_id: str, address: str, port: int) -> str | None:
        """Why a connection from this ENI to address:port never opened (hints.py)."""
        store = self.service.store
        with store.transaction(region):  # the store's lock, for reading
            return blocked_line(store.view(region), eni_id, address, port)

    def resolver_of(self, eni_id: str) -> tuple[str, str]:
        """(the VPC resolver's address, the search domain) for an ENI's namespace."""
        service = self.service
        assert service.fabric is not None
        if eni_id == LAMBDA_SERVICE:
            return (PUBLIC_RESOLVER, "") if service.resolvers.public is not None else ("", "")
        plan = service.fabric.reconciler.plan
        eni = plan.enis.get(eni_id)
        router = plan.routers.get(eni.vpc) if eni is not None else None
        if router is None or not router.resolver:
            return "", ""
        return router.resolver[0], dns.internal_domain(service.regions.get(eni.vpc, "us-east-1"))

    def function_env(self) -> dict[str, str]:
        """What a function in the fabric needs to reach the AWS public endpoints the way
        unchanged code does on AWS (at their public names, across the network): trust in the
        local CA that signs those names. Functions run as other users: they get a copy of the
        CA files where they can read them, in a directory of this server's made with an
        unguessable name (mkdtemp: function code cannot plant a link there beforehand)."""
        service = self.service
        if service.internet is None or not service.internet.running:
            return {}
        env: dict[str, str] = {}
        if self._ca_copies is None:
            self._ca_copies = Path(tempfile.mkdtemp(prefix="vpclocal-ca-"))
            self._ca_copies.chmod(0o755)
        for name, path in service.trust_env().items():
            copy = self._ca_copies / Path(path).name
            if not copy.exists() or copy.stat().st_mtime < Path(path).stat().st_mtime:
                staged = copy.with_name(copy.name + ".new")
                staged.unlink(missing_ok=True)
                shutil.copyfile(path, staged)
                staged.chmod(0o644)
                staged.replace(copy)  # atomic: a function never reads half a bundle
            env[name] = str(copy)
        return env

    def close(self) -> None:
        if self._ca_copies is not None:
            shutil.rmtree(self._ca_copies, ignore_errors=True)
            self._ca_copies = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection to the endpoint from inside a namespace, copied to the server."""
        await pipe(reader, writer, *self.service.endpoint)


def _forget(sandbox, space: Space) -> None:
    """Delete a namespace made for one environment (its sandbox may be gone already)."""
    try:
        sandbox.ns_del([space])
    except FabricError:
        pass


def _unguarded(sandbox) -> str:
    """The log line of a function whose Runtime API cannot be guarded (see _guard), or ""."""
    if _guardable(sandbox):
        return ""
    return ("vpclocal: the userns sandbox cannot tell function users apart: other functions in "
            "this network namespace can reach this environment's Runtime API "
            "(VPCLOCAL_FABRIC_SANDBOX=root, a root server's default, guards it).")


def _guardable(sandbox) -> bool:
    """In a sandbox of its own user namespace (which maps only root) every function's uid
    looks the same to nftables: there the guard cannot tell them apart."""
    return sandbox.variant is not None and sandbox.variant.sandbox == "root"


def _guard(sandbox, space: Space, listener):
    """Placement.guard: only the environment's user reaches its Runtime API listener (every
    function placed in a namespace shares its loopback); undone when the environment ends.
    None where the sandbox cannot tell users apart (_unguarded says so in the log)."""
    if not _guardable(sandbox):
        return None
    port = listener.getsockname()[1]

    def guard(uid: int):
        sandbox.guard(space, port, uid)

        def undo() -> None:
            try:
                sandbox.guard(space, port, uid, remove=True)
            except FabricError:
                pass  # the namespace, or the sandbox, is gone already
        return undo
    return guard
