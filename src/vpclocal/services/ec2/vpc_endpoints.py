"""VPC endpoints: private paths to AWS services.

Gateway endpoints (S3, DynamoDB) are routes to the service's prefix list in chosen route
tables; interface endpoints are one requester-managed interface per chosen subnet, whose
addresses the service's public name resolves to when private DNS is enabled.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import time

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.services.ec2.common import edit, get
from vpclocal.services.ec2.defaults import GATEWAY_SERVICES, prefix_list_id
from vpclocal.services.ec2.errors import check_id, invalid
from vpclocal.services.ec2.network_interfaces import (
    create_interface,
    default_group,
    delete_interface,
    resolve_groups,
)
from vpclocal.services.ec2.query import check_filters, describe, matches, paginate, tags_for
from vpclocal.services.ec2.route_tables import refresh_route_states
from vpclocal.services.ec2.zones import zone_id, zone_names

# Services reachable through an interface endpoint (com.amazonaws.<region>.<name>).
INTERFACE_SERVICES = (
    "cloudformation", "dynamodb", "ec2", "ec2messages", "ecr.api", "ecr.dkr", "elasticache",
    "elasticloadbalancing", "events", "execute-api", "fis", "kinesis-streams", "kms", "lambda",
    "logs", "monitoring", "rds", "s3", "scheduler", "secretsmanager", "sns", "sqs", "ssm",
    "ssmmessages", "states", "sts", "xray",
)

# Private DNS names that are not "<name>.<region>.amazonaws.com"; None: the service has none.
PRIVATE_DNS = {
    "s3": "*.s3.{region}.amazonaws.com",
    "dynamodb": None,
    "ecr.api": "api.ecr.{region}.amazonaws.com",
    "ecr.dkr": "*.dkr.ecr.{region}.amazonaws.com",
    "execute-api": "*.execute-api.{region}.amazonaws.com",
}

# Interface endpoints of these turn private DNS on only when asked to.
PRIVATE_DNS_OPT_IN = {"s3"}

# Route 53 zone of the regional "*.vpce.amazonaws.com" names (us-east-1's is AWS's; others
# are derived).
VPCE_HOSTED_ZONES = {"us-east-1": "Z7HUB22UULQXV"}

FULL_ACCESS_POLICY = ('{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
                      '"Action":"*","Resource":"*"}]}')

ENDPOINT_FILTERS = {
    "ip-address-type": "IpAddressType",
    "service-name": "ServiceName",
    "service-region": "ServiceRegion",
    "vpc-endpoint-id": "VpcEndpointId",
    "vpc-endpoint-state": "State",
    "vpc-endpoint-type": "VpcEndpointType",
    "vpc-id": "VpcId",
}

SERVICE_FILTERS = {
    "owner": "Owner",
    "service-name": "ServiceName",
    "service-region": "ServiceRegion",
    "service-type": "ServiceType.ServiceType",
    "supported-ip-address-types": "SupportedIpAddressTypes",
}


def endpoint_policy(view, region: str, vpce_id: str) -> str | None:
    """The policy document of a VPC endpoint (as DescribeVpcEndpoints answers it: the full
    access policy unless one was given), or None when there is no such endpoint.

    Reads scope `region` (the endpoint's region) whatever scope `view` (a store View or an
    open Transaction) was opened on: no transaction needed.
    """
    endpoint = view.get("vpc_endpoints", vpce_id, scope=region)
    return endpoint["PolicyDocument"] if endpoint else None


def _check_policy(text: str) -> str:
    """A PolicyDocument EC2 accepts: JSON text, else InvalidPolicyDocument naming the
    (line, column) where parsing failed."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(f"The Policy Document is not valid. Syntax error at position "
                           f"({exc.lineno},{exc.colno})", code="InvalidPolicyDocument") from None
    return text


def _hash(text: str, size: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:size]


def service_types(short: str) -> list[str]:
    types = ["Gateway"] if short in GATEWAY_SERVICES else []
    return types + (["Interface"] if short in INTERFACE_SERVICES else [])


