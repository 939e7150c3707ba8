"""Subnets: address ranges of a VPC in one availability zone."""

from __future__ import annotations

import ipaddress

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2 import network_acls, route_tables
from vpclocal.services.ec2.common import arn, cidr_range, edit, get, parse_cidr, vpc_networks
from vpclocal.services.ec2.errors import dependency, invalid
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.zones import zone_id, zone_names

RESERVED = 5  # network, router (+1), DNS (+2), future (+3), broadcast

SUBNET_FILTERS = {
    "availability-zone": "AvailabilityZone",
    "availabilityZone": "AvailabilityZone",
    "availability-zone-id": "AvailabilityZoneId",
    "available-ip-address-count": "AvailableIpAddressCount",
    "cidr-block": "CidrBlock",
    "cidr": "CidrBlock",
    "cidrBlock": "CidrBlock",
    "default-for-az": "DefaultForAz",
    "defaultForAz": "DefaultForAz",
    "map-public-ip-on-launch": "MapPublicIpOnLaunch",
    "owner-id": "OwnerId",
    "state": "State",
    "subnet-arn": "SubnetArn",
    "subnet-id": "SubnetId",
    "vpc-id": "VpcId",
}

# ModifySubnetAttribute parameter -> record key (each an AttributeBooleanValue).
ATTRIBUTES = {
    "MapPublicIpOnLaunch": "MapPublicIpOnLaunch",
    "AssignIpv6AddressOnCreation": "AssignIpv6AddressOnCreation",
    "MapCustomerOwnedIpOnLaunch": "MapCustomerOwnedIpOnLaunch",
    "EnableDns64": "EnableDns64",
}


def new_subnet(tx, ctx, vpc_id: str, cidr: str, zone: str, *, default: bool = False,
               tags: list | None = None) -> dict:
    subnet_id = resource_id("subnet")
    size = ipaddress.IPv4Network(cidr).num_addresses
    record = {
        "SubnetId": subnet_id, "VpcId": vpc_id, "CidrBlock": cidr, "State": "available",
        "AvailabilityZone": zone, "AvailabilityZoneId": zone_id(zone),
        "AvailableIpAddressCount": size - RESERVED, "DefaultForAz": default,
        "MapPublicIpOnLaunch": default, "MapCustomerOwnedIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
        "EnableDns64": False, "Ipv6Native": False, "OwnerId": ctx.account_id,
        "SubnetArn": arn(ctx, f"subnet/{subnet_id}"),
        "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name",
                                          "EnableResourceNameDnsARecord": False,
                                          "EnableResourceNameDnsAAAARecord": False},
        "Tags": tags or [],
    }
    network_acls.associate_default_acl(tx, vpc_id, record)
    tx.put("subnets", subnet_id, record)
    return record


def allocate_address(tx, subnet_id: str, wanted: str | None = None) -> str:
    """The lowest free address in a subnet (or `wanted`), never a reserved one."""
    subnet = tx.get("subnets", subnet_id)
    network = ipaddress.IPv4Network(subnet["CidrBlock"])
    used = {eni["PrivateIpAddress"] for eni in tx.all("network_interfaces").values()
            if eni["SubnetId"] == subnet_id}
    used |= {ip for eni in tx.all("network_interfaces").values() if eni["SubnetId"] == subnet_id
             for ip in (a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []))}
    first, last = int(network.network_address) + 4, int(network.broadcast_address) - 1
    if wanted is not None:
        try:
            value = int(ipaddress.IPv4Address(wanted))
        except ValueError:
            raise invalid(f"Value ({wanted}) for parameter privateIpAddress is invalid. "
                          "Invalid IP address format.") from None
        if not first <= value <= last:
            raise invalid("Address does not fall within the subnet's address range",
                          code="InvalidParameterValue")
        if wanted in used:
            raise ServiceError(f"The specified address {wanted} is already in use.",
                               code="InvalidIPAddress.InUse")
        chosen = wanted
    else:
        chosen = next((str(ipaddress.IPv4Address(v)) for v in range(first, last + 1)
                       if str(ipaddress.IPv4Address(v)) not in used), None)
        if chosen is None:
            raise ServiceError(
                f"Insufficient free IP addresses in subnet {subnet_id}.",
                code="InsufficientFreeAddressesInSubnet")
    tx.edit("subnets", subnet_id)["AvailableIpAddressCount"] -= 1
    return chosen


