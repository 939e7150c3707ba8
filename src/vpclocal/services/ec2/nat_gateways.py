"""NAT gateways: outbound internet access for private subnets.

AWS takes minutes to bring a NAT gateway up; vpclocal's pending phase lasts no time at all:
CreateNatGateway answers `pending` (as AWS does) and the store already holds the outcome,
`available` or `failed`, so the next DescribeNatGateways (and `aws ec2 wait
nat-gateway-available`) sees it at once. Deletion likewise lands directly on `deleted`.
"""

from __future__ import annotations

import time

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.addresses import associate
from vpclocal.services.ec2.common import get
from vpclocal.services.ec2.errors import invalid
from vpclocal.services.ec2.internet_gateways import attached_gateway
from vpclocal.services.ec2.network_interfaces import create_interface, delete_interface
from vpclocal.services.ec2.query import describe, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states

NAT_FILTERS = {
    "nat-gateway-id": "NatGatewayId",
    "state": "State",
    "subnet-id": "SubnetId",
    "vpc-id": "VpcId",
}

# FailureCode -> FailureMessage of a NAT gateway that could not be created (AWS's texts).
FAILURES = {
    "Gateway.NotAttached": "Network {vpc} has no Internet gateway attached",
    "Resource.AlreadyAssociated": "Elastic IP address [{allocation}] is already associated",
    "InsufficientFreeAddressesInSubnet":
        "Subnet has insufficient free addresses to create this NAT gateway",
}

# AWS keeps failed and deleted NAT gateways visible for about an hour.
VISIBLE_AFTER_END = 3600.0
ENDED = ("failed", "deleted")


def _visible(nat: dict, now: float) -> bool:
    return nat["State"] not in ENDED or now - nat.get("DeleteTime", now) < VISIBLE_AFTER_END


class NatGatewayOperations:
    def create_nat_gateway(self, ctx, p):
        tx = ctx.tx
        if (p.get("AvailabilityMode") or "zonal") != "zonal":
            raise invalid("vpclocal supports only zonal NAT gateways", code="UnsupportedOperation")
        if not p.get("SubnetId"):
            raise invalid("The request must contain the parameter SubnetId",
                          code="MissingParameter")
        subnet = get(tx, "subnets", p["SubnetId"])
        connectivity = p.get("ConnectivityType") or "public"
        if connectivity not in ("public", "private"):
            raise invalid(f"Value ({connectivity}) for parameter connectivityType is invalid. "
                          "Valid values are public, private.")
        address = None
        if connectivity == "public":
            if not p.get("AllocationId"):
                raise invalid("The request must contain the parameter AllocationId",
                              code="MissingParameter")
            address = get(tx, "addresses", p["AllocationId"])
        elif p.get("AllocationId"):
            # Wording unconfirmed: a private NAT gateway takes no Elastic IP.
            raise invalid("Cannot specify an Elastic IP address for a private NAT gateway",
                          code="InvalidParameterCombination")
        nat_id = resource_id("nat")
        vpc_id = subnet["VpcId"]
        failure = None
        eni = None
        try:
            eni = create_interface(
                tx, ctx, subnet["SubnetId"], group_ids=[], interface_type="nat_gateway",
                description=f"Interface for NAT Gateway {nat_id}", requester_managed=True,
                private_ip=p.get("PrivateIpAddress"), status="in-use")
        except ServiceError as exc:
            if exc.code != "InsufficientFreeAddressesInSubnet":
                raise
            failure = exc.code
        if address is not None and failure is None:
            if address.get("AssociationId"):
                failure = "Resource.AlreadyAssociated"
            elif attached_gateway(tx, vpc_id) is None:
                failure = "Gateway.NotAttached"
        entry = {"IsPrimary": True, "Status": "succeeded"}
        if eni is not None:
            entry.update(NetworkInterfaceId=eni["NetworkInterfaceId"],
                         PrivateIp=eni["PrivateIpAddress"])
        if address is not None:
            entry.update(AllocationId=address["AllocationId"], PublicIp=address["PublicIp"])
        now = time.time()
        record = {"CreateTime": now, "NatGatewayAddresses": [entry], "NatGatewayId": nat_id,
                  "State": "available", "SubnetId": subnet["SubnetId"], "VpcId": vpc_id,
                  "Tags": tags_for(p, "natgateway"), "ConnectivityType": connectivity,
                  "AvailabilityMode": "zonal"}
        if failure is not None:
            # The failed gateway gives its interface back; its record stays for a while.
            if eni is not None:
                delete_interface(tx, eni["NetworkInterfaceId"])
            message = FAILURES[failure].format(vpc=vpc_id,
                                               allocation=p.get("AllocationId", ""))
            entry.update(Status="failed", FailureMessage=message)
            record.update(State="failed", FailureCode=failure, FailureMessage=message,
                          DeleteTime=now)
        elif address is not None:
            entry["AssociationId"] = associate(tx, ctx, address["AllocationId"],
                                               eni["NetworkInterfaceId"], eni["PrivateIpAddress"])
        tx.put("nat_gateways", nat_id, record)
        pending = [{k: v for k, v in e.items() if k not in ("FailureMessage", "AssociationId")}
                   | {"Status": "associating" if address is not None else "succeeded"}
                   for e in record["NatGatewayAddresses"]]
        shown = {k: v for k, v in record.items()
                 if k not in ("FailureCode", "FailureMessage", "DeleteTime")}
        return {"NatGateway": dict(shown, State="pending", NatGatewayAddresses=pending),
                "ClientToken": p.get("ClientToken")}

    def describe_nat_gateways(self, ctx, p):
        tx = ctx.tx
        now = time.time()
        for nat in list(tx.all("nat_gateways").values()):
            if not _visible(nat, now):
                tx.delete("nat_gateways", nat["NatGatewayId"])  # forgotten, as on AWS
        nats, token = describe(tx, "nat_gateways", p, ids_param="NatGatewayIds",
                               filters=NAT_FILTERS)
        return {"NatGateways": nats, "NextToken": token}

    def delete_nat_gateway(self, ctx, p):
        tx = ctx.tx
        nat = get(tx, "nat_gateways", p["NatGatewayId"])
        nat_id = nat["NatGatewayId"]
        if nat["State"] == "deleted":
            return {"NatGatewayId": nat_id}
        rec = tx.edit("nat_gateways", nat_id)
        for entry in rec["NatGatewayAddresses"]:
            # Deleting the interface also frees the Elastic IP's association.
            if entry.get("NetworkInterfaceId"):
                delete_interface(tx, entry["NetworkInterfaceId"])
            entry.pop("AssociationId", None)
        rec["State"] = "deleted"
        rec.setdefault("DeleteTime", time.time())
        refresh_route_states(tx, {nat["VpcId"]})  # routes to it turn blackhole
        return {"NatGatewayId": nat_id}
