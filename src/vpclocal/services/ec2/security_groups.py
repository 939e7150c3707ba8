"""Security groups: stateful allow rules on network interfaces.

A group's truth is its flat rule list `_Rules`, each rule in the SecurityGroupRule shape that
DescribeSecurityGroupRules returns (one peer per rule, a stable `sgr-` id). After every change
`IpPermissions` / `IpPermissionsEgress` are derived from it the way DescribeSecurityGroups shows
them: one IpPermission per protocol and port range, holding every peer of those rules.
"""

from __future__ import annotations

import ipaddress
import re

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import arn, get
from vpclocal.services.ec2.errors import check_id, invalid, not_found
from vpclocal.services.ec2.query import check_filters, describe, matches, paginate, tags_for

# ---- AWS facts -------------------------------------------------------------------------------

MAX_RULES = 60  # default quota: inbound (and, separately, outbound) rules per security group
ALL = "-1"
# Protocol numbers AWS stores under their names; any other number stays a number.
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
PORTED = {"tcp", "udp"}  # FromPort/ToPort are a port range, both required
TYPED = {"icmp": "ICMP", "icmpv6": "ICMPv6"}  # FromPort/ToPort are an ICMP type and code

# Names, group descriptions and rule descriptions share one character set.
TEXT_CHARS = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}")
CHAR_SET = "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"
BAD_DESCRIPTION = ("Invalid security group description. Valid descriptions are strings less "
                   f"than 256 characters from the following set:  {CHAR_SET}")
# By analogy with the description message; AWS's exact name message is unconfirmed.
BAD_NAME = ("Invalid security group name. Valid names are strings less than 256 characters "
            f"from the following set:  {CHAR_SET}")
BAD_RULE_DESCRIPTION = ("Invalid rule description. Valid descriptions are strings less than 256 "
                        f"characters from the following set: {CHAR_SET}")

# A rule's peer: SecurityGroupRule key -> (IpPermission list, key of the value in an item).
PEERS = {
    "CidrIpv4": ("IpRanges", "CidrIp"),
    "CidrIpv6": ("Ipv6Ranges", "CidrIpv6"),
    "PrefixListId": ("PrefixListIds", "PrefixListId"),
    "ReferencedGroupInfo": ("UserIdGroupPairs", None),  # the item is the group info itself
}


def _permission_filters(prefix: str, key: str) -> dict[str, str]:
    return {
        f"{prefix}cidr": f"{key}.IpRanges.CidrIp",
        f"{prefix}ipv6-cidr": f"{key}.Ipv6Ranges.CidrIpv6",
        f"{prefix}prefix-list-id": f"{key}.PrefixListIds.PrefixListId",
        f"{prefix}from-port": f"{key}.FromPort",
        f"{prefix}to-port": f"{key}.ToPort",
        f"{prefix}protocol": f"{key}.IpProtocol",
        f"{prefix}group-id": f"{key}.UserIdGroupPairs.GroupId",
        f"{prefix}group-name": f"{key}.UserIdGroupPairs.GroupName",
        f"{prefix}user-id": f"{key}.UserIdGroupPairs.UserId",
    }


SG_FILTERS = {
    "description": "Description", "group-id": "GroupId", "group-name": "GroupName",
    "owner-id": "OwnerId", "vpc-id": "VpcId",
    **_permission_filters("ip-permission.", "IpPermissions"),
    **_permission_filters("egress.ip-permission.", "IpPermissionsEgress"),
}
RULE_FILTERS = {"group-id": "GroupId", "security-group-rule-id": "SecurityGroupRuleId"}


def _error(code: str, message: str) -> ServiceError:
    return ServiceError(message, code=code)


def _missing(name: str) -> ServiceError:
    return _error("MissingParameter", f"The request must contain the parameter {name}")


# ---- records ---------------------------------------------------------------------------------


