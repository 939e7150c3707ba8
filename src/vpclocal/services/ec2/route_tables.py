"""Route tables: the routes a subnet's traffic follows."""

from __future__ import annotations

import ipaddress

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import get, parse_cidr, vpc_networks
from vpclocal.services.ec2.errors import dependency, invalid
from vpclocal.services.ec2.query import describe, tags_for

ROUTE_TABLE_FILTERS = {
    "association.gateway-id": "Associations.GatewayId",
    "association.main": "Associations.Main",
    "association.route-table-association-id": "Associations.RouteTableAssociationId",
    "association.route-table-id": "Associations.RouteTableId",
    "association.subnet-id": "Associations.SubnetId",
    "owner-id": "OwnerId",
    "route-table-id": "RouteTableId",
    "route.destination-cidr-block": "Routes.DestinationCidrBlock",
    "route.destination-ipv6-cidr-block": "Routes.DestinationIpv6CidrBlock",
    "route.destination-prefix-list-id": "Routes.DestinationPrefixListId",
    "route.egress-only-internet-gateway-id": "Routes.EgressOnlyInternetGatewayId",
    "route.gateway-id": "Routes.GatewayId",
    "route.instance-id": "Routes.InstanceId",
    "route.nat-gateway-id": "Routes.NatGatewayId",
    "route.network-interface-id": "Routes.NetworkInterfaceId",
    "route.origin": "Routes.Origin",
    "route.state": "Routes.State",
    "route.transit-gateway-id": "Routes.TransitGatewayId",
    "route.vpc-peering-connection-id": "Routes.VpcPeeringConnectionId",
    "vpc-id": "VpcId",
}

# Route target parameters of CreateRoute/ReplaceRoute -> the Route field that stores them.
# A Gateway Load Balancer endpoint given as VpcEndpointId is shown as GatewayId, as AWS does.
TARGETS = {
    "GatewayId": "GatewayId",
    "VpcEndpointId": "GatewayId",
    "NatGatewayId": "NatGatewayId",
    "VpcPeeringConnectionId": "VpcPeeringConnectionId",
    "NetworkInterfaceId": "NetworkInterfaceId",
    "InstanceId": "InstanceId",
    "TransitGatewayId": "TransitGatewayId",
    "EgressOnlyInternetGatewayId": "EgressOnlyInternetGatewayId",
    "LocalGatewayId": "LocalGatewayId",
    "CarrierGatewayId": "CarrierGatewayId",
    "CoreNetworkArn": "CoreNetworkArn",
}
ROUTE_TARGET_KEYS = frozenset(TARGETS.values())

# Targets vpclocal has no resources for: every id is unknown (code, message).
UNKNOWN_TARGETS = {
    "InstanceId": ("InvalidInstanceID.NotFound", "The instance ID '{}' does not exist"),
    "TransitGatewayId": ("InvalidTransitGatewayID.NotFound",
                         "The transitGateway ID '{}' does not exist."),
    "LocalGatewayId": ("InvalidLocalGatewayID.NotFound",
                       "The localGateway ID '{}' does not exist."),
    "CarrierGatewayId": ("InvalidCarrierGatewayID.NotFound",
                         "The carrierGateway ID '{}' does not exist."),
    "CoreNetworkArn": ("InvalidParameterValue", "The core network '{}' does not exist."),
}

DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")


def local_route(cidr: str) -> dict:
    key = "DestinationIpv6CidrBlock" if ":" in cidr else "DestinationCidrBlock"
    return {key: cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}


def add_local_route(tx, vpc_id: str, cidr: str) -> None:
    """Every route table of the VPC routes a newly associated block locally."""
    for table in tx.all("route_tables").values():
        if table["VpcId"] == vpc_id:
            tx.edit("route_tables", table["RouteTableId"])["Routes"].append(local_route(cidr))


def remove_local_route(tx, vpc_id: str, cidr: str) -> None:
    for table in tx.all("route_tables").values():
        if table["VpcId"] == vpc_id:
            rec = tx.edit("route_tables", table["RouteTableId"])
            rec["Routes"] = [r for r in rec["Routes"]
                             if not (is_local(r) and destination_of(r) == cidr)]


