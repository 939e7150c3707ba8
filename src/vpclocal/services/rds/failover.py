"""Multi-AZ on real servers: building a standby, and failing over to it.

- A standby replicates its primary for real: MariaDB semi-synchronous replication, replaying
  the primary's binary log from its first GTID; PostgreSQL synchronous streaming replication
  from a base backup. A commit returns only once the standby has it.
- A failover (RebootDBInstance with ForceFailover, FIS aws:rds:reboot-db-instances with
  forceFailover, or the primary's subnet cut off by an FIS disrupt-connectivity) kills the
  primary's server (its connections break), promotes the standby once it has applied all it
  received, and swaps them in the store (multi_az.swap): the fabric publishes the endpoint at
  the new primary's ENI and the VPC resolver answers its address before the failover counts
  as completed. RDS Proxies that target the instance follow it. The old primary's server is
  then rebuilt as the new standby, from the new primary, unless its subnet is cut off: then
  when it is back (subnets_restored).

One failover or rebuild at a time per instance (a lock each).
"""

from __future__ import annotations

import asyncio
import logging

from vpclocal.engines.base import EngineError, Placement
from vpclocal.engines.mariadb import MariaDB
from vpclocal.services.rds import events, multi_az
from vpclocal.services.rds.instances import KIND, server_for

log = logging.getLogger("vpclocal.rds")


def standby_server(app, region: str, record: dict):
    standby = record["_Standby"]
    return server_for(app, region, record, standby["Node"], standby["LocalPort"])


def build_standby(primary, standby, record: dict, initialized: bool = False) -> None:
    """Make `standby` a fresh replica of the running `primary` (blocking); `initialized`:
    a MariaDB standby's data directory was just made (empty)."""
    where = Placement("127.0.0.1", record["_Standby"]["LocalPort"])
    if isinstance(primary, MariaDB):
        password = record["_ReplicationPassword"]
        primary.serve_standby(multi_az.REPLICATION_USER, password)
        if not initialized:
            standby.destroy()  # whatever an earlier server left there
            standby.init()
        standby.start(where)
        standby.follow(record["_LocalPort"], multi_az.REPLICATION_USER, password)
        standby.wait_followed(primary)
    else:
        standby.destroy()
        standby.clone_from(primary)
        standby.start(where)
    standby.wait_followed(primary)