def private_dns_name(short: str, region: str) -> str | None:
    template = PRIVATE_DNS.get(short, "{name}.{region}.amazonaws.com")
    return template and template.format(name=short, region=region)


def vpce_hosted_zone(region: str) -> str:
    return VPCE_HOSTED_ZONES.get(region) or "Z" + _hash(region, 12).upper()


def service_details(region: str) -> list[dict]:
    details = []
    for short in sorted(set(GATEWAY_SERVICES) | set(INTERFACE_SERVICES)):
        name = f"com.amazonaws.{region}.{short}"
        for kind in service_types(short):
            detail = {
                "ServiceName": name, "ServiceId": "vpce-svc-" + _hash(f"{name}/{kind}", 17),
                "ServiceType": [{"ServiceType": kind}], "ServiceRegion": region,
                "AvailabilityZones": zone_names(region),
                "AvailabilityZoneIds": [zone_id(z) for z in zone_names(region)],
                "Owner": "amazon", "VpcEndpointPolicySupported": True,
                "AcceptanceRequired": False, "ManagesVpcEndpoints": False,
                "SupportedIpAddressTypes": ["ipv4"], "Tags": [],
            }
            if kind == "Gateway":
                detail["BaseEndpointDnsNames"] = [f"{short}.{region}.amazonaws.com"]
            else:
                detail["BaseEndpointDnsNames"] = [f"{short}.{region}.vpce.amazonaws.com"]
                private = private_dns_name(short, region)
                if private:
                    detail.update(PrivateDnsName=private,
                                  PrivateDnsNames=[{"PrivateDnsName": private}],
                                  PrivateDnsNameVerificationState="verified")
            details.append(detail)
    return details


def _short_name(name: str, region: str) -> str | None:
    prefix = f"com.amazonaws.{region}."
    return name[len(prefix):] if name.startswith(prefix) else None


def _dns_entries(tx, endpoint: dict, region: str) -> list[dict]:
    """Regional and zonal vpce names, plus the service's own name with private DNS."""
    if endpoint["VpcEndpointType"] != "Interface":
        return []
    short, zone = endpoint["_Service"], vpce_hosted_zone(region)
    base = f"{endpoint['VpcEndpointId']}-{endpoint['_DnsLabel']}"
    suffix = f"{short}.{region}.vpce.amazonaws.com"
    entries = [{"DnsName": f"{base}.{suffix}", "HostedZoneId": zone}]
    zones = sorted({tx.get("subnets", s)["AvailabilityZone"] for s in endpoint["SubnetIds"]})
    entries += [{"DnsName": f"{base}-{az}.{suffix}", "HostedZoneId": zone} for az in zones]
    if endpoint["PrivateDnsEnabled"]:
        entries.append({"DnsName": private_dns_name(short, region),
                        "HostedZoneId": endpoint["_PrivateHostedZoneId"]})
    return entries


def _add_route(tx, endpoint: dict, rtb_id: str) -> None:
    table = get(tx, "route_tables", rtb_id)
    if table["VpcId"] != endpoint["VpcId"]:
        # Wording unconfirmed.
        raise invalid(f"The route table {rtb_id} does not belong to {endpoint['VpcId']}",
                      code="InvalidParameter")
    pl_id = prefix_list_id(endpoint["_Service"], endpoint["_Region"])
    if any(r.get("DestinationPrefixListId") == pl_id for r in table["Routes"]):
        raise ServiceError(f"route table {rtb_id} already has a route with "
                           f"destination-prefix-list-id {pl_id}", code="RouteAlreadyExists")
    tx.edit("route_tables", rtb_id)["Routes"].append({
        "DestinationPrefixListId": pl_id, "GatewayId": endpoint["VpcEndpointId"],
        "Origin": "CreateRoute", "State": "active"})
    endpoint["RouteTableIds"].append(rtb_id)


