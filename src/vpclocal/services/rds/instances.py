"""DB instances: records in the store, each served by a real MariaDB or PostgreSQL server.

An operation that touches the server is `async`: it validates and writes in one transaction,
runs the server work in a thread (the store is not locked meanwhile), then records the
outcome. Create starts the server before answering, so the instance is `available` by the
first DescribeDBInstances (`aws rds wait db-instance-available` returns at once).
"""

from __future__ import annotations

import asyncio
import re

from vpclocal.engines.base import EngineError, Placement, free_port
from vpclocal.engines.mariadb import MariaDB
from vpclocal.engines.postgres import Postgres
from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso
from vpclocal.services.ec2.addresses import allocate_public_ip, public_dns_name
from vpclocal.services.ec2.defaults import ensure_region
from vpclocal.services.ec2.network_interfaces import create_interface, delete_interface
from vpclocal.services.rds import events, multi_az, subnet_groups
from vpclocal.services.rds.common import (
    HOSTED_ZONE,
    arn,
    dns_suffix,
    fail,
    identifier,
    invalid,
    public,
    resource_id,
)

KIND = "db_instances"

# engine -> what RDS reports for it and the server that runs it
ENGINES = {
    "mysql": {"server": MariaDB, "port": 3306, "version": "8.0.35", "majors": ("8.0", "5.7"),
              "license": "general-public-license", "params": "default.mysql{}",
              "family": "MYSQL", "user_max": 16},
    "mariadb": {"server": MariaDB, "port": 3306, "version": "10.11.9", "majors": ("10.", "11."),
                "license": "general-public-license", "params": "default.mariadb{}",
                "family": "MYSQL", "user_max": 16},
    "postgres": {"server": Postgres, "port": 5432, "version": "15.8",
                 "majors": ("13", "14", "15", "16", "17"), "license": "postgresql-license",
                 "params": "default.postgres{}", "family": "POSTGRESQL", "user_max": 63},
}
RESERVED_USERS = {"mysql": {"rdsadmin", "root", "mysql"}, "mariadb": {"rdsadmin", "root"},
                  "postgres": {"rdsadmin", "postgres"}}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BAD_PASSWORD_CHARS = set('/@" ')


def not_found(db_id: str) -> ServiceError:
    return fail("DBInstanceNotFound", f"DBInstance {db_id} not found.")


def get_instance(view, db_id: str | None) -> dict:
    record = view.get(KIND, (db_id or "").lower())
    if record is None:
        raise not_found(db_id)
    return record


def check_password(password: str | None) -> str:
    if not password:
        raise invalid("The parameter MasterUserPassword must be provided and must not be blank.")
    if len(password) < 8:
        raise invalid("The parameter MasterUserPassword is not a valid password because it is "
                      "shorter than 8 characters.")
    if len(password) > 41 or any(c in _BAD_PASSWORD_CHARS or not 32 < ord(c) < 127
                                 for c in password):
        raise invalid("The parameter MasterUserPassword is not a valid password. Only printable "
                      "ASCII characters besides '/', '@', '\"', ' ' may be used.")
    return password


def _check_create(tx, p) -> tuple[str, dict]:
    db_id = identifier(p.get("DBInstanceIdentifier"), "DBInstanceIdentifier")
    engine = (p.get("Engine") or "").lower()
    spec = ENGINES.get(engine)
    if spec is None:
        raise invalid("Invalid DB engine")
    version = p.get("EngineVersion") or spec["version"]
    if not version.startswith(spec["majors"]):
        raise fail("InvalidParameterCombination", f"Cannot find version {version} for {engine}")
    user = p.get("MasterUsername")
    if not user:
        raise invalid("The parameter MasterUsername must be provided and must not be blank.")
    if not _NAME.fullmatch(user) or len(user) > spec["user_max"]:
        raise invalid(f"The parameter MasterUsername is not a valid identifier. Identifiers must "
                      f"begin with a letter; must contain only ASCII letters, digits, and "
                      f"underscores; and must be 1 to {spec['user_max']} characters.")
    if user.lower() in RESERVED_USERS[engine]:
        raise invalid(f"MasterUsername {user} cannot be used as it is a reserved word used by "
                      "the engine")
    check_password(p.get("MasterUserPassword"))
    name = p.get("DBName")
    if name is not None and (not _NAME.fullmatch(name) or len(name) > 63):
        raise invalid("The parameter DBName is not a valid identifier. Identifiers must begin "
                      "with a letter and contain only ASCII letters, digits, and underscores.")
    storage = p.get("AllocatedStorage", 20)
    if not 20 <= storage <= 65536:
        raise fail("InvalidParameterCombination", f"Invalid storage size for engine name "
                   f"{engine} and storage type {p.get('StorageType') or 'gp2'}: {storage}")
    if tx.get(KIND, db_id) is not None:
        raise fail("DBInstanceAlreadyExists", "DB instance already exists")
    return db_id, spec


