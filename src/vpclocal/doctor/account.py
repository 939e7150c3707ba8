"""A read-only view of one region's state for the doctor's checks: the VPC model (the same
Topology and Index the reachability engine reads), the Lambda functions, and questions the
checks share (which route table a subnet uses, whether it is private, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from vpclocal.network.index import Index
from vpclocal.network.topology import Topology
from vpclocal.services.lambda_.model import FUNCTIONS

# who owns a database's network interface (RDS instances and proxies, ElastiCache nodes)
DATABASE_REQUESTERS = ("amazon-rds", "amazon-elasticache")


@dataclass
class Evidence:
    """What the running server saw lately (empty: the checks that need it find nothing)."""

    # (region, function) -> when its latest invocations ran (epoch seconds)
    invocations: Mapping[tuple[str, str], Sequence[float]] = field(default_factory=dict)
    # (region, function) -> {(address, port): the log line that explained the drop}
    blocked: Mapping[tuple[str, str], Mapping[tuple[str, int], str]] = \
        field(default_factory=dict)
    # (database ENI, port, client address) -> when its latest connections were accepted
    connections: Mapping[tuple[str, int, str], Sequence[float]] = field(default_factory=dict)
    # ENI -> (bytes it accepted, over how many seconds): flow-logged VPCs' counters; and
    # (ENI, "s3" | "dynamodb") -> the same, for what went to or came from that service
    processed: Mapping = field(default_factory=dict)


class Account:
    """One region of the store, read once. `view` is a store view of the region (IAM records
    are read through it from the global scope)."""

    def __init__(self, view, region: str, evidence: Evidence | None = None) -> None:
        self.view = view
        self.region = region
        self.evidence = evidence or Evidence()
        self.topo = Topology.from_view(view)
        self.index = Index(self.topo)

    @cached_property
    def functions(self) -> list[dict]:
        """The functions (latest configuration), by name."""
        found = self.view.all(FUNCTIONS)
        return [found[name] for name in sorted(found)]

    @cached_property
    def vpc_functions(self) -> list[dict]:
        """The functions connected to a VPC."""
        return [fn for fn in self.functions if (fn.get("VpcConfig") or {}).get("SubnetIds")]

    @cached_property
    def functions_by_subnet(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for fn in self.vpc_functions:
            for subnet_id in fn["VpcConfig"]["SubnetIds"]:
                out.setdefault(subnet_id, []).append(fn)
        return out

    @cached_property
    def function_groups(self) -> dict[str, list[str]]:
        """The security groups of the VPC functions, per VPC."""
        out: dict[str, set[str]] = {}
        for fn in self.vpc_functions:
            out.setdefault(fn["VpcConfig"].get("VpcId", ""), set()).update(
                fn["VpcConfig"]["SecurityGroupIds"])
        return {vpc_id: sorted(groups) for vpc_id, groups in out.items()}

    @cached_property
    def private_subnets_by_zone(self) -> dict[tuple[str, str], list[str]]:
        """The private subnets, per (VPC, Availability Zone)."""
        out: dict[tuple[str, str], list[str]] = {}
        for subnet_id, sub in sorted(self.topo.subnets.items()):
            if self.is_private(subnet_id):
                out.setdefault((sub.get("VpcId", ""), sub.get("AvailabilityZone", "")),
                               []).append(subnet_id)
        return out

    @cached_property
    def database_vpcs(self) -> set[str]:
        """The VPCs with a database (RDS instance or proxy, ElastiCache node) in them."""
        return {eni.get("VpcId", "") for eni in self.topo.network_interfaces.values()
                if eni.get("RequesterId") in DATABASE_REQUESTERS}

    @cached_property
    def vpcs_with_interfaces(self) -> set[str]:
        return {eni.get("VpcId", "") for eni in self.topo.network_interfaces.values()}

    @cached_property
    def databases(self) -> dict[str, tuple[str, str, dict]]:
        """Each database network interface -> (the store kind, the database's name, its
        record): RDS instances and proxies, ElastiCache clusters."""
        out = {}
        for kind, key in (("db_instances", "DBInstanceIdentifier"),
                          ("db_proxies", "DBProxyName"), ("cache_clusters", "CacheClusterId")):
            for record in self.view.all(kind).values():
                for eni_id in record.get("_NetworkInterfaceIds") or ():
                    out[eni_id] = (kind, record.get(key, ""), record)
        return out

    @cached_property
    def functions_at(self) -> dict[str, list[str]]:
        """A Hyperplane ENI's private address -> the functions that run on it (one ENI per
        subnet and security-group set, shared by the functions that have both)."""
        out: dict[str, list[str]] = {}
        for eni in self.topo.network_interfaces.values():
            if eni.get("InterfaceType") != "lambda" or not eni.get("PrivateIpAddress"):
                continue
            groups = {g["GroupId"] for g in eni.get("Groups") or ()}
            out[eni["PrivateIpAddress"]] = [
                fn["FunctionName"] for fn in self.vpc_functions
                if eni.get("SubnetId") in fn["VpcConfig"]["SubnetIds"]
                and set(fn["VpcConfig"].get("SecurityGroupIds") or ()) == groups]
        return out

    def modified(self, name: str) -> float:
        """When a function's configuration or code last changed (epoch seconds)."""
        fn = self.view.get(FUNCTIONS, name) or {}
        try:
            return datetime.strptime(fn.get("LastModified", ""),
                                     "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        except ValueError:
            return 0.0

    def az(self, subnet_id: str) -> str:
        return (self.topo.subnets.get(subnet_id) or {}).get("AvailabilityZone", "")

    def route_table_id(self, subnet_id: str) -> str | None:
        return self.index.rtb_id_for_subnet(subnet_id)

    def routes(self, subnet_id: str) -> list[dict]:
        rtb = self.topo.route_tables.get(self.route_table_id(subnet_id) or "")
        return list(rtb.get("Routes") or ()) if rtb else []

    def default_target(self, subnet_id: str) -> str:
        """Where the subnet's 0.0.0.0/0 route goes (an igw-, nat-, ... id), "" if none."""
        for route in self.routes(subnet_id):
            if route.get("DestinationCidrBlock") == "0.0.0.0/0" and \
                    route.get("State", "active") == "active":
                return route.get("NatGatewayId") or route.get("GatewayId") or ""
        return ""

    def is_private(self, subnet_id: str) -> bool:
        """No route to an internet gateway."""
        return not any((r.get("GatewayId") or "").startswith("igw-")
                       for r in self.routes(subnet_id))

    def nat_of(self, subnet_id: str) -> str:
        """The NAT gateway the subnet's default route goes to, "" if none."""
        target = self.default_target(subnet_id)
        return target if target.startswith("nat-") else ""

    def gateway_endpoint_services(self, subnet_id: str) -> set[str]:
        """The services (com.amazonaws.REGION.s3, ...) of the gateway endpoints on the
        subnet's route table."""
        rtb_id = self.route_table_id(subnet_id)
        return {ep.get("ServiceName", "") for ep in self.topo.vpc_endpoints.values()
                if ep.get("VpcEndpointType") == "Gateway" and rtb_id in
                (ep.get("RouteTableIds") or ()) and ep.get("State", "available") == "available"}

    def endpoints_in(self, vpc_id: str) -> list[dict]:
        return [ep for ep in self.topo.vpc_endpoints.values() if ep.get("VpcId") == vpc_id
                and ep.get("State", "available") not in ("deleted", "deleting", "failed")]

    def public_subnet_in(self, vpc_id: str, az: str) -> str | None:
        """A subnet of the VPC in that zone with a route to an internet gateway."""
        return next((sid for sid, sub in sorted(self.topo.subnets.items())
                     if sub.get("VpcId") == vpc_id and sub.get("AvailabilityZone") == az
                     and not self.is_private(sid)), None)
