"""The network model the reachability engine and the fabric read.

Every record is a plain dict in exactly the shape of the EC2 API's Describe* output element
(botocore's ec2 service model): a subnet is what DescribeSubnets returns for it, a route table
what DescribeRouteTables returns, and so on. The store keeps records in these shapes, so a
Topology is a read-only view of the store, not a copy with its own semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Record = dict

# Store kind -> Topology attribute; the store uses the same kind names.
KINDS = (
    "vpcs",
    "subnets",
    "route_tables",
    "network_acls",
    "security_groups",
    "network_interfaces",
    "internet_gateways",
    "nat_gateways",
    "vpc_endpoints",
    "vpc_peering_connections",
    "prefix_lists",
    "addresses",
    "flow_logs",
)


@dataclass
class Topology:
    """One region's VPC model, each kind a dict from resource id to its record.

    prefix_lists: ManagedPrefixList shape plus "Entries": [{"Cidr": ...}, ...].
    addresses: Elastic IPs (Address shape) keyed by AllocationId.
    flow_logs: FlowLog shape (the fabric counts the traffic of VPCs that have one).
    """

    vpcs: dict[str, Record] = field(default_factory=dict)
    subnets: dict[str, Record] = field(default_factory=dict)
    route_tables: dict[str, Record] = field(default_factory=dict)
    network_acls: dict[str, Record] = field(default_factory=dict)
    security_groups: dict[str, Record] = field(default_factory=dict)
    network_interfaces: dict[str, Record] = field(default_factory=dict)
    internet_gateways: dict[str, Record] = field(default_factory=dict)
    nat_gateways: dict[str, Record] = field(default_factory=dict)
    vpc_endpoints: dict[str, Record] = field(default_factory=dict)
    vpc_peering_connections: dict[str, Record] = field(default_factory=dict)
    prefix_lists: dict[str, Record] = field(default_factory=dict)
    addresses: dict[str, Record] = field(default_factory=dict)
    flow_logs: dict[str, Record] = field(default_factory=dict)

    @classmethod
    def from_view(cls, view) -> Topology:
        """Build from anything with .all(kind) -> dict[id, record] (a store view)."""
        kinds = {kind: view.all(kind) for kind in KINDS}
        kinds["network_acls"] = with_acl_associations(kinds["network_acls"], kinds["subnets"])
        return cls(**kinds)


def with_acl_associations(acls: dict[str, Record], subnets: dict[str, Record]) -> dict:
    """ACL records with their Associations, derived from the subnets.

    The store keeps a subnet's ACL on the subnet (`_NetworkAclId`, `_NetworkAclAssociationId`):
    every subnet has exactly one, and keeping the list on the ACL would rewrite the default
    ACL each time a subnet is created.
    """
    associations: dict[str, list] = {acl_id: [] for acl_id in acls}
    for subnet in subnets.values():
        acl_id = subnet.get("_NetworkAclId")
        if acl_id in associations:
            associations[acl_id].append({
                "NetworkAclAssociationId": subnet["_NetworkAclAssociationId"],
                "NetworkAclId": acl_id, "SubnetId": subnet["SubnetId"]})
    return {acl_id: dict(acl, Associations=associations[acl_id]) for acl_id, acl in acls.items()}