def _permissions(rules: list[dict]) -> list[dict]:
    """Rules merged as DescribeSecurityGroups shows them: one entry per protocol + ports."""
    merged: dict[tuple, dict] = {}
    for rule in rules:
        proto = rule["IpProtocol"]
        key = (proto, rule["FromPort"], rule["ToPort"])
        perm = merged.get(key)
        if perm is None:
            perm = merged[key] = {"IpProtocol": proto}
            if proto in PORTED or proto in TYPED:  # AWS omits ports where they mean nothing
                perm.update(FromPort=rule["FromPort"], ToPort=rule["ToPort"])
            perm.update(UserIdGroupPairs=[], IpRanges=[], Ipv6Ranges=[], PrefixListIds=[])
        for peer, (listing, item_key) in PEERS.items():
            if peer in rule:
                item = dict(rule[peer]) if item_key is None else {item_key: rule[peer]}
                if rule.get("Description"):
                    item["Description"] = rule["Description"]
                perm[listing].append(item)
    return list(merged.values())


def _sync(record: dict) -> dict:
    rules = record["_Rules"]
    record["IpPermissions"] = _permissions([r for r in rules if not r["IsEgress"]])
    record["IpPermissionsEgress"] = _permissions([r for r in rules if r["IsEgress"]])
    return record


def _new_rule(group: dict, egress: bool, proto: str, frm: int, to: int, peer: str,
              value, description: str | None = None) -> dict:
    rule = {"GroupId": group["GroupId"], "GroupOwnerId": group["OwnerId"], "IsEgress": egress,
            "IpProtocol": proto, "FromPort": frm, "ToPort": to, peer: value}
    if description:
        rule["Description"] = description
    return rule


def _stamp(ctx, rule: dict, tags: list | None = None) -> dict:
    """Give a rule its id, ARN and tags when it joins a group."""
    rid = resource_id("sgr")
    rule.update(SecurityGroupRuleId=rid, Tags=list(tags or []),
                SecurityGroupRuleArn=arn(ctx, f"security-group-rule/{rid}"))
    return rule


def new_security_group(tx, ctx, vpc_id: str, name: str, description: str,
                       tags: list | None = None) -> dict:
    """A group with AWS's initial rules: no inbound, all outbound to 0.0.0.0/0."""
    gid = resource_id("sg")
    record = {
        "GroupId": gid, "GroupName": name, "Description": description, "VpcId": vpc_id,
        "OwnerId": ctx.account_id, "SecurityGroupArn": arn(ctx, f"security-group/{gid}"),
        "Tags": tags or [],
    }
    record["_Rules"] = [_stamp(ctx, _new_rule(record, True, ALL, -1, -1, "CidrIpv4",
                                              "0.0.0.0/0"))]
    return tx.put("security_groups", gid, _sync(record))


def new_default_security_group(tx, ctx, vpc_id: str) -> dict:
    """"default": inbound all traffic from itself, outbound all."""
    record = new_security_group(tx, ctx, vpc_id, "default", "default VPC security group")
    itself = {"GroupId": record["GroupId"], "UserId": ctx.account_id}
    record["_Rules"].insert(0, _stamp(ctx, _new_rule(record, False, ALL, -1, -1,
                                                     "ReferencedGroupInfo", itself)))
    return _sync(record)


# ---- rule parsing ----------------------------------------------------------------------------


def _protocol(value) -> str:
    """'TCP' / 'tcp' / '6' -> 'tcp'; '-1' -> '-1'; '50' -> '50'. The API itself refuses 'all'
    (the CLI turns it into -1 before sending)."""
    if value is None or value == "":
        raise _missing("IpProtocol")
    text = str(value).strip().lower()
    if text in PROTOCOL_NAMES.values() or text == ALL:
        return text
    if re.fullmatch(r"\d{1,3}", text) and int(text) <= 255:
        return PROTOCOL_NAMES.get(str(int(text)), str(int(text)))
    raise invalid(f"Invalid value '{value}' for IP protocol. Unknown protocol.")


