"""Route tables: the routes a subnet's traffic follows."""

from __future__ import annotations

from vpclocal.ids import resource_id


def local_route(cidr: str) -> dict:
    return {"DestinationCidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable",
            "State": "active"}


def new_route_table(tx, ctx, vpc: dict, main: bool, tags: list | None = None) -> dict:
    """A table with the VPC's local routes; the main one carries the Main association."""
    rtb_id = resource_id("rtb")
    associations = []
    if main:
        associations.append({
            "Main": True, "RouteTableAssociationId": resource_id("rtbassoc"),
            "RouteTableId": rtb_id, "AssociationState": {"State": "associated"}})
    routes = [local_route(a["CidrBlock"]) for a in vpc["CidrBlockAssociationSet"]]
    record = {"RouteTableId": rtb_id, "VpcId": vpc["VpcId"], "OwnerId": ctx.account_id,
              "Associations": associations, "Routes": routes, "PropagatingVgws": [],
              "Tags": tags or []}
    return tx.put("route_tables", rtb_id, record)


def disassociate_subnet(tx, subnet_id: str) -> None:
    for table in tx.all("route_tables").values():
        if any(a.get("SubnetId") == subnet_id for a in table["Associations"]):
            rec = tx.edit("route_tables", table["RouteTableId"])
            rec["Associations"] = [a for a in rec["Associations"]
                                   if a.get("SubnetId") != subnet_id]


class RouteTableOperations:
    """Operations (to be filled in)."""
