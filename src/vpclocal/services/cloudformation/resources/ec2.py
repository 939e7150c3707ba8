"""AWS::EC2::* handlers: the VPC family, over the EC2 provider's operations."""

from __future__ import annotations

import json

from vpclocal.services.cloudformation.resources.base import (
    Env,
    Handler,
    HandlerError,
    NeedsReplacement,
    as_bool,
    ignore_missing,
    required,
    tags,
)


def _spec(kind: str, props: dict) -> dict:
    t = tags(props)
    return {"TagSpecifications": [{"ResourceType": kind, "Tags": t}]} if t else {}


async def _retag(env: Env, resource_id: str, old: dict, new: dict) -> None:
    """Tags follow the template in place (Tags is never createOnly on an EC2 type)."""
    before = {t["Key"]: t["Value"] for t in tags(old)}
    after = {t["Key"]: t["Value"] for t in tags(new)}
    gone = [{"Key": k} for k in before if k not in after]
    if gone:
        await env.call("ec2", "DeleteTags", {"Resources": [resource_id], "Tags": gone})
    changed = [{"Key": k, "Value": v} for k, v in after.items() if before.get(k) != v]
    if changed:
        await env.call("ec2", "CreateTags", {"Resources": [resource_id], "Tags": changed})


class _Tagged(Handler):
    """An EC2 type that updates its tags in place, and `in_place(...)` for the other
    properties it updates so (by default none: such a change replaces it, as a createOnly
    one does before `update` is asked)."""

    in_place: tuple[str, ...] = ()

    async def update(self, env, physical_id, attrs, old, new):
        if any(old.get(k) != new.get(k) for k in set(old) | set(new)
               if k != "Tags" and k not in self.in_place):
            raise NeedsReplacement
        await self.modify(env, physical_id, old, new)
        await _retag(env, physical_id, old, new)
        return physical_id, attrs

    async def modify(self, env, physical_id: str, old: dict, new: dict) -> None:
        """Apply the changes of `in_place` properties."""


async def _one(env: Env, operation: str, key: str, params: dict) -> dict:
    found = (await env.call("ec2", operation, params)).get(key) or []
    if not found:
        raise HandlerError(f"{operation} found nothing for {params}")
    return found[0]


class Vpc(Handler):
    type_name = "AWS::EC2::VPC"

    async def create(self, env, props):
        params = {"CidrBlock": props.get("CidrBlock"), **_spec("vpc", props)}
        if props.get("InstanceTenancy"):
            params["InstanceTenancy"] = props["InstanceTenancy"]
        vpc_id = (await env.call("ec2", "CreateVpc", params))["Vpc"]["VpcId"]
        await self._attributes(env, vpc_id, props)
        return vpc_id, await self._read(env, vpc_id)

    async def _attributes(self, env, vpc_id, props):
        for name in ("EnableDnsSupport", "EnableDnsHostnames"):
            if name in props:
                await env.call("ec2", "ModifyVpcAttribute",
                               {"VpcId": vpc_id, name: {"Value": as_bool(props[name])}})

    async def _read(self, env, vpc_id):
        vpc = await _one(env, "DescribeVpcs", "Vpcs", {"VpcIds": [vpc_id]})
        flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
        group = await _one(env, "DescribeSecurityGroups", "SecurityGroups",
                           {"Filters": [*flt, {"Name": "group-name", "Values": ["default"]}]})
        acl = await _one(env, "DescribeNetworkAcls", "NetworkAcls",
                         {"Filters": [*flt, {"Name": "default", "Values": ["true"]}]})
        return {"VpcId": vpc_id, "CidrBlock": vpc["CidrBlock"],
                "CidrBlockAssociations": [a["AssociationId"]
                                          for a in vpc.get("CidrBlockAssociationSet") or []],
                "DefaultSecurityGroup": group["GroupId"],
                "DefaultNetworkAcl": acl["NetworkAclId"],
                "Ipv6CidrBlocks": [a["Ipv6CidrBlock"]
                                   for a in vpc.get("Ipv6CidrBlockAssociationSet") or []]}

    async def update(self, env, physical_id, attrs, old, new):
        await self._attributes(env, physical_id, new)
        await _retag(env, physical_id, old, new)
        return physical_id, await self._read(env, physical_id)

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteVpc", {"VpcId": physical_id}))


