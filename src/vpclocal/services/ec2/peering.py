"""VPC peering connections between two VPCs of the account and region."""

from __future__ import annotations

import time

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import get, vpc_networks
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states

PEERING_FILTERS = {
    "accepter-vpc-info.cidr-block": "AccepterVpcInfo.CidrBlock",
    "accepter-vpc-info.owner-id": "AccepterVpcInfo.OwnerId",
    "accepter-vpc-info.vpc-id": "AccepterVpcInfo.VpcId",
    "expiration-time": "ExpirationTime",
    "requester-vpc-info.cidr-block": "RequesterVpcInfo.CidrBlock",
    "requester-vpc-info.owner-id": "RequesterVpcInfo.OwnerId",
    "requester-vpc-info.vpc-id": "RequesterVpcInfo.VpcId",
    "status-code": "Status.Code",
    "status-message": "Status.Message",
    "vpc-peering-connection-id": "VpcPeeringConnectionId",
}

# Status code -> AWS's status message ({owner}: the account that acted).
MESSAGES = {
    "initiating-request": "Initiating Request to {owner}",
    "pending-acceptance": "Pending Acceptance by {owner}",
    "provisioning": "Provisioning",
    "active": "Active",
    "rejected": "Rejected by {owner}",
    "deleted": "Deleted by {owner}",
    "failed": "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range",
    "expired": "Expired",
}

# How long connections stay visible once they end, and how long a request waits (AWS's).
VISIBLE_FOR = {"deleted": 2 * 3600, "failed": 2 * 3600, "rejected": 7 * 86400,
               "expired": 2 * 86400}
ACCEPT_WITHIN = 7 * 86400

NO_OPTIONS = {"AllowDnsResolutionFromRemoteVpc": False,
              "AllowEgressFromLocalClassicLinkToRemoteVpc": False,
              "AllowEgressFromLocalVpcToRemoteClassicLink": False}


def _status(code: str, owner: str) -> dict:
    return {"Code": code, "Message": MESSAGES[code].format(owner=owner)}


def _vpc_info(ctx, vpc: dict, full: bool = True) -> dict:
    """RequesterVpcInfo / AccepterVpcInfo; the accepter's CIDRs show once it accepted."""
    info = {"OwnerId": vpc["OwnerId"], "VpcId": vpc["VpcId"], "Region": ctx.region}
    if full:
        info.update(CidrBlock=vpc["CidrBlock"],
                    CidrBlockSet=[{"CidrBlock": str(n)} for n in vpc_networks(vpc)],
                    PeeringOptions=dict(NO_OPTIONS))
    return info


def _set_status(rec: dict, code: str, owner: str) -> None:
    rec["Status"] = _status(code, owner)
    rec["_StatusTime"] = time.time()


def _transition(tx, ctx, pcx_id: str, allowed: tuple, target: str, code: str) -> dict:
    """The connection to change, if its state allows moving to `target` (AWS's check)."""
    pcx = get(tx, "vpc_peering_connections", pcx_id)
    current = pcx["Status"]["Code"]
    if current not in allowed:
        raise ServiceError(f"Invalid state transition for {pcx_id}, attempted to transition "
                           f"from {current} to {target}", code="InvalidStateTransition")
    rec = tx.edit("vpc_peering_connections", pcx_id)
    _set_status(rec, code, ctx.account_id)
    return rec


def _ends(pcx: dict) -> set[str]:
    return {pcx["RequesterVpcInfo"]["VpcId"], pcx["AccepterVpcInfo"]["VpcId"]}


def _visible(pcx: dict, now: float) -> bool:
    window = VISIBLE_FOR.get(pcx["Status"]["Code"])
    return window is None or now - pcx.get("_StatusTime", now) < window


class PeeringOperations:
    def create_vpc_peering_connection(self, ctx, p):
        tx = ctx.tx
        vpc = get(tx, "vpcs", p["VpcId"])
        if not p.get("PeerVpcId"):
            raise ServiceError("The request must contain the parameter PeerVpcId",
                               code="MissingParameter")
        pcx_id = resource_id("pcx")
        owner = p.get("PeerOwnerId") or ctx.account_id
        region = p.get("PeerRegion") or ctx.region
        now = time.time()
        record = {"VpcPeeringConnectionId": pcx_id,
                  "RequesterVpcInfo": _vpc_info(ctx, vpc),
                  "Tags": tags_for(p, "vpc-peering-connection"), "_StatusTime": now}
        peer = tx.get("vpcs", p["PeerVpcId"]) if (owner, region) == (
            ctx.account_id, ctx.region) else None
        if peer is None and (owner, region) == (ctx.account_id, ctx.region):
            get(tx, "vpcs", p["PeerVpcId"])  # the account's own VPC must exist
        overlap = peer is not None and any(
            a.overlaps(b) for a in vpc_networks(vpc) for b in vpc_networks(peer))
        if peer is None or overlap:
            # Another account or region is not simulated; overlaps fail as on AWS.
            record["AccepterVpcInfo"] = {"OwnerId": owner, "VpcId": p["PeerVpcId"],
                                         "Region": region}
            record["Status"] = _status("failed", owner)
        else:
            record["AccepterVpcInfo"] = _vpc_info(ctx, peer, full=False)
            record["Status"] = _status("pending-acceptance", owner)
            record["ExpirationTime"] = now + ACCEPT_WITHIN
        tx.put("vpc_peering_connections", pcx_id, record)
        return {"VpcPeeringConnection": dict(
            record, Status=_status("initiating-request", owner))}

    def accept_vpc_peering_connection(self, ctx, p):
        tx = ctx.tx
        rec = _transition(tx, ctx, p["VpcPeeringConnectionId"], ("pending-acceptance",),
                          "active", "active")
        rec.pop("ExpirationTime", None)
        for side in ("RequesterVpcInfo", "AccepterVpcInfo"):
            vpc = tx.get("vpcs", rec[side]["VpcId"])
            if vpc is not None:
                rec[side] = _vpc_info(ctx, vpc)
        refresh_route_states(tx, _ends(rec))
        return {"VpcPeeringConnection": dict(rec, Status=_status("provisioning", ""))}

    def reject_vpc_peering_connection(self, ctx, p):
        rec = _transition(ctx.tx, ctx, p["VpcPeeringConnectionId"], ("pending-acceptance",),
                          "rejected", "rejected")
        rec.pop("ExpirationTime", None)
        return {"Return": True}

    def delete_vpc_peering_connection(self, ctx, p):
        tx = ctx.tx
        rec = _transition(tx, ctx, p["VpcPeeringConnectionId"],
                          ("pending-acceptance", "active"), "deleting", "deleted")
        rec.pop("ExpirationTime", None)
        refresh_route_states(tx, _ends(rec))  # routes to it turn blackhole
        return {"Return": True}

    def describe_vpc_peering_connections(self, ctx, p):
        tx = ctx.tx
        now = time.time()
        for pcx in list(tx.all("vpc_peering_connections").values()):
            code = pcx["Status"]["Code"]
            if code == "pending-acceptance" and now > pcx.get("ExpirationTime", now):
                rec = tx.edit("vpc_peering_connections", pcx["VpcPeeringConnectionId"])
                _set_status(rec, "expired", ctx.account_id)
            elif not _visible(pcx, now):
                tx.delete("vpc_peering_connections", pcx["VpcPeeringConnectionId"])
        pcxs, token = describe(tx, "vpc_peering_connections", p,
                               ids_param="VpcPeeringConnectionIds", filters=PEERING_FILTERS)
        return {"VpcPeeringConnections": pcxs, "NextToken": token}
