"""The VPC resolvers the fabric service serves: sockets in the routers, answers from the store.

Each VPC router answers DNS at the VPC resolver's addresses (dns.py; the compiler puts them
on the router's lo and exempts them from security groups and ACLs): after every apply, the
agent binds a UDP and a TCP socket on port 53 at each of them inside each router that is new
(a rebuild or a restart makes every router new), and a resolver thread's event loop serves
them (its own loop: answers do not wait behind the API's work), from a Zone per VPC that is
rebuilt from the store, at the next query, after any commit. The Lambda service network
answers public names only, on its own loopback (PUBLIC_RESOLVER). A placed function's
/etc/resolv.conf names its network's resolver (placement.py; Placement.resolver,
runtime/environment.py).

A resolver belongs to the router namespace its sockets were bound in: when the fabric makes
that router anew (a rebuild, a new sandbox after recovery) or the VPC's addresses change,
the old one is closed and a new one served.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from . import Space, dns

if TYPE_CHECKING:
    from .service import FabricService

PUBLIC_RESOLVER = "127.0.0.53"  # the Lambda service network's resolver, on its own loopback


class _Resolver:
    """One network's resolver: the namespace its sockets were bound in, and their server."""

    def __init__(self, space: Space, addresses: tuple[str, ...], served: list) -> None:
        self.space = space
        self.addresses = addresses
        self.served = served


class Resolvers:
    """The resolvers of a FabricService's fabric (which owns it): one per VPC, and the Lambda
    service network's; their thread; the zones they answer from."""

    def __init__(self, service: FabricService) -> None:
        self.service = service  # its fabric, its store, its commit count
        self.vpcs: dict[str, _Resolver] = {}  # VPC id -> its resolver
        self.public: _Resolver | None = None  # the Lambda service network's
        self._zones: dict[str, tuple[int, dns.Zone | None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._declared: tuple[int, dict[str, str]] = (-1, {})
        self._public = dns.public_lookup(self.declared_hosts)

    # ---- the resolver thread -------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            try:
                import uvloop
                loop = uvloop.new_event_loop()
            except ImportError:
                loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="vpclocal-dns", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        def close() -> None:
            for r in [*self.vpcs.values(), *filter(None, [self.public])]:
                for served in r.served:
                    served.close()
            self.vpcs.clear()
            self.public = None
            loop.stop()

        loop.call_soon_threadsafe(close)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    # ---- following the fabric -------------------------------------------------------------

    def sync(self) -> None:
        """Resolver sockets follow the routers (on the fabric thread, after an apply)."""
        fabric = self.service.fabric
        assert fabric is not None
        reconciler = fabric.reconciler
        routers = reconciler.routers
        for vpc_id in list(self.vpcs):
            r = self.vpcs[vpc_id]
            plan = reconciler.plan.routers.get(vpc_id)
            if (routers.get(vpc_id) is not r.space or plan is None
                    or plan.resolver != r.addresses):
                del self.vpcs[vpc_id]
                self._zones.pop(vpc_id, None)
                self.close(r.served)
        for vpc_id, space in routers.items():
            addresses = reconciler.plan.routers[vpc_id].resolver
            if vpc_id in self.vpcs or not addresses:
                continue
            served = self.serve(space, addresses, self._lookup_for(vpc_id))
            self.vpcs[vpc_id] = _Resolver(space, addresses, served)
        space = getattr(fabric, "lambda_service", None)
        public = self.public
        if public is not None and public.space is not space:
            self.close(public.served)
            self.public = public = None
        if public is None and space is not None:
            served = self.serve(space, (PUBLIC_RESOLVER,), self.public_lookup)
            self.public = _Resolver(space, (PUBLIC_RESOLVER,), served)

    def serve(self, space: Space, addresses, lookup: dns.Lookup) -> list[dns.Served]:
        """Answer DNS with `lookup` on port 53 (UDP and TCP) at addresses of a namespace (they
        must be on one of its interfaces): sockets bound there by the agent, served by the
        resolver thread. close() each Served when the namespace goes. (For other networks
        too: the Lambda service network answers with public_lookup().)"""
        fabric = self.service.fabric
        assert fabric is not None and self._loop is not None
        served = []
        for address in addresses:
            udp = fabric.sandbox.listen(space, address, dns.PORT, udp=True)
            tcp = fabric.sandbox.listen(space, address, dns.PORT)
            served.append(asyncio.run_coroutine_threadsafe(dns.serve(udp, tcp, lookup),
                                                           self._loop).result())
        return served

    def close(self, served: list[dns.Served]) -> None:
        if self._loop is not None:
            for s in served:
                self._loop.call_soon_threadsafe(s.close)

    # ---- answers ---------------------------------------------------------------------------

    def public_lookup(self, name: str) -> dns.Result:
        """Public names only (dns.public_lookup), for a network without a VPC."""
        return self._public(name)

    def declared_hosts(self) -> dict[str, str]:
        """The user's public hosts, read again after any commit."""
        seq, hosts = self._declared
        if seq != self.service.names_seq:
            seq = self.service.names_seq
            store = self.service.store
            with store.transaction("global"):  # the store's lock; writes nothing
                hosts = dns.declared_hosts(store.view("global"))
            self._declared = (seq, hosts)
        return hosts

    def _lookup_for(self, vpc_id: str) -> dns.Lookup:
        def lookup(name: str) -> dns.Result:
            z = self.zone(vpc_id)
            return z.lookup(name) if z is not None else dns.IGNORE
        return lookup

    def zone(self, vpc_id: str) -> dns.Zone | None:
        """The VPC's zone as of the last commit (rebuilt at most once per commit)."""
        seq = self.service.names_seq
        cached = self._zones.get(vpc_id)
        if cached is not None and cached[0] == seq:
            return cached[1]
        store = self.service.store
        with store.transaction("global"):  # the store's lock; writes nothing
            region = self.service.regions.get(vpc_id)
            if region is None or store.view(region).get("vpcs", vpc_id) is None:
                region = next((r for r in store.scopes("vpcs")
                               if store.view(r).get("vpcs", vpc_id) is not None), None)
            z = dns.zone(store.view(region), vpc_id) if region is not None else None
        self._zones[vpc_id] = (seq, z)
        return z