def _remove_route(tx, endpoint: dict, rtb_id: str) -> None:
    if rtb_id not in endpoint["RouteTableIds"]:
        return
    if tx.get("route_tables", rtb_id) is not None:
        rec = tx.edit("route_tables", rtb_id)
        rec["Routes"] = [r for r in rec["Routes"]
                         if r.get("GatewayId") != endpoint["VpcEndpointId"]]
    endpoint["RouteTableIds"].remove(rtb_id)


def _add_subnets(tx, ctx, endpoint: dict, subnet_ids: list[str]) -> None:
    """One interface per subnet, at most one subnet per availability zone."""
    zones = {tx.get("subnets", s)["AvailabilityZone"] for s in endpoint["SubnetIds"]}
    for subnet_id in subnet_ids:
        subnet = get(tx, "subnets", subnet_id)
        if subnet["VpcId"] != endpoint["VpcId"]:
            # Wording unconfirmed.
            raise invalid(f"The subnet ID '{subnet_id}' does not belong to VPC "
                          f"'{endpoint['VpcId']}'", code="InvalidParameter")
        if subnet["AvailabilityZone"] in zones:
            raise ServiceError(
                f"Found another VPC endpoint subnet in the availability zone of {subnet_id}. "
                "VPC endpoint subnets should be in different availability zones supported by "
                "the VPC endpoint service.", code="DuplicateSubnetsInSameZone")
        zones.add(subnet["AvailabilityZone"])
        eni = create_interface(
            tx, ctx, subnet_id, group_ids=[g["GroupId"] for g in endpoint["Groups"]],
            interface_type="vpc_endpoint", requester_managed=True, status="in-use",
            description=f"VPC Endpoint Interface {endpoint['VpcEndpointId']}")
        endpoint["SubnetIds"].append(subnet_id)
        endpoint["NetworkInterfaceIds"].append(eni["NetworkInterfaceId"])


def _remove_subnets(tx, endpoint: dict, subnet_ids: list[str]) -> None:
    for eni_id in list(endpoint["NetworkInterfaceIds"]):
        eni = tx.get("network_interfaces", eni_id)
        if eni is None or eni["SubnetId"] in subnet_ids:
            delete_interface(tx, eni_id)
            endpoint["NetworkInterfaceIds"].remove(eni_id)
    endpoint["SubnetIds"] = [s for s in endpoint["SubnetIds"] if s not in subnet_ids]


def _check_private_dns(tx, endpoint: dict) -> None:
    vpc = tx.get("vpcs", endpoint["VpcId"])
    if not (vpc["_EnableDnsSupport"] and vpc["_EnableDnsHostnames"]):
        raise invalid("Enabling private DNS requires both enableDnsSupport and "
                      f"enableDnsHostnames VPC attributes set to true for {vpc['VpcId']}",
                      code="InvalidParameter")
    name = private_dns_name(endpoint["_Service"], endpoint["_Region"])
    for other in tx.all("vpc_endpoints").values():
        if (other["VpcEndpointId"] != endpoint["VpcEndpointId"]
                and other["VpcId"] == endpoint["VpcId"]
                and other["ServiceName"] == endpoint["ServiceName"]
                and other.get("PrivateDnsEnabled")):
            raise invalid("private-dns-enabled cannot be set because there is already a "
                          f"conflicting DNS domain for {name} in the VPC {endpoint['VpcId']}",
                          code="InvalidParameter")


def _set_groups(tx, endpoint: dict, groups: list[dict]) -> None:
    endpoint["Groups"] = groups
    for eni_id in endpoint["NetworkInterfaceIds"]:
        if tx.get("network_interfaces", eni_id) is not None:
            tx.edit("network_interfaces", eni_id)["Groups"] = list(groups)


def _wrong_type(what: str, kind: str) -> ServiceError:
    # Wording unconfirmed.
    return invalid(f"{what} are not supported for {kind} type VPC endpoints",
                   code="InvalidParameter")


