"""What a region holds before the user creates anything, as in a new AWS account:
the default VPC (172.31.0.0/16, a /20 default subnet per zone, an attached internet gateway)
and the AWS-managed prefix lists of the gateway-endpoint services."""

from __future__ import annotations

import ipaddress

from vpclocal.services.ec2.internet_gateways import new_internet_gateway
from vpclocal.services.ec2.subnets import new_subnet
from vpclocal.services.ec2.vpcs import new_vpc
from vpclocal.services.ec2.zones import zone_names

DEFAULT_VPC_CIDR = "172.31.0.0/16"

# Gateway-endpoint services and the (simulated internet) ranges their public endpoints use.
# In us-east-1 the prefix list ids are AWS's real ones; elsewhere they are derived.
GATEWAY_SERVICES = {
    "s3": {"cidrs": ["203.0.113.192/28"], "us-east-1": "pl-63a5400a"},
    "dynamodb": {"cidrs": ["203.0.113.208/28"], "us-east-1": "pl-02cd2c6b"},
}


def prefix_list_id(service: str, region: str) -> str:
    known = GATEWAY_SERVICES[service].get(region)
    if known:
        return known
    import hashlib

    return "pl-" + hashlib.sha1(f"{service}/{region}".encode()).hexdigest()[:8]


def ensure_region(tx, ctx) -> None:
    """Create the region's defaults once; a marker record says it is done."""
    if tx.get("meta", "defaults") is not None:
        return
    for service, facts in GATEWAY_SERVICES.items():
        pl_id = prefix_list_id(service, ctx.region)
        name = f"com.amazonaws.{ctx.region}.{service}"
        tx.put("prefix_lists", pl_id, {
            "PrefixListId": pl_id, "PrefixListName": name, "AddressFamily": "IPv4",
            "State": "create-complete", "MaxEntries": len(facts["cidrs"]), "Version": 1,
            "OwnerId": "AWS", "Tags": [],
            "PrefixListArn": f"arn:aws:ec2:{ctx.region}:aws:prefix-list/{pl_id}",
            "Entries": [{"Cidr": c} for c in facts["cidrs"]],
        })
    vpc = new_vpc(tx, ctx, DEFAULT_VPC_CIDR, default=True)
    igw = new_internet_gateway(tx, ctx)
    igw["Attachments"] = [{"VpcId": vpc["VpcId"], "State": "available"}]
    for table in tx.all("route_tables").values():
        if table["VpcId"] == vpc["VpcId"]:
            table["Routes"].append({"DestinationCidrBlock": "0.0.0.0/0",
                                    "GatewayId": igw["InternetGatewayId"],
                                    "Origin": "CreateRoute", "State": "active"})
    blocks = ipaddress.IPv4Network(DEFAULT_VPC_CIDR).subnets(new_prefix=20)
    for zone, block in zip(zone_names(ctx.region), blocks):
        new_subnet(tx, ctx, vpc["VpcId"], str(block), zone, default=True)
    tx.put("meta", "defaults", {"created": True})
