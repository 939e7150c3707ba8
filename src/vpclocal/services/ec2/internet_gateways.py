"""Internet gateways: a VPC's door to the internet."""

from __future__ import annotations

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import get
from vpclocal.services.ec2.errors import dependency, invalid
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states

IGW_FILTERS = {
    "attachment.state": "Attachments.State",
    "attachment.vpc-id": "Attachments.VpcId",
    "internet-gateway-id": "InternetGatewayId",
    "owner-id": "OwnerId",
}


def new_internet_gateway(tx, ctx, tags: list | None = None) -> dict:
    igw_id = resource_id("igw")
    record = {"InternetGatewayId": igw_id, "OwnerId": ctx.account_id, "Attachments": [],
              "Tags": tags or []}
    return tx.put("internet_gateways", igw_id, record)


def attached_gateway(tx, vpc_id: str) -> dict | None:
    """The internet gateway attached to a VPC, if any (a VPC has at most one)."""
    return next((g for g in tx.all("internet_gateways").values()
                 if any(a["VpcId"] == vpc_id for a in g["Attachments"])), None)


def _mapped_addresses(tx, vpc_id: str) -> bool:
    enis = tx.all("network_interfaces")
    return any(enis.get(a.get("NetworkInterfaceId"), {}).get("VpcId") == vpc_id
               for a in tx.all("addresses").values())


class InternetGatewayOperations:
    def create_internet_gateway(self, ctx, p):
        igw = new_internet_gateway(ctx.tx, ctx, tags_for(p, "internet-gateway"))
        return {"InternetGateway": igw}

    def describe_internet_gateways(self, ctx, p):
        igws, token = describe(ctx.tx, "internet_gateways", p, ids_param="InternetGatewayIds",
                               filters=IGW_FILTERS)
        return {"InternetGateways": igws, "NextToken": token}

    def delete_internet_gateway(self, ctx, p):
        igw = get(ctx.tx, "internet_gateways", p["InternetGatewayId"])
        if igw["Attachments"]:
            raise dependency("internetGateway", igw["InternetGatewayId"])
        ctx.tx.delete("internet_gateways", igw["InternetGatewayId"])
        return {}

    def attach_internet_gateway(self, ctx, p):
        tx = ctx.tx
        igw = get(tx, "internet_gateways", p["InternetGatewayId"])
        vpc = get(tx, "vpcs", p["VpcId"])
        igw_id, vpc_id = igw["InternetGatewayId"], vpc["VpcId"]
        if igw["Attachments"]:
            raise ServiceError(f"resource {igw_id} is already attached to network "
                               f"{igw['Attachments'][0]['VpcId']}",
                               code="Resource.AlreadyAssociated")
        if attached_gateway(tx, vpc_id) is not None:
            raise invalid(f"Network {vpc_id} already has an internet gateway attached")
        # AWS reports an attached gateway's attachment state as "available".
        tx.edit("internet_gateways", igw_id)["Attachments"] = [
            {"VpcId": vpc_id, "State": "available"}]
        refresh_route_states(tx, {vpc_id})
        return {}

    def detach_internet_gateway(self, ctx, p):
        tx = ctx.tx
        igw = get(tx, "internet_gateways", p["InternetGatewayId"])
        vpc = get(tx, "vpcs", p["VpcId"])
        igw_id, vpc_id = igw["InternetGatewayId"], vpc["VpcId"]
        if not any(a["VpcId"] == vpc_id for a in igw["Attachments"]):
            raise ServiceError(f"resource {igw_id} is not attached to network {vpc_id}",
                               code="Gateway.NotAttached")
        # Elastic IPs (on interfaces or NAT gateways) need the gateway to stay.
        if _mapped_addresses(tx, vpc_id):
            raise ServiceError(f"Network {vpc_id} has some mapped public address(es). Please "
                               "unmap those public address(es) before detaching the gateway.",
                               code="DependencyViolation")
        tx.edit("internet_gateways", igw_id)["Attachments"] = []
        refresh_route_states(tx, {vpc_id})  # routes to it turn blackhole
        return {}
