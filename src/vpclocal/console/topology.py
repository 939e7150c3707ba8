"""What the console draws, built from the store on the server so the page stays thin: each
VPC with its Availability Zones, subnets (public when their route table routes traffic to an
internet gateway), the network interfaces in them labelled with what owns them, its gateways and its
peering connections. Everything is sorted, so the same state draws the same picture."""

from __future__ import annotations

import ipaddress
import socket

from vpclocal.fabric.flowlogs import flow_logged_vpcs
from vpclocal.network.topology import Topology
from vpclocal.services.lambda_.model import FUNCTIONS

# the engine's name for a managed resource (services/ec2/network_insights.py NAME_PREFIXES)
# and the port a client reaches it on
_PROXY_PORTS = {"MYSQL": 3306, "POSTGRESQL": 5432, "SQLSERVER": 1433}


def _name(record: dict) -> str:
    """The Name tag, else ""."""
    for tag in record.get("Tags") or record.get("TagSet") or record.get("TagList") or ():
        if tag.get("Key") == "Name":
            return tag.get("Value") or ""
    return ""


def _ip_key(address: str) -> bytes:
    try:
        return socket.inet_aton(address)  # (10,000 of them: ipaddress is too slow here)
    except OSError:
        return b""


def _cidr_key(cidr: str) -> tuple[int, int]:
    try:
        net = ipaddress.IPv4Network(cidr, strict=False)
        return int(net.network_address), net.prefixlen
    except ValueError:
        return 0, 0


def _route_tables(topo: Topology) -> dict[str, dict]:
    """Subnet id -> its route table: the one associated with it, else its VPC's main one."""
    main, explicit = {}, {}
    for rtb in topo.route_tables.values():
        for assoc in rtb.get("Associations") or ():
            if assoc.get("Main"):
                main[rtb.get("VpcId")] = rtb
            elif assoc.get("SubnetId"):
                explicit[assoc["SubnetId"]] = rtb
    return {sid: explicit.get(sid) or main.get(sub.get("VpcId")) or {}
            for sid, sub in topo.subnets.items()}


def _default_target(rtb: dict) -> str:
    """Where a route table's active 0.0.0.0/0 route goes (an igw-, nat-, ... id), "" if none."""
    for route in rtb.get("Routes") or ():
        if route.get("DestinationCidrBlock") == "0.0.0.0/0" and \
                route.get("State", "active") == "active":
            return route.get("NatGatewayId") or route.get("GatewayId") or \
                route.get("VpcPeeringConnectionId") or route.get("NetworkInterfaceId") or ""
    return ""


def _owners(view, topo: Topology) -> dict[str, dict]:
    """ENI id -> {kind, label, names (for the engine), reach, port}, for the ENIs a service
    owns. A Lambda Hyperplane ENI serves every function with its subnet and security groups."""
    out: dict[str, dict] = {}

    def own(eni_ids, kind: str, name: str, reach: str, port: int | None) -> None:
        for eni_id in eni_ids or ():
            out[eni_id] = {"kind": kind, "label": name, "reach": reach, "port": port}

    for db_id, db in sorted(view.all("db_instances").items()):
        ident = db.get("DBInstanceIdentifier") or db_id
        own(db.get("_NetworkInterfaceIds"), "rds", ident, f"rds:{ident}",
            (db.get("Endpoint") or {}).get("Port"))
    for name, proxy in sorted(view.all("db_proxies").items()):
        own(proxy.get("_NetworkInterfaceIds"), "proxy", name, f"proxy:{name}",
            _PROXY_PORTS.get(proxy.get("EngineFamily", "")))
    for cluster_id, cluster in sorted(view.all("cache_clusters").items()):
        nodes = cluster.get("CacheNodes") or [{}]
        own(cluster.get("_NetworkInterfaceIds"), "cache", cluster_id, f"cache:{cluster_id}",
            (nodes[0].get("Endpoint") or {}).get("Port") or 6379)
    for nat_id, nat in sorted(topo.nat_gateways.items()):
        own([a.get("NetworkInterfaceId") for a in nat.get("NatGatewayAddresses") or ()],
            "nat", _name(nat) or nat_id, "", None)
    for ep_id, ep in sorted(topo.vpc_endpoints.items()):
        service = ep.get("ServiceName", "").rsplit(".", 1)[-1]
        own(ep.get("NetworkInterfaceIds"), "endpoint", f"{service} endpoint", "", 443)
    # Lambda: (subnet, groups) -> the functions sharing that Hyperplane ENI
    by_combination: dict[tuple[str, frozenset], list[str]] = {}
    for fn in sorted(view.all(FUNCTIONS).values(), key=lambda f: f.get("FunctionName", "")):
        config = fn.get("VpcConfig") or {}
        groups = frozenset(config.get("SecurityGroupIds") or ())
        for subnet_id in config.get("SubnetIds") or ():
            by_combination.setdefault((subnet_id, groups), []).append(fn["FunctionName"])
    for eni_id, eni in topo.network_interfaces.items():
        if eni.get("InterfaceType") != "lambda":
            continue
        names = by_combination.get((eni.get("SubnetId", ""),
                                    frozenset(g["GroupId"] for g in eni.get("Groups") or ())))
        if names:
            label = names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
            out[eni_id] = {"kind": "lambda", "label": label, "functions": names,
                           "reach": f"function:{names[0]}", "port": None}
        else:
            out[eni_id] = {"kind": "lambda", "label": "Lambda (unused)", "reach": "",
                           "port": None}
    return out


