"""Elastic network interfaces: an address in a subnet behind security groups.

Other services (Lambda's Hyperplane ENIs, NAT gateways, endpoints, RDS, ElastiCache) create
theirs through `create_interface`, so every address in a subnet is accounted for here.
"""

from __future__ import annotations

import secrets

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.addresses import release_public_ip
from vpclocal.services.ec2.common import dns_name, edit, get
from vpclocal.services.ec2.errors import invalid
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states
from vpclocal.services.ec2.subnets import allocate_address, release_address

ENI_FILTERS = {
    "addresses.private-ip-address": "PrivateIpAddresses.PrivateIpAddress",
    "addresses.primary": "PrivateIpAddresses.Primary",
    "addresses.association.public-ip": "PrivateIpAddresses.Association.PublicIp",
    "association.public-ip": "Association.PublicIp",
    "association.allocation-id": "Association.AllocationId",
    "association.association-id": "Association.AssociationId",
    "attachment.attachment-id": "Attachment.AttachmentId",
    "attachment.status": "Attachment.Status",
    "availability-zone": "AvailabilityZone",
    "description": "Description",
    "group-id": "Groups.GroupId",
    "group-name": "Groups.GroupName",
    "interface-type": "InterfaceType",
    "mac-address": "MacAddress",
    "network-interface-id": "NetworkInterfaceId",
    "owner-id": "OwnerId",
    "private-ip-address": "PrivateIpAddress",
    "private-dns-name": "PrivateDnsName",
    "requester-id": "RequesterId",
    "requester-managed": "RequesterManaged",
    "source-dest-check": "SourceDestCheck",
    "status": "Status",
    "subnet-id": "SubnetId",
    "vpc-id": "VpcId",
}


def resolve_groups(tx, vpc_id: str, group_ids: list[str]) -> list[dict]:
    groups = []
    for gid in group_ids:
        group = get(tx, "security_groups", gid)
        if group["VpcId"] != vpc_id:
            raise invalid("You have specified two resources that belong to different "
                          "networks.", code="InvalidParameter")
        groups.append({"GroupId": gid, "GroupName": group["GroupName"]})
    return groups


def default_group(tx, vpc_id: str) -> list[dict]:
    return [{"GroupId": g["GroupId"], "GroupName": "default"}
            for g in tx.all("security_groups").values()
            if g["VpcId"] == vpc_id and g["GroupName"] == "default"]


def create_interface(tx, ctx, subnet_id: str, *, group_ids: list[str] | None = None,
                     description: str = "", interface_type: str = "interface",
                     requester_managed: bool = False, requester_id: str | None = None,
                     private_ip: str | None = None, status: str = "available",
                     tags: list | None = None) -> dict:
    subnet = get(tx, "subnets", subnet_id)
    vpc_id = subnet["VpcId"]
    groups = (resolve_groups(tx, vpc_id, group_ids) if group_ids
              else default_group(tx, vpc_id) if group_ids is None else [])
    ip = allocate_address(tx, subnet_id, private_ip)
    eni_id = resource_id("eni")
    record = {
        "NetworkInterfaceId": eni_id, "SubnetId": subnet_id, "VpcId": vpc_id,
        "AvailabilityZone": subnet["AvailabilityZone"], "Description": description,
        "Groups": groups, "InterfaceType": interface_type, "Ipv6Addresses": [],
        "MacAddress": "02:" + ":".join(secrets.token_hex(1) for _ in range(5)),
        "OwnerId": ctx.account_id, "PrivateDnsName": dns_name(ip, ctx.region),
        "PrivateIpAddress": ip,
        "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": ip,
                                "PrivateDnsName": dns_name(ip, ctx.region)}],
        "RequesterManaged": requester_managed, "SourceDestCheck": True, "Status": status,
        "TagSet": tags or [],
    }
    if requester_id:
        record["RequesterId"] = requester_id
    return tx.put("network_interfaces", eni_id, record)


def delete_interface(tx, eni_id: str) -> None:
    eni = tx.get("network_interfaces", eni_id)
    if eni is None:
        return
    for addr in tx.all("addresses").values():
        if addr.get("NetworkInterfaceId") == eni_id:
            rec = tx.edit("addresses", addr["AllocationId"])
            for key in ("NetworkInterfaceId", "NetworkInterfaceOwnerId", "PrivateIpAddress",
                        "AssociationId"):
                rec.pop(key, None)
    public = (eni.get("Association") or {})
    if public.get("IpOwnerId") == "amazon" and public.get("PublicIp"):
        release_public_ip(tx, public["PublicIp"])  # an AWS-owned address goes with it
    release_address(tx, eni["SubnetId"])
    tx.delete("network_interfaces", eni_id)
    refresh_route_states(tx, {eni["VpcId"]})  # routes to it turn blackhole


class NetworkInterfaceOperations:
    def create_network_interface(self, ctx, p):
        tx = ctx.tx
        record = create_interface(
            tx, ctx, p["SubnetId"], group_ids=p.get("Groups"),
            description=p.get("Description", ""),
            interface_type=p.get("InterfaceType") or "interface",
            private_ip=p.get("PrivateIpAddress"), tags=tags_for(p, "network-interface"))
        record["RequesterId"] = record.get("RequesterId") or "AIDA" + "X" * 17
        return {"NetworkInterface": record}

    def describe_network_interfaces(self, ctx, p):
        enis, token = describe(ctx.tx, "network_interfaces", p, ids_param="NetworkInterfaceIds",
                               filters=ENI_FILTERS)
        return {"NetworkInterfaces": enis, "NextToken": token}

    def delete_network_interface(self, ctx, p):
        tx = ctx.tx
        eni = get(tx, "network_interfaces", p["NetworkInterfaceId"])
        if eni["Status"] == "in-use" or eni.get("RequesterManaged"):
            raise ServiceError(
                f"The networkInterface ID '{eni['NetworkInterfaceId']}' is currently in use.",
                code="InvalidNetworkInterface.InUse")
        delete_interface(tx, eni["NetworkInterfaceId"])
        return {}

    def describe_network_interface_attribute(self, ctx, p):
        eni = get(ctx.tx, "network_interfaces", p["NetworkInterfaceId"])
        attr = p.get("Attribute")
        out = {"NetworkInterfaceId": eni["NetworkInterfaceId"]}
        if attr == "description":
            out["Description"] = {"Value": eni["Description"]}
        elif attr == "groupSet":
            out["Groups"] = eni["Groups"]
        elif attr == "sourceDestCheck":
            out["SourceDestCheck"] = {"Value": eni["SourceDestCheck"]}
        elif attr == "attachment":
            if eni.get("Attachment"):
                out["Attachment"] = eni["Attachment"]
        else:
            raise invalid(f"Value ({attr}) for parameter attribute is invalid. "
                          "Unknown attribute.")
        return out

    def modify_network_interface_attribute(self, ctx, p):
        tx = ctx.tx
        eni = edit(tx, "network_interfaces", p["NetworkInterfaceId"])
        if p.get("Groups") is not None:
            eni["Groups"] = resolve_groups(tx, eni["VpcId"], p["Groups"])
        if p.get("Description") is not None:
            eni["Description"] = p["Description"].get("Value", "")
        if p.get("SourceDestCheck") is not None:
            eni["SourceDestCheck"] = bool(p["SourceDestCheck"].get("Value"))
        return {}
