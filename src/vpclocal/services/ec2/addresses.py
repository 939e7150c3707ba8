"""Elastic IP addresses, handed out from the simulated internet's documentation range."""

from __future__ import annotations

import ipaddress

from vpclocal.errors import ServiceError
from vpclocal.ids import resource_id
from vpclocal.network.addr import LAMBDA_SERVICE_PUBLIC_IP
from vpclocal.services.ec2.common import get
from vpclocal.services.ec2.errors import invalid
from vpclocal.services.ec2.internet_gateways import attached_gateway
from vpclocal.services.ec2.query import describe, tags_for

# Elastic IPs come from TEST-NET-1 (RFC 5737), apart from the simulated internet's hosts
# (198.51.100.0/24, 203.0.113.0/24), so an EIP never collides with a public host's address.
# Shared by every region: a registry in the "global" scope hands each address out once.
PUBLIC_RANGE = ipaddress.IPv4Network("192.0.2.0/24")

ADDRESS_FILTERS = {
    "allocation-id": "AllocationId",
    "association-id": "AssociationId",
    "domain": "Domain",
    "instance-id": "InstanceId",
    "network-border-group": "NetworkBorderGroup",
    "network-interface-id": "NetworkInterfaceId",
    "network-interface-owner-id": "NetworkInterfaceOwnerId",
    "private-ip-address": "PrivateIpAddress",
    "public-ip": "PublicIp",
    "public-ipv4-pool": "PublicIpv4Pool",
}

# Address fields that describe its association with an interface.
ASSOCIATION_KEYS = ("AssociationId", "NetworkInterfaceId", "NetworkInterfaceOwnerId",
                    "PrivateIpAddress")

NO_PERMISSION = "You do not have permission to access the specified resource."


def allocate_public_ip(tx, owner: str, wanted: str | None = None) -> str:
    """A free public address, the lowest after the last one handed out (round robin), so a
    released address is not handed out again soon."""
    hosts = [str(h) for h in PUBLIC_RANGE.hosts() if str(h) != LAMBDA_SERVICE_PUBLIC_IP]
    if wanted is not None:
        if wanted not in hosts or tx.get("public_ips", wanted, scope="global") is not None:
            raise ServiceError("The requested IP address does not exist or is unavailable",
                               code="InvalidAddressID.NotFound")
        chosen = wanted
    else:
        cursor = (tx.get("meta", "public_ip_cursor", scope="global") or {"next": 0})["next"]
        order = hosts[cursor:] + hosts[:cursor]
        chosen = next((ip for ip in order
                       if tx.get("public_ips", ip, scope="global") is None), None)
        if chosen is None:
            raise ServiceError("The maximum number of addresses has been reached.",
                               code="AddressLimitExceeded")
        tx.put("meta", "public_ip_cursor", {"next": hosts.index(chosen) + 1}, scope="global")
    tx.put("public_ips", chosen, {"Owner": owner}, scope="global")
    return chosen


def release_public_ip(tx, ip: str) -> None:
    tx.delete("public_ips", ip, scope="global")


def public_dns_name(ip: str, region: str) -> str:
    dashed = "ec2-" + ip.replace(".", "-")
    return (f"{dashed}.compute-1.amazonaws.com" if region == "us-east-1"
            else f"{dashed}.{region}.compute.amazonaws.com")


def associate(tx, ctx, allocation_id: str, eni_id: str, private_ip: str) -> str:
    """Map an Elastic IP to one private address of an interface; returns the association id."""
    assoc_id = resource_id("eipassoc")
    address = tx.edit("addresses", allocation_id)
    address.update(AssociationId=assoc_id, NetworkInterfaceId=eni_id,
                   NetworkInterfaceOwnerId=ctx.account_id, PrivateIpAddress=private_ip)
    eni = tx.edit("network_interfaces", eni_id)
    association = {"AllocationId": allocation_id, "AssociationId": assoc_id,
                   "IpOwnerId": ctx.account_id, "PublicIp": address["PublicIp"]}
    vpc = tx.get("vpcs", eni["VpcId"])
    if vpc and vpc.get("_EnableDnsHostnames"):
        association["PublicDnsName"] = public_dns_name(address["PublicIp"], ctx.region)
    if eni["PrivateIpAddress"] == private_ip:
        eni["Association"] = association
    for entry in eni.get("PrivateIpAddresses", []):
        if entry["PrivateIpAddress"] == private_ip:
            entry["Association"] = association
    return assoc_id


def disassociate(tx, allocation_id: str) -> None:
    address = tx.edit("addresses", allocation_id)
    eni_id = address.get("NetworkInterfaceId")
    for key in ASSOCIATION_KEYS:
        address.pop(key, None)
    if eni_id and tx.get("network_interfaces", eni_id) is not None:
        eni = tx.edit("network_interfaces", eni_id)
        for holder in [eni, *eni.get("PrivateIpAddresses", [])]:
            if holder.get("Association", {}).get("AllocationId") == allocation_id:
                del holder["Association"]


def _service_managed(tx, address: dict) -> bool:
    """Associated with an interface AWS manages (a NAT gateway's): off limits to the user."""
    eni = tx.get("network_interfaces", address.get("NetworkInterfaceId") or "")
    return bool(eni and eni.get("RequesterManaged"))


