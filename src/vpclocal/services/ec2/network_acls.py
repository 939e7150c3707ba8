"""Network ACLs: stateless, numbered allow/deny rules per subnet."""

from __future__ import annotations

import ipaddress
import re

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.network.topology import with_acl_associations
from vpclocal.services.ec2.common import edit, get, parse_cidr
from vpclocal.services.ec2.errors import dependency, invalid
from vpclocal.services.ec2.query import describe, tags_for

# ---- AWS facts -------------------------------------------------------------------------------

CATCH_ALL = 32767  # the `*` deny that ends each direction; nobody can change it
MAX_ENTRIES = 20  # default quota: rules per network ACL and direction (the `*` rule excluded)
# Which detail each protocol number keeps; -1 and the rest allow every port, so AWS drops any
# ports given for them.
PROTOCOL_DETAIL = {"6": "PortRange", "17": "PortRange", "1": "IcmpTypeCode",
                   "58": "IcmpTypeCode"}
ACTIONS = ("allow", "deny")

ACL_FILTERS = {
    "association.association-id": "Associations.NetworkAclAssociationId",
    "association.network-acl-id": "Associations.NetworkAclId",
    "association.subnet-id": "Associations.SubnetId",
    "default": "IsDefault",
    "entry.cidr": "Entries.CidrBlock",
    "entry.icmp.code": "Entries.IcmpTypeCode.Code",
    "entry.icmp.type": "Entries.IcmpTypeCode.Type",
    "entry.ipv6-cidr": "Entries.Ipv6CidrBlock",
    "entry.port-range.from": "Entries.PortRange.From",
    "entry.port-range.to": "Entries.PortRange.To",
    "entry.protocol": "Entries.Protocol",
    "entry.rule-action": "Entries.RuleAction",
    "entry.rule-number": "Entries.RuleNumber",
    "network-acl-id": "NetworkAclId",
    "owner-id": "OwnerId",
    "vpc-id": "VpcId",
}


def _entry(number: int, action: str, egress: bool) -> dict:
    return {"RuleNumber": number, "Protocol": "-1", "RuleAction": action, "Egress": egress,
            "CidrBlock": "0.0.0.0/0"}


def _sorted(entries: list[dict]) -> list[dict]:
    """The order DescribeNetworkAcls shows: egress entries first, each by rule number."""
    return sorted(entries, key=lambda e: (not e["Egress"], e["RuleNumber"]))


def new_network_acl(tx, ctx, vpc_id: str, default: bool, tags: list | None = None) -> dict:
    """The default ACL allows everything (rule 100); a custom one starts with only the denies."""
    acl_id = resource_id("acl")
    entries = []
    for egress in (True, False):
        if default:
            entries.append(_entry(100, "allow", egress))
        entries.append(_entry(CATCH_ALL, "deny", egress))
    # Associations live on the subnets (see topology.with_acl_associations).
    record = {"NetworkAclId": acl_id, "VpcId": vpc_id, "IsDefault": default,
              "OwnerId": ctx.account_id, "Entries": entries, "Tags": tags or []}
    return tx.put("network_acls", acl_id, record)


def associate_default_acl(tx, vpc_id: str, subnet: dict) -> None:
    """A new subnet (a record being written) joins its VPC's default network ACL."""
    for acl in tx.all("network_acls").values():
        if acl["VpcId"] == vpc_id and acl["IsDefault"]:
            subnet["_NetworkAclId"] = acl["NetworkAclId"]
            subnet["_NetworkAclAssociationId"] = resource_id("aclassoc")
            return


def acls_with_associations(tx) -> dict[str, dict]:
    return with_acl_associations(tx.all("network_acls"), tx.all("subnets"))


# ---- entry parsing ---------------------------------------------------------------------------


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(message, code=code)


def _missing(name: str) -> ServiceError:
    # The exact wording AWS uses for a missing PortRange / IcmpTypeCode is unconfirmed.
    return _error("MissingParameter", f"The request must contain the parameter {name}")