def _ports(proto: str, frm, to) -> tuple[int, int]:
    """A rule's FromPort/ToPort, validated as AWS does; -1/-1 where ports mean nothing."""
    if proto in PORTED:
        if frm is None or to is None:
            raise invalid("Invalid value for portRange. Must specify both from and to ports "
                          "with TCP/UDP.")
        for end, port in (("from", frm), ("to", to)):
            if not 0 <= port <= 65535:
                raise invalid(f"TCP/UDP ({end}) port ({port}) out of range")
        if frm > to:  # AWS's message for a reversed range is unconfirmed
            raise invalid(f"Invalid value for portRange. The from port ({frm}) must not be "
                          f"greater than the to port ({to}).")
        return frm, to
    if proto in TYPED:
        if frm is None or to is None:
            if proto == "icmpv6":  # ICMPv6 ports are optional: all types and codes
                return -1, -1
            raise invalid("Invalid value for portRange. Must specify both from and to ports "
                          "with ICMP.")
        if not -1 <= frm <= 255:
            raise invalid(f"{TYPED[proto]} type ({frm}) out of range")
        # "all types" with one code has no meaning; AWS's exact refusal is unconfirmed.
        if not -1 <= to <= 255 or (frm == -1 and to != -1):
            raise invalid(f"{TYPED[proto]} code ({to}) out of range")
        return frm, to
    return -1, -1  # all traffic, or a protocol without ports: AWS ignores any ports given


def _cidr(text, version: int) -> str:
    try:
        if not isinstance(text, str) or "/" not in text:
            raise ValueError(text)
        net = ipaddress.ip_network(text.strip(), strict=False)
        if net.version != version:
            raise ValueError(text)
    except ValueError:
        raise invalid(f"CIDR block {text} is malformed") from None
    return str(net)


def _description(item: dict) -> str | None:
    text = item.get("Description")
    if text and not TEXT_CHARS.fullmatch(text):
        raise invalid(BAD_RULE_DESCRIPTION)
    return text or None


def _referenced(tx, group: dict, pair: dict) -> dict:
    """The group a UserIdGroupPair names, as ReferencedGroupInfo. It must be in the same VPC,
    or in a VPC peered with it through an active peering connection."""
    if pair.get("GroupId"):
        ref = get(tx, "security_groups", pair["GroupId"])
    elif pair.get("GroupName"):
        # AWS documents names for the default VPC only; in the group's own VPC it means the same.
        ref = next((g for g in tx.all("security_groups").values()
                    if g["VpcId"] == group["VpcId"] and g["GroupName"] == pair["GroupName"]),
                   None)
        if ref is None:
            raise not_found("security_groups", pair["GroupName"])
    else:
        raise _missing("groupId")
    info = {"GroupId": ref["GroupId"], "UserId": ref["OwnerId"]}
    if ref["VpcId"] != group["VpcId"]:
        pcx = _peering(tx, ref["VpcId"], group["VpcId"])
        if pcx is None:
            raise _error("InvalidGroup.NotFound",
                         "You have specified two resources that belong to different networks.")
        info.update(VpcId=ref["VpcId"], VpcPeeringConnectionId=pcx, PeeringStatus="active")
    return info


def _peering(tx, vpc_a: str, vpc_b: str) -> str | None:
    for pcx in tx.all("vpc_peering_connections").values():
        ends = {pcx.get("RequesterVpcInfo", {}).get("VpcId"),
                pcx.get("AccepterVpcInfo", {}).get("VpcId")}
        if ends == {vpc_a, vpc_b} and pcx.get("Status", {}).get("Code") == "active":
            return pcx["VpcPeeringConnectionId"]
    return None