def _security_groups(tx, vpc_id: str, group_ids: list[str] | None) -> list[str]:
    if not group_ids:
        return [g["GroupId"] for g in tx.all("security_groups").values()
                if g["VpcId"] == vpc_id and g["GroupName"] == "default"]
    for gid in group_ids:
        group = tx.get("security_groups", gid)
        if group is None:
            # AWS's wording for an unknown group (observed form)
            raise invalid(f"Invalid security group , groupId= {gid}, groupName=.")
        if group["VpcId"] != vpc_id:
            raise fail("InvalidParameterCombination",
                       "The DB instance and EC2 security group are in different VPCs.")
    return list(dict.fromkeys(group_ids))


def new_instance(tx, ctx, p) -> dict:
    """Validate CreateDBInstance and write the instance (creating) and its ENI."""
    db_id, spec = _check_create(tx, p)
    engine = p["Engine"].lower()
    group = (subnet_groups.get_group(tx, p["DBSubnetGroupName"]) if p.get("DBSubnetGroupName")
             else subnet_groups.default_group(tx, ctx))
    groups = _security_groups(tx, group["VpcId"], p.get("VpcSecurityGroupIds"))
    subnets = group["Subnets"]
    zone = p.get("AvailabilityZone")
    if zone and p.get("MultiAZ"):
        raise fail("InvalidParameterCombination",
                   "Requesting a specific availability zone is not valid for Multi-AZ instances.")
    if p.get("MultiAZ"):
        multi_az.check_coverage(tx, group)
    if zone:
        subnets = [s for s in subnets if s["SubnetAvailabilityZone"]["Name"] == zone]
        if not subnets:
            raise invalid(f"Requested availability zone '{zone}' is not in the DB subnet group.")
    subnet = subnets[0]
    eni = create_interface(tx, ctx, subnet["SubnetIdentifier"], group_ids=groups,
                           description="RDSNetworkInterface", requester_managed=True,
                           requester_id="amazon-rds", status="in-use")
    if p.get("PubliclyAccessible"):  # an AWS-owned public address, used through an IGW
        public = allocate_public_ip(tx, eni["NetworkInterfaceId"])
        tx.edit("network_interfaces", eni["NetworkInterfaceId"])["Association"] = {
            "IpOwnerId": "amazon", "PublicIp": public,
            "PublicDnsName": public_dns_name(public, ctx.region)}
    port = p.get("Port") or spec["port"]
    address = f"{db_id}.{dns_suffix(ctx.account_id, ctx.region)}.{ctx.region}.rds.amazonaws.com"
    version = p.get("EngineVersion") or spec["version"]
    record = {
        "DBInstanceIdentifier": db_id, "DBInstanceClass": p.get("DBInstanceClass"),
        "Engine": engine, "EngineVersion": version, "DBInstanceStatus": "creating",
        "MasterUsername": p["MasterUsername"],
        "Endpoint": {"Address": address, "Port": port, "HostedZoneId": HOSTED_ZONE},
        "AllocatedStorage": p.get("AllocatedStorage", 20), "InstanceCreateTime": now_iso(),
        "PreferredBackupWindow": "03:00-03:30",
        "BackupRetentionPeriod": p.get("BackupRetentionPeriod", 1), "DBSecurityGroups": [],
        "VpcSecurityGroups": [{"VpcSecurityGroupId": g, "Status": "active"} for g in groups],
        "DBParameterGroups": [{"DBParameterGroupName": spec["params"].format(
            version.split(".")[0] if engine == "postgres" else ".".join(version.split(".")[:2])),
            "ParameterApplyStatus": "in-sync"}],
        "AvailabilityZone": subnet["SubnetAvailabilityZone"]["Name"],
        "DBSubnetGroup": {k: group[k] for k in ("DBSubnetGroupName", "DBSubnetGroupDescription",
                                                "VpcId", "SubnetGroupStatus", "Subnets")},
        "PreferredMaintenanceWindow": "sun:05:00-sun:05:30", "PendingModifiedValues": {},
        "MultiAZ": bool(p.get("MultiAZ")), "AutoMinorVersionUpgrade": True,
        "ReadReplicaDBInstanceIdentifiers": [], "LicenseModel": spec["license"],
        "PubliclyAccessible": bool(p.get("PubliclyAccessible", False)),
        "StorageType": p.get("StorageType") or "gp2", "DbInstancePort": 0,
        "StorageEncrypted": bool(p.get("StorageEncrypted")),
        "DbiResourceId": resource_id("db-"), "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        "CopyTagsToSnapshot": bool(p.get("CopyTagsToSnapshot")), "MonitoringInterval": 0,
        "DBInstanceArn": arn(ctx, "db", db_id), "IAMDatabaseAuthenticationEnabled": False,
        "PerformanceInsightsEnabled": False,
        "DeletionProtection": bool(p.get("DeletionProtection")), "AssociatedRoles": [],
        "TagList": p.get("Tags") or [], "NetworkType": "IPV4", "BackupTarget": "region",
        "_NetworkInterfaceIds": [eni["NetworkInterfaceId"]], "_Hostname": address.lower(),
        "_Address": eni["PrivateIpAddress"], "_LocalPort": free_port(),
    }
    if p.get("DBName"):
        record["DBName"] = p["DBName"]
    if p.get("MultiAZ"):
        multi_az.add_standby(tx, ctx, record, group)
    return tx.put(KIND, db_id, record)