class FailoverOperations:
    """Multi-AZ work on the servers; the provider supplies the store and the proxies."""

    def lock(self, region: str, db_id: str) -> asyncio.Lock:
        return self.locks.setdefault((region, db_id), asyncio.Lock())

    def _edit(self, region: str, db_id: str, change) -> dict | None:
        with self.app.store.transaction(region) as tx:
            if tx.get(KIND, db_id) is None:
                return None
            record = tx.edit(KIND, db_id)
            change(tx, record)
            return dict(record)

    def note(self, region: str, db_id: str, *what) -> None:
        def add(tx, record):
            for event in what:
                events.record(tx, record, event)
        self._edit(region, db_id, add)

    async def make_standby(self, region: str, db_id: str, initialized: bool = False) -> None:
        """Build the instance's standby from its primary; EngineError if it cannot be."""
        record = self.app.store.view(region).get(KIND, db_id)
        primary = server_for(self.app, region, record)
        await asyncio.to_thread(build_standby, primary, standby_server(self.app, region, record),
                                record, initialized)

        def healthy(tx, r):
            if r.get("_Standby", {}).get("Node") == record["_Standby"]["Node"]:
                r["_Standby"]["Healthy"] = True
        self._edit(region, db_id, healthy)

    async def rebuild_standby(self, region: str, db_id: str) -> None:
        """A new standby for an instance whose standby is gone, unless its subnet is cut off
        (then subnets_restored does it)."""
        async with self.lock(region, db_id):
            view = self.app.store.view(region)
            record = view.get(KIND, db_id)
            standby = (record or {}).get("_Standby")
            if (not standby or standby["Healthy"]
                    or record["DBInstanceStatus"] not in ("available", "rebooting")
                    or multi_az.cut_off(view, standby["SubnetId"])):
                return
            for attempt in (1, 2):  # (once more: a machine under load can time it out)
                try:
                    await self.make_standby(region, db_id)
                    return
                except EngineError as exc:
                    log.error("the standby of %s could not be built (attempt %d): %s", db_id,
                              attempt, exc)

    async def fail_over(self, region: str, db_id: str, why: tuple) -> bool:
        """Promote the standby (see the module's docstring); False when there is no healthy
        standby to promote."""
        async with self.lock(region, db_id):
            record = self.app.store.view(region).get(KIND, db_id)
            if not record or not (record.get("_Standby") or {}).get("Healthy"):
                return False
            self.note(region, db_id, events.FAILOVER_STARTED)
            old, new = (server_for(self.app, region, record),
                        standby_server(self.app, region, record))
            if why == events.USER_FAILOVER:  # planned: the primary is still there to read
                await asyncio.to_thread(new.catch_up, old)
            await asyncio.to_thread(old.kill)
            await asyncio.to_thread(new.promote)
            record = self._edit(region, db_id, lambda tx, r: multi_az.swap(tx, r))
            fabric = self.app.fabric
            if fabric is not None and fabric.running:
                await fabric.caught_up()  # the endpoint answers at the new address
            await self.follow_target(region, db_id)
            self.note(region, db_id, events.FAILOVER_COMPLETED, why)
            return True

    async def follow_target(self, region: str, db_id: str) -> None:
        """RDS Proxies targeting the instance: to its (new) primary."""
        for proxy in self.app.store.view(region).values("db_proxies"):
            if db_id in proxy.get("_Targets", ()):
                try:
                    await self.serve_proxy(region, proxy)
                except Exception as exc:  # noqa: BLE001 - the failover itself is done
                    log.error("RDS Proxy %s did not follow %s: %s", proxy["DBProxyName"],
                              db_id, exc)

    async def lose_standby(self, region: str, db_id: str) -> None:
        """The standby's host is gone (its subnet cut off): commits stop waiting for it."""
        async with self.lock(region, db_id):
            record = self.app.store.view(region).get(KIND, db_id)
            if not record or not (record.get("_Standby") or {}).get("Healthy"):
                return
            standby = standby_server(self.app, region, record)
            await asyncio.to_thread(standby.kill)
            await asyncio.to_thread(server_for(self.app, region, record).standby_gone)

            def down(tx, r):
                r["_Standby"]["Healthy"] = False
            self._edit(region, db_id, down)

    # ---- hooks of FIS aws:network:disrupt-connectivity --------------------------------------

    async def subnets_disrupted(self, region: str, subnet_ids) -> None:
        """Subnets cut off: a Multi-AZ primary there fails over, a standby there is lost.
        (RDS's own health checks notice this on AWS; here FIS tells us.)"""
        cut = set(subnet_ids)
        for record in self.app.store.view(region).values(KIND):
            standby = record.get("_Standby")
            if not standby or record["DBInstanceStatus"] != "available":
                continue
            primary_subnet = self._subnet_of(region, record["_NetworkInterfaceIds"][0])
            if primary_subnet in cut:
                self._spawn(self._zone_failover(region, record["DBInstanceIdentifier"]))
            elif standby["SubnetId"] in cut:
                self._spawn(self.lose_standby(region, record["DBInstanceIdentifier"]))

    async def subnets_restored(self, region: str, subnet_ids) -> None:
        """Subnets back: standbys lost there are rebuilt."""
        back = set(subnet_ids)
        for record in self.app.store.view(region).values(KIND):
            standby = record.get("_Standby")
            if standby and not standby["Healthy"] and standby["SubnetId"] in back:
                self._spawn(self.rebuild_standby(region, record["DBInstanceIdentifier"]))

    async def _zone_failover(self, region: str, db_id: str) -> None:
        if await self.fail_over(region, db_id, events.PRIMARY_UNREACHABLE):
            await self.rebuild_standby(region, db_id)

    def _subnet_of(self, region: str, eni_id: str) -> str | None:
        eni = self.app.store.view(region).get("network_interfaces", eni_id)
        return eni.get("SubnetId") if eni else None

    def _spawn(self, job) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
