"""A function's VpcConfig: validation as Lambda does it, and its Hyperplane ENIs.

Lambda keeps one ENI per (subnet, security-group set) per account and region, shared by every
function and version using that combination; it goes away once nothing uses it (AWS takes up
to 20 minutes; here it goes at once, so the security group can be deleted right after).
"""

from __future__ import annotations

import uuid

from vpclocal.services.ec2.errors import KINDS
from vpclocal.services.ec2.network_interfaces import create_interface, delete_interface
from vpclocal.services.iam import LAMBDA_ENI_ACTIONS, role_allows
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.model import FUNCTIONS, VERSIONS

NO_VPC = {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "",
          "Ipv6AllowedForDualStack": False}

# The EC2 call Lambda reports a missing resource from, per store kind.
EC2_LOOKUPS = {"security_groups": "DescribeSecurityGroups", "subnets": "DescribeSubnets"}


def _ec2_error(action: str, code: str, message: str):
    return lambda_error("ec2", action=action, code=code, message=message)


def _lookup(tx, kind: str, rid: str) -> dict:
    record = tx.get(kind, rid)
    if record is None:
        _, code, template, _ = KINDS[kind]
        raise _ec2_error(EC2_LOOKUPS[kind], code, template.format(rid))
    return record


def vpc_config(tx, requested: dict | None, role_arn: str) -> dict:
    """The response VpcConfig for a requested one (None or empty lists: no VPC)."""
    requested = requested or {}
    subnets = list(dict.fromkeys(requested.get("SubnetIds") or []))
    groups = list(dict.fromkeys(requested.get("SecurityGroupIds") or []))
    if bool(subnets) != bool(groups):
        raise lambda_error("vpc_lists")
    if not subnets:
        return dict(NO_VPC)
    if role_allows(tx, role_arn, list(LAMBDA_ENI_ACTIONS)):
        raise lambda_error("eni_permissions")
    vpcs = {_lookup(tx, "security_groups", g)["VpcId"] for g in groups}
    if len(vpcs) > 1:
        raise lambda_error("sg_vpcs")
    vpc_id = vpcs.pop()
    for subnet_id in subnets:
        if _lookup(tx, "subnets", subnet_id)["VpcId"] != vpc_id:
            # AWS documents no Lambda message for this; ENI creation would fail with EC2's own
            # error, which Lambda reports the way it reports the look-ups above.
            raise _ec2_error("CreateNetworkInterface", "InvalidParameter",
                             f"Security group {groups[0]} and subnet {subnet_id} belong to "
                             "different networks.")
    return {"SubnetIds": subnets, "SecurityGroupIds": groups, "VpcId": vpc_id,
            "Ipv6AllowedForDualStack": bool(requested.get("Ipv6AllowedForDualStack"))}


def combinations(config: dict | None) -> set[tuple[str, frozenset[str]]]:
    """The (subnet, security-group set) pairs a VpcConfig needs an ENI for."""
    config = config or {}
    groups = frozenset(config.get("SecurityGroupIds") or [])
    return {(s, groups) for s in config.get("SubnetIds") or []} if groups else set()


def _eni_key(eni: dict) -> tuple[str, frozenset[str]]:
    return eni["SubnetId"], frozenset(g["GroupId"] for g in eni["Groups"])


def lambda_enis(tx) -> dict[tuple[str, frozenset[str]], dict]:
    return {_eni_key(e): e for e in tx.all("network_interfaces").values()
            if e.get("InterfaceType") == "lambda"}


def in_use(tx) -> set[tuple[str, frozenset[str]]]:
    """Every combination some function or version runs with (an update in progress keeps the
    configuration it replaces running, so that one counts too)."""
    used: set = set()
    for rec in tx.all(FUNCTIONS).values():
        used |= combinations(rec.get("VpcConfig"))
        used |= combinations((rec.get("_Live") or {}).get("VpcConfig"))
    for rec in tx.all(VERSIONS).values():
        used |= combinations(rec.get("VpcConfig"))
    return used


def ensure_enis(tx, ctx, function_name: str, config: dict) -> list[str]:
    """The ENIs of a VpcConfig, created where missing (EC2's ServiceError when a subnet is
    full). `ctx` needs `account_id` and `region`."""
    existing = lambda_enis(tx)
    ids = []
    for subnet_id, groups in sorted(combinations(config)):
        eni = existing.get((subnet_id, groups))
        if eni is None:
            eni = create_interface(
                tx, ctx, subnet_id, group_ids=sorted(groups), interface_type="lambda",
                description=f"AWS Lambda VPC ENI-{function_name}-{uuid.uuid4()}",
                requester_managed=True, status="in-use")
            existing[(subnet_id, groups)] = eni
        ids.append(eni["NetworkInterfaceId"])
    return ids


def collect_enis(tx) -> None:
    """Delete the Hyperplane ENIs no function or version uses any more."""
    used = in_use(tx)
    for key, eni in lambda_enis(tx).items():
        if key not in used:
            delete_interface(tx, eni["NetworkInterfaceId"])