def _by_public_ip(tx, ip: str) -> dict:
    found = next((a for a in tx.all("addresses").values() if a["PublicIp"] == ip), None)
    if found is None:
        raise ServiceError(f"Address '{ip}' not found.", code="InvalidAddress.NotFound")
    return found


class AddressOperations:
    def allocate_address(self, ctx, p):
        allocation_id = resource_id("eipalloc")
        ip = allocate_public_ip(ctx.tx, allocation_id, p.get("Address"))
        record = {"PublicIp": ip, "AllocationId": allocation_id, "Domain": "vpc",
                  "PublicIpv4Pool": "amazon", "NetworkBorderGroup": ctx.region,
                  "Tags": tags_for(p, "elastic-ip")}
        ctx.tx.put("addresses", allocation_id, record)
        return {key: record[key] for key in ("PublicIp", "AllocationId", "Domain",
                                             "PublicIpv4Pool", "NetworkBorderGroup")}

    def describe_addresses(self, ctx, p):
        addresses, _ = describe(ctx.tx, "addresses", p, ids_param="AllocationIds",
                                filters=ADDRESS_FILTERS, page=False)
        ips = p.get("PublicIps") or []
        if ips:
            for ip in ips:
                _by_public_ip(ctx.tx, ip)
            addresses = [a for a in addresses if a["PublicIp"] in ips]
        return {"Addresses": addresses}

    def release_address(self, ctx, p):
        tx = ctx.tx
        if not p.get("AllocationId"):
            if p.get("PublicIp"):
                raise invalid("You must specify an allocation id when releasing a VPC elastic "
                              "IP address")
            raise invalid("The request must contain the parameter AllocationId",
                          code="MissingParameter")
        address = get(tx, "addresses", p["AllocationId"])
        if address.get("AssociationId"):
            if _service_managed(tx, address):
                raise ServiceError(NO_PERMISSION, code="AuthFailure")
            raise ServiceError(f"Address {address['PublicIp']} is in use.",
                               code="InvalidIPAddress.InUse")
        release_public_ip(tx, address["PublicIp"])
        tx.delete("addresses", address["AllocationId"])
        return {}

    def associate_address(self, ctx, p):
        tx = ctx.tx
        if p.get("AllocationId"):
            address = get(tx, "addresses", p["AllocationId"])
        elif p.get("PublicIp"):
            address = _by_public_ip(tx, p["PublicIp"])
        else:
            raise invalid("Either public IP or allocation id must be specified",
                          code="MissingParameter")
        if p.get("InstanceId"):
            raise ServiceError(f"The instance ID '{p['InstanceId']}' does not exist",
                               code="InvalidInstanceID.NotFound")
        if not p.get("NetworkInterfaceId"):
            raise invalid("Either instance ID or network interface id must be specified",
                          code="MissingParameter")
        eni = get(tx, "network_interfaces", p["NetworkInterfaceId"])
        eni_id = eni["NetworkInterfaceId"]
        if eni.get("RequesterManaged") or _service_managed(tx, address):
            raise ServiceError(NO_PERMISSION, code="AuthFailure")
        private_ip = p.get("PrivateIpAddress") or eni["PrivateIpAddress"]
        if private_ip not in [a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", [])]:
            raise invalid(f"The specified private IP address {private_ip} does not belong to "
                          f"the network interface {eni_id}")
        if attached_gateway(tx, eni["VpcId"]) is None:
            raise ServiceError(f"Network {eni['VpcId']} is not attached to any internet "
                               "gateway", code="Gateway.NotAttached")
        allocation_id = address["AllocationId"]
        if address.get("AssociationId"):
            if (address.get("NetworkInterfaceId"), address.get("PrivateIpAddress")) == (
                    eni_id, private_ip):
                return {"AssociationId": address["AssociationId"]}
            if not p.get("AllowReassociation"):
                raise ServiceError(f"resource {allocation_id} is already associated with "
                                   f"associate-id {address['AssociationId']}",
                                   code="Resource.AlreadyAssociated")
            disassociate(tx, allocation_id)
        # An address already mapped to that private IP is replaced (and stays allocated).
        for other in tx.all("addresses").values():
            if (other.get("NetworkInterfaceId"), other.get("PrivateIpAddress")) == (
                    eni_id, private_ip):
                disassociate(tx, other["AllocationId"])
        return {"AssociationId": associate(tx, ctx, allocation_id, eni_id, private_ip)}

    def disassociate_address(self, ctx, p):
        tx = ctx.tx
        if p.get("AssociationId"):
            address = next((a for a in tx.all("addresses").values()
                            if a.get("AssociationId") == p["AssociationId"]), None)
            if address is None:
                raise ServiceError(f"The association ID '{p['AssociationId']}' does not exist",
                                   code="InvalidAssociationID.NotFound")
        elif p.get("PublicIp"):
            address = _by_public_ip(tx, p["PublicIp"])
            if not address.get("AssociationId"):
                return {}
        else:
            raise invalid("Either public IP or association id must be specified",
                          code="MissingParameter")
        if _service_managed(tx, address):
            raise ServiceError(NO_PERMISSION, code="AuthFailure")
        disassociate(tx, address["AllocationId"])
        return {}