class VpcEndpointOperations:
    def create_vpc_endpoint(self, ctx, p):
        tx = ctx.tx
        vpc = get(tx, "vpcs", p["VpcId"])
        kind = p.get("VpcEndpointType") or "Gateway"
        name = p.get("ServiceName")
        if not name:
            raise invalid("The request must contain the parameter ServiceName",
                          code="MissingParameter")
        short = _short_name(name, ctx.region)
        types = service_types(short) if short else []
        if not types:
            raise ServiceError(f"The Vpc Endpoint Service '{name}' does not exist",
                               code="InvalidServiceName")
        if kind not in types:
            # Wording unconfirmed.
            raise invalid(f"The Vpc Endpoint Service '{name}' does not support endpoint type "
                          f"'{kind}'", code="InvalidParameter")
        vpce_id = resource_id("vpce")
        endpoint = {
            "VpcEndpointId": vpce_id, "VpcEndpointType": kind, "VpcId": vpc["VpcId"],
            "ServiceName": name, "State": "available",
            "PolicyDocument": _check_policy(p["PolicyDocument"]) if p.get("PolicyDocument")
            else FULL_ACCESS_POLICY,
            "RouteTableIds": [], "SubnetIds": [], "Groups": [], "PrivateDnsEnabled": False,
            "RequesterManaged": False, "NetworkInterfaceIds": [], "DnsEntries": [],
            "CreationTimestamp": time.time(), "Tags": tags_for(p, "vpc-endpoint"),
            "OwnerId": ctx.account_id, "ServiceRegion": ctx.region,
            "_Service": short, "_Region": ctx.region,
        }
        if kind == "Gateway":
            if p.get("SubnetIds") or p.get("SecurityGroupIds"):
                raise _wrong_type("Subnets and security groups", kind)
            if p.get("PrivateDnsEnabled"):
                raise _wrong_type("Private DNS names", kind)
            for rtb_id in p.get("RouteTableIds") or []:
                _add_route(tx, endpoint, rtb_id)
        else:
            if p.get("RouteTableIds"):
                raise _wrong_type("Route tables", kind)
            label = "".join(secrets.choice(string.ascii_lowercase + string.digits)
                            for _ in range(8))
            endpoint.update(IpAddressType="ipv4", DnsOptions={"DnsRecordIpType": "ipv4"},
                            _DnsLabel=label, _PrivateHostedZoneId="Z" + secrets.token_hex(10)
                            .upper())
            wanted = p.get("PrivateDnsEnabled")
            has_name = private_dns_name(short, ctx.region) is not None
            endpoint["PrivateDnsEnabled"] = has_name and (
                wanted if wanted is not None else short not in PRIVATE_DNS_OPT_IN)
            if endpoint["PrivateDnsEnabled"]:
                _check_private_dns(tx, endpoint)
            group_ids = p.get("SecurityGroupIds")
            endpoint["Groups"] = (resolve_groups(tx, vpc["VpcId"], group_ids) if group_ids
                                  else default_group(tx, vpc["VpcId"]))
            _add_subnets(tx, ctx, endpoint, p.get("SubnetIds") or [])
            endpoint["DnsEntries"] = _dns_entries(tx, endpoint, ctx.region)
        tx.put("vpc_endpoints", vpce_id, endpoint)
        shown = dict(endpoint, State="pending") if kind == "Interface" else endpoint
        return {"VpcEndpoint": shown, "ClientToken": p.get("ClientToken")}

    def modify_vpc_endpoint(self, ctx, p):
        tx = ctx.tx
        endpoint = edit(tx, "vpc_endpoints", p["VpcEndpointId"])
        kind = endpoint["VpcEndpointType"]
        if kind == "Gateway":
            if any(p.get(k) for k in ("AddSubnetIds", "RemoveSubnetIds", "AddSecurityGroupIds",
                                      "RemoveSecurityGroupIds")):
                raise _wrong_type("Subnets and security groups", kind)
            if p.get("PrivateDnsEnabled"):
                raise _wrong_type("Private DNS names", kind)
            for rtb_id in p.get("RemoveRouteTableIds") or []:
                _remove_route(tx, endpoint, rtb_id)
            for rtb_id in p.get("AddRouteTableIds") or []:
                _add_route(tx, endpoint, rtb_id)
        else:
            if p.get("AddRouteTableIds") or p.get("RemoveRouteTableIds"):
                raise _wrong_type("Route tables", kind)
            groups = [g["GroupId"] for g in endpoint["Groups"]]
            groups += [g for g in p.get("AddSecurityGroupIds") or [] if g not in groups]
            groups = [g for g in groups if g not in (p.get("RemoveSecurityGroupIds") or [])]
            if not groups:
                # Wording unconfirmed: an interface endpoint keeps at least one group.
                raise invalid("An interface endpoint must have at least one security group",
                              code="InvalidParameter")
            _set_groups(tx, endpoint, resolve_groups(tx, endpoint["VpcId"], groups))
            _remove_subnets(tx, endpoint, p.get("RemoveSubnetIds") or [])
            _add_subnets(tx, ctx, endpoint, p.get("AddSubnetIds") or [])
            if p.get("PrivateDnsEnabled") is not None:
                wanted = bool(p["PrivateDnsEnabled"])
                if wanted and private_dns_name(endpoint["_Service"], ctx.region) is None:
                    raise invalid(f"Private DNS can't be enabled because the service "
                                  f"{endpoint['ServiceName']} does not provide a private DNS "
                                  "name.", code="InvalidParameter")
                endpoint["PrivateDnsEnabled"] = wanted
                if wanted:
                    _check_private_dns(tx, endpoint)
            endpoint["DnsEntries"] = _dns_entries(tx, endpoint, ctx.region)
        if p.get("ResetPolicy"):
            endpoint["PolicyDocument"] = FULL_ACCESS_POLICY
        elif p.get("PolicyDocument"):
            endpoint["PolicyDocument"] = _check_policy(p["PolicyDocument"])
        return {"Return": True}

    def delete_vpc_endpoints(self, ctx, p):
        tx = ctx.tx
        unsuccessful = []
        for vpce_id in p["VpcEndpointIds"]:
            try:
                check_id("vpc_endpoints", vpce_id)
                found = tx.get("vpc_endpoints", vpce_id) is not None
            except ServiceError:
                found = False
            if not found:
                # As AWS: a bulk delete reports each unknown id instead of failing.
                unsuccessful.append({"ResourceId": vpce_id, "Error": {
                    "Code": "InvalidVpcEndpoint.NotFound",
                    "Message": f"The VPC endpoint '{vpce_id}' does not exist"}})
                continue
            endpoint = tx.edit("vpc_endpoints", vpce_id)
            for rtb_id in list(endpoint["RouteTableIds"]):
                _remove_route(tx, endpoint, rtb_id)
            _remove_subnets(tx, endpoint, list(endpoint["SubnetIds"]))
            tx.delete("vpc_endpoints", vpce_id)
            refresh_route_states(tx, {endpoint["VpcId"]})  # hand-made routes to it go blackhole
        return {"Unsuccessful": unsuccessful}

    def describe_vpc_endpoints(self, ctx, p):
        endpoints, token = describe(ctx.tx, "vpc_endpoints", p, ids_param="VpcEndpointIds",
                                    filters=ENDPOINT_FILTERS)
        return {"VpcEndpoints": endpoints, "NextToken": token}

    def describe_vpc_endpoint_services(self, ctx, p):
        details = service_details(ctx.region)
        names = p.get("ServiceNames") or []
        for name in names:
            if not any(d["ServiceName"] == name for d in details):
                raise ServiceError(f"The Vpc Endpoint Service '{name}' does not exist",
                                   code="InvalidServiceName")
        if names:
            details = [d for d in details if d["ServiceName"] in names]
        flts = p.get("Filters") or []
        check_filters(flts, SERVICE_FILTERS, set())
        details = [d for d in details if matches(d, flts, SERVICE_FILTERS)]
        page, token = paginate(details, p, key=lambda d: f"{d['ServiceName']}/{d['ServiceId']}")
        return {"ServiceNames": sorted({d["ServiceName"] for d in page}),
                "ServiceDetails": page, "NextToken": token}
