"""The RDS provider: subnet groups, instances on real servers (Multi-AZ: with a standby
server, failover.py), RDS Proxy on pgbouncer (PostgreSQL) and on the MySQL pool of
engines.mysql_pool (MySQL family), events.

The store says which servers should run; start() brings them back after a restart (data
directories persist under <data_dir>/rds/<region>/), stop() shuts them down cleanly.
"""

from __future__ import annotations

import asyncio
import logging

from vpclocal.engines.base import EngineError, free_port, port_free
from vpclocal.services.base import Provider
from vpclocal.services.rds import instances
from vpclocal.services.rds.events import EventOperations
from vpclocal.services.rds.failover import FailoverOperations, standby_server
from vpclocal.services.rds.instances import (
    InstanceOperations,
    launch,
    resume_standby,
    server_for,
    servers,
)
from vpclocal.services.rds.proxies import KIND as PROXIES
from vpclocal.services.rds.proxies import ProxyOperations
from vpclocal.services.rds.subnet_groups import SubnetGroupOperations

log = logging.getLogger("vpclocal.rds")


class RdsProvider(SubnetGroupOperations, InstanceOperations, FailoverOperations,
                  ProxyOperations, EventOperations, Provider):
    service_name = "rds"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.mysql_proxies = {}  # (region, proxy name) -> MySQLProxy serving on our loop
        self.locks = {}  # (region, instance) -> asyncio.Lock: one failover or rebuild at once
        self.tasks = set()  # failovers and rebuilds an AZ disruption started

    def store_tx(self, ctx):
        return self.app.store.transaction(self.scope(ctx))

    def _records(self, kind: str):
        store = self.app.store
        return [(scope, dict(r)) for scope in store.scopes(kind)
                for r in store.view(scope).values(kind)]

    async def start(self) -> None:
        await super().start()
        await asyncio.gather(*(self._revive(scope, r)
                               for scope, r in self._records(instances.KIND)))
        for scope, record in self._records(PROXIES):
            try:
                await self.serve_proxy(scope, record)
            except Exception as exc:  # noqa: BLE001 - one broken proxy must not stop the rest
                log.error("RDS Proxy %s did not start: %s", record["DBProxyName"], exc)

    async def _revive(self, scope: str, record: dict) -> None:
        db_id = record["DBInstanceIdentifier"]
        server = server_for(self.app, scope, record)
        status = record["DBInstanceStatus"]
        if status == "deleting" or not server.initialized():  # never finished either way
            for each in servers(self.app, scope, record):
                await asyncio.to_thread(each.destroy)
            with self.app.store.transaction(scope) as tx:
                instances.remove(tx, db_id)
            return
        if status in ("stopped", "stopping"):
            self._set(scope, db_id, {"DBInstanceStatus": "stopped"})
            return
        if not server.running() and not port_free("127.0.0.1", record["_LocalPort"]):
            record["_LocalPort"] = free_port()  # someone took its port while we were down
        try:
            facts = await asyncio.to_thread(launch, server, record)
        except EngineError as exc:
            log.error("DB instance %s did not start: %s", db_id, exc)
            self._set(scope, db_id, {"DBInstanceStatus": "failed"})
            return
        self._set(scope, db_id, {**facts, "DBInstanceStatus": "available",
                                 "_LocalPort": record["_LocalPort"]})
        if record.get("_Standby"):  # (meanwhile: no failover to it)
            self._spawn(self._revive_standby(scope, record))

    async def _revive_standby(self, scope: str, record: dict) -> None:
        """A standby that replicated resumes, and counts again once it replicates; one that
        did not (or cannot start) is rebuilt."""
        db_id, healthy = record["DBInstanceIdentifier"], record["_Standby"]["Healthy"]
        self._set_standby(scope, db_id, False)
        async with self.lock(scope, db_id):
            server = standby_server(self.app, scope, record)
            primary = server_for(self.app, scope, record)
            if healthy and server.initialized():
                try:
                    await asyncio.to_thread(resume_standby, primary, server, record)
                    self._set_standby(scope, db_id, True)
                    return
                except EngineError as exc:
                    log.error("the standby of %s did not start: %s", db_id, exc)
            await asyncio.to_thread(primary.standby_gone)
        await self.rebuild_standby(scope, db_id)

    def _set_standby(self, scope: str, db_id: str, healthy: bool) -> None:
        with self.app.store.transaction(scope) as tx:
            if tx.get(instances.KIND, db_id) is not None:
                tx.edit(instances.KIND, db_id)["_Standby"]["Healthy"] = healthy

    def _set(self, scope: str, db_id: str, changes: dict) -> None:
        with self.app.store.transaction(scope) as tx:
            tx.edit(instances.KIND, db_id).update(changes)

    async def stop(self) -> None:
        jobs = [asyncio.to_thread(self.pooler(scope, r).stop) for scope, r in
                self._records(PROXIES)]
        jobs += [proxy.stop() for proxy in self.mysql_proxies.values()]
        self.mysql_proxies = {}
        for task in list(self.tasks):
            task.cancel()
        jobs += [asyncio.to_thread(server.stop) for scope, r in self._records(instances.KIND)
                 for server in servers(self.app, scope, r)]
        await asyncio.gather(*jobs)
        await super().stop()