def _eni(eni: dict, owner: dict | None) -> dict:
    eni_id = eni["NetworkInterfaceId"]
    owner = owner or {}
    return {"id": eni_id, "ip": eni.get("PrivateIpAddress", ""),
            "public_ip": (eni.get("Association") or {}).get("PublicIp"),
            "kind": owner.get("kind") or "eni",
            "label": owner.get("label") or _name(eni) or eni.get("Description") or eni_id,
            "functions": owner.get("functions", []),
            "groups": sorted(g["GroupId"] for g in eni.get("Groups") or ()),
            "reach": owner.get("reach") or eni_id, "port": owner.get("port")}


def build(view, region: str) -> dict:
    """The region's VPCs as the console draws them (GET /_vpclocal/console/topology)."""
    topo = Topology.from_view(view)
    owners = _owners(view, topo)
    tables = _route_tables(topo)
    enis_by_subnet: dict[str, list[dict]] = {}
    for eni in topo.network_interfaces.values():
        enis_by_subnet.setdefault(eni.get("SubnetId", ""), []).append(eni)
    counted = flow_logged_vpcs(topo)
    vpcs = []
    # your VPCs first, then the default one
    for vpc_id, vpc in sorted(topo.vpcs.items(), key=lambda i: (bool(i[1].get("IsDefault")),
                                                                i[0])):
        subnets = []
        for subnet_id, sub in topo.subnets.items():
            if sub.get("VpcId") != vpc_id:
                continue
            target = _default_target(tables[subnet_id])
            # AWS: "If a subnet's traffic is routed to an internet gateway, the subnet is known
            # as a public subnet" (any route; the doctor's Account.is_private says the same)
            public = any((r.get("GatewayId") or "").startswith("igw-")
                         and r.get("State", "active") == "active"
                         for r in tables[subnet_id].get("Routes") or ())
            enis = sorted(enis_by_subnet.get(subnet_id, ()),
                          key=lambda e: (_ip_key(e.get("PrivateIpAddress", "")),
                                         e["NetworkInterfaceId"]))
            subnets.append({
                "id": subnet_id, "name": _name(sub), "cidr": sub.get("CidrBlock", ""),
                "az": sub.get("AvailabilityZone", ""),
                "public": public, "default_route": target,
                "route_table": tables[subnet_id].get("RouteTableId"),
                "enis": [_eni(e, owners.get(e["NetworkInterfaceId"])) for e in enis]})
        subnets.sort(key=lambda s: (not s["public"], _cidr_key(s["cidr"]), s["id"]))
        gateways = [{"id": igw_id, "type": "igw", "label": _name(igw) or igw_id}
                    for igw_id, igw in sorted(topo.internet_gateways.items())
                    if any(a.get("VpcId") == vpc_id for a in igw.get("Attachments") or ())]
        gateways += [{"id": nat_id, "type": "nat", "label": _name(nat) or nat_id,
                      "subnet": nat.get("SubnetId"), "state": nat.get("State")}
                     for nat_id, nat in sorted(topo.nat_gateways.items())
                     if nat.get("VpcId") == vpc_id
                     and nat.get("State") not in ("deleted", "deleting", "failed")]
        gateways += [{"id": ep["VpcEndpointId"], "type": "gateway-endpoint",
                      "label": _name(ep) or ep.get("ServiceName", "").rsplit(".", 1)[-1],
                      "service": ep.get("ServiceName"),
                      "route_tables": sorted(ep.get("RouteTableIds") or ())}
                     for _, ep in sorted(topo.vpc_endpoints.items())
                     if ep.get("VpcId") == vpc_id and ep.get("VpcEndpointType") == "Gateway"
                     and ep.get("State", "available") not in ("deleted", "deleting", "failed")]
        peerings = []
        for pcx_id, pcx in sorted(topo.vpc_peering_connections.items()):
            sides = [(pcx.get(k) or {}).get("VpcId") for k in ("RequesterVpcInfo",
                                                                 "AccepterVpcInfo")]
            if vpc_id in sides and (pcx.get("Status") or {}).get("Code") not in (
                    "deleted", "rejected", "failed", "expired"):
                peer = sides[1] if sides[0] == vpc_id else sides[0]
                peerings.append({"id": pcx_id, "peer_vpc": peer, "label": _name(pcx) or pcx_id,
                                 "status": (pcx.get("Status") or {}).get("Code", "")})
        vpcs.append({
            "id": vpc_id, "name": _name(vpc), "cidr": vpc.get("CidrBlock", ""),
            "default": bool(vpc.get("IsDefault")),
            "flow_logs": vpc_id in counted,  # only these routers count flows
            "zones": sorted({s["az"] for s in subnets}),
            "subnets": subnets, "gateways": gateways, "peerings": peerings})
    return {"region": region, "vpcs": vpcs}
