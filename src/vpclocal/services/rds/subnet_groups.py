"""DB subnet groups: the subnets (at least two AZs, one VPC) an instance may be placed in."""

from __future__ import annotations

from vpclocal.protocols.base import now_iso
from vpclocal.services.rds.common import arn, fail, invalid, public

KIND = "db_subnet_groups"


def not_found(name: str):
    return fail("DBSubnetGroupNotFoundFault", f"DBSubnetGroup '{name}' not found.")


def subnets_of(tx, subnet_ids: list[str]) -> list[dict]:
    subnets = [tx.get("subnets", sid) for sid in subnet_ids]
    missing = [sid for sid, s in zip(subnet_ids, subnets, strict=True) if s is None]
    if missing or not subnet_ids:
        raise fail("InvalidSubnet", f"Some input subnets in :{missing} are invalid.")
    if len({s["VpcId"] for s in subnets}) > 1:
        # AWS's wording is not recorded; the condition is documented (one VPC per group)
        raise fail("InvalidParameterValue", "The subnets in a DB subnet group must all be in "
                   "the same VPC.")
    zones = sorted({s["AvailabilityZone"] for s in subnets})
    if len(zones) < 2:
        raise fail("DBSubnetGroupDoesNotCoverEnoughAZs",
                   "The DB subnet group doesn't meet Availability Zone (AZ) coverage "
                   f"requirement. Current AZ coverage: {', '.join(zones)}. Add subnets to "
                   "cover at least 2 AZs.")
    return subnets


def fill(record: dict, subnets: list[dict]) -> dict:
    record["VpcId"] = subnets[0]["VpcId"]
    record["Subnets"] = [{"SubnetIdentifier": s["SubnetId"],
                          "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
                          "SubnetOutpost": {}, "SubnetStatus": "Active"} for s in subnets]
    return record


def new_group(ctx, name: str, description: str, subnets: list[dict]) -> dict:
    return fill({"DBSubnetGroupName": name, "DBSubnetGroupDescription": description,
                 "SubnetGroupStatus": "Complete", "DBSubnetGroupArn": arn(ctx, "subgrp", name),
                 "SupportedNetworkTypes": ["IPV4"], "_Created": now_iso()}, subnets)


def default_group(tx, ctx) -> dict:
    """The "default" group AWS makes from the default VPC's subnets on first use."""
    record = tx.get(KIND, "default")
    if record is None:
        vpc = next((v for v in tx.all("vpcs").values() if v.get("IsDefault")), None)
        subnets = sorted((s for s in tx.all("subnets").values()
                          if vpc and s["VpcId"] == vpc["VpcId"]),
                         key=lambda s: s["AvailabilityZone"])
        if not vpc:
            raise fail("InvalidVPCNetworkStateFault", "There is no default VPC in this region.")
        record = tx.put(KIND, "default", new_group(ctx, "default", "default", subnets))
    return record


def get_group(tx, name: str) -> dict:
    record = tx.get(KIND, (name or "").lower())
    if record is None:
        raise not_found(name)
    return record


class SubnetGroupOperations:
    def create_db_subnet_group(self, ctx, p):
        tx = ctx.tx
        name = p["DBSubnetGroupName"].lower()
        if name == "default":
            raise invalid("The parameter DBSubnetGroupName is not a valid identifier: "
                          "default is reserved.")
        if tx.get(KIND, name) is not None:
            raise fail("DBSubnetGroupAlreadyExists",
                       f"The DB subnet group '{name}' already exists.")
        subnets = subnets_of(tx, p.get("SubnetIds") or [])
        record = new_group(ctx, name, p.get("DBSubnetGroupDescription", ""), subnets)
        tx.put(KIND, name, record)
        return {"DBSubnetGroup": public(record)}

    def describe_db_subnet_groups(self, ctx, p):
        name = p.get("DBSubnetGroupName")
        groups = [get_group(ctx.tx, name)] if name else list(ctx.tx.all(KIND).values())
        return {"DBSubnetGroups": [public(g) for g in groups]}

    def modify_db_subnet_group(self, ctx, p):
        tx = ctx.tx
        name = get_group(tx, p["DBSubnetGroupName"])["DBSubnetGroupName"]
        record = tx.edit(KIND, name)
        subnets = subnets_of(tx, p.get("SubnetIds") or [])
        if p.get("DBSubnetGroupDescription") is not None:
            record["DBSubnetGroupDescription"] = p["DBSubnetGroupDescription"]
        fill(record, subnets)
        return {"DBSubnetGroup": public(record)}

    def delete_db_subnet_group(self, ctx, p):
        tx = ctx.tx
        name = get_group(tx, p["DBSubnetGroupName"])["DBSubnetGroupName"]
        users = [i["DBInstanceIdentifier"] for i in tx.all("db_instances").values()
                 if i["DBSubnetGroup"]["DBSubnetGroupName"] == name]
        if users:
            raise fail("InvalidDBSubnetGroupStateFault",
                       f"Cannot delete the subnet group '{name}' because at least one database "
                       f"instance: {users[0]} is still using it.")
        tx.delete(KIND, name)
        return {}
