"""Public names of the simulated internet, as the VPC resolver (and the engine) see them.

Simulated public hosts live on documentation ranges only (RFC 5737): every name under
example.com / example.net / example.org, the AWS public service endpoints, and hosts the
user declares. Nothing here ever points at a real address.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re

from vpclocal.services.registry import PROVIDERS

DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org")

# AWS public endpoints reachable through an IGW/NAT or a gateway endpoint; the addresses lie
# in the CIDRs of the services' prefix lists (services/ec2/defaults.py GATEWAY_SERVICES).
GATEWAY_ADDRESSES = {"s3": "203.0.113.193", "dynamodb": "203.0.113.209"}
# Every other service vpclocal serves has its public endpoint at an address of
# 203.0.113.64/26 and up (in the order of their names); AWS services it does not serve share
# one, where the server answers that it does not serve them.
_SERVED_BASE = int(ipaddress.IPv4Address("203.0.113.64"))
UNSERVED_ADDRESS = "203.0.113.63"
AWS_SERVICE_ADDRESSES = dict(GATEWAY_ADDRESSES) | {
    prefix: str(ipaddress.IPv4Address(_SERVED_BASE + i))
    for i, prefix in enumerate(sorted(set(PROVIDERS) - set(GATEWAY_ADDRESSES)))}
# the addresses where the simulated internet relays connections to the vpclocal server
AWS_ADDRESSES = frozenset(AWS_SERVICE_ADDRESSES.values()) | {UNSERVED_ADDRESS}
_SERVICE_AT = {address: prefix for prefix, address in AWS_SERVICE_ADDRESSES.items()}

# Addresses handed to other public names: 198.51.100.0/24 and 203.0.113.0/27 (the rest of
# 203.0.113.0/24 is kept for AWS services).
_POOL = [str(a) for a in ipaddress.IPv4Network("198.51.100.0/24").hosts()] + [
    str(a) for a in ipaddress.IPv4Network("203.0.113.0/27").hosts()]

_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+")
_ACCOUNT_DYNAMODB = re.compile(r"\d{12}")  # <account>.ddb.<region>: account-based endpoints


@functools.cache
def _aws_prefixes() -> frozenset[str]:
    """The endpoint prefixes of every AWS service (botocore's endpoints data), read once."""
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("endpoints")["partitions"]
    return frozenset(p for partition in partitions for p in partition["services"])


def aws_service(name: str) -> str | None:
    """The endpoint prefix of an AWS service's public API name, or None:
    `sts.us-east-1.amazonaws.com` and `iam.amazonaws.com` (a global endpoint) -> the prefix,
    S3's bucket forms (`photos.s3.us-east-1.amazonaws.com`, `photos.s3.amazonaws.com`) ->
    "s3", `<account>.ddb.<region>.amazonaws.com` -> "dynamodb". Not the names of resources
    (`db.xyz.us-east-1.rds.amazonaws.com`) nor of endpoints (`*.vpce.amazonaws.com`)."""
    labels = name.lower().rstrip(".").split(".")
    if labels[-2:] != ["amazonaws", "com"] or len(labels) < 3 or "vpce" in labels:
        return None
    rest = labels[:-2]
    regional = _REGION.fullmatch(rest[-1]) is not None
    service = rest[-2] if regional and len(rest) >= 2 else rest[-1]
    before = rest[:-2] if regional else rest[:-1]
    if service == "s3" or (regional and rest[0] == "s3" and rest[1:-1] == ["dualstack"]):
        return "s3"  # any bucket in front
    if service == "ddb" and regional and len(before) == 1 and _ACCOUNT_DYNAMODB.fullmatch(
            before[0]):
        return "dynamodb"
    if before or (regional and len(rest) != 2):
        return None
    if service in AWS_SERVICE_ADDRESSES or service in _aws_prefixes():
        return service
    return None


def service_address(prefix: str) -> str:
    """Where a service's public endpoint is on the simulated internet."""
    return AWS_SERVICE_ADDRESSES.get(prefix, UNSERVED_ADDRESS)


def service_at(address: str) -> str | None:
    """The service whose public endpoint is at `address` (None: not a served one's)."""
    return _SERVICE_AT.get(address)


def public_address(name: str, declared: dict[str, str] | None = None) -> str | None:
    """The address a public name resolves to on the simulated internet, or None."""
    name = name.lower().rstrip(".")
    if declared and name in declared:
        return declared[name]
    service = aws_service(name)
    if service:
        return service_address(service)
    if any(name == d or name.endswith("." + d) for d in DOCUMENTATION_DOMAINS) or (
            declared is not None and name in declared):
        return stable_address(name)
    return None


def stable_address(name: str) -> str:
    """A documentation address chosen by hashing the name (the same every run)."""
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    return _POOL[digest % len(_POOL)]


def ec2_internal_address(name: str) -> str | None:
    """`ip-10-0-1-4.ec2.internal` (or `.REGION.compute.internal`) -> 10.0.1.4."""
    first = name.lower().split(".", 1)[0]
    if not first.startswith("ip-") or not name.endswith((".ec2.internal", ".compute.internal")):
        return None
    try:
        return str(ipaddress.IPv4Address(first[3:].replace("-", ".")))
    except ValueError:
        return None
