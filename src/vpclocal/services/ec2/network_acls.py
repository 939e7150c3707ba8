"""Network ACLs: stateless, numbered allow/deny rules per subnet."""

from __future__ import annotations

from vpclocal.ids import resource_id


def _entry(number: int, action: str, egress: bool) -> dict:
    return {"RuleNumber": number, "Protocol": "-1", "RuleAction": action, "Egress": egress,
            "CidrBlock": "0.0.0.0/0"}


def new_network_acl(tx, ctx, vpc_id: str, default: bool, tags: list | None = None) -> dict:
    """The default ACL allows everything (rule 100); a custom one starts with only the denies."""
    acl_id = resource_id("acl")
    entries = []
    for egress in (True, False):
        if default:
            entries.append(_entry(100, "allow", egress))
        entries.append(_entry(32767, "deny", egress))
    record = {"NetworkAclId": acl_id, "VpcId": vpc_id, "IsDefault": default,
              "OwnerId": ctx.account_id, "Associations": [], "Entries": entries,
              "Tags": tags or []}
    return tx.put("network_acls", acl_id, record)


def associate_default_acl(tx, vpc_id: str, subnet_id: str) -> None:
    """A new subnet joins its VPC's default network ACL."""
    for acl in tx.all("network_acls").values():
        if acl["VpcId"] == vpc_id and acl["IsDefault"]:
            rec = tx.edit("network_acls", acl["NetworkAclId"])
            rec["Associations"].append({
                "NetworkAclAssociationId": resource_id("aclassoc"),
                "NetworkAclId": acl["NetworkAclId"], "SubnetId": subnet_id})
            return


def disassociate_subnet(tx, subnet_id: str) -> None:
    for acl in tx.all("network_acls").values():
        if any(a["SubnetId"] == subnet_id for a in acl["Associations"]):
            rec = tx.edit("network_acls", acl["NetworkAclId"])
            rec["Associations"] = [a for a in rec["Associations"] if a["SubnetId"] != subnet_id]


class NetworkAclOperations:
    """Operations (to be filled in)."""
