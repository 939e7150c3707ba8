"""What aws:network:disrupt-connectivity denies, per scope, as the CIDRs the fabric compiles
into the target subnet's network ACL (compiler._router_plan), resolved once when the action
starts (AWS likewise writes the entries of the network ACL it swaps in at the start):

- `all`: everything (None);
- `availability-zone`: the CIDRs of the VPC's subnets in other Availability Zones (intra-VPC
  traffic to and from other AZs is dropped; within the AZ, and outside the VPC, it is kept);
- `prefix-list`: the CIDRs of the prefix list `prefixListIdentifier` names;
- `s3`, `dynamodb`: the CIDRs of the Region's AWS-managed prefix list of the service
  (com.amazonaws.<region>.s3 / .dynamodb), which hold the service's public endpoint
  addresses on the simulated internet (network/names.AWS_SERVICE_ADDRESSES), reached through
  an internet gateway, a NAT gateway or a gateway endpoint.

By network ACL, as AWS does it: an interface endpoint's private addresses in the VPC are not
the service's addresses, and stay reachable under `s3` / `dynamodb`.
"""

from __future__ import annotations

RUN = ("all", "availability-zone", "prefix-list", "s3", "dynamodb")


class Unsupported(Exception):
    """The scope cannot be resolved (the reason says why): the action fails."""


def denied(view, region: str, scope: str, params: dict, subnet_id: str) -> list[str] | None:
    """The CIDRs the scope denies to and from a subnet (None: all of its traffic)."""
    listed = params.get("prefixListIdentifier")
    if listed and scope != "prefix-list":
        raise Unsupported("The parameter prefixListIdentifier applies only to scope "
                          f"prefix-list, not {scope}.")
    if scope == "all":
        return None
    if scope == "availability-zone":
        subnet = view.get("subnets", subnet_id)
        if subnet is None:
            raise Unsupported(f"The subnet {subnet_id} does not exist.")
        return sorted(s["CidrBlock"] for s in view.values("subnets")
                      if s.get("VpcId") == subnet.get("VpcId") and s.get("CidrBlock")
                      and s.get("AvailabilityZone") != subnet.get("AvailabilityZone"))
    if scope == "prefix-list":
        if not listed:
            raise Unsupported("Scope prefix-list needs the parameter prefixListIdentifier.")
        record = view.get("prefix_lists", listed)
        if record is None:
            raise Unsupported(f"The prefix list {listed} does not exist.")
        return _cidrs(record)
    if scope in ("s3", "dynamodb"):
        name = f"com.amazonaws.{region}.{scope}"
        for record in view.values("prefix_lists"):
            if record.get("PrefixListName") == name:
                return _cidrs(record)
        raise Unsupported(f"The Region has no prefix list {name} to take {scope}'s "
                          "addresses from.")
    raise Unsupported(f"vpclocal does not run disrupt-connectivity scope {scope} yet "
                      f"(issue 15): scopes {', '.join(RUN)}.")


def _cidrs(record: dict) -> list[str]:
    cidrs = sorted(e["Cidr"] for e in record.get("Entries") or () if e.get("Cidr"))
    if not cidrs:
        raise Unsupported(f"The prefix list {record.get('PrefixListId')} has no entries.")
    return cidrs
