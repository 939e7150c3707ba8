"""Cache subnet groups: the subnets (of one VPC) a cache cluster's nodes may live in."""

from __future__ import annotations

import re

from vpclocal.services.elasticache.errors import error

GROUPS = "cache_subnet_groups"
CLUSTERS = "cache_clusters"
DEFAULT = "default"  # AWS creates it from the default VPC when a cluster names no group
_NAME = re.compile(r"[a-z0-9-]{1,255}")


def arn(ctx, kind: str, name: str) -> str:
    return f"arn:aws:elasticache:{ctx.region}:{ctx.account_id}:{kind}:{name}"


def subnet_entries(tx, subnet_ids: list[str]) -> tuple[str, list[dict]]:
    """The group's VPC and its Subnets entries; every subnet must exist, all in one VPC."""
    if not subnet_ids:
        raise error("missing", name="SubnetIds")
    vpcs, entries = set(), []
    for sid in dict.fromkeys(subnet_ids):
        subnet = tx.get("subnets", sid)
        if subnet is None:
            raise error("subnet", id=sid)
        vpcs.add(subnet["VpcId"])
        entries.append({"SubnetIdentifier": sid,
                        "SubnetAvailabilityZone": {"Name": subnet["AvailabilityZone"]},
                        "SupportedNetworkTypes": ["ipv4"]})
    if len(vpcs) > 1:
        raise error("subnet_vpcs")
    return vpcs.pop(), entries


def group_name(p) -> str:
    name = (p.get("CacheSubnetGroupName") or "").lower()  # AWS stores names lower-cased
    if not name:
        raise error("missing", name="CacheSubnetGroupName")
    if not _NAME.fullmatch(name):
        raise error("group_name")
    return name


def get_group(tx, name: str) -> dict:
    group = tx.get(GROUPS, name.lower())
    if group is None:
        raise error("group_not_found", name=name)
    return group


def default_group(tx, ctx) -> dict:
    """The "default" group: the default VPC's default subnets, made on first use."""
    group = tx.get(GROUPS, DEFAULT)
    if group is not None:
        return group
    vpc = next((v for v in tx.all("vpcs").values() if v.get("IsDefault")), None)
    subnets = [s["SubnetId"] for s in tx.all("subnets").values()
               if vpc and s["VpcId"] == vpc["VpcId"] and s.get("DefaultForAz")]
    if not subnets:
        raise error("no_default_vpc")
    vpc_id, entries = subnet_entries(tx, subnets)
    return tx.put(GROUPS, DEFAULT, {
        "CacheSubnetGroupName": DEFAULT, "CacheSubnetGroupDescription": "Default",
        "VpcId": vpc_id, "Subnets": entries, "ARN": arn(ctx, "subnetgroup", DEFAULT),
        "SupportedNetworkTypes": ["ipv4"]})


def page(items: list[dict], p) -> tuple[list[dict], str | None]:
    """MaxRecords / Marker paging over a sorted list (the marker is an offset)."""
    size = max(20, min(int(p.get("MaxRecords") or 100), 100))
    start = int(p["Marker"]) if str(p.get("Marker") or "").isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


class SubnetGroupOperations:
    def create_cache_subnet_group(self, ctx, p):
        tx = ctx.tx
        name = group_name(p)
        if tx.get(GROUPS, name) is not None:
            raise error("group_exists", name=name)
        if not p.get("CacheSubnetGroupDescription"):
            raise error("missing", name="CacheSubnetGroupDescription")
        vpc_id, entries = subnet_entries(tx, p.get("SubnetIds") or [])
        group = tx.put(GROUPS, name, {
            "CacheSubnetGroupName": name,
            "CacheSubnetGroupDescription": p["CacheSubnetGroupDescription"],
            "VpcId": vpc_id, "Subnets": entries, "ARN": arn(ctx, "subnetgroup", name),
            "SupportedNetworkTypes": ["ipv4"]})
        return {"CacheSubnetGroup": group}

    def describe_cache_subnet_groups(self, ctx, p):
        if p.get("CacheSubnetGroupName"):
            return {"CacheSubnetGroups": [get_group(ctx.tx, p["CacheSubnetGroupName"])]}
        groups = [g for _, g in sorted(ctx.tx.all(GROUPS).items())]
        items, marker = page(groups, p)
        return {"CacheSubnetGroups": items, "Marker": marker}

    def modify_cache_subnet_group(self, ctx, p):
        tx = ctx.tx
        name = get_group(tx, p.get("CacheSubnetGroupName") or "")["CacheSubnetGroupName"]
        group = tx.edit(GROUPS, name)
        if p.get("CacheSubnetGroupDescription") is not None:
            group["CacheSubnetGroupDescription"] = p["CacheSubnetGroupDescription"]
        if p.get("SubnetIds"):
            vpc_id, entries = subnet_entries(tx, p["SubnetIds"])
            kept = {e["SubnetIdentifier"] for e in entries}
            for cluster in tx.all(CLUSTERS).values():
                if cluster["CacheSubnetGroupName"] == name and (
                        cluster["_SubnetId"] not in kept or vpc_id != group["VpcId"]):
                    raise error("subnet_in_use", id=cluster["_SubnetId"])
            group.update(VpcId=vpc_id, Subnets=entries)
        return {"CacheSubnetGroup": group}

    def delete_cache_subnet_group(self, ctx, p):
        tx = ctx.tx
        name = get_group(tx, p.get("CacheSubnetGroupName") or "")["CacheSubnetGroupName"]
        if any(c["CacheSubnetGroupName"] == name for c in tx.all(CLUSTERS).values()):
            raise error("group_in_use", name=name)
        tx.delete(GROUPS, name)
        return {}
