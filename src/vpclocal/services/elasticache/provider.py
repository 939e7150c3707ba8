"""The ElastiCache provider: subnet groups and Redis clusters, each node a real redis-server.

Operations that wait on an engine (create, reboot, delete) are async: they write in their own
short transactions and never hold the store while a server starts or stops.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from contextlib import contextmanager
from pathlib import Path

from vpclocal.engines.base import EngineError, free_port, port_free
from vpclocal.engines.redis import RedisServer
from vpclocal.fabric.ca import CertificateAuthority
from vpclocal.services.base import Provider
from vpclocal.services.ec2.defaults import ensure_region
from vpclocal.services.elasticache.clusters import (
    CLUSTERS,
    LOCAL_BIND,
    ClusterOperations,
    get_cluster,
    modify_cluster,
    new_cluster,
    remove_cluster,
    set_status,
    shape,
)
from vpclocal.services.elasticache.errors import error
from vpclocal.services.elasticache.subnet_groups import SubnetGroupOperations

log = logging.getLogger("vpclocal.elasticache")


class ElastiCacheProvider(SubnetGroupOperations, ClusterOperations, Provider):
    service_name = "elasticache"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.servers: dict[tuple[str, str], RedisServer] = {}  # (region, cluster id)
        self._ca: CertificateAuthority | None = None

    def prepare(self, ctx) -> None:
        ensure_region(ctx.tx, ctx)  # the default VPC behind the "default" subnet group

    @contextmanager
    def _tx(self, ctx):
        with self.app.store.transaction(self.scope(ctx)) as tx:
            ctx.tx = tx
            self.prepare(ctx)
            yield tx
        ctx.tx = None

    def _directory(self, region: str, cluster_id: str) -> Path:
        return self.app.config.data_dir / "elasticache" / region / cluster_id

    def _certificate(self, cluster: dict) -> bytes:
        """The node's TLS key and certificate (its endpoint name and addresses), signed by
        vpclocal's local CA."""
        if self._ca is None:
            self._ca = CertificateAuthority(self.app.config.data_dir / "ca")
        names = [cluster["_Hostname"], cluster["_Address"], LOCAL_BIND]
        return self._ca.leaf(names).read_bytes()

    def _server(self, region: str, cluster: dict) -> RedisServer:
        tls = self._certificate(cluster) if cluster["TransitEncryptionEnabled"] else None
        return RedisServer(self._directory(region, cluster["CacheClusterId"]), LOCAL_BIND,
                           cluster["_LocalPort"], tls=tls,
                           passwords=tuple(cluster.get("_AuthTokens", ())),
                           open_access=cluster.get("_OpenAccess", False))

    async def _run(self, region: str, cluster: dict) -> None:
        """Start the node's server and wait until it answers."""
        server = await asyncio.to_thread(self._server, region, cluster)
        self.servers[(region, cluster["CacheClusterId"])] = server
        server.start()
        await server.ready()

    async def _halt(self, region: str, cluster_id: str) -> None:
        server = self.servers.pop((region, cluster_id), None)
        if server is not None:
            await asyncio.to_thread(server.stop)

    # ---- operations that wait on the engine ------------------------------------------------

    async def create_cache_cluster(self, ctx, p):
        with self._tx(ctx) as tx:
            cluster = new_cluster(tx, ctx, p)
        cluster_id = cluster["CacheClusterId"]
        try:
            await self._run(ctx.region, cluster)
        except EngineError as exc:  # undo: the caller gets an error and nothing exists
            await self._halt(ctx.region, cluster_id)
            shutil.rmtree(self._directory(ctx.region, cluster_id), ignore_errors=True)
            with self._tx(ctx) as tx:
                remove_cluster(tx, cluster_id)
            raise error("capacity", reason=str(exc)) from exc
        with self._tx(ctx) as tx:
            set_status(tx, cluster_id, "available")
        return {"CacheCluster": shape(cluster)}  # as AWS answers: still "creating"

    async def modify_cache_cluster(self, ctx, p):
        with self._tx(ctx) as tx:
            cluster, new_token = modify_cluster(tx, p)
        server = self.servers.get((ctx.region, cluster["CacheClusterId"]))
        if new_token and server is not None:
            try:
                await server.set_passwords(tuple(cluster["_AuthTokens"]), cluster["_OpenAccess"])
            except (EngineError, OSError) as exc:
                raise error("capacity", reason=str(exc)) from exc
        return {"CacheCluster": shape(cluster)}

    async def reboot_cache_cluster(self, ctx, p):
        with self._tx(ctx) as tx:
            cluster = get_cluster(tx, p.get("CacheClusterId"))
            if cluster["CacheClusterStatus"] != "available":
                raise error("cluster_state", id=cluster["CacheClusterId"])
            cluster = set_status(tx, cluster["CacheClusterId"], "rebooting cache cluster nodes")
        answer = shape(cluster)
        await self._halt(ctx.region, cluster["CacheClusterId"])
        await self._run(ctx.region, cluster)
        with self._tx(ctx) as tx:
            set_status(tx, cluster["CacheClusterId"], "available")
        return {"CacheCluster": answer}

    async def delete_cache_cluster(self, ctx, p):
        with self._tx(ctx) as tx:
            cluster = get_cluster(tx, p.get("CacheClusterId"))
            if cluster["CacheClusterStatus"] not in ("available", "incompatible-network"):
                raise error("cluster_state", id=cluster["CacheClusterId"])
            answer = shape(set_status(tx, cluster["CacheClusterId"], "deleting"))
        cluster_id = cluster["CacheClusterId"]
        await self._halt(ctx.region, cluster_id)
        await asyncio.to_thread(shutil.rmtree, self._directory(ctx.region, cluster_id), True)
        with self._tx(ctx) as tx:
            remove_cluster(tx, cluster_id)
        return {"CacheCluster": answer}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bring back every cluster's server (their data is in their directories)."""
        await super().start()
        store = self.app.store
        starts = []
        for region in store.scopes(CLUSTERS):
            for cluster in list(store.view(region).values(CLUSTERS)):
                starts.append(self._restore(region, cluster))
        await asyncio.gather(*starts)

    async def _restore(self, region: str, cluster: dict) -> None:
        cluster_id = cluster["CacheClusterId"]
        server = RedisServer(self._directory(region, cluster_id), LOCAL_BIND,
                             cluster["_LocalPort"])  # only to stop a stale one
        await asyncio.to_thread(server.stop_stale)  # one a crashed run left may hold the port
        status = "available"
        with store_tx(self.app.store, region) as tx:
            if cluster["CacheClusterStatus"] == "deleting":
                remove_cluster(tx, cluster_id)  # a delete the last run did not finish
                shutil.rmtree(server.directory, ignore_errors=True)
                return
            if not port_free(LOCAL_BIND, cluster["_LocalPort"]):
                tx.edit(CLUSTERS, cluster_id)["_LocalPort"] = free_port(LOCAL_BIND)
            cluster = tx.get(CLUSTERS, cluster_id)
        try:
            await self._run(region, cluster)
        except EngineError as exc:
            log.error("cache cluster %s did not start: %s", cluster_id, exc)
            status = "incompatible-network"  # AWS's state for a node it cannot reach
        with store_tx(self.app.store, region) as tx:
            set_status(tx, cluster_id, status)

    async def stop(self) -> None:
        await asyncio.gather(*(self._halt(region, cid) for region, cid in list(self.servers)))
        await super().stop()


@contextmanager
def store_tx(store, region: str):
    with store.transaction(region) as tx:
        yield tx
