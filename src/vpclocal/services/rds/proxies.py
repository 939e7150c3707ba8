"""RDS Proxy: a proxy record, its default target group and a real pool bounded by the target
group's MaxConnectionsPercent: pgbouncer in transaction pooling mode for PostgreSQL, the
MySQL-protocol pool of engines.mysql_pool (on the server's loop) for the MySQL family.

Target health is measured, not recorded: DescribeDBProxyTargets asks the running pooler.
"""

from __future__ import annotations

import asyncio

from vpclocal.engines.base import EngineError, Placement, free_port
from vpclocal.engines.mysql_pool import Limits, MySQLProxy
from vpclocal.engines.mysql_pool import Target as MySQLTarget
from vpclocal.engines.pgbouncer import PgBouncer, Pool, Target
from vpclocal.engines.postgres import ADMIN
from vpclocal.ids import resource_id as ec2_id
from vpclocal.protocols.base import now_iso
from vpclocal.services.ec2.defaults import ensure_region
from vpclocal.services.ec2.network_interfaces import create_interface, delete_interface
from vpclocal.services.rds.common import arn, dns_suffix, fail, identifier, invalid, public
from vpclocal.services.rds.instances import ENGINES, engine_failure, get_instance, server_for

KIND = "db_proxies"
FAMILIES = {"MYSQL", "POSTGRESQL", "SQLSERVER"}
POOL_DEFAULTS = {"MaxConnectionsPercent": 100, "MaxIdleConnectionsPercent": 50,
                 "ConnectionBorrowTimeout": 120, "SessionPinningFilters": []}


def get_proxy(view, name: str | None) -> dict:
    record = view.get(KIND, (name or "").lower())
    if record is None:
        raise fail("DBProxyNotFoundFault", f"DBProxy {name} not found.")
    return record


def check_group(name: str | None) -> None:
    if name not in (None, "default"):
        raise fail("DBProxyTargetGroupNotFoundFault",
                   f"DBProxyTargetGroup {name} not found.")


def target_group(record: dict) -> dict:
    return {"DBProxyName": record["DBProxyName"], "TargetGroupName": "default",
            "TargetGroupArn": record["_TargetGroupArn"], "IsDefault": True,
            "Status": "available", "ConnectionPoolConfig": record["_Pool"],
            "CreatedDate": record["CreatedDate"], "UpdatedDate": record["UpdatedDate"]}


