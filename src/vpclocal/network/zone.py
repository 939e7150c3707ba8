"""What a VPC's resolver (AmazonProvidedDNS) answers: names over a store view.

zone(view, vpc_id) reads one region's records into the Zone that VPC's resolver answers from,
and Zone.lookup(name) answers one name: the RDS instance / RDS Proxy / ElastiCache endpoints
(any record of ENDPOINT_KINDS with `_Hostname` and `_Address`: its ENI's private address,
from every VPC, as their public Route 53 records do on AWS), interface VPC endpoints (their
vpce names from every VPC, and, with private DNS, the service's own name from their VPC),
`ip-a-b-c-d.ec2.internal` (or `.<region>.compute.internal`) for the VPC's addresses and their
PTR records, and the public names of the simulated internet (names.py). Anything else is
NXDOMAIN: the simulated internet has no other names. Pure functions: the fabric's resolvers
(fabric/dns.py) serve them on the wire, the reachability engine resolves names with them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from .names import ec2_internal_address, public_address

# Store kinds whose records name an endpoint: `_Hostname` -> `_Address` (services/rds,
# services/elasticache).
ENDPOINT_KINDS = ("db_instances", "db_proxies", "cache_clusters")
VPCE_SUFFIX = ".vpce.amazonaws.com"
GLOBAL = "global"  # the store scope of internet_hosts


def internal_domain(region: str) -> str:
    """The domain of private hostnames, and the search domain EC2 writes in resolv.conf."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def _name(text: str) -> str:
    return text.lower().rstrip(".")


@dataclass(frozen=True)
class Answer:
    addresses: tuple[str, ...] = ()  # A records
    ptr: str | None = None  # a PTR record's target


class _Ignore:
    def __repr__(self) -> str:
        return "IGNORE"


IGNORE = _Ignore()  # lookup result: send no reply
Result = Answer | None | _Ignore
Lookup = Callable[[str], Result]


@dataclass
class Zone:
    """What one VPC's resolver answers (see zone())."""

    enabled: bool = True
    domain: str = "ec2.internal"
    networks: tuple[ipaddress.IPv4Network, ...] = ()  # the VPC's CIDR blocks
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    wildcards: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "*.x": under "x"
    declared: dict[str, str] = field(default_factory=dict)  # internet_hosts

    def lookup(self, name: str) -> Result:
        if not self.enabled:
            return IGNORE
        name = _name(name)
        if name.endswith(".in-addr.arpa"):
            return self._reverse(name)
        found = self.names.get(name)
        if found is None:
            labels = name.split(".")
            for i in range(1, len(labels)):
                found = self.wildcards.get(".".join(labels[i:]))
                if found is not None:
                    break
        if found is not None:
            return Answer(found)
        address = self._internal(name)
        if address is not None:
            return Answer((address,))
        address = public_address(name, self.declared)
        return Answer((address,)) if address is not None else None

    def _in_vpc(self, address: str) -> bool:
        value = ipaddress.IPv4Address(address)
        return any(value in net for net in self.networks)

    def _internal(self, name: str) -> str | None:
        """ip-a-b-c-d.<domain> for an address in the VPC's CIDR blocks (AWS answers these
        names for its VPC's addresses, used or not; not for another region's domain)."""
        if not name.endswith("." + self.domain) or name.count(".") != self.domain.count(".") + 1:
            return None
        address = ec2_internal_address(name)
        return address if address is not None and self._in_vpc(address) else None

    def _reverse(self, name: str) -> Result:
        parts = name[:-len(".in-addr.arpa")].split(".")
        try:
            address = str(ipaddress.IPv4Address(".".join(reversed(parts))))
        except ValueError:
            return None
        if not self._in_vpc(address):
            return None
        return Answer(ptr=f"ip-{address.replace('.', '-')}.{self.domain}")


def declared_hosts(view) -> dict[str, str]:
    """The user's public hosts (store scope "global", kind "internet_hosts")."""
    return {_name(h["Name"]): h["Address"] for h in view.all("internet_hosts", GLOBAL).values()
            if h.get("Name") and h.get("Address")}


def zone(view, vpc_id: str) -> Zone | None:
    """The zone of a VPC's resolver, from a view of the VPC's region (None: no such VPC)."""
    vpc = view.get("vpcs", vpc_id)
    if vpc is None:
        return None
    blocks = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet") or ()
              if (a.get("CidrBlockState") or {}).get("State") in ("associated", "associating")]
    z = Zone(enabled=bool(vpc.get("_EnableDnsSupport", True)),
             domain=internal_domain(view.scope),
             networks=tuple(ipaddress.IPv4Network(c) for c in blocks or [vpc["CidrBlock"]]),
             declared=declared_hosts(view))
    names: dict[str, list[str]] = {}

    def add(name: str, addresses) -> None:
        name = _name(name)
        if name.startswith("*."):
            # a wildcard's own name too (S3's private DNS covers s3.<region>.amazonaws.com)
            z.wildcards[name[2:]] = (*z.wildcards.get(name[2:], ()), *addresses)
            name = name[2:]
        names.setdefault(name, []).extend(a for a in addresses if a not in names.get(name, ()))

    for kind in ENDPOINT_KINDS:
        for record in view.all(kind).values():
            if record.get("_Hostname") and record.get("_Address"):
                add(record["_Hostname"], [record["_Address"]])
    for endpoint in view.all("vpc_endpoints").values():
        if endpoint.get("VpcEndpointType") != "Interface":
            continue
        addresses = []
        for eni_id in endpoint.get("NetworkInterfaceIds") or ():
            eni = view.get("network_interfaces", eni_id)
            if eni is not None and eni.get("PrivateIpAddress"):
                addresses.append(eni["PrivateIpAddress"])
        for entry in endpoint.get("DnsEntries") or ():
            dns_name = _name(entry.get("DnsName") or "")
            # vpce names are public records; the service's own name is private to the VPC
            if dns_name.endswith(VPCE_SUFFIX) or endpoint.get("VpcId") == vpc_id:
                add(dns_name, addresses)
    z.names = {name: tuple(addresses) for name, addresses in names.items() if addresses}
    return z


def public_lookup(declared: Callable[[], dict[str, str]]) -> Lookup:
    """Public names only (a network without a VPC, such as the Lambda service network's):
    `declared()` returns the user's public hosts at the time of each query."""
    def lookup(name: str) -> Result:
        address = public_address(name, declared())
        return Answer((address,)) if address is not None else None
    return lookup
