"""EC2's error codes and messages, as data: one entry per resource kind."""

from __future__ import annotations

import re

from vpclocal.errors import ServiceError

# kind -> (id prefix, not-found code, not-found message template, malformed code)
KINDS = {
    "vpcs": ("vpc", "InvalidVpcID.NotFound", "The vpc ID '{}' does not exist",
             "InvalidVpcID.Malformed"),
    "subnets": ("subnet", "InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist",
                "InvalidSubnetID.Malformed"),
    "security_groups": ("sg", "InvalidGroup.NotFound", "The security group '{}' does not exist",
                        "InvalidGroupId.Malformed"),
    "route_tables": ("rtb", "InvalidRouteTableID.NotFound",
                     "The routeTable ID '{}' does not exist", "InvalidRouteTableId.Malformed"),
    "network_acls": ("acl", "InvalidNetworkAclID.NotFound",
                     "The networkAcl ID '{}' does not exist", "InvalidNetworkAclId.Malformed"),
    "internet_gateways": ("igw", "InvalidInternetGatewayID.NotFound",
                          "The internetGateway ID '{}' does not exist",
                          "InvalidInternetGatewayId.Malformed"),
    "egress_only_internet_gateways": ("eigw", "InvalidEgressOnlyInternetGatewayId.NotFound",
                                      "The egressOnlyInternetGateway ID '{}' does not exist",
                                      "InvalidEgressOnlyInternetGatewayId.Malformed"),
    "nat_gateways": ("nat", "NatGatewayNotFound", "The Nat Gateway {} was not found",
                     "InvalidParameter"),
    "addresses": ("eipalloc", "InvalidAllocationID.NotFound",
                  "The allocation ID '{}' does not exist", "InvalidAllocationID.Malformed"),
    "network_interfaces": ("eni", "InvalidNetworkInterfaceID.NotFound",
                           "The networkInterface ID '{}' does not exist",
                           "InvalidNetworkInterfaceId.Malformed"),
    "vpc_endpoints": ("vpce", "InvalidVpcEndpointId.NotFound",
                      "The Vpc Endpoint Id '{}' does not exist", "InvalidVpcEndpointId.Malformed"),
    "vpc_peering_connections": ("pcx", "InvalidVpcPeeringConnectionID.NotFound",
                                "The vpcPeeringConnection ID '{}' does not exist",
                                "InvalidVpcPeeringConnectionId.Malformed"),
    "prefix_lists": ("pl", "InvalidPrefixListID.NotFound",
                     "The prefix list ID '{}' does not exist", "InvalidPrefixListID.Malformed"),
    "flow_logs": ("fl", "InvalidFlowLogId.NotFound", "Flow Log IDs '{}' do not exist",
                  "InvalidFlowLogId.Malformed"),
    "network_insights_paths": ("nip", "InvalidNetworkInsightsPathId.NotFound",
                               "The NetworkInsightsPath ID '{}' does not exist",
                               "InvalidNetworkInsightsPathId.Malformed"),
    "network_insights_analyses": ("nia", "InvalidNetworkInsightsAnalysisId.NotFound",
                                  "The NetworkInsightsAnalysis ID '{}' does not exist",
                                  "InvalidNetworkInsightsAnalysisId.Malformed"),
}

KIND_BY_PREFIX = {prefix: kind for kind, (prefix, *_rest) in KINDS.items()}

_WELL_FORMED = re.compile(r"[a-z]+-[0-9a-zA-Z]{1,17}")


def not_found(kind: str, rid: str) -> ServiceError:
    _, code, message, _ = KINDS[kind]
    return ServiceError(message.format(rid), code=code)


def malformed(kind: str, rid: str) -> ServiceError:
    return ServiceError(f'Invalid id: "{rid}"', code=KINDS[kind][3])


def check_id(kind: str, rid: str) -> None:
    prefix = KINDS[kind][0]
    if not (isinstance(rid, str) and rid.startswith(prefix + "-") and _WELL_FORMED.fullmatch(rid)):
        raise malformed(kind, rid)


def dependency(what: str, rid: str) -> ServiceError:
    return ServiceError(f"The {what} '{rid}' has dependencies and cannot be deleted.",
                        code="DependencyViolation")


def invalid(message: str, code: str = "InvalidParameterValue") -> ServiceError:
    return ServiceError(message, code=code)
