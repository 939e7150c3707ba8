"""The EC2 provider: VPC networking, one mixin per resource kind."""

from __future__ import annotations

from vpclocal.errors import ServiceError
from vpclocal.services.base import Provider
from vpclocal.services.ec2.addresses import AddressOperations
from vpclocal.services.ec2.defaults import ensure_region
from vpclocal.services.ec2.egress_only_internet_gateways import (
    EgressOnlyInternetGatewayOperations,
)
from vpclocal.services.ec2.flow_logs import FlowLogOperations
from vpclocal.services.ec2.internet_gateways import InternetGatewayOperations
from vpclocal.services.ec2.nat_gateways import NatGatewayOperations
from vpclocal.services.ec2.network_acls import NetworkAclOperations
from vpclocal.services.ec2.network_insights import NetworkInsightsOperations
from vpclocal.services.ec2.network_interfaces import NetworkInterfaceOperations
from vpclocal.services.ec2.peering import PeeringOperations
from vpclocal.services.ec2.prefix_lists import PrefixListOperations
from vpclocal.services.ec2.route_tables import RouteTableOperations
from vpclocal.services.ec2.security_groups import SecurityGroupOperations
from vpclocal.services.ec2.subnets import SubnetOperations
from vpclocal.services.ec2.tags import TagOperations
from vpclocal.services.ec2.vpc_endpoints import VpcEndpointOperations
from vpclocal.services.ec2.vpcs import VpcOperations
from vpclocal.services.ec2.zones import ZoneOperations


class Ec2Provider(
    VpcOperations,
    SubnetOperations,
    AddressOperations,
    FlowLogOperations,
    InternetGatewayOperations,
    EgressOnlyInternetGatewayOperations,
    NatGatewayOperations,
    NetworkAclOperations,
    PeeringOperations,
    PrefixListOperations,
    RouteTableOperations,
    SecurityGroupOperations,
    VpcEndpointOperations,
    NetworkInterfaceOperations,
    NetworkInsightsOperations,
    TagOperations,
    ZoneOperations,
    Provider,
):
    service_name = "ec2"

    def method_for(self, operation: str):
        """Operations honour DryRun: validated in full, then undone (the error aborts the
        transaction) with AWS's DryRunOperation."""
        method = super().method_for(operation)
        if method is None:
            return None

        def run(ctx, p):
            result = method(ctx, p)
            if p.get("DryRun"):
                raise ServiceError("Request would have succeeded, but DryRun flag is set.",
                                   code="DryRunOperation", status=412)
            return result

        return run

    def prepare(self, ctx) -> None:
        ensure_region(ctx.tx, ctx)
