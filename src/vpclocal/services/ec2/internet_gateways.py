"""Internet gateways: a VPC's door to the internet."""

from __future__ import annotations

from vpclocal.ids import resource_id


def new_internet_gateway(tx, ctx, tags: list | None = None) -> dict:
    igw_id = resource_id("igw")
    record = {"InternetGatewayId": igw_id, "OwnerId": ctx.account_id, "Attachments": [],
              "Tags": tags or []}
    return tx.put("internet_gateways", igw_id, record)


class InternetGatewayOperations:
    """Operations (to be filled in)."""