def new_route_table(tx, ctx, vpc: dict, main: bool, tags: list | None = None) -> dict:
    """A table with the VPC's local routes; the main one carries the Main association."""
    rtb_id = resource_id("rtb")
    associations = []
    if main:
        associations.append({
            "Main": True, "RouteTableAssociationId": resource_id("rtbassoc"),
            "RouteTableId": rtb_id, "AssociationState": {"State": "associated"}})
    routes = [local_route(a["CidrBlock"]) for a in vpc["CidrBlockAssociationSet"]]
    routes += [local_route(a["Ipv6CidrBlock"]) for a in vpc.get("Ipv6CidrBlockAssociationSet")
               or []]
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


def destination_of(route: dict) -> str:
    return next(route[k] for k in DESTINATIONS if route.get(k))


def is_local(route: dict) -> bool:
    return route.get("GatewayId") == "local"


def endpoint_managed(tx, table: dict, route: dict) -> bool:
    """A gateway endpoint's own route: changed only through ModifyVpcEndpoint."""
    target = route.get("GatewayId") or ""
    endpoint = tx.get("vpc_endpoints", target) if target.startswith("vpce-") else None
    return bool(route.get("DestinationPrefixListId") and endpoint
                and table["RouteTableId"] in endpoint.get("RouteTableIds", []))


def route_state(tx, table: dict, route: dict) -> str:
    """active while the target can carry traffic, blackhole once it cannot (AWS's RouteState)."""
    target = route.get("GatewayId")
    if target == "local":
        return "active"
    if target and target.startswith("igw-"):
        igw = tx.get("internet_gateways", target)
        ok = igw is not None and any(a["VpcId"] == table["VpcId"] for a in igw["Attachments"])
    elif target and target.startswith("vpce-"):
        ok = tx.get("vpc_endpoints", target) is not None
    elif route.get("EgressOnlyInternetGatewayId"):
        ok = tx.get("egress_only_internet_gateways", route["EgressOnlyInternetGatewayId"]) \
            is not None
    elif route.get("NatGatewayId"):
        nat = tx.get("nat_gateways", route["NatGatewayId"])
        ok = nat is not None and nat["State"] in ("pending", "available")
    elif route.get("VpcPeeringConnectionId"):
        pcx = tx.get("vpc_peering_connections", route["VpcPeeringConnectionId"])
        ok = pcx is not None and pcx["Status"]["Code"] == "active"
    elif route.get("NetworkInterfaceId"):
        # A route to an interface no instance or service uses goes nowhere.
        eni = tx.get("network_interfaces", route["NetworkInterfaceId"])
        ok = eni is not None and eni["Status"] == "in-use"
    else:
        ok = True
    return "active" if ok else "blackhole"


def refresh_route_states(tx, vpc_ids=None) -> None:
    """Recompute every route's State after a target changed (gateway detached, NAT deleted...)."""
    for table in tx.all("route_tables").values():
        if vpc_ids is not None and table["VpcId"] not in vpc_ids:
            continue
        states = [route_state(tx, table, r) for r in table["Routes"]]
        if states != [r.get("State") for r in table["Routes"]]:
            rec = tx.edit("route_tables", table["RouteTableId"])
            for route, state in zip(rec["Routes"], states):
                route["State"] = state


def find_association(tx, assoc_id: str) -> tuple[dict, dict]:
    for table in tx.all("route_tables").values():
        for assoc in table["Associations"]:
            if assoc["RouteTableAssociationId"] == assoc_id:
                return table, assoc
    raise ServiceError(f"The association ID '{assoc_id}' does not exist",
                       code="InvalidAssociationID.NotFound")


def _different_networks(what: str) -> ServiceError:
    return invalid(f"{what} belong to different networks")


def _destination(tx, p: dict) -> tuple[str, str]:
    """(Route field, canonical value) of the request's one destination."""
    given = [k for k in DESTINATIONS if p.get(k)]
    if not given:
        raise invalid("The request must contain the parameter destinationCidrBlock or "
                      "destinationIpv6CidrBlock or destinationPrefixListId",
                      code="MissingParameter")
    if len(given) > 1:
        raise invalid("Only one of destinationCidrBlock, destinationIpv6CidrBlock or "
                      "destinationPrefixListId may be specified",
                      code="InvalidParameterCombination")
    key = given[0]
    if key == "DestinationCidrBlock":
        return key, str(parse_cidr(p[key], "destinationCidrBlock"))
    if key == "DestinationPrefixListId":
        return key, get(tx, "prefix_lists", p[key])["PrefixListId"]
    try:
        return key, str(ipaddress.IPv6Network(p[key], strict=False))
    except ValueError:
        raise invalid(f"Value ({p[key]}) for parameter destinationIpv6CidrBlock is invalid. "
                      "This is not a valid IPv6 CIDR block.") from None


