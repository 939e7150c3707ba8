"""The EC2 provider: VPC networking, one mixin per resource kind."""

from __future__ import annotations

from vpclocal.services.base import Provider
from vpclocal.services.ec2.defaults import ensure_region
from vpclocal.services.ec2.network_interfaces import NetworkInterfaceOperations
from vpclocal.services.ec2.subnets import SubnetOperations
from vpclocal.services.ec2.tags import TagOperations
from vpclocal.services.ec2.vpcs import VpcOperations
from vpclocal.services.ec2.zones import ZoneOperations


class Ec2Provider(
    VpcOperations,
    SubnetOperations,
    NetworkInterfaceOperations,
    TagOperations,
    ZoneOperations,
    Provider,
):
    service_name = "ec2"

    def prepare(self, ctx) -> None:
        ensure_region(ctx.tx, ctx)
