"""Egress-only internet gateways: outbound-only IPv6 to the internet for one VPC.

Configuration only: the fabric carries IPv4, so no packet goes through one.
"""

from __future__ import annotations

from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import get
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states

EIGW_FILTERS = {
    "egress-only-internet-gateway-id": "EgressOnlyInternetGatewayId",
    "attachment.state": "Attachments.State",
    "attachment.vpc-id": "Attachments.VpcId",
}


class EgressOnlyInternetGatewayOperations:
    def create_egress_only_internet_gateway(self, ctx, p):
        tx = ctx.tx
        vpc = get(tx, "vpcs", p["VpcId"])
        token = p.get("ClientToken")
        if token:  # idempotent retry: the gateway this token already created
            for gateway in tx.all("egress_only_internet_gateways").values():
                if gateway.get("_ClientToken") == token:
                    return {"EgressOnlyInternetGateway": gateway, "ClientToken": token}
        eigw_id = resource_id("eigw")
        # Created attached: AWS reports the attachment's state as "attached".
        record = {"EgressOnlyInternetGatewayId": eigw_id,
                  "Attachments": [{"State": "attached", "VpcId": vpc["VpcId"]}],
                  "Tags": tags_for(p, "egress-only-internet-gateway")}
        if token:
            record["_ClientToken"] = token
        tx.put("egress_only_internet_gateways", eigw_id, record)
        return {"EgressOnlyInternetGateway": record, "ClientToken": token}

    def describe_egress_only_internet_gateways(self, ctx, p):
        gateways, token = describe(ctx.tx, "egress_only_internet_gateways", p,
                                   ids_param="EgressOnlyInternetGatewayIds",
                                   filters=EIGW_FILTERS)
        return {"EgressOnlyInternetGateways": gateways, "NextToken": token}

    def delete_egress_only_internet_gateway(self, ctx, p):
        tx = ctx.tx
        gateway = get(tx, "egress_only_internet_gateways", p["EgressOnlyInternetGatewayId"])
        tx.delete("egress_only_internet_gateways", gateway["EgressOnlyInternetGatewayId"])
        refresh_route_states(tx, {a["VpcId"] for a in gateway["Attachments"]})  # blackhole
        return {"ReturnCode": True}