def release_address(tx, subnet_id: str) -> None:
    if tx.get("subnets", subnet_id) is not None:
        tx.edit("subnets", subnet_id)["AvailableIpAddressCount"] += 1


class SubnetOperations:
    def create_subnet(self, ctx, p):
        tx = ctx.tx
        vpc = get(tx, "vpcs", p["VpcId"])
        text = p.get("CidrBlock")
        if not text:
            raise invalid("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.",
                          code="MissingParameter")
        network = parse_cidr(text)
        if not 16 <= network.prefixlen <= 28 or not any(
                network.subnet_of(n) for n in vpc_networks(vpc)):
            raise ServiceError(f"The CIDR '{text}' is invalid.", code="InvalidSubnet.Range")
        first, last = cidr_range(str(network))
        for other in tx.all("subnets").values():
            if other["VpcId"] != vpc["VpcId"]:
                continue
            other_first, other_last = cidr_range(other["CidrBlock"])
            if first <= other_last and other_first <= last:
                raise ServiceError(f"The CIDR '{text}' conflicts with another subnet",
                                   code="InvalidSubnet.Conflict")
        zones = zone_names(ctx.region)
        zone = p.get("AvailabilityZone")
        if zone is None and p.get("AvailabilityZoneId"):
            zone = next((z for z in zones if zone_id(z) == p["AvailabilityZoneId"]), None)
            if zone is None:
                raise invalid(f"Value ({p['AvailabilityZoneId']}) for parameter "
                              "availabilityZoneId is invalid. Subnets can currently only be "
                              "created in the following availability zone ids: "
                              + ", ".join(zone_id(z) for z in zones) + ".")
        if zone is None:
            zone = zones[len(tx.all("subnets")) % len(zones)]
        if zone not in zones:
            raise invalid(f"Value ({zone}) for parameter availabilityZone is invalid. Subnets "
                          "can currently only be created in the following availability zones: "
                          + ", ".join(zones) + ".")
        record = new_subnet(tx, ctx, vpc["VpcId"], str(network), zone,
                            tags=tags_for(p, "subnet"))
        return {"Subnet": dict(record, State="available")}

    def describe_subnets(self, ctx, p):
        subnets, token = describe(ctx.tx, "subnets", p, ids_param="SubnetIds",
                                  filters=SUBNET_FILTERS)
        return {"Subnets": subnets, "NextToken": token}

    def delete_subnet(self, ctx, p):
        tx = ctx.tx
        subnet_id = p["SubnetId"]
        get(tx, "subnets", subnet_id)
        if any(eni["SubnetId"] == subnet_id for eni in tx.all("network_interfaces").values()):
            raise dependency("subnet", subnet_id)
        if any(n["SubnetId"] == subnet_id and n["State"] not in ("deleted", "failed")
               for n in tx.all("nat_gateways").values()):
            raise dependency("subnet", subnet_id)
        route_tables.disassociate_subnet(tx, subnet_id)
        tx.delete("subnets", subnet_id)
        return {}

    def modify_subnet_attribute(self, ctx, p):
        subnet = edit(ctx.tx, "subnets", p["SubnetId"])
        changed = False
        for param, key in ATTRIBUTES.items():
            if p.get(param) is not None:
                subnet[key] = bool(p[param].get("Value"))
                changed = True
        if not changed:
            raise invalid("The request must contain the parameter attribute",
                          code="MissingParameter")
        return {}
