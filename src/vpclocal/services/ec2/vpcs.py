"""VPCs and their attributes."""

from __future__ import annotations

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import edit, get, parse_cidr
from vpclocal.services.ec2.errors import dependency, invalid
from vpclocal.services.ec2.network_acls import new_network_acl
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import new_route_table, refresh_route_states
from vpclocal.services.ec2.security_groups import new_default_security_group

VPC_FILTERS = {
    "cidr": "CidrBlock",
    "cidr-block-association.cidr-block": "CidrBlockAssociationSet.CidrBlock",
    "cidr-block-association.association-id": "CidrBlockAssociationSet.AssociationId",
    "cidr-block-association.state": "CidrBlockAssociationSet.CidrBlockState.State",
    "dhcp-options-id": "DhcpOptionsId",
    "is-default": "IsDefault",
    "owner-id": "OwnerId",
    "state": "State",
    "vpc-id": "VpcId",
}

# DescribeVpcAttribute's attribute name -> the record key that holds it.
ATTRIBUTES = {"enableDnsSupport": "_EnableDnsSupport", "enableDnsHostnames": "_EnableDnsHostnames",
              "enableNetworkAddressUsageMetrics": "_EnableNetworkAddressUsageMetrics"}


def new_vpc(tx, ctx, cidr: str, *, default: bool = False, tags: list | None = None) -> dict:
    vpc_id = resource_id("vpc")
    vpc = {
        "VpcId": vpc_id, "CidrBlock": cidr, "State": "available", "OwnerId": ctx.account_id,
        "DhcpOptionsId": "default", "InstanceTenancy": "default", "IsDefault": default,
        "CidrBlockAssociationSet": [{
            "AssociationId": resource_id("vpc-cidr-assoc"), "CidrBlock": cidr,
            "CidrBlockState": {"State": "associated"}}],
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": tags or [],
        "_EnableDnsSupport": True, "_EnableDnsHostnames": default,
        "_EnableNetworkAddressUsageMetrics": False,
    }
    tx.put("vpcs", vpc_id, vpc)
    new_default_security_group(tx, ctx, vpc_id)
    new_network_acl(tx, ctx, vpc_id, default=True)
    new_route_table(tx, ctx, vpc, main=True)
    return vpc


def check_vpc_cidr(text: str) -> str:
    network = parse_cidr(text)
    if not 16 <= network.prefixlen <= 28:
        raise ServiceError(f"The CIDR '{text}' is invalid.", code="InvalidVpc.Range")
    return str(network)


