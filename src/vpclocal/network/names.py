"""Public names of the simulated internet, as the VPC resolver (and the engine) see them.

Simulated public hosts live on documentation ranges only (RFC 5737): every name under
example.com / example.net / example.org, the AWS public service endpoints, and hosts the
user declares. Nothing here ever points at a real address.
"""

from __future__ import annotations

import hashlib
import ipaddress

DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org")

# AWS public endpoints reachable through an IGW/NAT or a gateway endpoint; the addresses lie
# in the CIDRs of the services' prefix lists (services/ec2/defaults.py GATEWAY_SERVICES).
AWS_SERVICE_ADDRESSES = {"s3": "203.0.113.193", "dynamodb": "203.0.113.209"}

# Addresses handed to other public names: 198.51.100.0/24 and 203.0.113.0/27 (the rest of
# 203.0.113.0/24 is kept for AWS services).
_POOL = [str(a) for a in ipaddress.IPv4Network("198.51.100.0/24").hosts()] + [
    str(a) for a in ipaddress.IPv4Network("203.0.113.0/27").hosts()]


def _aws_service(name: str) -> str | None:
    labels = name.split(".")
    if labels[-2:] != ["amazonaws", "com"]:
        return None
    for service in AWS_SERVICE_ADDRESSES:
        if service in labels[:-2]:
            return service
    return None


def public_address(name: str, declared: dict[str, str] | None = None) -> str | None:
    """The address a public name resolves to on the simulated internet, or None."""
    name = name.lower().rstrip(".")
    if declared and name in declared:
        return declared[name]
    service = _aws_service(name)
    if service:
        return AWS_SERVICE_ADDRESSES[service]
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
