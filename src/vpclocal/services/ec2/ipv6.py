"""IPv6 address space: Amazon's pool of /56 blocks for VPCs, /64 blocks for subnets.

Only the control plane knows IPv6: the fabric and the reachability engine read the IPv4 fields
(CidrBlock, CidrIp, DestinationCidrBlock) and pass over IPv6 blocks, rules and routes.
"""

from __future__ import annotations

import ipaddress
import secrets

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.errors import invalid

VPC_PREFIX = 56  # Amazon-provided blocks are /56, their size fixed
SUBNET_PREFIX = 64
# Amazon's global unicast space its VPC blocks come from (2600:1f00::/24 holds them all).
AMAZON_SPACE = ipaddress.IPv6Network("2600:1f00::/24")


def parse_ipv6_cidr(text, param: str) -> ipaddress.IPv6Network:
    try:
        return ipaddress.IPv6Network(text, strict=False)
    except (ValueError, TypeError):
        raise invalid(f"Value ({text}) for parameter {param} is invalid. "
                      "This is not a valid IPv6 CIDR block.") from None


def vpc_blocks(vpc: dict) -> list[ipaddress.IPv6Network]:
    """The VPC's associated IPv6 blocks."""
    return [ipaddress.IPv6Network(a["Ipv6CidrBlock"])
            for a in vpc.get("Ipv6CidrBlockAssociationSet") or []
            if a["Ipv6CidrBlockState"]["State"] == "associated"]


def subnet_blocks(subnet: dict) -> list[ipaddress.IPv6Network]:
    return [ipaddress.IPv6Network(a["Ipv6CidrBlock"])
            for a in subnet.get("Ipv6CidrBlockAssociationSet") or []
            if a["Ipv6CidrBlockState"]["State"] == "associated"]


def amazon_block(tx) -> str:
    """A /56 from Amazon's pool that no VPC of this region holds."""
    taken = {str(b) for v in tx.all("vpcs").values() for b in vpc_blocks(v)}
    while True:
        offset = secrets.randbits(VPC_PREFIX - AMAZON_SPACE.prefixlen)
        block = ipaddress.IPv6Network(
            (int(AMAZON_SPACE.network_address) + (offset << (128 - VPC_PREFIX)), VPC_PREFIX))
        if str(block) not in taken:
            return str(block)


def check_border_group(ctx, p: dict) -> str:
    """The network border group an Amazon-provided block is advertised from: the region."""
    group = p.get("Ipv6CidrBlockNetworkBorderGroup")
    if group and not p.get("AmazonProvidedIpv6CidrBlock"):
        # Documented: the border group needs AmazonProvidedIpv6CidrBlock; wording unconfirmed.
        raise invalid("The parameter ipv6CidrBlockNetworkBorderGroup requires "
                      "amazonProvidedIpv6CidrBlock", code="InvalidParameterCombination")
    if group and group != ctx.region:
        # vpclocal has no Local Zones: the region is the only border group. Wording unconfirmed.
        raise invalid(f"Value ({group}) for parameter ipv6CidrBlockNetworkBorderGroup is "
                      "invalid. The network border group is not valid for this region.")
    return ctx.region


def refuse_pools(p: dict) -> None:
    """BYOIP and IPAM pools: vpclocal has none, so every pool id is unknown (AWS answers an
    unknown pool with not-found; the exact codes and wording are unconfirmed)."""
    if p.get("Ipv6Pool"):
        raise ServiceError(f"The ipv6 pool ID '{p['Ipv6Pool']}' does not exist",
                           code="InvalidIpv6PoolID.NotFound")
    for param in ("Ipv6IpamPoolId", "Ipv4IpamPoolId"):
        if p.get(param):
            raise ServiceError(f"The pool ID '{p[param]}' does not exist.",
                               code="InvalidIpamPoolId.NotFound")
    if p.get("Ipv6CidrBlock"):
        raise invalid("The request must contain the parameter ipv6Pool",
                      code="MissingParameter")


def vpc_association(cidr: str, region: str) -> dict:
    return {"AssociationId": resource_id("vpc-cidr-assoc"), "Ipv6CidrBlock": cidr,
            "Ipv6CidrBlockState": {"State": "associated"}, "NetworkBorderGroup": region,
            "Ipv6Pool": "Amazon", "Ipv6AddressAttribute": "public", "IpSource": "amazon"}


def subnet_association(cidr: str) -> dict:
    return {"AssociationId": resource_id("subnet-cidr-assoc"), "Ipv6CidrBlock": cidr,
            "Ipv6CidrBlockState": {"State": "associated"}, "Ipv6AddressAttribute": "public",
            "IpSource": "amazon"}


def with_state(association: dict, state: str) -> dict:
    return dict(association, Ipv6CidrBlockState={"State": state})