def _target(tx, table: dict, p: dict) -> dict:
    """The route fields for the request's one target, checked against the table's VPC."""
    given = [k for k in TARGETS if p.get(k)]
    if len(given) != 1:
        # Wording unconfirmed; AWS requires exactly one target.
        raise invalid("The request must contain exactly one of gatewayId, natGatewayId, "
                      "networkInterfaceId, vpcPeeringConnectionId, vpcEndpointId, "
                      "transitGatewayId, egressOnlyInternetGatewayId, localGatewayId, "
                      "carrierGatewayId, coreNetworkArn or instanceId",
                      code="MissingParameter" if not given else "InvalidParameterCombination")
    param = given[0]
    value = p[param]
    rtb, vpc_id = table["RouteTableId"], table["VpcId"]
    if param in UNKNOWN_TARGETS:
        code, message = UNKNOWN_TARGETS[param]
        raise ServiceError(message.format(value), code=code)
    if param in ("GatewayId", "VpcEndpointId") and value.startswith("vpce-"):
        endpoint = get(tx, "vpc_endpoints", value)
        if endpoint["VpcId"] != vpc_id:
            raise _different_networks(f"route table {rtb} and network gateway {value}")
    elif param == "GatewayId":
        if not value.startswith("igw-"):
            raise ServiceError(f"The gateway ID '{value}' does not exist",
                               code="InvalidGatewayID.NotFound")
        igw = get(tx, "internet_gateways", value)
        if not any(a["VpcId"] == vpc_id for a in igw["Attachments"]):
            raise _different_networks(f"route table {rtb} and network gateway {value}")
    elif param == "NatGatewayId":
        nat = tx.get("nat_gateways", value)
        if nat is None or nat["State"] in ("deleting", "deleted"):
            raise ServiceError(f"The natGateway ID '{value}' does not exist",
                               code="InvalidNatGatewayID.NotFound")
        if nat["VpcId"] != vpc_id:
            raise _different_networks(f"route table {rtb} and nat gateway {value}")
    elif param == "VpcPeeringConnectionId":
        pcx = get(tx, "vpc_peering_connections", value)
        if pcx["Status"]["Code"] not in ("pending-acceptance", "active"):
            raise ServiceError(f"The vpcPeeringConnection ID '{value}' does not exist",
                               code="InvalidVpcPeeringConnectionID.NotFound")
        ends = (pcx["RequesterVpcInfo"]["VpcId"], pcx["AccepterVpcInfo"]["VpcId"])
        if vpc_id not in ends:
            raise _different_networks(f"route table {rtb} and peering connection {value}")
    elif param == "EgressOnlyInternetGatewayId":
        gateway = get(tx, "egress_only_internet_gateways", value)
        if not any(a["VpcId"] == vpc_id for a in gateway["Attachments"]):
            raise _different_networks(f"route table {rtb} and network gateway {value}")
        if not p.get("DestinationIpv6CidrBlock"):
            # An egress-only gateway carries IPv6 only; AWS's wording is unconfirmed.
            raise invalid(f"Egress-only internet gateway {value} can only be the target of "
                          "an IPv6 route (destinationIpv6CidrBlock)",
                          code="InvalidParameterCombination")
    elif param == "NetworkInterfaceId":
        eni = get(tx, "network_interfaces", value)
        if eni["VpcId"] != vpc_id:
            raise _different_networks(f"route table {rtb} and interface {value}")
    return {TARGETS[param]: value}