def _rule_number(value) -> int:
    if not isinstance(value, int) or not 1 <= value < CATCH_ALL:
        raise invalid(f"Value ({value}) for parameter ruleNumber is invalid. "
                      f"Rulenumber must be in range 1..{CATCH_ALL - 1}")
    return value


def _protocol(value) -> str:
    """A protocol number as AWS stores it ("6", "-1"). The API takes numbers only; the CLI
    turns tcp / udp / icmp / all into numbers before sending."""
    text = str(value).strip()
    if text == "-1":
        return text
    if re.fullmatch(r"\d{1,3}", text) and int(text) <= 255:
        return str(int(text))
    raise invalid(f"Invalid value '{value}' for IP protocol. Unknown protocol.")


def _port_range(value) -> dict:
    if not value or value.get("From") is None or value.get("To") is None:
        raise _missing("portRange")
    frm, to = value["From"], value["To"]
    if not (0 <= frm <= 65535 and 0 <= to <= 65535) or frm > to:  # wording unconfirmed
        raise invalid(f"Invalid value for portRange. Ports must be in range 0..65535 and the "
                      f"from port ({frm}) must not be greater than the to port ({to}).")
    return {"From": frm, "To": to}


def _icmp(value) -> dict:
    if not value or value.get("Type") is None or value.get("Code") is None:
        raise _missing("icmpTypeCode")
    for part in ("Type", "Code"):
        if not -1 <= value[part] <= 255:
            raise invalid(f"ICMP {part.lower()} ({value[part]}) out of range")
    return {"Code": value["Code"], "Type": value["Type"]}


def _cidr(p: dict) -> dict:
    v4, v6 = p.get("CidrBlock"), p.get("Ipv6CidrBlock")
    if v4 and v6:
        raise _error("InvalidParameterCombination",
                     "The parameter cidrBlock cannot be used with the parameter ipv6CidrBlock")
    if v4:
        return {"CidrBlock": str(parse_cidr(v4))}
    if v6:
        try:
            return {"Ipv6CidrBlock": str(ipaddress.IPv6Network(v6, strict=False))}
        except ValueError:
            raise invalid(f"Value ({v6}) for parameter ipv6CidrBlock is invalid. "
                          "This is not a valid IPv6 CIDR block.") from None
    raise _missing("cidrBlock")


def _new_entry(p: dict) -> dict:
    """CreateNetworkAclEntry / ReplaceNetworkAclEntry parameters -> an Entries item."""
    number = _rule_number(p.get("RuleNumber"))
    protocol = _protocol(p.get("Protocol"))
    action = p.get("RuleAction")
    if action not in ACTIONS:
        raise invalid(f"Value ({action}) for parameter ruleAction is invalid. "
                      f"Valid values: {', '.join(ACTIONS)}")
    entry = {"RuleNumber": number, "Protocol": protocol, "RuleAction": action,
             "Egress": bool(p.get("Egress")), **_cidr(p)}
    detail = PROTOCOL_DETAIL.get(protocol)
    if detail == "PortRange":
        entry["PortRange"] = _port_range(p.get("PortRange"))
    elif detail == "IcmpTypeCode":
        entry["IcmpTypeCode"] = _icmp(p.get("IcmpTypeCode"))
    return entry


def _find(acl: dict, number: int, egress: bool) -> int | None:
    return next((i for i, e in enumerate(acl["Entries"])
                 if e["RuleNumber"] == number and e["Egress"] == egress), None)


def _entry_not_found(number: int, egress: bool) -> ServiceError:
    # The text real EC2 answered for a missing entry (terraform-provider-aws#12175).
    direction = "egress" if egress else "ingress"
    return _error("InvalidNetworkAclEntry.NotFound",
                  f"no {direction} entry with number {number}")