def remove(tx, db_id: str) -> None:
    record = tx.get(KIND, db_id)
    if record is None:
        return
    for eni_id in multi_az.enis(record):
        delete_interface(tx, eni_id)
    tx.delete(KIND, db_id)


def server_for(app, region: str, record: dict, node: str | None = None,
               port: int | None = None):
    """The server of the instance's primary (or of `node`, listening at `port`: its
    standby's, multi_az)."""
    root = app.config.data_dir / "rds" / region / (node or multi_az.primary_node(record))
    if ENGINES[record["Engine"]]["server"] is MariaDB:
        return MariaDB(root)
    server = Postgres(root, record["MasterUsername"])
    server.port = port or record["_LocalPort"]
    return server


def servers(app, region: str, record: dict) -> list:
    """The servers of every node the instance has: its primary's, and its standby's."""
    standby = record.get("_Standby")
    return [server_for(app, region, record),
            *([server_for(app, region, record, standby["Node"], standby["LocalPort"])]
              if standby else [])]


def launch(server, record: dict, password: str | None = None) -> dict:
    """Set up (first time) and start an instance's server; internal facts to record."""
    fresh = not server.initialized()
    if fresh:
        server.init(password) if isinstance(server, Postgres) else server.init()
    server.start(Placement("127.0.0.1", record["_LocalPort"]))
    if fresh:
        server.bootstrap(record["MasterUsername"], password, record.get("DBName"))
    return {"_MaxConnections": server.max_connections(), "_ServerVersion": server.version()}


def resume_standby(primary, standby, record: dict) -> None:
    """Start a Multi-AZ standby that replicated before (a reboot, a restart of vpclocal) and
    wait until it replicates again: until then, a commit would not wait for it."""
    standby.start(Placement("127.0.0.1", record["_Standby"]["LocalPort"]))
    standby.wait_followed(primary)


def engine_failure(exc: EngineError) -> ServiceError:
    return ServiceError(f"The DB instance could not be started: {exc}", code="InternalFailure",
                        status=500, sender_fault=False)


