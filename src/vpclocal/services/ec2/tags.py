"""Tags on every EC2 resource: CreateTags, DeleteTags, DescribeTags."""

from __future__ import annotations

from vpclocal.services.ec2.common import get
from vpclocal.services.ec2.errors import KIND_BY_PREFIX, invalid
from vpclocal.services.ec2.query import check_filters, matches, paginate, tags_of
from vpclocal.services.ec2.security_groups import all_rules, editable_rule

# The resource-type word DescribeTags reports, per kind.
RESOURCE_TYPES = {
    "vpcs": "vpc", "subnets": "subnet", "security_groups": "security-group",
    "route_tables": "route-table", "network_acls": "network-acl",
    "internet_gateways": "internet-gateway", "nat_gateways": "natgateway",
    "egress_only_internet_gateways": "egress-only-internet-gateway",
    "addresses": "elastic-ip", "network_interfaces": "network-interface",
    "vpc_endpoints": "vpc-endpoint", "vpc_peering_connections": "vpc-peering-connection",
    "prefix_lists": "prefix-list", "flow_logs": "vpc-flow-log",
    "network_insights_paths": "network-insights-path",
    "network_insights_analyses": "network-insights-analysis",
}

TAG_FILTERS = {"key": "Key", "value": "Value", "resource-id": "ResourceId",
               "resource-type": "ResourceType"}


RULE_PREFIX = "sgr"  # security group rules live in their group's record, not a kind of their own


def _kind_of(rid: str) -> str:
    prefix = rid.rsplit("-", 1)[0]
    kind = KIND_BY_PREFIX.get(prefix)
    if kind is None and prefix != RULE_PREFIX:
        raise invalid(f"The ID '{rid}' is not valid", code="InvalidID")
    return kind or RULE_PREFIX


def _tagged(tx, resource_ids: list[str]):
    """(writable record, its tag list's key) for each resource; all must exist."""
    for rid in resource_ids:
        kind = _kind_of(rid)
        if kind == RULE_PREFIX:
            yield editable_rule(tx, rid), "Tags"
            continue
        get(tx, kind, rid)
        record = tx.edit(kind, rid)
        yield record, "TagSet" if "TagSet" in record else "Tags"


class TagOperations:
    def create_tags(self, ctx, p):
        for record, key in _tagged(ctx.tx, p["Resources"]):
            tags = {t["Key"]: t.get("Value", "") for t in record.get(key, [])}
            for tag in p["Tags"]:
                tags[tag["Key"]] = tag.get("Value", "")
            if len(tags) > 50:
                raise invalid("The maximum number of tags for a resource is 50.",
                              code="TagLimitExceeded")
            record[key] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return {}

    def delete_tags(self, ctx, p):
        for record, key in _tagged(ctx.tx, p["Resources"]):
            drop = p.get("Tags")
            if drop is None:
                record[key] = []
                continue
            record[key] = [t for t in record.get(key, []) if not any(
                d["Key"] == t["Key"] and (d.get("Value") is None or d["Value"] == t["Value"])
                for d in drop)]
        return {}

    def describe_tags(self, ctx, p):
        rows = []
        for kind, rtype in RESOURCE_TYPES.items():
            for rid, record in ctx.tx.all(kind).items():
                rows.extend({"Key": t["Key"], "Value": t.get("Value", ""), "ResourceId": rid,
                             "ResourceType": rtype} for t in tags_of(record))
        for rule in all_rules(ctx.tx):
            rows.extend({"Key": t["Key"], "Value": t.get("Value", ""),
                         "ResourceId": rule["SecurityGroupRuleId"],
                         "ResourceType": "security-group-rule"} for t in rule.get("Tags") or [])
        flts = p.get("Filters") or []
        check_filters(flts, TAG_FILTERS, set())
        rows = [r for r in rows if matches(r, flts, TAG_FILTERS)]
        page, token = paginate(rows, p, key=lambda r: f"{r['ResourceId']}\x00{r['Key']}")
        return {"Tags": page, "NextToken": token}
