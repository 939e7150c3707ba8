"""Database and cache endpoints published at their ENI's address inside the fabric.

An RDS instance, an RDS Proxy or an ElastiCache node is a real server (MariaDB, PostgreSQL,
pgbouncer, Redis) that listens on the host's loopback at the record's `_LocalPort`, where the
control plane manages it whether or not the fabric runs. The fabric makes it reachable where
AWS puts it: at its ENI's private address and its endpoint's port. The agent binds a
listening socket inside the ENI's namespace (0.0.0.0:<port>: the ENI's addresses), and the
server copies every connection accepted there to the real server on loopback.

So a client reaches the endpoint only the way a packet crosses the VPC: its security groups,
the NACLs and the route tables decide whether the SYN ever gets to the listener (a blocked
one is dropped, and the client times out as on AWS). The server sees connections from
loopback rather than from the client's address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable

from .relay import pipe
from .sandbox import FabricError, Sandbox, Space

log = logging.getLogger("vpclocal.fabric")


def _instance_port(r: dict) -> int | None:
    return (r.get("Endpoint") or {}).get("Port")


def _proxy_port(r: dict) -> int:
    return 5432 if r.get("EngineFamily") == "POSTGRESQL" else 3306


def _node_port(r: dict) -> int | None:
    nodes = r.get("CacheNodes") or [{}]
    return (nodes[0].get("Endpoint") or {}).get("Port")


# store kind -> the port its endpoint advertises (records say where they listen locally)
KINDS: dict[str, Callable[[dict], int | None]] = {
    "db_instances": _instance_port,
    "db_proxies": _proxy_port,
    "cache_clusters": _node_port,
}

Key = tuple[str, int]  # (ENI id, port)
EVIDENCE = 1000  # connection times kept per endpoint and client


def wanted(store) -> dict[Key, int]:
    """Every endpoint the store describes: (ENI, advertised port) -> local port."""
    out: dict[Key, int] = {}
    for kind, port_of in KINDS.items():
        for scope in store.scopes(kind):
            for record in store.view(scope).values(kind):
                port, local = port_of(record), record.get("_LocalPort")
                if port and local:
                    for eni_id in record.get("_NetworkInterfaceIds") or ():
                        out[(eni_id, port)] = local
    return out


class Published:
    """The listeners, kept in step with the store and the ENI namespaces (on the server's
    event loop)."""

    def __init__(self, sandbox: Sandbox, local_host: str = "127.0.0.1") -> None:
        self.sandbox = sandbox
        self.local_host = local_host
        self.targets: dict[Key, int] = {}  # where each endpoint's connections go
        self.listeners: dict[Key, tuple[Space, asyncio.Server]] = {}
        # when the latest connections were accepted, per endpoint and client address (the
        # doctor's evidence of a function that connects on every invocation)
        self.connections: dict[tuple[str, int, str], deque[float]] = defaultdict(
            lambda: deque(maxlen=EVIDENCE))

    async def sync(self, targets: dict[Key, int], spaces: dict[str, Space]) -> None:
        self.targets = targets
        for key, (space, server) in list(self.listeners.items()):
            if key not in targets or spaces.get(key[0]) is not space:
                server.close()
                del self.listeners[key]
        for key in targets.keys() - self.listeners.keys():
            space = spaces.get(key[0])
            if space is None:
                continue  # its ENI is not in the fabric (yet)
            try:
                sock = await asyncio.to_thread(self.sandbox.listen, space, "0.0.0.0", key[1])
            except (FabricError, OSError) as exc:
                log.error("cannot publish %s:%d: %s", *key, exc)
                continue
            server = await asyncio.start_server(
                lambda r, w, k=key: self._relay(k, r, w), sock=sock)
            self.listeners[key] = (space, server)

    async def _relay(self, key: Key, reader, writer) -> None:
        local = self.targets.get(key)
        if local is None:
            writer.close()
            return
        client = (writer.get_extra_info("peername") or ("",))[0]
        self.connections[(*key, client)].append(time.time())
        await pipe(reader, writer, self.local_host, local)

    def close(self) -> None:
        for _space, server in self.listeners.values():
            server.close()
        self.listeners.clear()