class NetworkAclOperations:
    def create_network_acl(self, ctx, p):
        tx = ctx.tx
        vpc = get(tx, "vpcs", p["VpcId"])
        token = p.get("ClientToken")
        if token:  # idempotent retry: the ACL this token already created
            for acl in tx.all("network_acls").values():
                if acl.get("_ClientToken") == token:
                    return {"NetworkAcl": acls_with_associations(tx)[acl["NetworkAclId"]],
                            "ClientToken": token}
        record = new_network_acl(tx, ctx, vpc["VpcId"], default=False,
                                 tags=tags_for(p, "network-acl"))
        if token:
            record["_ClientToken"] = token
        return {"NetworkAcl": dict(record, Associations=[]), "ClientToken": token}

    def delete_network_acl(self, ctx, p):
        tx = ctx.tx
        acl = get(tx, "network_acls", p["NetworkAclId"])
        if acl["IsDefault"]:
            raise invalid(f"cannot delete default network ACL {acl['NetworkAclId']}")
        if any(s.get("_NetworkAclId") == acl["NetworkAclId"] for s in tx.all("subnets").values()):
            raise dependency("networkAcl", acl["NetworkAclId"])
        tx.delete("network_acls", acl["NetworkAclId"])
        return {}

    def describe_network_acls(self, ctx, p):
        acls, token = describe(ctx.tx, "network_acls", p, ids_param="NetworkAclIds",
                               filters=ACL_FILTERS, records=acls_with_associations(ctx.tx))
        return {"NetworkAcls": acls, "NextToken": token}

    def create_network_acl_entry(self, ctx, p):
        acl = edit(ctx.tx, "network_acls", p["NetworkAclId"])
        entry = _new_entry(p)
        if _find(acl, entry["RuleNumber"], entry["Egress"]) is not None:
            raise _error("NetworkAclEntryAlreadyExists",
                         f"The network acl entry identified by {entry['RuleNumber']} "
                         "already exists.")
        if sum(e["Egress"] == entry["Egress"] and e["RuleNumber"] != CATCH_ALL
               for e in acl["Entries"]) >= MAX_ENTRIES:
            raise _error("NetworkAclEntryLimitExceeded",  # message unconfirmed
                         "The maximum number of entries per network ACL has been reached.")
        acl["Entries"] = _sorted(acl["Entries"] + [entry])
        return {}

    def replace_network_acl_entry(self, ctx, p):
        acl = edit(ctx.tx, "network_acls", p["NetworkAclId"])
        entry = _new_entry(p)
        index = _find(acl, entry["RuleNumber"], entry["Egress"])
        if index is None:
            raise _entry_not_found(entry["RuleNumber"], entry["Egress"])
        acl["Entries"][index] = entry
        return {}

    def delete_network_acl_entry(self, ctx, p):
        acl = edit(ctx.tx, "network_acls", p["NetworkAclId"])
        number, egress = _rule_number(p.get("RuleNumber")), bool(p.get("Egress"))
        index = _find(acl, number, egress)
        if index is None:
            raise _entry_not_found(number, egress)
        del acl["Entries"][index]
        return {}

    def replace_network_acl_association(self, ctx, p):
        tx = ctx.tx
        target = get(tx, "network_acls", p["NetworkAclId"])
        assoc_id = p["AssociationId"]
        subnet = next((s for s in tx.all("subnets").values()
                       if s.get("_NetworkAclAssociationId") == assoc_id), None)
        if subnet is None:
            raise _error("InvalidAssociationID.NotFound",
                         f"The association ID '{assoc_id}' does not exist")
        subnet_id = subnet["SubnetId"]
        if target["VpcId"] != subnet["VpcId"]:  # AWS's wording here is unconfirmed
            raise invalid(f"Network ACL {target['NetworkAclId']} and subnet {subnet_id} "
                          "belong to different networks.")
        new_id = resource_id("aclassoc")
        record = tx.edit("subnets", subnet_id)
        record["_NetworkAclId"] = target["NetworkAclId"]
        record["_NetworkAclAssociationId"] = new_id
        return {"NewAssociationId": new_id}