def pool_of(record: dict, instance: dict) -> Pool:
    """The target group's percentages of the target's max_connections, as connection counts."""
    conf, most = record["_Pool"], instance.get("_MaxConnections", 100)
    size = max(1, most * conf["MaxConnectionsPercent"] // 100)
    return Pool(size, max(0, most * conf["MaxIdleConnectionsPercent"] // 100),
                conf["ConnectionBorrowTimeout"])


def limits_of(record: dict, instance: dict) -> Limits:
    pool = pool_of(record, instance)
    return Limits(pool.size, pool.idle, pool.borrow_timeout, record["IdleClientTimeout"])


class ProxyOperations:
    """Operations on DB proxies; the provider supplies `store_tx(ctx)`."""

    def create_db_proxy(self, ctx, p):
        tx = ctx.tx
        ensure_region(tx, ctx)
        name = identifier(p.get("DBProxyName"), "DBProxyName")
        if p.get("EngineFamily") not in FAMILIES:
            raise invalid(f"Invalid EngineFamily: {p.get('EngineFamily')}")
        if tx.get(KIND, name) is not None:
            raise fail("DBProxyAlreadyExistsFault", f"DBProxy {name} already exists.")
        subnets = [tx.get("subnets", s) for s in p.get("VpcSubnetIds") or []]
        if not subnets or None in subnets:
            raise fail("InvalidSubnet", "Some input subnets are invalid.")
        vpc_id = subnets[0]["VpcId"]
        if any(s["VpcId"] != vpc_id for s in subnets):
            # the model's InvalidSubnet ("...multiple subnets were requested that are not all
            # in a common VPC"); AWS's exact message is unconfirmed
            raise fail("InvalidSubnet", "The requested subnets are not all in a common VPC.")
        if len({s["AvailabilityZone"] for s in subnets}) < 2:
            raise fail("InvalidSubnet", "The subnets must cover at least 2 Availability Zones.")
        groups = p.get("VpcSecurityGroupIds") or [
            g["GroupId"] for g in tx.all("security_groups").values()
            if g["VpcId"] == vpc_id and g["GroupName"] == "default"]
        for gid in groups:
            group = tx.get("security_groups", gid)
            if group is None or group["VpcId"] != vpc_id:
                raise invalid(f"Invalid security group: {gid}")
        eni = create_interface(tx, ctx, subnets[0]["SubnetId"], group_ids=groups,
                               description="Network interface for DBProxy " + name,
                               requester_managed=True, requester_id="amazon-rds",
                               status="in-use")
        now = now_iso()
        address = (f"{name}.proxy-{dns_suffix(ctx.account_id, ctx.region)}.{ctx.region}"
                   ".rds.amazonaws.com")
        proxy_id = ec2_id("prx")
        record = {
            "DBProxyName": name, "DBProxyArn": arn(ctx, "db-proxy", proxy_id),
            "Status": "available", "EngineFamily": p["EngineFamily"], "VpcId": vpc_id,
            "VpcSecurityGroupIds": groups, "VpcSubnetIds": [s["SubnetId"] for s in subnets],
            "Auth": [{"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", **a}
                     for a in p.get("Auth") or []],
            "RoleArn": p.get("RoleArn"), "Endpoint": address,
            "RequireTLS": bool(p.get("RequireTLS")),
            "IdleClientTimeout": p.get("IdleClientTimeout", 1800),
            "DebugLogging": bool(p.get("DebugLogging")), "CreatedDate": now, "UpdatedDate": now,
            "_TargetGroupArn": arn(ctx, "target-group", ec2_id("prx-tg")),
            "_Pool": dict(POOL_DEFAULTS), "_Targets": [],
            "_NetworkInterfaceIds": [eni["NetworkInterfaceId"]], "_Hostname": address,
            "_Address": eni["PrivateIpAddress"], "_LocalPort": free_port(),
        }
        tx.put(KIND, name, record)
        answer = public(record)
        answer["Status"] = "creating"  # AWS answers creating; it is ready at the next describe
        return {"DBProxy": answer}

    def describe_db_proxies(self, ctx, p):
        name = p.get("DBProxyName")
        records = [get_proxy(ctx.tx, name)] if name else list(ctx.tx.all(KIND).values())
        return {"DBProxies": [public(r) for r in records]}

    async def delete_db_proxy(self, ctx, p):
        with self.store_tx(ctx) as tx:
            record = get_proxy(tx, p["DBProxyName"])
        await self.retire_proxy(ctx.region, record)
        with self.store_tx(ctx) as tx:
            for eni_id in record["_NetworkInterfaceIds"]:
                delete_interface(tx, eni_id)
            tx.delete(KIND, record["DBProxyName"])
        return {"DBProxy": {**public(record), "Status": "deleting"}}

    def describe_db_proxy_target_groups(self, ctx, p):
        check_group(p.get("TargetGroupName"))
        return {"TargetGroups": [target_group(get_proxy(ctx.tx, p["DBProxyName"]))]}

    async def modify_db_proxy_target_group(self, ctx, p):
        check_group(p.get("TargetGroupName"))
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, get_proxy(tx, p["DBProxyName"])["DBProxyName"])
            conf = p.get("ConnectionPoolConfig") or {}
            for key in POOL_DEFAULTS:
                if conf.get(key) is not None:
                    record["_Pool"][key] = conf[key]
            pool = record["_Pool"]
            if conf.get("MaxConnectionsPercent") and conf.get("MaxIdleConnectionsPercent") is None:
                # AWS: the idle default is half of MaxConnectionsPercent
                pool["MaxIdleConnectionsPercent"] = pool["MaxConnectionsPercent"] // 2
            if not 1 <= pool["MaxConnectionsPercent"] <= 100:
                raise invalid("MaxConnectionsPercent must be between 1 and 100.")
            if not 0 <= pool["MaxIdleConnectionsPercent"] <= pool["MaxConnectionsPercent"]:
                raise invalid("MaxIdleConnectionsPercent must be between 0 and "
                              "MaxConnectionsPercent.")
            record["UpdatedDate"] = now_iso()
        await self.serve_proxy(ctx.region, record)
        return {"DBProxyTargetGroup": target_group(record)}

    async def register_db_proxy_targets(self, ctx, p):
        check_group(p.get("TargetGroupName"))
        if p.get("DBClusterIdentifiers"):
            raise invalid("vpclocal has no Aurora DB clusters.")
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, get_proxy(tx, p["DBProxyName"])["DBProxyName"])
            ids = [get_instance(tx, i)["DBInstanceIdentifier"]
                   for i in p.get("DBInstanceIdentifiers") or []]
            for db_id in ids:
                instance = tx.get("db_instances", db_id)
                if ENGINES[instance["Engine"]]["family"] != record["EngineFamily"]:
                    raise invalid(f"The engine family of DB instance {db_id} does not match "
                                  f"the proxy's {record['EngineFamily']}.")
                if db_id in record["_Targets"]:
                    raise fail("DBProxyTargetAlreadyRegisteredFault",
                               f"DB instance {db_id} is already registered with proxy "
                               f"{record['DBProxyName']}.")
            if len(record["_Targets"]) + len(ids) > 1:
                # a target group points at one DB instance (or one cluster)
                raise invalid("A proxy target group can have at most one DB instance.")
            record["_Targets"] += ids
        await self.serve_proxy(ctx.region, record)
        view = self.app.store.view(ctx.region)
        return {"DBProxyTargets": [await self.target(ctx.region, view, record, i) for i in ids]}

    async def describe_db_proxy_targets(self, ctx, p):
        check_group(p.get("TargetGroupName"))
        view = self.app.store.view(ctx.region)
        record = get_proxy(view, p["DBProxyName"])
        return {"Targets": [await self.target(ctx.region, view, record, i)
                            for i in record["_Targets"]]}

    async def deregister_db_proxy_targets(self, ctx, p):
        check_group(p.get("TargetGroupName"))
        record = get_proxy(self.app.store.view(ctx.region), p["DBProxyName"])
        for db_id in p.get("DBInstanceIdentifiers") or []:
            if db_id.lower() not in record["_Targets"]:
                raise fail("DBProxyTargetNotFoundFault", f"DBProxyTarget {db_id} not found.")
        for db_id in p.get("DBInstanceIdentifiers") or []:
            await self.drop_target(ctx, record["DBProxyName"], db_id.lower())
        return {}

    # ---- helpers ----------------------------------------------------------------------------

    async def target(self, region: str, view, record: dict, db_id: str) -> dict:
        instance = view.get("db_instances", db_id)
        problem = await self.target_problem(region, record)
        health = ({"State": "AVAILABLE"} if problem is None else
                  {"State": "UNAVAILABLE", "Reason": problem[0], "Description": problem[1]})
        return {"TargetArn": instance["DBInstanceArn"], "RdsResourceId": db_id,
                "Endpoint": instance["Endpoint"]["Address"],
                "Port": instance["Endpoint"]["Port"], "Type": "RDS_INSTANCE",
                "Role": "READ_WRITE", "TargetHealth": health}

    async def drop_target(self, ctx, name: str, db_id: str) -> None:
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, name)
            record["_Targets"] = [t for t in record["_Targets"] if t != db_id]
        await self.serve_proxy(ctx.region, record)

    async def target_problem(self, region: str, record: dict) -> tuple[str, str] | None:
        """(Reason, Description) when the proxy cannot serve its target, None when it can.
        The descriptions are vpclocal's own wording (AWS's are not documented)."""
        if record["EngineFamily"] == "MYSQL":
            proxy = self.mysql_proxies.get((region, record["DBProxyName"]))
            if proxy is None:
                return "UNREACHABLE", "The proxy is not running."
            return await proxy.health()
        if record["EngineFamily"] == "POSTGRESQL":
            if not await asyncio.to_thread(self.pooler(region, record).running):
                return "UNREACHABLE", "The proxy is not running."
            return None
        return "CONNECTION_FAILED", "vpclocal has no SQL Server engine."

    def pooler(self, region: str, record: dict) -> PgBouncer:
        return PgBouncer(self.app.config.data_dir / "rds" / region / "proxies" /
                         record["DBProxyName"])

    async def retire_proxy(self, region: str, record: dict) -> None:
        """Stop a proxy's pooler for good (the proxy is being deleted)."""
        mysql = self.mysql_proxies.pop((region, record["DBProxyName"]), None)
        if mysql is not None:
            await mysql.stop()
        await asyncio.to_thread(self.pooler(region, record).destroy)

    async def serve_proxy(self, region: str, record: dict) -> None:
        """Converge the proxy's pooler to its record: (re)configured and running while it has
        a target, stopped otherwise."""
        if record["EngineFamily"] == "MYSQL":
            await self.serve_mysql_proxy(region, record)
            return
        pooler = self.pooler(region, record)
        await asyncio.to_thread(pooler.stop)
        if record["EngineFamily"] != "POSTGRESQL" or not record["_Targets"]:
            return
        view = self.app.store.view(region)
        instance = view.get("db_instances", record["_Targets"][0])
        server = server_for(self.app, region, instance)
        where = Placement("127.0.0.1", record["_LocalPort"])
        pooler.configure(where, Target(str(server.run_dir), instance["_LocalPort"], ADMIN),
                         pool_of(record, instance))
        try:
            await asyncio.to_thread(pooler.start, where)
        except EngineError as exc:
            raise engine_failure(exc) from exc

    async def serve_mysql_proxy(self, region: str, record: dict) -> None:
        """The MySQL pool lives on our loop: a changed target group applies to the running pool
        (a raised cap serves waiting clients at once)."""
        key = (region, record["DBProxyName"])
        proxy = self.mysql_proxies.get(key)
        if not record["_Targets"]:
            if proxy is not None:
                del self.mysql_proxies[key]
                await proxy.stop()
            return
        instance = self.app.store.view(region).get("db_instances", record["_Targets"][0])
        server = server_for(self.app, region, instance)
        target = MySQLTarget(("127.0.0.1", instance["_LocalPort"]), str(server.sock))
        limits = limits_of(record, instance)
        if proxy is None:
            proxy = self.mysql_proxies[key] = MySQLProxy(record["DBProxyName"], target, limits)
        else:
            proxy.configure(target, limits)
        try:
            await proxy.start(Placement("127.0.0.1", record["_LocalPort"]))
        except EngineError as exc:
            del self.mysql_proxies[key]
            raise engine_failure(exc) from exc
