"""Multi-AZ placement in the store: a DB instance's standby, on an ENI of its own in a subnet
of another AZ of the DB subnet group, and the swap a failover makes.

A Multi-AZ record carries `_Standby` (the standby's server directory, ENI, address, zone and
loopback port; `Healthy` once it replicates) and reports `SecondaryAvailabilityZone`. Only
the primary's ENI is in `_NetworkInterfaceIds`, so only it publishes the endpoint (as on
AWS, the standby takes no connections) and the endpoint name resolves to its address; a
failover swaps the two, and the endpoint follows.

Servers live under <data>/rds/<region>/<node>: the instance's identifier for the first, and
the identifier + ".2" for the other (no identifier has a dot), whichever role they play.
"""

from __future__ import annotations

import secrets

from vpclocal.engines.base import free_port
from vpclocal.fabric.service import DISRUPTIONS
from vpclocal.services.ec2.network_interfaces import create_interface, delete_interface
from vpclocal.services.rds.common import fail

REPLICATION_USER = "rdsrepl"


def live_zones(tx, group: dict) -> dict[str, str]:
    """The group's subnets that still exist: subnet ID -> AZ."""
    out = {}
    for s in group["Subnets"]:
        subnet = tx.get("subnets", s["SubnetIdentifier"])
        if subnet is not None:
            out[subnet["SubnetId"]] = subnet["AvailabilityZone"]
    return out


def check_coverage(tx, group: dict) -> None:
    """A standby needs a second AZ: AWS's error when the group's subnets cover one."""
    zones = sorted(set(live_zones(tx, group).values()))
    if len(zones) < 2:
        raise fail("DBSubnetGroupDoesNotCoverEnoughAZs",
                   "The DB subnet group doesn't meet Availability Zone (AZ) coverage "
                   f"requirement. Current AZ coverage: {', '.join(zones)}. Add subnets to "
                   "cover at least 2 AZs.")


def primary_node(record: dict) -> str:
    return record.get("_Node") or record["DBInstanceIdentifier"]


def add_standby(tx, ctx, record: dict, group: dict) -> dict:
    """Place a standby for the instance: an ENI (the instance's security groups) in the first
    subnet of the group in another AZ than the primary's."""
    check_coverage(tx, group)
    zone = record["AvailabilityZone"]
    subnet_id, standby_zone = next((sid, z) for sid, z in live_zones(tx, group).items()
                                   if z != zone)
    groups = [g["VpcSecurityGroupId"] for g in record["VpcSecurityGroups"]]
    eni = create_interface(tx, ctx, subnet_id, group_ids=groups,
                           description="RDSNetworkInterface", requester_managed=True,
                           requester_id="amazon-rds", status="in-use")
    db_id = record["DBInstanceIdentifier"]
    node = primary_node(record)
    record["_Standby"] = {
        "Node": db_id if node != db_id else f"{db_id}.2",
        "NetworkInterfaceId": eni["NetworkInterfaceId"], "SubnetId": subnet_id,
        "Address": eni["PrivateIpAddress"], "AvailabilityZone": standby_zone,
        "LocalPort": free_port(), "Healthy": False}
    record["SecondaryAvailabilityZone"] = standby_zone
    record["MultiAZ"] = True
    record.setdefault("_ReplicationPassword", secrets.token_urlsafe(18))
    return record["_Standby"]


def drop_standby(tx, record: dict) -> None:
    """The instance is Single-AZ again: its standby's ENI goes."""
    standby = record.pop("_Standby", None)
    if standby is not None:
        delete_interface(tx, standby["NetworkInterfaceId"])
    record.pop("SecondaryAvailabilityZone", None)
    record["MultiAZ"] = False


def swap(tx, record: dict) -> None:
    """The standby becomes the primary (its ENI publishes the endpoint, the endpoint name
    resolves to its address), the old primary the standby to be rebuilt."""
    new = record["_Standby"]
    eni_id = record["_NetworkInterfaceIds"][0]
    eni = tx.get("network_interfaces", eni_id) or {}
    if eni.get("Association") and tx.get("network_interfaces", new["NetworkInterfaceId"]):
        # a publicly accessible instance's public address follows the primary
        association = tx.edit("network_interfaces", eni_id).pop("Association")
        tx.edit("network_interfaces", new["NetworkInterfaceId"])["Association"] = association
        tx.put("public_ips", association["PublicIp"], {"Owner": new["NetworkInterfaceId"]},
               scope="global")
    record["_Standby"] = {
        "Node": primary_node(record), "NetworkInterfaceId": eni_id,
        "SubnetId": eni.get("SubnetId"), "Address": record["_Address"],
        "AvailabilityZone": record["AvailabilityZone"], "LocalPort": record["_LocalPort"],
        "Healthy": False}
    record["_Node"], record["_LocalPort"] = new["Node"], new["LocalPort"]
    record["_NetworkInterfaceIds"] = [new["NetworkInterfaceId"]]
    record["_Address"] = new["Address"]
    record["AvailabilityZone"] = new["AvailabilityZone"]
    record["SecondaryAvailabilityZone"] = record["_Standby"]["AvailabilityZone"]


def cut_off(view, subnet_id: str | None) -> bool:
    """Is the subnet's traffic all dropped (an FIS disrupt-connectivity of scope `all`)?"""
    return any(row.get("SubnetId") == subnet_id and row.get("Scope") == "all"
               for row in view.values(DISRUPTIONS))


def enis(record: dict) -> list[str]:
    """Every ENI of the instance: the primary's and the standby's."""
    standby = record.get("_Standby")
    return [*record.get("_NetworkInterfaceIds", []),
            *([standby["NetworkInterfaceId"]] if standby else [])]
