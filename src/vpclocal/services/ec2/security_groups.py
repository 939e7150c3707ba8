"""Security groups: stateful allow rules on network interfaces."""

from __future__ import annotations

from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import arn


def new_security_group(tx, ctx, vpc_id: str, name: str, description: str,
                       tags: list | None = None) -> dict:
    """A group with AWS's initial rules: no inbound, all outbound to 0.0.0.0/0."""
    gid = resource_id("sg")
    record = {
        "GroupId": gid, "GroupName": name, "Description": description, "VpcId": vpc_id,
        "OwnerId": ctx.account_id, "SecurityGroupArn": arn(ctx, f"security-group/{gid}"),
        "IpPermissions": [],
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                 "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}],
        "Tags": tags or [],
        # Rule ids (DescribeSecurityGroupRules) parallel to the permission lists.
        "_RuleIds": {"ingress": [], "egress": [resource_id("sgr")]},
    }
    return tx.put("security_groups", gid, record)


def new_default_security_group(tx, ctx, vpc_id: str) -> dict:
    """"default": inbound all traffic from itself, outbound all."""
    record = new_security_group(tx, ctx, vpc_id, "default", "default VPC security group")
    record["IpPermissions"] = [{
        "IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
        "UserIdGroupPairs": [{"GroupId": record["GroupId"], "UserId": ctx.account_id}]}]
    record["_RuleIds"]["ingress"] = [resource_id("sgr")]
    return record


class SecurityGroupOperations:
    """Operations (to be filled in)."""