class Subnet(_Tagged):
    type_name = "AWS::EC2::Subnet"
    in_place = ("MapPublicIpOnLaunch",)

    async def modify(self, env, physical_id, old, new):
        if as_bool(old.get("MapPublicIpOnLaunch")) != as_bool(new.get("MapPublicIpOnLaunch")):
            await env.call("ec2", "ModifySubnetAttribute", {
                "SubnetId": physical_id,
                "MapPublicIpOnLaunch": {"Value": as_bool(new.get("MapPublicIpOnLaunch"))}})

    async def create(self, env, props):
        params = {"VpcId": props["VpcId"], **_spec("subnet", props)}
        for key in ("CidrBlock", "AvailabilityZone", "AvailabilityZoneId", "Ipv6CidrBlock"):
            if props.get(key):
                params[key] = props[key]
        subnet = (await env.call("ec2", "CreateSubnet", params))["Subnet"]
        if "MapPublicIpOnLaunch" in props:
            await env.call("ec2", "ModifySubnetAttribute", {
                "SubnetId": subnet["SubnetId"],
                "MapPublicIpOnLaunch": {"Value": as_bool(props["MapPublicIpOnLaunch"])}})
        acl = await _one(env, "DescribeNetworkAcls", "NetworkAcls", {"Filters": [
            {"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]})
        association = next(a["NetworkAclAssociationId"] for a in acl["Associations"]
                           if a["SubnetId"] == subnet["SubnetId"])
        return subnet["SubnetId"], {
            "SubnetId": subnet["SubnetId"], "VpcId": subnet["VpcId"],
            "AvailabilityZone": subnet["AvailabilityZone"],
            "AvailabilityZoneId": subnet.get("AvailabilityZoneId"),
            "CidrBlock": subnet["CidrBlock"], "NetworkAclAssociationId": association,
            "Ipv6CidrBlocks": [a["Ipv6CidrBlock"]
                               for a in subnet.get("Ipv6CidrBlockAssociationSet") or []]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteSubnet", {"SubnetId": physical_id}))


class InternetGateway(_Tagged):
    type_name = "AWS::EC2::InternetGateway"

    async def create(self, env, props):
        igw = (await env.call("ec2", "CreateInternetGateway",
                              _spec("internet-gateway", props)))["InternetGateway"]
        return igw["InternetGatewayId"], {"InternetGatewayId": igw["InternetGatewayId"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteInternetGateway",
                                      {"InternetGatewayId": physical_id}))


class VpcGatewayAttachment(Handler):
    type_name = "AWS::EC2::VPCGatewayAttachment"

    async def create(self, env, props):
        if props.get("InternetGatewayId"):
            await env.call("ec2", "AttachInternetGateway",
                           {"InternetGatewayId": props["InternetGatewayId"],
                            "VpcId": props["VpcId"]})
            return f"IGW|{props['VpcId']}", {"AttachmentType": "igw", "VpcId": props["VpcId"]}
        raise HandlerError("vpclocal attaches internet gateways only (InternetGatewayId)")

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DetachInternetGateway",
                                      {"InternetGatewayId": props["InternetGatewayId"],
                                       "VpcId": props["VpcId"]}))


class RouteTable(_Tagged):
    type_name = "AWS::EC2::RouteTable"

    async def create(self, env, props):
        table = (await env.call("ec2", "CreateRouteTable", {
            "VpcId": props["VpcId"], **_spec("route-table", props)}))["RouteTable"]
        return table["RouteTableId"], {"RouteTableId": table["RouteTableId"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteRouteTable", {"RouteTableId": physical_id}))


_TARGETS = ("GatewayId", "NatGatewayId", "InstanceId", "NetworkInterfaceId",
            "VpcPeeringConnectionId", "TransitGatewayId", "VpcEndpointId",
            "EgressOnlyInternetGatewayId", "CarrierGatewayId", "LocalGatewayId")


class Route(Handler):
    type_name = "AWS::EC2::Route"

    async def create(self, env, props):
        params = {k: props[k] for k in ("RouteTableId", "DestinationCidrBlock",
                                        "DestinationIpv6CidrBlock", "DestinationPrefixListId",
                                        *_TARGETS) if props.get(k)}
        await env.call("ec2", "CreateRoute", params)
        dest = (props.get("DestinationCidrBlock") or props.get("DestinationIpv6CidrBlock")
                or props.get("DestinationPrefixListId"))
        return f"{props['RouteTableId']}|{dest}", {"CidrBlock": dest}

    async def update(self, env, physical_id, attrs, old, new):
        if any(old.get(k) != new.get(k) for k in ("RouteTableId", "DestinationCidrBlock",
                                                    "DestinationIpv6CidrBlock",
                                                    "DestinationPrefixListId")):
            raise NeedsReplacement
        params = {k: new[k] for k in ("RouteTableId", "DestinationCidrBlock",
                                      "DestinationIpv6CidrBlock", "DestinationPrefixListId",
                                      *_TARGETS) if new.get(k)}
        await env.call("ec2", "ReplaceRoute", params)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        params = {k: props[k] for k in ("RouteTableId", "DestinationCidrBlock",
                                        "DestinationIpv6CidrBlock", "DestinationPrefixListId")
                  if props.get(k)}
        await ignore_missing(env.call("ec2", "DeleteRoute", params))


class SubnetRouteTableAssociation(Handler):
    type_name = "AWS::EC2::SubnetRouteTableAssociation"

    async def create(self, env, props):
        out = await env.call("ec2", "AssociateRouteTable", {
            "RouteTableId": props["RouteTableId"], "SubnetId": props["SubnetId"]})
        return out["AssociationId"], {"Id": out["AssociationId"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DisassociateRouteTable",
                                      {"AssociationId": physical_id}))


class Eip(Handler):
    type_name = "AWS::EC2::EIP"

    async def create(self, env, props):
        out = await env.call("ec2", "AllocateAddress", {"Domain": props.get("Domain") or "vpc",
                                                        **_spec("elastic-ip", props)})
        return out["PublicIp"], {"AllocationId": out["AllocationId"],
                                 "PublicIp": out["PublicIp"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "ReleaseAddress",
                                      {"AllocationId": attrs["AllocationId"]}))


class NatGateway(_Tagged):
    type_name = "AWS::EC2::NatGateway"

    async def create(self, env, props):
        required(props, "SubnetId")
        params = {k: props[k] for k in ("SubnetId", "AllocationId", "ConnectivityType",
                                        "PrivateIpAddress") if props.get(k)}
        nat = (await env.call("ec2", "CreateNatGateway", {**params, **_spec(
            "natgateway", props)}))["NatGateway"]
        nat_id = nat["NatGatewayId"]

        async def ready():
            found = await _one(env, "DescribeNatGateways", "NatGateways",
                               {"NatGatewayIds": [nat_id]})
            if found["State"] == "failed":
                raise HandlerError(found.get("FailureMessage") or "NAT gateway failed")
            return found if found["State"] == "available" else None

        await env.wait(ready, "NAT gateway available")
        return nat_id, {"NatGatewayId": nat_id}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteNatGateway", {"NatGatewayId": physical_id}))


def _permission(rule: dict, egress: bool) -> dict:
    """A template rule (CidrIp, SourceSecurityGroupId...) as EC2's IpPermission."""
    perm = {"IpProtocol": str(rule.get("IpProtocol", "-1"))}
    for key in ("FromPort", "ToPort"):
        if rule.get(key) is not None:
            perm[key] = int(rule[key])
    described = {"Description": rule["Description"]} if rule.get("Description") else {}
    if rule.get("CidrIp"):
        perm["IpRanges"] = [{"CidrIp": rule["CidrIp"], **described}]
    if rule.get("CidrIpv6"):
        perm["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **described}]
    group = rule.get("DestinationSecurityGroupId" if egress else "SourceSecurityGroupId")
    if group:
        perm["UserIdGroupPairs"] = [{"GroupId": group, **described}]
    prefix = rule.get("DestinationPrefixListId" if egress else "SourcePrefixListId")
    if prefix:
        perm["PrefixListIds"] = [{"PrefixListId": prefix, **described}]
    return perm


_ALL_OUT = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


class SecurityGroup(Handler):
    type_name = "AWS::EC2::SecurityGroup"

    async def create(self, env, props):
        params = {"GroupName": props.get("GroupName") or env.physical_name(255),
                  "Description": props["GroupDescription"], **_spec("security-group", props)}
        if props.get("VpcId"):
            params["VpcId"] = props["VpcId"]
        group_id = (await env.call("ec2", "CreateSecurityGroup", params))["GroupId"]
        try:
            await self._rules(env, group_id, {}, props)
        except BaseException:
            await ignore_missing(env.call("ec2", "DeleteSecurityGroup", {"GroupId": group_id}))
            raise
        group = await _one(env, "DescribeSecurityGroups", "SecurityGroups",
                           {"GroupIds": [group_id]})
        return group_id, {"GroupId": group_id, "VpcId": group.get("VpcId")}

    async def _rules(self, env, group_id, old, new):
        for key, egress, op in (("SecurityGroupIngress", False, "SecurityGroupIngress"),
                                ("SecurityGroupEgress", True, "SecurityGroupEgress")):
            before = [_permission(r, egress) for r in old.get(key) or []]
            after = [_permission(r, egress) for r in new.get(key) or []]
            if egress and not old.get(key):
                before = [_ALL_OUT]
            if egress and not new.get(key):
                after = [_ALL_OUT]
            gone = [p for p in before if p not in after]
            added = [p for p in after if p not in before]
            if gone:
                await env.call("ec2", f"Revoke{op}", {"GroupId": group_id,
                                                      "IpPermissions": gone})
            if added:
                await env.call("ec2", f"Authorize{op}", {"GroupId": group_id,
                                                         "IpPermissions": added})

    async def update(self, env, physical_id, attrs, old, new):
        await self._rules(env, physical_id, old, new)
        await _retag(env, physical_id, old, new)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteSecurityGroup", {"GroupId": physical_id}))


class _GroupRule(Handler):
    egress = False

    async def create(self, env, props):
        required(props, "IpProtocol")
        group = props.get("GroupId")
        if not group:
            raise HandlerError("Property GroupId cannot be empty.")
        op = "Egress" if self.egress else "Ingress"
        out = await env.call("ec2", f"AuthorizeSecurityGroup{op}", {
            "GroupId": group, "IpPermissions": [_permission(props, self.egress)]})
        rule_id = (out.get("SecurityGroupRules") or [{}])[0].get("SecurityGroupRuleId")
        return rule_id, {"Id": rule_id}

    async def delete(self, env, physical_id, attrs, props):
        op = "Egress" if self.egress else "Ingress"
        await ignore_missing(env.call("ec2", f"RevokeSecurityGroup{op}", {
            "GroupId": props["GroupId"], "SecurityGroupRuleIds": [physical_id]}))


class SecurityGroupIngress(_GroupRule):
    type_name = "AWS::EC2::SecurityGroupIngress"


class SecurityGroupEgress(_GroupRule):
    type_name = "AWS::EC2::SecurityGroupEgress"
    egress = True


class VpcEndpoint(Handler):
    type_name = "AWS::EC2::VPCEndpoint"

    async def create(self, env, props):
        required(props, "VpcId", "ServiceName")
        params = {k: props[k] for k in ("VpcId", "ServiceName", "VpcEndpointType",
                                        "RouteTableIds", "SubnetIds", "SecurityGroupIds",
                                        "PrivateDnsEnabled") if k in props}
        if "PrivateDnsEnabled" in params:
            params["PrivateDnsEnabled"] = as_bool(params["PrivateDnsEnabled"])
        if isinstance(props.get("PolicyDocument"), dict):
            params["PolicyDocument"] = json.dumps(props["PolicyDocument"])
        elif props.get("PolicyDocument"):
            params["PolicyDocument"] = props["PolicyDocument"]
        endpoint = (await env.call("ec2", "CreateVpcEndpoint", params))["VpcEndpoint"]
        eid = endpoint["VpcEndpointId"]
        return eid, {"Id": eid, "CreationTimestamp": str(endpoint.get("CreationTimestamp", "")),
                     "DnsEntries": [f"{d.get('HostedZoneId', '')}:{d.get('DnsName', '')}"
                                    for d in endpoint.get("DnsEntries") or []],
                     "NetworkInterfaceIds": endpoint.get("NetworkInterfaceIds") or []}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteVpcEndpoints",
                                      {"VpcEndpointIds": [physical_id]}))


class NetworkAcl(_Tagged):
    type_name = "AWS::EC2::NetworkAcl"

    async def create(self, env, props):
        acl = (await env.call("ec2", "CreateNetworkAcl", {
            "VpcId": props["VpcId"], **_spec("network-acl", props)}))["NetworkAcl"]
        return acl["NetworkAclId"], {"Id": acl["NetworkAclId"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteNetworkAcl", {"NetworkAclId": physical_id}))


def _acl_entry(props: dict) -> dict:
    """AWS::EC2::NetworkAclEntry's properties as CreateNetworkAclEntry's parameters."""
    params = {"NetworkAclId": props["NetworkAclId"], "RuleNumber": props["RuleNumber"],
              "Protocol": str(props["Protocol"]), "RuleAction": props["RuleAction"],
              "Egress": as_bool(props.get("Egress", False))}
    for key in ("CidrBlock", "Ipv6CidrBlock"):
        if props.get(key):
            params[key] = props[key]
    if props.get("PortRange"):
        params["PortRange"] = props["PortRange"]
    if props.get("Icmp"):
        params["IcmpTypeCode"] = props["Icmp"]
    return params


class NetworkAclEntry(Handler):
    type_name = "AWS::EC2::NetworkAclEntry"

    async def create(self, env, props):
        if not props.get("CidrBlock") and not props.get("Ipv6CidrBlock"):
            raise HandlerError("Either CidrBlock or Ipv6CidrBlock must be specified")
        await env.call("ec2", "CreateNetworkAclEntry", _acl_entry(props))
        physical = env.physical_name(255)
        return physical, {"Id": physical}

    async def update(self, env, physical_id, attrs, old, new):
        await env.call("ec2", "ReplaceNetworkAclEntry", _acl_entry(new))
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteNetworkAclEntry", {
            "NetworkAclId": props["NetworkAclId"], "RuleNumber": props["RuleNumber"],
            "Egress": as_bool(props.get("Egress", False))}))


async def _acl_association(env: Env, subnet_id: str) -> tuple[str, str]:
    """The subnet's network ACL association ID and its VPC's default ACL."""
    acl = await _one(env, "DescribeNetworkAcls", "NetworkAcls", {"Filters": [
        {"Name": "association.subnet-id", "Values": [subnet_id]}]})
    association = next(a["NetworkAclAssociationId"] for a in acl["Associations"]
                       if a["SubnetId"] == subnet_id)
    default = await _one(env, "DescribeNetworkAcls", "NetworkAcls", {"Filters": [
        {"Name": "vpc-id", "Values": [acl["VpcId"]]}, {"Name": "default", "Values": ["true"]}]})
    return association, default["NetworkAclId"]


class SubnetNetworkAclAssociation(Handler):
    type_name = "AWS::EC2::SubnetNetworkAclAssociation"

    async def create(self, env, props):
        await env.call("ec2", "DescribeSubnets", {"SubnetIds": [props["SubnetId"]]})
        association, _default = await _acl_association(env, props["SubnetId"])
        out = await env.call("ec2", "ReplaceNetworkAclAssociation", {
            "AssociationId": association, "NetworkAclId": props["NetworkAclId"]})
        return out["NewAssociationId"], {"AssociationId": out["NewAssociationId"]}

    async def delete(self, env, physical_id, attrs, props):
        # the subnet goes back to its VPC's default network ACL
        try:
            association, default = await _acl_association(env, props["SubnetId"])
        except HandlerError:
            return  # the subnet is gone
        if association == physical_id:
            await ignore_missing(env.call("ec2", "ReplaceNetworkAclAssociation", {
                "AssociationId": association, "NetworkAclId": default}))


class VpcPeeringConnection(_Tagged):
    type_name = "AWS::EC2::VPCPeeringConnection"

    async def create(self, env, props):
        params = {k: props[k] for k in ("VpcId", "PeerVpcId", "PeerOwnerId", "PeerRegion")
                  if props.get(k)}
        peering = (await env.call("ec2", "CreateVpcPeeringConnection", {
            **params, **_spec("vpc-peering-connection", props)}))["VpcPeeringConnection"]
        pcx = peering["VpcPeeringConnectionId"]
        same = str(props.get("PeerOwnerId") or env.account) == env.account and \
            (props.get("PeerRegion") or env.region) == env.region
        if same:  # within the account, CloudFormation accepts the connection itself
            await env.call("ec2", "AcceptVpcPeeringConnection",
                           {"VpcPeeringConnectionId": pcx})

            async def active():
                found = await _one(env, "DescribeVpcPeeringConnections",
                                   "VpcPeeringConnections", {"VpcPeeringConnectionIds": [pcx]})
                code = found["Status"]["Code"]
                if code in ("failed", "rejected", "expired", "deleted"):
                    raise HandlerError(found["Status"].get("Message") or code)
                return found if code == "active" else None

            await env.wait(active, "VPC peering connection active")
        return pcx, {"Id": pcx}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteVpcPeeringConnection",
                                      {"VpcPeeringConnectionId": physical_id}))


class FlowLog(Handler):
    type_name = "AWS::EC2::FlowLog"

    async def create(self, env, props):
        params = {"ResourceIds": [props["ResourceId"]], "ResourceType": props["ResourceType"],
                  **{k: props[k] for k in ("TrafficType", "LogDestinationType",
                                           "LogDestination", "LogGroupName",
                                           "DeliverLogsPermissionArn", "LogFormat",
                                           "MaxAggregationInterval", "DestinationOptions")
                     if props.get(k) is not None},
                  **_spec("vpc-flow-log", props)}
        out = await env.call("ec2", "CreateFlowLogs", params)
        if out.get("Unsuccessful"):
            error = out["Unsuccessful"][0].get("Error") or {}
            raise HandlerError(error.get("Message") or "The flow log could not be created")
        flow_log = out["FlowLogIds"][0]
        return flow_log, {"Id": flow_log}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ec2", "DeleteFlowLogs", {"FlowLogIds": [physical_id]}))


HANDLERS = [Vpc, Subnet, InternetGateway, VpcGatewayAttachment, RouteTable, Route,
            SubnetRouteTableAssociation, Eip, NatGateway, SecurityGroup, SecurityGroupIngress,
            SecurityGroupEgress, VpcEndpoint, NetworkAcl, NetworkAclEntry,
            SubnetNetworkAclAssociation, VpcPeeringConnection, FlowLog]
