"""Small helpers every EC2 module uses: ARNs, CIDRs and record look-ups."""

from __future__ import annotations

import functools
import ipaddress

from vpclocal.services.ec2.errors import check_id, invalid, not_found


def arn(ctx, resource: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:{resource}"


def get(tx, kind: str, rid: str) -> dict:
    """A record that must exist (AWS's malformed / not-found errors otherwise)."""
    check_id(kind, rid)
    rec = tx.get(kind, rid)
    if rec is None:
        raise not_found(kind, rid)
    return rec


def edit(tx, kind: str, rid: str) -> dict:
    get(tx, kind, rid)
    return tx.edit(kind, rid)


def parse_cidr(text: str, param: str = "cidrBlock") -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except (ValueError, TypeError):
        raise invalid(f"Value ({text}) for parameter {param} is invalid. "
                      "This is not a valid CIDR block.") from None


@functools.lru_cache(maxsize=65536)
def cidr_range(cidr: str) -> tuple[int, int]:
    """First and last address of a canonical CIDR, as integers (cached: checked often)."""
    network = ipaddress.IPv4Network(cidr)
    return int(network.network_address), int(network.broadcast_address)


def vpc_networks(vpc: dict) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(a["CidrBlock"]) for a in vpc.get("CidrBlockAssociationSet", [])
            if a.get("CidrBlockState", {}).get("State") == "associated"]


def dns_name(ip: str, region: str) -> str:
    host = "ip-" + ip.replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"