def _parse(tx, group: dict, perms: list[dict], egress: bool) -> list[dict]:
    """IpPermissions -> one unsaved rule per peer, validated and normalized."""
    rules = []
    for perm in perms:
        proto = _protocol(perm.get("IpProtocol"))
        frm, to = _ports(proto, perm.get("FromPort"), perm.get("ToPort"))
        peers = (
            [("CidrIpv4", _cidr(i.get("CidrIp"), 4), i) for i in perm.get("IpRanges") or []]
            + [("CidrIpv6", _cidr(i.get("CidrIpv6"), 6), i)
               for i in perm.get("Ipv6Ranges") or []]
            + [("PrefixListId", get(tx, "prefix_lists", i.get("PrefixListId"))["PrefixListId"], i)
               for i in perm.get("PrefixListIds") or []]
            + [("ReferencedGroupInfo", _referenced(tx, group, i), i)
               for i in perm.get("UserIdGroupPairs") or []])
        rules.extend(_new_rule(group, egress, proto, frm, to, peer, value, _description(item))
                     for peer, value, item in peers)
    return rules


def _flat_permissions(p: dict) -> list[dict]:
    """The legacy single-rule parameters (IpProtocol, FromPort, ToPort, CidrIp,
    SourceSecurityGroupName) as IpPermissions."""
    simple = {k: p[k] for k in ("IpProtocol", "FromPort", "ToPort", "CidrIp") if k in p}
    if p.get("SourceSecurityGroupName"):
        if simple:
            raise _error("InvalidParameterCombination",
                         "The parameter sourceSecurityGroupName cannot be used with the "
                         "parameters ipProtocol, fromPort, toPort or cidrIp")
        # Documented: a source group alone grants full ICMP, TCP and UDP access.
        pair = [{"GroupName": p["SourceSecurityGroupName"]}]
        return [{"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "UserIdGroupPairs": pair},
                {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "UserIdGroupPairs": pair},
                {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "UserIdGroupPairs": pair}]
    if not simple:
        return []
    perm = {k: simple.get(k) for k in ("IpProtocol", "FromPort", "ToPort")}
    if simple.get("CidrIp"):
        perm["IpRanges"] = [{"CidrIp": simple["CidrIp"]}]
    return [perm]


def _key(rule: dict) -> tuple:
    """What makes two rules the same rule (descriptions and tags do not)."""
    peer = next(p for p in PEERS if p in rule)
    value = rule[peer]["GroupId"] if peer == "ReferencedGroupInfo" else rule[peer]
    return (rule["IsEgress"], rule["IpProtocol"], rule["FromPort"], rule["ToPort"], peer, value)


def _rule_text(rule: dict) -> str:
    """AWS's words for a rule: `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`."""
    peer = _key(rule)[5]
    proto, frm, to = rule["IpProtocol"], rule["FromPort"], rule["ToPort"]
    if proto == ALL:
        what = "ALL"
    elif proto in PORTED:
        what = f"{proto.upper()}, from port: {frm}, to port: {to}"
    elif proto in TYPED:
        shown = ["ALL" if v == -1 else v for v in (frm, to)]
        what = f"{TYPED[proto]}, type: {shown[0]}, code: {shown[1]}"
    else:
        what = proto
    return f"peer: {peer}, {what}, ALLOW"


def _duplicate(rule: dict) -> ServiceError:
    return _error("InvalidPermission.Duplicate",
                  f'the specified rule "{_rule_text(rule)}" already exists')


def _permission_not_found() -> ServiceError:
    return _error("InvalidPermission.NotFound",
                  "The specified rule does not exist in this security group.")


def _rule_not_found(rid: str) -> ServiceError:
    if not (isinstance(rid, str) and re.fullmatch(r"sgr-[0-9a-zA-Z]{1,17}", rid)):
        return _error("InvalidSecurityGroupRuleId.Malformed", f'Invalid id: "{rid}"')
    return _error("InvalidSecurityGroupRuleId.NotFound",
                  f"The security group rule ID '{rid}' does not exist")


def editable_rule(tx, rid: str) -> dict:
    """A security group rule, writable (it lives in its group's record): for CreateTags."""
    for group in tx.all("security_groups").values():
        for index, rule in enumerate(group["_Rules"]):
            if rule["SecurityGroupRuleId"] == rid:
                return tx.edit("security_groups", group["GroupId"])["_Rules"][index]
    raise _rule_not_found(rid)


def all_rules(tx) -> list[dict]:
    return [r for g in tx.all("security_groups").values() for r in g["_Rules"]]


def _check_id_filters(flts: list[dict]) -> None:
    """DescribeSecurityGroupRules refuses a malformed id in its id filters, as AWS does
    (InvalidGroupId.Malformed), rather than matching nothing. Wildcard patterns pass."""
    for flt in flts:
        for value in flt.get("Values") or []:
            if "*" in value or "?" in value:
                continue
            if flt.get("Name") == "group-id":
                check_id("security_groups", value)
            elif flt.get("Name") == "security-group-rule-id" and _rule_not_found(
                    value).code.endswith(".Malformed"):
                raise _rule_not_found(value)


def _revoked(rule: dict) -> dict:
    """A rule as RevokedSecurityGroupRule shows it."""
    out = {k: rule[k] for k in ("SecurityGroupRuleId", "GroupId", "IsEgress", "IpProtocol",
                                "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "PrefixListId",
                                "Description") if k in rule}
    if "ReferencedGroupInfo" in rule:
        out["ReferencedGroupId"] = rule["ReferencedGroupInfo"]["GroupId"]
    return out


# ---- groups ----------------------------------------------------------------------------------


def _default_vpc(tx) -> str | None:
    return next((v["VpcId"] for v in tx.all("vpcs").values() if v.get("IsDefault")), None)


def _target(tx, p: dict) -> dict:
    """The group an operation acts on: GroupId, or GroupName in the default VPC."""
    if p.get("GroupId"):
        return get(tx, "security_groups", p["GroupId"])
    name = p.get("GroupName")
    if not name:
        raise _missing("groupId")
    vpc_id = _default_vpc(tx)
    if vpc_id is None:
        raise _error("VPCIdNotSpecified", "No default VPC for this user. GroupName is only "
                     "supported for EC2-Classic and default VPC.")
    for group in tx.all("security_groups").values():
        if group["VpcId"] == vpc_id and group["GroupName"] == name:
            return group
    raise _error("InvalidGroup.NotFound",
                 f"The security group '{name}' does not exist in default VPC '{vpc_id}'")


def _check_text(value: str, param: str, bad: str) -> None:
    if not value:
        raise _missing(param)
    if not value.isascii():
        raise invalid(f"Value ({value}) for parameter {param} is invalid. "
                      "Character sets beyond ASCII are not supported.")
    if not TEXT_CHARS.fullmatch(value):
        raise invalid(bad)


class SecurityGroupOperations:
    # ---- groups ------------------------------------------------------------------------------

    def create_security_group(self, ctx, p):
        tx = ctx.tx
        name, description = p.get("GroupName") or "", p.get("Description") or ""
        _check_text(name, "GroupName", BAD_NAME)
        if name.lower().startswith("sg-"):
            raise invalid(f"Value ({name}) for parameter GroupName is invalid. "
                          "Group names may not be in the format sg-*.")
        if name.lower() == "default":
            raise invalid("Cannot use reserved security group name: default")
        _check_text(description, "GroupDescription", BAD_DESCRIPTION)
        if p.get("VpcId"):
            vpc_id = get(tx, "vpcs", p["VpcId"])["VpcId"]
        else:
            vpc_id = _default_vpc(tx)
            if vpc_id is None:
                raise _error("VPCIdNotSpecified", "No default VPC for this user")
        for group in tx.all("security_groups").values():  # names are case-insensitive
            if group["VpcId"] == vpc_id and group["GroupName"].lower() == name.lower():
                raise _error("InvalidGroup.Duplicate",
                             f"The security group '{name}' already exists for VPC '{vpc_id}'")
        tags = tags_for(p, "security-group")
        record = new_security_group(tx, ctx, vpc_id, name, description, tags=tags)
        out = {"GroupId": record["GroupId"], "SecurityGroupArn": record["SecurityGroupArn"]}
        if tags:
            out["Tags"] = tags
        return out

    def delete_security_group(self, ctx, p):
        tx = ctx.tx
        group = _target(tx, p)
        gid = group["GroupId"]
        if group["GroupName"] == "default":
            raise _error("CannotDelete", f'the specified group: "{gid}" name: "default" cannot '
                         "be deleted by a user")
        referenced = any(
            r.get("ReferencedGroupInfo", {}).get("GroupId") == gid
            for other in tx.all("security_groups").values() if other["GroupId"] != gid
            for r in other["_Rules"])
        in_use = any(g.get("GroupId") == gid for eni in tx.all("network_interfaces").values()
                     for g in eni.get("Groups") or [])
        if referenced or in_use:
            raise _error("DependencyViolation", f"resource {gid} has a dependent object")
        tx.delete("security_groups", gid)
        return {"Return": True, "GroupId": gid}

    def describe_security_groups(self, ctx, p):
        tx = ctx.tx
        ids = list(p.get("GroupIds") or [])
        names = p.get("GroupNames") or []
        if names:  # names address groups of the default VPC
            ids += [_target(tx, {"GroupName": n})["GroupId"] for n in names]
        params = dict(p, GroupIds=list(dict.fromkeys(ids)))
        groups, token = describe(tx, "security_groups", params, ids_param="GroupIds",
                                 filters=SG_FILTERS)
        return {"SecurityGroups": groups, "NextToken": token}

    # ---- rules -------------------------------------------------------------------------------

    def describe_security_group_rules(self, ctx, p):
        rules = all_rules(ctx.tx)
        wanted = p.get("SecurityGroupRuleIds") or []
        if wanted:
            by_id = {r["SecurityGroupRuleId"]: r for r in rules}
            for rid in wanted:
                if rid not in by_id:
                    raise _rule_not_found(rid)
            rules = [by_id[rid] for rid in dict.fromkeys(wanted)]
        flts = p.get("Filters") or []
        check_filters(flts, RULE_FILTERS, set())
        _check_id_filters(flts)
        rules = [r for r in rules if matches(r, flts, RULE_FILTERS)]
        page, token = paginate(rules, p, key=lambda r: r["SecurityGroupRuleId"])
        return {"SecurityGroupRules": page, "NextToken": token}

    def authorize_security_group_ingress(self, ctx, p):
        return self._authorize(ctx, p, egress=False)

    def authorize_security_group_egress(self, ctx, p):
        return self._authorize(ctx, p, egress=True)

    def revoke_security_group_ingress(self, ctx, p):
        return self._revoke(ctx, p, egress=False)

    def revoke_security_group_egress(self, ctx, p):
        return self._revoke(ctx, p, egress=True)

    def _authorize(self, ctx, p, egress: bool):
        tx = ctx.tx
        group = _target(tx, p)
        perms = p.get("IpPermissions") or _flat_permissions(p)
        new = _parse(tx, group, perms, egress)
        if not new:
            raise _missing("ipPermissions")
        record = tx.edit("security_groups", group["GroupId"])
        seen = {_key(r) for r in record["_Rules"]}
        for rule in new:  # a rule repeated inside the request is a duplicate too
            if _key(rule) in seen:
                raise _duplicate(rule)
            seen.add(_key(rule))
        if sum(r["IsEgress"] == egress for r in record["_Rules"]) + len(new) > MAX_RULES:
            raise _error("RulesPerSecurityGroupLimitExceeded",
                         "The maximum number of rules per security group has been reached.")
        tags = tags_for(p, "security-group-rule")
        record["_Rules"].extend(_stamp(ctx, rule, tags) for rule in new)
        _sync(record)
        return {"Return": True, "SecurityGroupRules": new}

    def _revoke(self, ctx, p, egress: bool):
        tx = ctx.tx
        group = _target(tx, p)
        record = tx.edit("security_groups", group["GroupId"])
        doomed: dict[str, dict] = {}
        for rid in p.get("SecurityGroupRuleIds") or []:
            rule = next((r for r in record["_Rules"] if r["SecurityGroupRuleId"] == rid
                         and r["IsEgress"] == egress), None)
            if rule is None:
                raise _rule_not_found(rid)
            doomed[rid] = rule
        perms = p.get("IpPermissions") or _flat_permissions(p)
        if not perms and not doomed:
            raise _missing("ipPermissions")
        by_key = {_key(r): r for r in record["_Rules"]}
        unknown = []
        for rule in _parse(tx, group, perms, egress):
            found = by_key.get(_key(rule))
            if found is not None:
                doomed[found["SecurityGroupRuleId"]] = found
            elif group["VpcId"] == _default_vpc(tx):
                unknown.append(rule)  # documented: the default VPC reports, others refuse
            else:
                raise _permission_not_found()
        record["_Rules"] = [r for r in record["_Rules"] if r["SecurityGroupRuleId"] not in doomed]
        _sync(record)
        out = {"Return": True, "RevokedSecurityGroupRules": [_revoked(r) for r in doomed.values()]}
        if unknown:
            out["UnknownIpPermissions"] = _permissions(unknown)
        return out

    def modify_security_group_rules(self, ctx, p):
        tx = ctx.tx
        group = get(tx, "security_groups", p["GroupId"])
        record = tx.edit("security_groups", group["GroupId"])
        by_id = {r["SecurityGroupRuleId"]: r for r in record["_Rules"]}
        for update in p["SecurityGroupRules"]:
            rid = update.get("SecurityGroupRuleId")
            rule = by_id.get(rid)
            if rule is None:
                raise _rule_not_found(rid)
            req = update.get("SecurityGroupRule") or {}
            perm = {k: req.get(k) for k in ("IpProtocol", "FromPort", "ToPort")}
            desc = {"Description": req["Description"]} if req.get("Description") else {}
            for field, listing in (("CidrIpv4", ("IpRanges", "CidrIp")),
                                   ("CidrIpv6", ("Ipv6Ranges", "CidrIpv6")),
                                   ("PrefixListId", ("PrefixListIds", "PrefixListId")),
                                   ("ReferencedGroupId", ("UserIdGroupPairs", "GroupId"))):
                if req.get(field):
                    perm[listing[0]] = [{listing[1]: req[field], **desc}]
            new = _parse(tx, group, [perm], rule["IsEgress"])
            if len(new) != 1:
                raise _missing("SecurityGroupRule")
            if any(_key(r) == _key(new[0]) for r in record["_Rules"] if r is not rule):
                raise _duplicate(new[0])
            for peer in PEERS:
                rule.pop(peer, None)
            rule.pop("Description", None)
            rule.update(new[0])
        _sync(record)
        return {"Return": True}

    def update_security_group_rule_descriptions_ingress(self, ctx, p):
        return self._update_descriptions(ctx, p, egress=False)

    def update_security_group_rule_descriptions_egress(self, ctx, p):
        return self._update_descriptions(ctx, p, egress=True)

    def _update_descriptions(self, ctx, p, egress: bool):
        tx = ctx.tx
        group = _target(tx, p)
        record = tx.edit("security_groups", group["GroupId"])
        by_key = {_key(r): r for r in record["_Rules"]}
        by_id = {r["SecurityGroupRuleId"]: r for r in record["_Rules"] if r["IsEgress"] == egress}
        changes = []
        for rule in _parse(tx, group, p.get("IpPermissions") or [], egress):
            if _key(rule) not in by_key:
                raise _permission_not_found()
            changes.append((by_key[_key(rule)], rule.get("Description")))
        for item in p.get("SecurityGroupRuleDescriptions") or []:
            rid = item.get("SecurityGroupRuleId")
            if rid not in by_id:
                raise _rule_not_found(rid)
            changes.append((by_id[rid], _description(item)))
        for rule, text in changes:
            rule.pop("Description", None)
            if text:
                rule["Description"] = text
        _sync(record)
        return {"Return": True}