class InstanceOperations:
    """Operations on DB instances; the provider supplies `store_tx(ctx)`."""

    async def create_db_instance(self, ctx, p):
        with self.store_tx(ctx) as tx:
            ensure_region(tx, ctx)
            record = new_instance(tx, ctx, p)
        answer = public(record)
        db_id = record["DBInstanceIdentifier"]
        server, *standby = servers(self.app, ctx.region, record)
        # a MariaDB standby's empty data directory needs no primary: made meanwhile
        early = bool(standby) and isinstance(server, MariaDB)
        jobs = [asyncio.to_thread(launch, server, record, p["MasterUserPassword"]),
                *([asyncio.to_thread(standby[0].init)] if early else [])]
        try:
            facts, *others = await asyncio.gather(*jobs, return_exceptions=True)
            for outcome in (facts, *others):
                if isinstance(outcome, BaseException):
                    raise outcome
            if standby:
                await self.make_standby(ctx.region, db_id, initialized=early)
        except EngineError as exc:  # nothing half-created: no record, no ENI, no data
            for each in servers(self.app, ctx.region, record):
                await asyncio.to_thread(each.destroy)
            with self.store_tx(ctx) as tx:
                remove(tx, db_id)
            raise engine_failure(exc) from exc
        self.set_state(ctx, db_id, "available", facts, events.CREATED)
        return {"DBInstance": answer}

    def describe_db_instances(self, ctx, p):
        db_id = p.get("DBInstanceIdentifier")
        records = [get_instance(ctx.tx, db_id)] if db_id else list(ctx.tx.all(KIND).values())
        for f in p.get("Filters") or []:
            key = {"db-instance-id": "DBInstanceIdentifier", "engine": "Engine",
                   "dbi-resource-id": "DbiResourceId"}.get(f["Name"])
            if key is None:
                raise invalid(f"Unrecognized filter name: {f['Name']}.")
            records = [r for r in records if r[key] in f.get("Values", [])
                       or r["DBInstanceArn"] in f.get("Values", [])]
        return {"DBInstances": [public(r) for r in records]}

    async def modify_db_instance(self, ctx, p):
        db_id = get_instance(self.app.store.view(ctx.region), p.get("DBInstanceIdentifier"))[
            "DBInstanceIdentifier"]
        password = p.get("MasterUserPassword")
        if password is not None:
            check_password(password)
        async with self.lock(ctx.region, db_id):
            return await self._modify(ctx, p, db_id, password)

    async def _modify(self, ctx, p, db_id: str, password: str | None):
        multi = p.get("MultiAZ")
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, db_id)
            self.require_state(record, "available")
            # applied at once, whatever ApplyImmediately says (no maintenance windows here)
            if multi and not record.get("_Standby"):
                group = subnet_groups.get_group(tx, record["DBSubnetGroup"]["DBSubnetGroupName"])
                multi_az.add_standby(tx, ctx, record, group)
            gone = record.get("_Standby") if multi is False else None
            if gone is not None:
                multi_az.drop_standby(tx, record)
            if p.get("VpcSecurityGroupIds"):
                groups = _security_groups(tx, record["DBSubnetGroup"]["VpcId"],
                                          p["VpcSecurityGroupIds"])
                record["VpcSecurityGroups"] = [{"VpcSecurityGroupId": g, "Status": "active"}
                                               for g in groups]
                for eni_id in multi_az.enis(record):
                    eni = tx.edit("network_interfaces", eni_id)
                    eni["Groups"] = [{"GroupId": g, "GroupName": tx.get(
                        "security_groups", g)["GroupName"]} for g in groups]
            for key in ("DBInstanceClass", "AllocatedStorage", "BackupRetentionPeriod",
                        "DeletionProtection", "PubliclyAccessible", "CopyTagsToSnapshot"):
                if p.get(key) is not None:
                    record[key] = p[key]
        server = server_for(self.app, ctx.region, record)
        try:
            if password is not None:  # applied at once, as AWS does for the master password
                await asyncio.to_thread(server.set_password, record["MasterUsername"], password)
            if gone is not None:  # Single-AZ again: commits wait for no standby
                await asyncio.to_thread(server.standby_gone)
                await asyncio.to_thread(server_for(self.app, ctx.region, record, gone["Node"],
                                                   gone["LocalPort"]).destroy)
            if multi and not record["_Standby"]["Healthy"]:
                await self.make_standby(ctx.region, db_id)
        except EngineError as exc:
            if multi and not record["_Standby"]["Healthy"]:  # Single-AZ as it was
                _primary, standby = servers(self.app, ctx.region, record)
                await asyncio.to_thread(standby.destroy)
                with self.store_tx(ctx) as tx:
                    multi_az.drop_standby(tx, tx.edit(KIND, db_id))
            raise engine_failure(exc) from exc
        return {"DBInstance": public(self.app.store.view(ctx.region).get(KIND, db_id))}

    async def reboot_db_instance(self, ctx, p):
        if not p.get("ForceFailover"):
            return await self._cycle(ctx, p, "rebooting", restart=True)
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, get_instance(tx, p["DBInstanceIdentifier"])[
                "DBInstanceIdentifier"])
            if not record.get("MultiAZ"):
                # the documented constraint; AWS's wording is unconfirmed
                raise fail("InvalidParameterCombination", "You can't specify ForceFailover for "
                           f"DB instance {record['DBInstanceIdentifier']} because it is not "
                           "configured for Multi-AZ.")
            self.require_state(record, "available")
            record["DBInstanceStatus"] = "rebooting"
        answer, db_id = public(record), record["DBInstanceIdentifier"]
        try:
            if await self.fail_over(ctx.region, db_id, events.USER_FAILOVER):
                await self.rebuild_standby(ctx.region, db_id)
            else:  # no standby to promote (its AZ is out): a plain reboot
                server = server_for(self.app, ctx.region, record)
                await asyncio.to_thread(server.stop)
                await asyncio.to_thread(launch, server, record)
        except EngineError as exc:
            self.set_state(ctx, db_id, "failed")
            raise engine_failure(exc) from exc
        self.set_state(ctx, db_id, "available", None, events.RESTARTED)
        return {"DBInstance": answer}

    async def stop_db_instance(self, ctx, p):
        return await self._cycle(ctx, p, "stopping", restart=False)

    async def start_db_instance(self, ctx, p):
        return await self._cycle(ctx, p, "starting", restart=True)

    async def _cycle(self, ctx, p, transient: str, restart: bool):
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, get_instance(tx, p["DBInstanceIdentifier"])[
                "DBInstanceIdentifier"])
            wanted = "stopped" if transient == "starting" else "available"
            if record["DBInstanceStatus"] != wanted:
                raise fail("InvalidDBInstanceState",
                           f"Instance {record['DBInstanceIdentifier']} is not in {wanted} state.")
            record["DBInstanceStatus"] = transient
        answer = public(record)
        server, *standby = servers(self.app, ctx.region, record)
        for each in (server, *standby):
            await asyncio.to_thread(each.stop)
        facts = {}
        if restart:
            try:
                facts = await asyncio.to_thread(launch, server, record)
                for each in standby:  # (it resumes replicating where it stopped)
                    await asyncio.to_thread(resume_standby, server, each, record)
            except EngineError as exc:
                self.set_state(ctx, record["DBInstanceIdentifier"], "failed")
                raise engine_failure(exc) from exc
        self.set_state(ctx, record["DBInstanceIdentifier"],
                       "available" if restart else "stopped", facts,
                       events.RESTARTED if transient == "rebooting" else None)
        return {"DBInstance": answer}

    async def delete_db_instance(self, ctx, p):
        with self.store_tx(ctx) as tx:
            record = tx.edit(KIND, get_instance(tx, p["DBInstanceIdentifier"])[
                "DBInstanceIdentifier"])
            if not p.get("SkipFinalSnapshot") and not p.get("FinalDBSnapshotIdentifier"):
                raise fail("InvalidParameterCombination", "FinalDBSnapshotIdentifier is required "
                           "unless SkipFinalSnapshot is specified.")
            if p.get("SkipFinalSnapshot") and p.get("FinalDBSnapshotIdentifier"):
                raise fail("InvalidParameterCombination", "Cannot specify both "
                           "FinalDBSnapshotIdentifier and SkipFinalSnapshot.")
            if record["DeletionProtection"]:
                raise fail("InvalidParameterCombination", "Cannot delete protected DB Instance, "
                           "please disable deletion protection and try again.")
            if record["DBInstanceStatus"] in ("deleting", "creating"):
                raise fail("InvalidDBInstanceState", f"Instance {record['DBInstanceIdentifier']}"
                           f" is already being {record['DBInstanceStatus'][:-3]}ed.")
            users = [x["DBProxyName"] for x in tx.all("db_proxies").values()
                     if record["DBInstanceIdentifier"] in x.get("_Targets", [])]
            record["DBInstanceStatus"] = "deleting"
        answer = public(record)
        for name in users:  # a deleted target leaves its proxies' target groups
            await self.drop_target(ctx, name, record["DBInstanceIdentifier"])
        async with self.lock(ctx.region, record["DBInstanceIdentifier"]):  # (a rebuild)
            for each in servers(self.app, ctx.region, record):
                await asyncio.to_thread(each.destroy)
            with self.store_tx(ctx) as tx:
                remove(tx, record["DBInstanceIdentifier"])
        self.locks.pop((ctx.region, record["DBInstanceIdentifier"]), None)
        return {"DBInstance": answer}

    # ---- helpers ----------------------------------------------------------------------------

    @staticmethod
    def require_state(record: dict, state: str) -> None:
        if record["DBInstanceStatus"] != state:
            raise fail("InvalidDBInstanceState", f"Instance {record['DBInstanceIdentifier']} is "
                       f"not in {state} state.")

    def set_state(self, ctx, db_id: str, status: str, facts: dict | None = None,
                  event: tuple | None = None) -> None:
        with self.store_tx(ctx) as tx:
            if tx.get(KIND, db_id) is None:
                return
            record = tx.edit(KIND, db_id)
            record["DBInstanceStatus"] = status
            record.update(facts or {})
            if event is not None:
                events.record(tx, record, event)
