"""An index over a Topology, built once, so that each query costs microseconds.

Cheap global maps (who owns an address, which route table and ACL a subnet uses, which
interfaces carry a security group) are built eagerly in one pass over the records; the
expensive per-resource compilations (route tables, ACL entries, security group rules) happen
on first use and are cached. The index never changes the records it reads.
"""

from __future__ import annotations

from .addr import AddressError, cidr, in_cidr, ip
from .routing import RouteTable
from .rules import AclEntry, SgRule, compile_entries, compile_permissions
from .topology import Topology

Block = tuple[int, int, int]

AMAZON_DNS_LINK_LOCAL = ip("169.254.169.253")


def _ip_or_none(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return ip(text)
    except AddressError:
        return None


def _block_or_none(text: str | None) -> Block | None:
    if not text:
        return None
    try:
        return cidr(text)
    except AddressError:
        return None


_DEAD_CIDR_STATES = {"disassociated", "disassociating", "failed", "failing"}
_ATTACHED = {"available", "attached"}


class Index:
    def __init__(self, topology: Topology) -> None:
        self.topo = topology
        t = topology

        # VPCs and their CIDR blocks
        self.vpc_blocks: dict[str, list[Block]] = {}
        self.vpc_dns: dict[str, int] = {}
        for vpc_id, vpc in t.vpcs.items():
            blocks: list[Block] = []
            primary = _block_or_none(vpc.get("CidrBlock"))
            if primary:
                blocks.append(primary)
                self.vpc_dns[vpc_id] = primary[0] + 2
            for assoc in vpc.get("CidrBlockAssociationSet") or ():
                state = (assoc.get("CidrBlockState") or {}).get("State", "associated")
                block = _block_or_none(assoc.get("CidrBlock"))
                if block and block not in blocks and state not in _DEAD_CIDR_STATES:
                    blocks.append(block)
            self.vpc_blocks[vpc_id] = blocks

        # Subnets, looked up by address with one dict probe per distinct prefix length
        self.subnet_block: dict[str, Block] = {}
        self._vpc_subnets: dict[str, dict[int, dict[int, str]]] = {}
        self._vpc_subnet_plens: dict[str, list[int]] = {}
        for subnet_id, sub in t.subnets.items():
            block = _block_or_none(sub.get("CidrBlock"))
            if not block:
                continue
            self.subnet_block[subnet_id] = block
            self._vpc_subnets.setdefault(sub.get("VpcId", ""), {}).setdefault(block[2], {})[
                block[0]
            ] = subnet_id
        for vpc_id, by_plen in self._vpc_subnets.items():
            self._vpc_subnet_plens[vpc_id] = sorted(by_plen, reverse=True)

        # Route tables: main per VPC, explicit association per subnet
        self.main_rtb: dict[str, str] = {}
        self.subnet_rtb: dict[str, str] = {}
        for rtb_id, rtb in t.route_tables.items():
            for assoc in rtb.get("Associations") or ():
                state = (assoc.get("AssociationState") or {}).get("State", "associated")
                if state not in ("associated", "associating"):
                    continue
                if assoc.get("Main"):
                    self.main_rtb[rtb.get("VpcId", "")] = rtb_id
                elif assoc.get("SubnetId"):
                    self.subnet_rtb[assoc["SubnetId"]] = rtb_id
        self._rtb_cache: dict[str, RouteTable] = {}

        # Network ACLs: default per VPC, explicit association per subnet
        self.default_acl: dict[str, str] = {}
        self.subnet_acl: dict[str, str] = {}
        for acl_id, acl in t.network_acls.items():
            if acl.get("IsDefault"):
                self.default_acl.setdefault(acl.get("VpcId", ""), acl_id)
            for assoc in acl.get("Associations") or ():
                if assoc.get("SubnetId"):
                    self.subnet_acl[assoc["SubnetId"]] = acl_id
        self._acl_cache: dict[tuple[str, bool], list[AclEntry]] = {}

        # Prefix lists
        self.pl_blocks: dict[str, list[Block]] = {}
        self.pl_cidrs: dict[str, list[str]] = {}
        self.pl_by_name: dict[str, str] = {}
        for pl_id, pl in t.prefix_lists.items():
            texts = [e.get("Cidr") for e in pl.get("Entries") or () if e.get("Cidr")]
            blocks = [b for b in (_block_or_none(c) for c in texts) if b]
            self.pl_blocks[pl_id] = blocks
            self.pl_cidrs[pl_id] = [c for c in texts if _block_or_none(c)]
            if pl.get("PrefixListName"):
                self.pl_by_name[pl["PrefixListName"]] = pl_id
        self._sg_cache: dict[tuple[str, bool], list[SgRule]] = {}

        # Network interfaces: addresses, groups, public addresses
        self.eni_by_ip: dict[tuple[str, int], str] = {}
        self.eni_ip: dict[str, int] = {}
        self.eni_groups: dict[str, frozenset[str]] = {}
        self.group_members: dict[str, list[str]] = {}
        self.public_of: dict[tuple[str, int], int] = {}  # (vpc, private) -> public
        self.public_owner: dict[int, tuple[str, int]] = {}  # public -> (vpc, private)
        for eni_id, eni in t.network_interfaces.items():
            vpc_id = eni.get("VpcId", "")
            primary = _ip_or_none(eni.get("PrivateIpAddress"))
            if primary is not None:
                self.eni_ip[eni_id] = primary
                self.eni_by_ip[(vpc_id, primary)] = eni_id
                pub = _ip_or_none((eni.get("Association") or {}).get("PublicIp"))
                if pub is not None:
                    self._public(vpc_id, primary, pub)
            for extra in eni.get("PrivateIpAddresses") or ():
                addr = _ip_or_none(extra.get("PrivateIpAddress"))
                if addr is None:
                    continue
                if primary is None:
                    primary = addr
                    self.eni_ip[eni_id] = addr
                self.eni_by_ip.setdefault((vpc_id, addr), eni_id)
                pub = _ip_or_none((extra.get("Association") or {}).get("PublicIp"))
                if pub is not None:
                    self._public(vpc_id, addr, pub)
            groups = frozenset(g["GroupId"] for g in eni.get("Groups") or () if g.get("GroupId"))
            self.eni_groups[eni_id] = groups
            for g in groups:
                self.group_members.setdefault(g, []).append(eni_id)
        for alloc in t.addresses.values():
            pub = _ip_or_none(alloc.get("PublicIp"))
            eni = t.network_interfaces.get(alloc.get("NetworkInterfaceId") or "")
            if pub is None or eni is None:
                continue
            private = _ip_or_none(alloc.get("PrivateIpAddress")) or self.eni_ip.get(
                eni["NetworkInterfaceId"]
            )
            if private is not None:
                self._public(eni.get("VpcId", ""), private, pub)

        # NAT gateways
        self.nat_ip: dict[str, int] = {}
        self.nat_by_ip: dict[tuple[str, int], str] = {}
        for nat_id, nat in t.nat_gateways.items():
            vpc_id = nat.get("VpcId", "")
            for a in nat.get("NatGatewayAddresses") or ():
                private = _ip_or_none(a.get("PrivateIp"))
                if private is None:
                    continue
                self.nat_ip.setdefault(nat_id, private)
                self.nat_by_ip[(vpc_id, private)] = nat_id
                pub = _ip_or_none(a.get("PublicIp"))
                if pub is not None:
                    self._public(vpc_id, private, pub)

        # Internet gateways
        self.igw_vpcs: dict[str, set[str]] = {}
        self.vpc_igw: dict[str, str] = {}
        for igw_id, igw in t.internet_gateways.items():
            vpcs = {
                a.get("VpcId")
                for a in igw.get("Attachments") or ()
                if a.get("VpcId") and str(a.get("State", "available")).lower() in _ATTACHED
            }
            self.igw_vpcs[igw_id] = vpcs
            for v in vpcs:
                self.vpc_igw.setdefault(v, igw_id)

        # Peering connections
        self.pcx_vpcs: dict[str, tuple[str, str]] = {}
        self.pcx_between: dict[frozenset[str], list[str]] = {}
        for pcx_id, pcx in t.vpc_peering_connections.items():
            a = (pcx.get("RequesterVpcInfo") or {}).get("VpcId", "")
            b = (pcx.get("AccepterVpcInfo") or {}).get("VpcId", "")
            self.pcx_vpcs[pcx_id] = (a, b)
            self.pcx_between.setdefault(frozenset((a, b)), []).append(pcx_id)

        # Interface endpoints are reached through their network interfaces
        self.endpoint_enis: dict[str, list[str]] = {
            vpce_id: list(ep.get("NetworkInterfaceIds") or ())
            for vpce_id, ep in t.vpc_endpoints.items()
        }

    def _public(self, vpc_id: str, private: int, public: int) -> None:
        self.public_of[(vpc_id, private)] = public
        self.public_owner[public] = (vpc_id, private)

    # ---- lookups -------------------------------------------------------------------------

    def subnet_for(self, vpc_id: str, address: int) -> str | None:
        by_plen = self._vpc_subnets.get(vpc_id)
        if not by_plen:
            return None
        for plen in self._vpc_subnet_plens[vpc_id]:
            hit = by_plen[plen].get(address & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF))
            if hit is not None:
                return hit
        return None

    def in_vpc(self, vpc_id: str, address: int) -> bool:
        return any(address & m == net for net, m, _ in self.vpc_blocks.get(vpc_id, ()))

    def vpc_of_address(self, address: int) -> list[str]:
        return [v for v, blocks in self.vpc_blocks.items() if any(in_cidr(address, b) for b in blocks)]

    def rtb_id_for_subnet(self, subnet_id: str) -> str | None:
        rtb = self.subnet_rtb.get(subnet_id)
        if rtb is None:
            sub = self.topo.subnets.get(subnet_id)
            rtb = self.main_rtb.get(sub.get("VpcId", "")) if sub else None
        return rtb

    def route_table(self, rtb_id: str) -> RouteTable | None:
        table = self._rtb_cache.get(rtb_id)
        if table is None:
            rec = self.topo.route_tables.get(rtb_id)
            if rec is None:
                return None
            table = self._rtb_cache[rtb_id] = RouteTable(rec, lambda pl: self.pl_cidrs.get(pl, ()))
        return table

    def acl_id_for_subnet(self, subnet_id: str) -> str | None:
        acl = self.subnet_acl.get(subnet_id)
        if acl is None:
            sub = self.topo.subnets.get(subnet_id)
            acl = self.default_acl.get(sub.get("VpcId", "")) if sub else None
        return acl

    def acl_entries(self, acl_id: str, egress: bool) -> list[AclEntry]:
        key = (acl_id, egress)
        entries = self._acl_cache.get(key)
        if entries is None:
            rec = self.topo.network_acls.get(acl_id) or {}
            entries = self._acl_cache[key] = compile_entries(rec.get("Entries") or (), egress)
        return entries

    def sg_rules(self, group_id: str, egress: bool) -> list[SgRule]:
        key = (group_id, egress)
        rules = self._sg_cache.get(key)
        if rules is None:
            rec = self.topo.security_groups.get(group_id) or {}
            perms = rec.get("IpPermissionsEgress" if egress else "IpPermissions") or ()
            rules = self._sg_cache[key] = compile_permissions(group_id, perms, egress)
        return rules

    def in_prefix_list(self, pl_id: str, address: int) -> bool:
        return any(address & m == net for net, m, _ in self.pl_blocks.get(pl_id, ()))

    def service_prefix_list(self, address: int) -> str | None:
        """The AWS-managed prefix list (com.amazonaws.*) containing an address, if any."""
        for name, pl_id in self.pl_by_name.items():
            if name.startswith("com.amazonaws.") and self.in_prefix_list(pl_id, address):
                return pl_id
        return None

    def owner_in_vpc(self, vpc_id: str, address: int) -> tuple[str, str] | None:
        """What holds a private address in a VPC: ('eni', id) / ('nat', id) / ('dns', vpc)."""
        nat = self.nat_by_ip.get((vpc_id, address))
        if nat is not None:  # before its requester-managed interface
            return "nat", nat
        eni = self.eni_by_ip.get((vpc_id, address))
        if eni is not None:
            return "eni", eni
        if address == self.vpc_dns.get(vpc_id) or address == AMAZON_DNS_LINK_LOCAL:
            return "dns", vpc_id
        return None
