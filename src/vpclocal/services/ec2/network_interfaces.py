"""Elastic network interfaces: an address in a subnet behind security groups.

Other services (Lambda's Hyperplane ENIs, NAT gateways, endpoints, RDS, ElastiCache) create
theirs through `create_interface`, so every address in a subnet is accounted for here.
"""

from __future__ import annotations

import ipaddress
import secrets

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2 import ipv6
from vpclocal.services.ec2.addresses import release_public_ip
from vpclocal.services.ec2.common import dns_name, edit, get
from vpclocal.services.ec2.errors import invalid
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states
from vpclocal.services.ec2.subnets import allocate_address, release_address

# The most addresses of each family an interface can hold (the largest instance types' quota).
MAX_ADDRESSES = 50


def _address_limit(count: int) -> None:
    if count > MAX_ADDRESSES:
        # The code is AWS's documented one; the wording is unconfirmed.
        raise ServiceError(f"The maximum number of addresses per network interface "
                           f"({MAX_ADDRESSES}) has been exceeded.",
                           code="PrivateIpAddressLimitExceeded")

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
    "ipv6-addresses.ipv6-address": "Ipv6Addresses.Ipv6Address",
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
                     private_ip: str | None = None, secondary_ips: list[str] = (),
                     secondary_count: int = 0, status: str = "available",
                     tags: list | None = None) -> dict:
    """An interface with its primary address (`private_ip` or the lowest free one) and any
    secondary addresses: `secondary_ips` as given, then `secondary_count` chosen."""
    subnet = get(tx, "subnets", subnet_id)
    vpc_id = subnet["VpcId"]
    groups = (resolve_groups(tx, vpc_id, group_ids) if group_ids
              else default_group(tx, vpc_id) if group_ids is None else [])
    ip = allocate_address(tx, subnet_id, private_ip)
    addresses = [ip]
    for wanted in [*secondary_ips, *[None] * secondary_count]:
        addresses.append(allocate_address(tx, subnet_id, wanted, taken=tuple(addresses)))
    eni_id = resource_id("eni")
    record = {
        "NetworkInterfaceId": eni_id, "SubnetId": subnet_id, "VpcId": vpc_id,
        "AvailabilityZone": subnet["AvailabilityZone"], "Description": description,
        "Groups": groups, "InterfaceType": interface_type, "Ipv6Addresses": [],
        "MacAddress": "02:" + ":".join(secrets.token_hex(1) for _ in range(5)),
        "OwnerId": ctx.account_id, "PrivateDnsName": dns_name(ip, ctx.region),
        "PrivateIpAddress": ip,
        "PrivateIpAddresses": [{"Primary": address == ip, "PrivateIpAddress": address,
                                "PrivateDnsName": dns_name(address, ctx.region)}
                               for address in addresses],
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
    release_address(tx, eni["SubnetId"], len(eni.get("PrivateIpAddresses") or [None]))
    tx.delete("network_interfaces", eni_id)
    refresh_route_states(tx, {eni["VpcId"]})  # routes to it turn blackhole


def requested_addresses(p: dict) -> tuple[str | None, list[str], int]:
    """CreateNetworkInterface's address parameters as (primary, secondaries, how many more to
    choose). PrivateIpAddress names the primary; in PrivateIpAddresses the item marked Primary
    does (at most one, and the same address), the others are secondaries."""
    primary = p.get("PrivateIpAddress")
    listed = p.get("PrivateIpAddresses") or []
    count = p.get("SecondaryPrivateIpAddressCount") or 0
    if count and len(listed) > 1:
        # Documented: the count cannot go with more than one address in PrivateIpAddresses.
        raise invalid("The parameter secondaryPrivateIpAddressCount cannot be used with more "
                      "than one address in privateIpAddresses",  # wording unconfirmed
                      code="InvalidParameterCombination")
    if count < 0:
        raise invalid(f"Value ({count}) for parameter secondaryPrivateIpAddressCount is "
                      "invalid. Expecting a value greater than 0.")  # wording unconfirmed
    flagged = [a.get("PrivateIpAddress") for a in listed if a.get("Primary")]
    if len(flagged) > 1 or (flagged and primary and flagged[0] != primary):
        raise invalid("Only one primary private IP address can be specified",  # unconfirmed
                      code="InvalidParameterValue")
    primary = primary or (flagged[0] if flagged else None)
    others = [a.get("PrivateIpAddress") for a in listed if not a.get("Primary")]
    if primary is None and others:
        primary = others.pop(0)  # none marked: the first address is the primary
    others = [a for a in others if a != primary]
    if any(not a for a in others):
        raise invalid("The request must contain the parameter privateIpAddress",
                      code="MissingParameter")
    _address_limit(1 + len(others) + count)
    return primary, others, count


def ipv6_addresses(tx, subnet: dict, p: dict) -> list[dict]:
    """The IPv6 addresses CreateNetworkInterface asks for (Ipv6Addresses, Ipv6AddressCount, or
    the subnet's AssignIpv6AddressOnCreation), from the subnet's /64."""
    for param in ("Ipv4Prefixes", "Ipv4PrefixCount", "Ipv6Prefixes", "Ipv6PrefixCount"):
        if p.get(param):
            # Prefix delegation is not modelled: refused rather than ignored.
            raise invalid(f"vpclocal does not support prefix delegation ({param})",
                          code="InvalidParameterCombination")
    if p.get("EnablePrimaryIpv6"):
        raise invalid("vpclocal does not support primary IPv6 addresses (EnablePrimaryIpv6)",
                      code="InvalidParameterCombination")
    wanted = [a.get("Ipv6Address") for a in p.get("Ipv6Addresses") or []]
    count = p.get("Ipv6AddressCount") or 0
    if wanted and count:
        raise invalid("The parameter ipv6AddressCount cannot be used with the parameter "
                      "ipv6Addresses", code="InvalidParameterCombination")  # wording unconfirmed
    blocks = ipv6.subnet_blocks(subnet)
    if not wanted and not count and blocks and subnet.get("AssignIpv6AddressOnCreation"):
        count = 1
    if not wanted and not count:
        return []
    _address_limit(len(wanted) + count)
    if not blocks:
        # Wording unconfirmed.
        raise invalid(f"The subnet {subnet['SubnetId']} has no IPv6 CIDR block: it cannot "
                      "assign IPv6 addresses", code="InvalidParameterValue")
    used = {a["Ipv6Address"] for eni in tx.all("network_interfaces").values()
            for a in eni.get("Ipv6Addresses") or []}
    chosen = []
    for text in wanted:
        try:
            address = ipaddress.IPv6Address(text)
        except (ValueError, TypeError):
            raise invalid(f"Value ({text}) for parameter ipv6Addresses is invalid. "
                          "Invalid IPv6 address format.") from None  # wording unconfirmed
        if not any(address in b for b in blocks):
            raise invalid(f"Address {text} does not fall within the subnet's address range")
        if str(address) in used or str(address) in chosen:
            raise ServiceError(f"The specified address {address} is already in use.",
                               code="InvalidIPAddress.InUse")
        chosen.append(str(address))
    while count > len(chosen) - len(wanted):
        # AWS picks addresses at random in the /64, never the first four.
        address = str(blocks[0][4 + secrets.randbelow(blocks[0].num_addresses - 5)])
        if address not in used and address not in chosen:
            chosen.append(address)
    return [{"Ipv6Address": a, "IsPrimaryIpv6": False} for a in chosen]


class NetworkInterfaceOperations:
    def create_network_interface(self, ctx, p):
        tx = ctx.tx
        primary, secondaries, count = requested_addresses(p)
        record = create_interface(
            tx, ctx, p["SubnetId"], group_ids=p.get("Groups"),
            description=p.get("Description", ""),
            interface_type=p.get("InterfaceType") or "interface",
            private_ip=primary, secondary_ips=secondaries, secondary_count=count,
            tags=tags_for(p, "network-interface"))
        record["Ipv6Addresses"] = ipv6_addresses(tx, get(tx, "subnets", p["SubnetId"]), p)
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
