"""Result types of the reachability engine: hops, explanations, fixes, analyses.

Every type has ``to_dict()`` giving plain JSON-serializable data (snake_case keys; rules and
routes inside keep the EC2 AnalysisAclRule / AnalysisSecurityGroupRule /
AnalysisRouteTableRoute shapes). ``Analysis.to_aws()`` gives the fields of EC2's
NetworkInsightsAnalysis (NetworkPathFound, ForwardPathComponents, ReturnPathComponents,
Explanations) for DescribeNetworkInsightsAnalyses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rules import ICMP, OTHER, proto_name

# Component types, named like AWS resource types in ARNs
NETWORK_INTERFACE = "network-interface"
SECURITY_GROUP = "security-group"
NETWORK_ACL = "network-acl"
ROUTE_TABLE = "route-table"
INTERNET_GATEWAY = "internet-gateway"
NAT_GATEWAY = "natgateway"
VPC_ENDPOINT = "vpc-endpoint"
VPC_PEERING_CONNECTION = "vpc-peering-connection"
VPC = "vpc"
SUBNET = "subnet"
INTERNET = "internet"  # a host on the (simulated) internet
AWS_SERVICE = "aws-service"  # an AWS public service endpoint (S3, DynamoDB) behind a prefix list
AMAZON_DNS = "amazon-dns"  # the VPC resolver at the VPC base + 2
ADDRESS = "address"  # an address no resource owns


@dataclass(slots=True)
class Header:
    """A packet as it leaves a hop."""

    source: str
    destination: str
    protocol: int
    source_ports: tuple[int, int]
    destination_ports: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source_address": self.source,
            "destination_address": self.destination,
            "protocol": "-1" if self.protocol == OTHER else proto_name(self.protocol),
        }
        if self.protocol == ICMP:
            lo, hi = self.destination_ports
            if lo == hi:
                out["icmp_type"], out["icmp_code"] = divmod(lo, 256)
        elif self.protocol in (6, 17):
            out["source_port_range"] = {"from": self.source_ports[0], "to": self.source_ports[1]}
            out["destination_port_range"] = {
                "from": self.destination_ports[0],
                "to": self.destination_ports[1],
            }
        return out

    def to_aws(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "SourceAddresses": [f"{self.source}/32"],
            "DestinationAddresses": [f"{self.destination}/32"],
            "Protocol": "-1" if self.protocol == OTHER else str(self.protocol),
        }
        if self.protocol in (6, 17):
            out["SourcePortRanges"] = [{"From": self.source_ports[0], "To": self.source_ports[1]}]
            out["DestinationPortRanges"] = [
                {"From": self.destination_ports[0], "To": self.destination_ports[1]}
            ]
        return out


@dataclass(slots=True)
class Hop:
    """One component on a path and what it did to the packet."""

    sequence: int
    component_id: str
    component_type: str
    allowed: bool = True
    direction: str | None = None  # "egress" / "ingress" for security groups and ACLs
    rule: dict | None = None  # AnalysisAclRule or AnalysisSecurityGroupRule shape
    route: dict | None = None  # AnalysisRouteTableRoute shape
    header: Header | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    security_groups: list[str] | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sequence": self.sequence,
            "component": {"id": self.component_id, "type": self.component_type},
            "allowed": self.allowed,
        }
        if self.direction:
            out["direction"] = self.direction
        if self.rule is not None:
            out["rule"] = self.rule
        if self.route is not None:
            out["route"] = self.route
        if self.security_groups:
            out["security_groups"] = list(self.security_groups)
        if self.header is not None:
            out["packet"] = self.header.to_dict()
        if self.vpc_id:
            out["vpc_id"] = self.vpc_id
        if self.subnet_id:
            out["subnet_id"] = self.subnet_id
        if self.note:
            out["note"] = self.note
        return out

    def to_aws(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "SequenceNumber": self.sequence,
            "Component": {"Id": self.component_id},
        }
        if self.rule is not None:
            if "RuleNumber" in self.rule:
                out["AclRule"] = {k: v for k, v in self.rule.items() if k != "IcmpTypeCode"}
            else:
                out["SecurityGroupRule"] = {
                    k: v for k, v in self.rule.items() if k != "ReferencedGroupId"
                }
        if self.route is not None:
            out["RouteTableRoute"] = dict(self.route)
        if self.header is not None:
            out["OutboundHeader"] = self.header.to_aws()
        if self.vpc_id:
            out["Vpc"] = {"Id": self.vpc_id}
        if self.subnet_id:
            out["Subnet"] = {"Id": self.subnet_id}
        return out


@dataclass(slots=True)
class Explanation:
    """Why a path is blocked: an AWS Reachability Analyzer explanation code and its context."""

    code: str
    component_id: str
    component_type: str
    message: str
    path: str = "forward"  # "forward" or "return"
    direction: str | None = None
    rule: dict | None = None
    route: dict | None = None
    hop: int | None = None  # sequence number of the hop in its path
    context: dict[str, Any] = field(default_factory=dict)  # vpc_id, subnet_id, ...

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "component": {"id": self.component_id, "type": self.component_type},
            "path": self.path,
            "message": self.message,
        }
        if self.direction:
            out["direction"] = self.direction
        if self.rule is not None:
            out["rule"] = self.rule
        if self.route is not None:
            out["route"] = self.route
        if self.hop is not None:
            out["hop"] = self.hop
        out.update(self.context)
        return out

    def to_aws(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ExplanationCode": self.code, "Component": {"Id": self.component_id}}
        if self.direction:
            out["Direction"] = self.direction
        ctx = self.context
        if self.component_type == NETWORK_ACL:
            out["Acl"] = {"Id": self.component_id}
            if self.rule:
                out["AclRule"] = {k: v for k, v in self.rule.items() if k != "IcmpTypeCode"}
        if self.component_type == SECURITY_GROUP:
            out["SecurityGroups"] = [{"Id": g} for g in ctx.get("security_groups", [])]
        if self.component_type == ROUTE_TABLE:
            out["RouteTable"] = {"Id": self.component_id}
        if self.route:
            out["RouteTableRoute"] = dict(self.route)
        for key, shape in (
            ("network_interface_id", "NetworkInterface"),
            ("subnet_id", "Subnet"),
            ("vpc_id", "Vpc"),
            ("internet_gateway_id", "InternetGateway"),
            ("nat_gateway_id", "NatGateway"),
            ("vpc_peering_connection_id", "VpcPeeringConnection"),
            ("vpc_endpoint_id", "VpcEndpoint"),
            ("route_table_id", "RouteTable"),
        ):
            if ctx.get(key):
                out[shape] = {"Id": ctx[key]}
        if ctx.get("address"):
            out["Address"] = ctx["address"]
        if ctx.get("state"):
            out["State"] = ctx["state"]
        return out


@dataclass(slots=True)
class Fix:
    """A change that opens (part of) a blocked path, with the AWS CLI commands that make it.

    verified: applying this fix (together with the fixes listed before it) to a copy of the
    topology and analyzing again removed the block it resolves. Suggestions that need new
    resources the engine cannot invent (a NAT gateway, a peering connection) are not verified.
    """

    description: str
    commands: list[str]
    resolves: str  # the explanation code
    component_id: str
    verified: bool
    change: dict[str, Any] = field(default_factory=dict)  # machine-readable form

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "commands": list(self.commands),
            "resolves": self.resolves,
            "component_id": self.component_id,
            "verified": self.verified,
            "change": self.change,
        }


@dataclass(slots=True)
class Analysis:
    """The result of analyzing one flow.

    When the flow is blocked, ``forward`` and ``return_`` still hold the whole path the
    traffic would take if nothing blocked it (the *blocked path*); the hops that block have
    ``allowed`` False, and ``explanations`` say why, in path order. The path stops early only
    where the next hop is undefined (no route, a route into a loop, an unknown target).
    """

    source: dict[str, Any]
    destination: dict[str, Any]
    protocol: str
    port: int | None
    reachable: bool
    forward: list[Hop]
    return_: list[Hop]
    explanations: list[Explanation]
    fixes: list[Fix] = field(default_factory=list)
    fixes_verified: bool = False  # applying every verified fix together opens the path

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.explanations]

    @property
    def blocked_path(self) -> list[Hop]:
        return [] if self.reachable else self.forward + self.return_

    def to_dict(self) -> dict[str, Any]:
        out = {
            "source": self.source,
            "destination": self.destination,
            "protocol": self.protocol,
            "port": self.port,
            "reachable": self.reachable,
            "forward_path": [h.to_dict() for h in self.forward],
            "return_path": [h.to_dict() for h in self.return_],
            "explanations": [e.to_dict() for e in self.explanations],
        }
        if not self.reachable:
            out["fixes"] = [f.to_dict() for f in self.fixes]
            out["fixes_verified"] = self.fixes_verified
        return out

    def to_aws(self) -> dict[str, Any]:
        return {
            "NetworkPathFound": self.reachable,
            "ForwardPathComponents": [h.to_aws() for h in self.forward],
            "ReturnPathComponents": [h.to_aws() for h in self.return_],
            "Explanations": [e.to_aws() for e in self.explanations],
        }

    def summary(self) -> str:
        """One line per explanation (or 'reachable'), for logs and function hints."""
        if self.reachable:
            return f"reachable: {self.source.get('id')} -> {self.destination.get('id')}"
        return "\n".join(f"{e.code} {e.component_id}: {e.message}" for e in self.explanations)


@dataclass(slots=True)
class AnyAnalysis:
    """analyze_any: the first source that reaches the destination, or every blocked analysis."""

    reachable: bool
    analysis: Analysis | None  # the first reachable one
    blocked: list[Analysis]  # the analyses of the sources tried before it (all, if none reached)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "blocked": [a.to_dict() for a in self.blocked],
        }