class VpcOperations:
    def create_vpc(self, ctx, p):
        if not p.get("CidrBlock"):
            raise invalid("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.",
                          code="MissingParameter")
        cidr = check_vpc_cidr(p["CidrBlock"])
        vpc = new_vpc(ctx.tx, ctx, cidr, tags=tags_for(p, "vpc"))
        if p.get("InstanceTenancy"):
            vpc["InstanceTenancy"] = p["InstanceTenancy"]
        vpc = dict(vpc, State="pending")  # AWS answers create with the pending state
        return {"Vpc": vpc}

    def describe_vpcs(self, ctx, p):
        vpcs, token = describe(ctx.tx, "vpcs", p, ids_param="VpcIds", filters=VPC_FILTERS)
        return {"Vpcs": vpcs, "NextToken": token}

    def delete_vpc(self, ctx, p):
        tx = ctx.tx
        vpc_id = p["VpcId"]
        get(tx, "vpcs", vpc_id)
        in_vpc = lambda kind, extra=lambda r: True: [
            r for r in tx.all(kind).values() if r.get("VpcId") == vpc_id and extra(r)]
        blockers = (
            in_vpc("subnets")
            + in_vpc("security_groups", lambda r: r["GroupName"] != "default")
            + in_vpc("network_acls", lambda r: not r["IsDefault"])
            + in_vpc("route_tables", lambda r: not any(a.get("Main") for a in r["Associations"]))
            + in_vpc("nat_gateways", lambda r: r["State"] not in ("deleted", "failed"))
            + in_vpc("vpc_endpoints", lambda r: r["State"] != "deleted")
            + in_vpc("network_interfaces")
            + [g for g in tx.all("internet_gateways").values()
               if any(a["VpcId"] == vpc_id for a in g["Attachments"])]
        )
        if blockers:
            raise dependency("vpc", vpc_id)
        for kind, key in (("security_groups", "GroupId"), ("network_acls", "NetworkAclId"),
                          ("route_tables", "RouteTableId")):
            for rec in in_vpc(kind):
                tx.delete(kind, rec[key])
        peers = set()
        for pcx in tx.all("vpc_peering_connections").values():
            ends = {pcx["RequesterVpcInfo"]["VpcId"], pcx["AccepterVpcInfo"]["VpcId"]}
            if vpc_id in ends and pcx["Status"]["Code"] != "deleted":
                rec = tx.edit("vpc_peering_connections", pcx["VpcPeeringConnectionId"])
                rec["Status"] = {"Code": "deleted", "Message": f"Deleted by {ctx.account_id}"}
                peers |= ends - {vpc_id}
        for flow_log in list(tx.all("flow_logs").values()):
            if flow_log.get("ResourceId") == vpc_id:
                tx.delete("flow_logs", flow_log["FlowLogId"])
        tx.delete("vpcs", vpc_id)
        refresh_route_states(tx, peers)  # the peers' routes over the deleted peering
        return {}

    def describe_vpc_attribute(self, ctx, p):
        vpc = get(ctx.tx, "vpcs", p["VpcId"])
        name = p["Attribute"]
        if name not in ATTRIBUTES:
            raise invalid(f"Value ({name}) for parameter attribute is invalid. "
                          "Unknown attribute.")
        key = name[0].upper() + name[1:]
        return {"VpcId": vpc["VpcId"], key: {"Value": vpc[ATTRIBUTES[name]]}}

    def modify_vpc_attribute(self, ctx, p):
        vpc_id = p["VpcId"]
        changes = [(name, p[name[0].upper() + name[1:]]) for name in ATTRIBUTES
                   if p.get(name[0].upper() + name[1:]) is not None]
        if len(changes) != 1:
            raise invalid("Fields for multiple attribute types specified: "
                          + ", ".join(n for n, _ in changes) if changes else
                          "The request must contain exactly one attribute to modify.",
                          code="InvalidParameterCombination" if changes else "MissingParameter")
        vpc = edit(ctx.tx, "vpcs", vpc_id)
        name, value = changes[0]
        wanted = bool(value.get("Value"))
        if name == "enableDnsHostnames" and wanted and not vpc["_EnableDnsSupport"]:
            raise invalid("Cannot enable DNS hostnames while DNS support is disabled for the "
                          "VPC.", code="InvalidParameterValue")
        vpc[ATTRIBUTES[name]] = wanted
        return {}

    def associate_vpc_cidr_block(self, ctx, p):
        from vpclocal.ids import resource_id as rid

        vpc = edit(ctx.tx, "vpcs", p["VpcId"])
        cidr = check_vpc_cidr(p.get("CidrBlock") or "")
        assoc = {"AssociationId": rid("vpc-cidr-assoc"), "CidrBlock": cidr,
                 "CidrBlockState": {"State": "associated"}}
        vpc["CidrBlockAssociationSet"].append(assoc)
        from vpclocal.services.ec2.route_tables import local_route

        for table in ctx.tx.all("route_tables").values():
            if table["VpcId"] == vpc["VpcId"]:
                ctx.tx.edit("route_tables", table["RouteTableId"])["Routes"].append(
                    local_route(cidr))
        return {"VpcId": vpc["VpcId"], "CidrBlockAssociation": dict(
            assoc, CidrBlockState={"State": "associating"})}