def _check_local_overlap(vpc: dict, key: str, dest: str, target: dict, rtb: str) -> None:
    """A route inside the VPC's range: equal to a local route it exists already; more specific
    only with a middlebox target (interface, endpoint, NAT gateway), as AWS's "more specific
    routing" allows."""
    if key != "DestinationCidrBlock":
        return
    network = ipaddress.IPv4Network(dest)
    for local in vpc_networks(vpc):
        if network == local:
            raise ServiceError(f"The route identified by {dest} already exists.",
                               code="RouteAlreadyExists")
        if network.subnet_of(local) and not (
                "NetworkInterfaceId" in target or "NatGatewayId" in target
                or str(target.get("GatewayId", "")).startswith("vpce-")):
            raise invalid(f"Cannot create a more specific route for {dest} than local route "
                          f"{local} in route table {rtb}")


class RouteTableOperations:
    def create_route_table(self, ctx, p):
        vpc = get(ctx.tx, "vpcs", p["VpcId"])
        table = new_route_table(ctx.tx, ctx, vpc, main=False, tags=tags_for(p, "route-table"))
        return {"RouteTable": table, "ClientToken": p.get("ClientToken")}

    def delete_route_table(self, ctx, p):
        tx = ctx.tx
        table = get(tx, "route_tables", p["RouteTableId"])
        if table["Associations"]:
            raise dependency("routeTable", table["RouteTableId"])
        # Gateway endpoints forget the table, as their routes go with it.
        for endpoint in tx.all("vpc_endpoints").values():
            if table["RouteTableId"] in endpoint.get("RouteTableIds", []):
                tx.edit("vpc_endpoints", endpoint["VpcEndpointId"])["RouteTableIds"].remove(
                    table["RouteTableId"])
        tx.delete("route_tables", table["RouteTableId"])
        return {}

    def describe_route_tables(self, ctx, p):
        tables, token = describe(ctx.tx, "route_tables", p, ids_param="RouteTableIds",
                                 filters=ROUTE_TABLE_FILTERS)
        return {"RouteTables": tables, "NextToken": token}

    def associate_route_table(self, ctx, p):
        tx = ctx.tx
        table = get(tx, "route_tables", p["RouteTableId"])
        rtb = table["RouteTableId"]
        subnet_id, gateway_id = p.get("SubnetId"), p.get("GatewayId")
        if bool(subnet_id) == bool(gateway_id):
            raise invalid("The request must contain exactly one of subnetId or gatewayId",
                          code="InvalidParameterCombination" if subnet_id else
                          "MissingParameter")
        if subnet_id:
            subnet = get(tx, "subnets", subnet_id)
            if subnet["VpcId"] != table["VpcId"]:
                raise _different_networks(f"Route table {rtb} and subnet {subnet_id}")
            key, value = "SubnetId", subnet_id
        else:
            if not gateway_id.startswith("igw-"):
                raise ServiceError(f"The gateway ID '{gateway_id}' does not exist",
                                   code="InvalidGatewayID.NotFound")
            igw = get(tx, "internet_gateways", gateway_id)
            if not any(a["VpcId"] == table["VpcId"] for a in igw["Attachments"]):
                raise _different_networks(f"Route table {rtb} and gateway {gateway_id}")
            key, value = "GatewayId", gateway_id
        if any(a.get(key) == value for t in tx.all("route_tables").values()
               for a in t["Associations"]):
            raise ServiceError(f"the specified association for route table {rtb} conflicts "
                               "with an existing association", code="Resource.AlreadyAssociated")
        assoc = {"Main": False, "RouteTableAssociationId": resource_id("rtbassoc"),
                 "RouteTableId": rtb, key: value, "AssociationState": {"State": "associated"}}
        tx.edit("route_tables", rtb)["Associations"].append(assoc)
        return {"AssociationId": assoc["RouteTableAssociationId"],
                "AssociationState": assoc["AssociationState"]}

    def disassociate_route_table(self, ctx, p):
        tx = ctx.tx
        table, assoc = find_association(tx, p["AssociationId"])
        if assoc.get("Main"):
            raise invalid("cannot disassociate the main route table association "
                          f"{assoc['RouteTableAssociationId']}")
        rec = tx.edit("route_tables", table["RouteTableId"])
        rec["Associations"] = [a for a in rec["Associations"]
                               if a["RouteTableAssociationId"] != p["AssociationId"]]
        return {}

    def replace_route_table_association(self, ctx, p):
        """Moves a subnet, gateway or the VPC's main association to another table."""
        tx = ctx.tx
        old_table, assoc = find_association(tx, p["AssociationId"])
        new_table = get(tx, "route_tables", p["RouteTableId"])
        if new_table["VpcId"] != old_table["VpcId"]:
            raise _different_networks(f"Route table association {p['AssociationId']} and "
                                      f"route table {new_table['RouteTableId']}")
        old = tx.edit("route_tables", old_table["RouteTableId"])
        old["Associations"] = [a for a in old["Associations"]
                               if a["RouteTableAssociationId"] != p["AssociationId"]]
        moved = dict(assoc, RouteTableAssociationId=resource_id("rtbassoc"),
                     RouteTableId=new_table["RouteTableId"])
        tx.edit("route_tables", new_table["RouteTableId"])["Associations"].append(moved)
        return {"NewAssociationId": moved["RouteTableAssociationId"],
                "AssociationState": moved["AssociationState"]}

    # ---- routes -------------------------------------------------------------------------

    def create_route(self, ctx, p):
        tx = ctx.tx
        table = get(tx, "route_tables", p["RouteTableId"])
        key, dest = _destination(tx, p)
        target = _target(tx, table, p)
        existing = next((r for r in table["Routes"] if r.get(key) == dest), None)
        if existing is not None:
            # Repeating a CreateRoute with the same target is accepted (idempotent).
            if not is_local(existing) and all(existing.get(k) == v for k, v in target.items()):
                return {"Return": True}
            raise ServiceError(f"The route identified by {dest} already exists.",
                               code="RouteAlreadyExists")
        _check_local_overlap(get(tx, "vpcs", table["VpcId"]), key, dest, target,
                             table["RouteTableId"])
        route = {key: dest, **target, "Origin": "CreateRoute"}
        route["State"] = route_state(tx, table, route)
        tx.edit("route_tables", table["RouteTableId"])["Routes"].append(route)
        return {"Return": True}

    def replace_route(self, ctx, p):
        tx = ctx.tx
        table = get(tx, "route_tables", p["RouteTableId"])
        key, dest = _destination(tx, p)
        rec = tx.edit("route_tables", table["RouteTableId"])
        index = next((i for i, r in enumerate(rec["Routes"]) if r.get(key) == dest), None)
        if index is None:
            raise invalid(f"There is no route defined for '{dest}' in the route table. "
                          "Use CreateRoute instead.")
        route = rec["Routes"][index]
        if is_local(route):
            if p.get("LocalTarget"):
                return {}  # restoring the local target of a local route: nothing to do
            # Wording unconfirmed; modelled on DeleteRoute's "cannot remove local route".
            raise invalid(f"cannot replace local route {dest} in route table "
                          f"{table['RouteTableId']}")
        if endpoint_managed(tx, table, route):
            # Wording unconfirmed, modelled on the local route's.
            raise invalid(f"cannot replace vpc endpoint route {dest} in route table "
                          f"{table['RouteTableId']}")
        target = _target(tx, table, p)
        new = {key: dest, **target, "Origin": "CreateRoute"}
        new["State"] = route_state(tx, table, new)
        rec["Routes"][index] = new
        return {}

    def delete_route(self, ctx, p):
        tx = ctx.tx
        table = get(tx, "route_tables", p["RouteTableId"])
        key, dest = _destination(tx, p)
        route = next((r for r in table["Routes"] if r.get(key) == dest), None)
        rtb = table["RouteTableId"]
        if route is None:
            word = {"DestinationCidrBlock": "destination-cidr-block",
                    "DestinationIpv6CidrBlock": "destination-ipv6-cidr-block",
                    "DestinationPrefixListId": "destination-prefix-list-id"}[key]
            raise ServiceError(f"no route with {word} {dest} in route table {rtb}",
                               code="InvalidRoute.NotFound")
        if is_local(route):
            raise invalid(f"cannot remove local route {dest} in route table {rtb}")
        if endpoint_managed(tx, table, route):
            # Wording unconfirmed, modelled on the local route's.
            raise invalid(f"cannot remove vpc endpoint route {dest} in route table {rtb}")
        rec = tx.edit("route_tables", rtb)
        rec["Routes"] = [r for r in rec["Routes"] if r.get(key) != dest]
        return {}
