"""The AWS Reachability Analyzer explanation codes the engine emits, as data.

Codes and their meanings follow the Reachability Analyzer guide ("explanation codes"); the
wording here is ours. The engine's messages name the exact component, rule or route.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    "BAD_STATE": "This component is not in a functional state.",
    "BAD_STATE_ATTACHMENT": "The attachment between these components is not functional.",
    "BAD_STATE_ROUTE": "This route is not in a functional state (blackhole).",
    "CANNOT_ROUTE": "This route can't carry the traffic to its destination.",
    "DISCONNECTED_VPCS": "The source and destination VPCs are not connected.",
    "ENI_SG_RULES_MISMATCH": "The security groups of this network interface don't allow the traffic.",
    "ENI_SOURCE_DEST_CHECK_RESTRICTION": (
        "This network interface drops traffic not addressed to it because its "
        "source/destination check is enabled."
    ),
    "IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS": (
        "Internet gateways don't send traffic to private (RFC 1918) addresses."
    ),
    "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS": (
        "Internet gateways only send traffic from the internet to private addresses that have a "
        "public IPv4 address or Elastic IP associated."
    ),
    "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS": (
        "Internet gateways only carry traffic from addresses with a public IPv4 address or "
        "Elastic IP associated."
    ),
    "NGW_REQUIRES_SOURCE_IN_VPC": "NAT gateways only translate traffic from sources in their VPC.",
    "NO_PATH": "There is no path from the source to the destination.",
    "NO_POSSIBLE_DESTINATION": "Nothing at the destination address can receive the traffic.",
    "NO_ROUTE_TO_DESTINATION": "The route table has no route to the destination.",
    "NO_SOURCE_OR_DESTINATION": "The source or destination is not a network resource.",
    "PCX_REQUIRES_ADDRESS_IN_VPC_CIDR": (
        "VPC peering connections only carry traffic between addresses in the two peered VPCs."
    ),
    "SG_HAS_NO_RULES": "The security group has no rules in this direction.",
    "SUBNET_ACL_RESTRICTION": "The network ACL of this subnet doesn't allow the traffic.",
    "UNSUPPORTED_COMPONENT": "The path goes through a component vpclocal does not model.",
    "VPCE_GATEWAY_EGRESS_SOURCE_ADDRESS_RESTRICTION": (
        "Gateway VPC endpoints only carry traffic from sources in their VPC."
    ),
}


def describe(code: str) -> str:
    return CODES.get(code, code)
