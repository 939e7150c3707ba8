"""Route tables compiled for longest-prefix-match lookups.

Routes whose destination is a prefix list take part in the match with each CIDR of the list,
like AWS does. When a CIDR route and a prefix-list route have the same prefix, AWS prefers the
CIDR route (and a static route over a propagated one); the local route always wins its prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .addr import AddressError, cidr

# Target kinds
LOCAL, IGW, NAT, VPCE, PCX, ENI, UNSUPPORTED = (
    "local",
    "internet-gateway",
    "nat-gateway",
    "vpc-endpoint",
    "vpc-peering-connection",
    "network-interface",
    "unsupported",
)


class Route(tuple):
    """(kind, target_id, state, record, destination, priority, via_prefix_list, plen)."""

    __slots__ = ()

    kind = property(lambda self: self[0])
    target = property(lambda self: self[1])
    state = property(lambda self: self[2])
    record = property(lambda self: self[3])
    destination = property(lambda self: self[4])
    prefix_list = property(lambda self: self[6])
    plen = property(lambda self: self[7])

    def describe(self) -> dict:
        """The route in the shape of EC2's AnalysisRouteTableRoute."""
        rec = self[3]
        out: dict = {}
        if rec.get("DestinationPrefixListId"):
            out["DestinationPrefixListId"] = rec["DestinationPrefixListId"]
        else:
            out["DestinationCidr"] = rec.get("DestinationCidrBlock")
        for key in (
            "GatewayId",
            "NatGatewayId",
            "VpcPeeringConnectionId",
            "NetworkInterfaceId",
            "InstanceId",
            "TransitGatewayId",
            "EgressOnlyInternetGatewayId",
            "LocalGatewayId",
            "CarrierGatewayId",
        ):
            if rec.get(key):
                out[key] = rec[key]
        out["State"] = rec.get("State", "active")
        if rec.get("Origin"):
            out["Origin"] = rec["Origin"]
        return out


def route_target(rec: dict) -> tuple[str, str]:
    gw = rec.get("GatewayId")
    if gw:
        if gw == "local":
            return LOCAL, "local"
        if gw.startswith("igw-"):
            return IGW, gw
        if gw.startswith("vpce-"):
            return VPCE, gw
        return UNSUPPORTED, gw  # vgw-, and anything newer
    if rec.get("NatGatewayId"):
        return NAT, rec["NatGatewayId"]
    if rec.get("VpcPeeringConnectionId"):
        return PCX, rec["VpcPeeringConnectionId"]
    if rec.get("NetworkInterfaceId"):
        return ENI, rec["NetworkInterfaceId"]
    for key in ("InstanceId", "TransitGatewayId", "LocalGatewayId", "CarrierGatewayId",
                "EgressOnlyInternetGatewayId", "CoreNetworkArn"):
        if rec.get(key):
            return UNSUPPORTED, rec[key]
    return UNSUPPORTED, ""


def _priority(kind: str, rec: dict, via_pl: bool) -> int:
    if kind == LOCAL:
        return 0
    if rec.get("Origin") == "EnableVgwRoutePropagation":
        return 3
    return 2 if via_pl else 1


class RouteTable:
    """One route table, ready for longest-prefix-match lookups."""

    __slots__ = ("by_plen", "id", "plens", "record", "routes")

    def __init__(
        self, record: dict, prefix_list_cidrs: Callable[[str], Sequence[str]]
    ) -> None:
        self.id = record.get("RouteTableId", "")
        self.record = record
        by_plen: dict[int, dict[int, Route]] = {}
        routes: list[Route] = []
        for rec in record.get("Routes") or ():
            kind, target = route_target(rec)
            state = rec.get("State", "active")
            if rec.get("DestinationCidrBlock"):
                dests = [(rec["DestinationCidrBlock"], None)]
            elif rec.get("DestinationPrefixListId"):
                pl = rec["DestinationPrefixListId"]
                dests = [(c, pl) for c in prefix_list_cidrs(pl)]
            else:
                continue  # IPv6 routes
            for text, pl in dests:
                try:
                    net, _m, plen = cidr(text)
                except AddressError:
                    continue
                prio = _priority(kind, rec, pl is not None)
                route = Route((kind, target, state, rec, text, prio, pl, plen))
                routes.append(route)
                slot = by_plen.setdefault(plen, {})
                old = slot.get(net)
                if old is None or prio < old[5]:
                    slot[net] = route
        self.by_plen = by_plen
        self.plens = sorted(by_plen, reverse=True)
        self.routes = routes

    def lookup(self, address: int) -> Route | None:
        by_plen = self.by_plen
        for plen in self.plens:
            route = by_plen[plen].get(address & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF))
            if route is not None:
                return route
        return None
