"""The reachability engine: walk a flow hop by hop through the VPC model.

Forward: source security group egress -> source subnet ACL outbound -> source subnet route
table (longest prefix match) -> target (local delivery, internet gateway, NAT gateway, gateway
endpoint, peering connection, middlebox interface) -> ... -> destination subnet ACL inbound ->
destination security group ingress. Return: the reply walks back from the destination with
the addresses and ports swapped (the client's ephemeral ports as destination); security
groups are stateful and let it through, ACLs are stateless and are checked again, and the
routes on the way back must lead to where the request came from (NAT translations are undone
where they were made).

A walk does not stop at a block it can see past (a security group, an ACL, a missing public
address, a gateway in a bad state): it records an explanation and goes on, so a blocked
analysis still shows the whole path the traffic would take (the *blocked path*) and every
block on it. It stops where the next hop is undefined (no route, a blackhole, a loop).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from . import types as T
from .addr import cidr, in_cidr, ip_str, is_private
from .flows import (
    EPHEMERAL,
    Endpoint,
    Flow,
    Resolver,
    UnknownComponentError,
    make_flow,
    resolve,
)
from .index import Index
from .routing import ENI, IGW, LOCAL, NAT, PCX, VPCE, Route
from .rules import ANY, acl_allows, proto_name, proto_number, sg_allows
from .topology import Topology

__all__ = ["Engine", "UnknownComponentError", "analyze", "analyze_any"]

MAX_STEPS = 32


class _Packet:
    __slots__ = ("classes", "dports", "dst", "sports", "src")

    def __init__(self, src, dst, classes, sports, dports):
        self.src = src
        self.dst = dst
        self.classes = classes
        self.sports = sports
        self.dports = dports


class _Node:
    """Where a packet arrived: kind is eni | nat | dns | address | internet | service."""

    __slots__ = ("id", "ip", "kind", "subnet", "vpc")

    def __init__(self, kind, ident, vpc=None, subnet=None, address=None):
        self.kind = kind
        self.id = ident
        self.vpc = vpc
        self.subnet = subnet
        self.ip = address


class _Stop(Exception):
    """Raised in fast mode at the first block."""


class _Walk:
    def __init__(self, engine: Engine, src: Endpoint, dst: Endpoint, flow: Flow, *, trace: bool):
        self.ix = engine.index
        self.topo = engine.index.topo
        self.src = src
        self.dst = dst
        self.flow = flow
        self.trace = trace
        self.path = "forward"
        self.hops: list[T.Hop] = []
        self.forward: list[T.Hop] = []
        self.back: list[T.Hop] = []
        self.explanations: list[T.Explanation] = []
        self.blocked = False
        self.steps = 0
        # translated source address -> (kind, id, original address, original source ports)
        self.nat_table: dict[int, tuple[str, str, int, tuple[int, int]]] = {}
        # public (or stand-in) address -> (vpc, private, igw) for requests that left by an IGW
        self.igw_table: dict[int, tuple[str, int, str]] = {}
        self.visited: set[tuple[str, str, str]] = set()
        self.exit_igw: str | None = None
        self.endpoint_used: str | None = None
        self.middlebox: tuple[str, str] | None = None  # (eni, vpc) of the last forwarding ENI
        self.first_rtb: tuple[str, Route | None] | None = None
        self.internet_hosts = {e.ip for e in (src, dst) if e.kind == "internet"}
        self.internet_source: int | None = None

    # ---- recording ---------------------------------------------------------------------------

    def hop(self, ident, ctype, pkt=None, allowed=True, **kw) -> None:
        if not self.trace:
            return
        header = None
        if pkt is not None:
            cls = pkt.classes
            proto = cls[0][0] if len(cls) == 1 else ANY
            header = T.Header(ip_str(pkt.src), ip_str(pkt.dst), proto, pkt.sports, pkt.dports)
        self.hops.append(
            T.Hop(len(self.hops) + 1, ident, ctype, allowed=allowed, header=header, **kw)
        )

    def block(self, code, ident, ctype, message, **kw) -> None:
        self.blocked = True
        if not self.trace:
            raise _Stop
        if self.hops and self.hops[-1].component_id == ident:
            self.hops[-1].allowed = False
        self.explanations.append(
            T.Explanation(
                code,
                ident,
                ctype,
                message,
                path=self.path,
                direction=kw.pop("direction", None),
                rule=kw.pop("rule", None),
                route=kw.pop("route", None),
                hop=len(self.hops) or None,
                context={k: v for k, v in kw.items() if v is not None},
            )
        )

    # ---- checks -----------------------------------------------------------------------------

    def sg(self, eni_id: str, egress: bool, pkt: _Packet, peer_ip: int, peer_groups) -> None:
        groups = self.ix.eni_groups.get(eni_id)
        if not groups:
            return  # requester-managed interfaces (NAT gateways) have no security groups
        # in the interface's own order: the first group is the one a fix names
        listed = [g.get("GroupId") for g in self.topo.network_interfaces[eni_id].get("Groups") or ()]
        ordered = list(dict.fromkeys(g for g in listed if g in groups))
        lists = [self.ix.sg_rules(g, egress) for g in ordered]
        ok, rule = sg_allows(lists, peer_ip, peer_groups, self.ix.in_prefix_list, pkt.classes)
        direction = "egress" if egress else "ingress"
        if ok:
            self.hop(rule.group_id, T.SECURITY_GROUP, pkt, direction=direction,
                     rule=rule.describe() if self.trace else None, security_groups=ordered)
            return
        self.hop(ordered[0], T.SECURITY_GROUP, pkt, allowed=False, direction=direction,
                 security_groups=ordered)
        if not self.trace:
            self.block("", "", "", "")
        empty = not any(lists)
        names = ", ".join(ordered)
        peer = ip_str(peer_ip)
        what = self._traffic(pkt)
        if egress:
            msg = (f"no {direction} rule of {names} (of {eni_id}) allows {what} to {peer}"
                   + (f": {names} has no {direction} rules" if empty else ""))
        else:
            msg = (f"no {direction} rule of {names} (of {eni_id}) allows {what} from {peer}"
                   + (f": {names} has no {direction} rules" if empty else ""))
        self.block("ENI_SG_RULES_MISMATCH", ordered[0], T.SECURITY_GROUP, msg,
                   direction=direction, security_groups=ordered, network_interface_id=eni_id,
                   address=peer)

    def acl(self, subnet_id: str, egress: bool, pkt: _Packet) -> None:
        acl_id = self.ix.acl_id_for_subnet(subnet_id)
        if acl_id is None:
            return
        peer = pkt.dst if egress else pkt.src
        entries = self.ix.acl_entries(acl_id, egress)
        ok, entry = acl_allows(entries, peer, pkt.classes)
        direction = "egress" if egress else "ingress"
        rule = entry.describe() if (entry is not None and self.trace) else None
        self.hop(acl_id, T.NETWORK_ACL, pkt, allowed=ok, direction=direction, rule=rule,
                 subnet_id=subnet_id)
        if ok:
            return
        if not self.trace:
            self.block("", "", "", "")
        which = (f"rule {entry.rule_number} ({'deny' if not entry.allow else 'allow'})"
                 if entry is not None else "the default rule * (deny)")
        if entry is not None and entry.rule_number == 32767:
            which = "the default rule 32767 (deny all)"
        bound = "outbound" if egress else "inbound"
        peer_word = "to" if egress else "from"
        msg = (f"{bound} {which} of {acl_id} (subnet {subnet_id}) blocks {self._traffic(pkt)} "
               f"{peer_word} {ip_str(peer)}")
        if self.path == "return":
            msg += " (the reply: network ACLs are stateless)"
        self.block("SUBNET_ACL_RESTRICTION", acl_id, T.NETWORK_ACL, msg, direction=direction,
                   rule=rule, subnet_id=subnet_id, address=ip_str(peer))

    def _traffic(self, pkt: _Packet) -> str:
        cls = pkt.classes
        if len(cls) > 1:
            return "all traffic"
        proto, lo, hi = cls[0]
        name = proto_name(proto)
        if proto in (6, 17):
            return f"{name} port {lo}" if lo == hi else f"{name} ports {lo}-{hi}"
        if proto == 1 and lo == hi:
            return f"icmp type {lo // 256} code {lo % 256}"
        return name

    # ---- walking ------------------------------------------------------------------------------

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Stop

    def leave_subnet(self, subnet_id: str, pkt: _Packet):
        """A packet leaves a node in subnet_id; return the node it reaches, or None."""
        self._step()
        sub = self.topo.subnets.get(subnet_id)
        if sub is None:
            self.block("NO_PATH", subnet_id or "", T.SUBNET,
                       f"the subnet {subnet_id} does not exist", subnet_id=subnet_id)
            return None
        vpc = sub.get("VpcId", "")
        block = self.ix.subnet_block.get(subnet_id)
        if block and pkt.dst & block[1] == block[0]:
            return self.arrive(vpc, subnet_id, pkt)  # same subnet: no ACL, no router
        self.acl(subnet_id, True, pkt)
        rtb_id = self.ix.rtb_id_for_subnet(subnet_id)
        table = self.ix.route_table(rtb_id) if rtb_id else None
        route = table.lookup(pkt.dst) if table else None
        if self.first_rtb is None and self.path == "forward":
            self.first_rtb = (rtb_id or "", route)
        if route is None:
            self.hop(rtb_id or subnet_id, T.ROUTE_TABLE, pkt, allowed=False, subnet_id=subnet_id)
            self.block("NO_ROUTE_TO_DESTINATION", rtb_id or subnet_id, T.ROUTE_TABLE,
                       f"route table {rtb_id} (of {subnet_id}) has no route to {ip_str(pkt.dst)}",
                       subnet_id=subnet_id, vpc_id=vpc, address=ip_str(pkt.dst),
                       route_table_id=rtb_id)
            return None
        desc = route.describe() if self.trace else None
        self.hop(rtb_id, T.ROUTE_TABLE, pkt, route=desc, subnet_id=subnet_id, vpc_id=vpc)
        if route.state == "blackhole":
            self.block("BAD_STATE_ROUTE", rtb_id, T.ROUTE_TABLE,
                       f"the route {route.destination} -> {route.target} of {rtb_id} is a "
                       f"blackhole (its target no longer exists or is not attached)",
                       route=desc, subnet_id=subnet_id, vpc_id=vpc, route_table_id=rtb_id)
            return None
        kind = route.kind
        if kind == LOCAL:
            target = self.ix.subnet_for(vpc, pkt.dst)
            if target is None:
                self.block("NO_POSSIBLE_DESTINATION", rtb_id, T.ROUTE_TABLE,
                           f"{ip_str(pkt.dst)} is in no subnet of {vpc}", route=desc,
                           vpc_id=vpc, address=ip_str(pkt.dst))
                return None
            self.acl(target, False, pkt)
            return self.arrive(vpc, target, pkt)
        if kind == IGW:
            return self.via_igw(vpc, subnet_id, rtb_id, route, pkt)
        if kind == NAT:
            return self.via_nat(vpc, subnet_id, rtb_id, route, pkt)
        if kind == PCX:
            return self.via_peering(vpc, rtb_id, route, pkt)
        if kind == VPCE:
            return self.via_endpoint(vpc, rtb_id, route, pkt)
        if kind == ENI:
            return self.via_middlebox(vpc, subnet_id, rtb_id, route, pkt)
        self.hop(route.target or "?", "unsupported", pkt, allowed=False)
        self.block("UNSUPPORTED_COMPONENT", route.target or rtb_id, "unsupported",
                   f"the route {route.destination} of {rtb_id} targets {route.target}, which "
                   f"vpclocal does not model", route=desc, route_table_id=rtb_id)
        return None

    def _translate_ports(self, pkt: _Packet) -> None:
        """NAT gateways (and NAT instances) pick the translated source port themselves, from
        1024-65535, whatever port the client used."""
        if len(pkt.classes) == 1 and pkt.classes[0][0] in (6, 17):
            pkt.sports = EPHEMERAL

    def _set_dports(self, pkt: _Packet, ports: tuple[int, int]) -> None:
        """The reply's destination ports (the request's source ports at that point)."""
        if len(pkt.classes) == 1 and pkt.classes[0][0] in (6, 17):
            pkt.dports = ports
            pkt.classes = ((pkt.classes[0][0], ports[0], ports[1]),)

    def arrive(self, vpc: str, subnet_id: str | None, pkt: _Packet):
        owner = self.ix.owner_in_vpc(vpc, pkt.dst)
        if self.path == "return" and owner is not None:
            entry = self.nat_table.get(pkt.dst)
            if entry is not None and entry[1] == owner[1]:
                kind, ident, original, ports = entry
                ctype = T.NAT_GATEWAY if kind == "nat" else T.NETWORK_INTERFACE
                self.hop(ident, ctype, pkt, vpc_id=vpc, subnet_id=subnet_id,
                         note=f"translates {ip_str(pkt.dst)} back to {ip_str(original)}")
                pkt.dst = original
                self._set_dports(pkt, ports)
                if kind == "nat":
                    home = self.topo.nat_gateways[ident].get("SubnetId")
                else:
                    home = self.topo.network_interfaces[ident].get("SubnetId")
                return self.leave_subnet(home, pkt)
        if owner is None:
            return _Node("address", ip_str(pkt.dst), vpc, subnet_id, pkt.dst)
        return _Node(owner[0], owner[1], vpc, subnet_id, pkt.dst)

    def via_igw(self, vpc, subnet_id, rtb_id, route: Route, pkt: _Packet):
        igw_id = route.target
        attached = self.ix.igw_vpcs.get(igw_id)
        self.hop(igw_id, T.INTERNET_GATEWAY, pkt, vpc_id=vpc)
        if attached is None or vpc not in attached:
            self.block("BAD_STATE_ATTACHMENT", igw_id, T.INTERNET_GATEWAY,
                       f"{igw_id} is not attached to {vpc}", vpc_id=vpc,
                       internet_gateway_id=igw_id, route_table_id=rtb_id)
        if is_private(pkt.dst):
            self.block("IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS", igw_id,
                       T.INTERNET_GATEWAY,
                       f"{igw_id} does not carry traffic to the private address {ip_str(pkt.dst)}",
                       internet_gateway_id=igw_id, address=ip_str(pkt.dst), route_table_id=rtb_id)
            return None
        private = pkt.src
        public = self.ix.public_of.get((vpc, private))
        if public is None and self.path == "forward" and self.middlebox is not None:
            # a NAT instance: the forwarding interface masquerades the traffic it sends out
            mb, mb_vpc = self.middlebox
            mb_ip = self.ix.eni_ip.get(mb)
            if mb_vpc == vpc and mb_ip is not None and (vpc, mb_ip) in self.ix.public_of:
                self.nat_table[mb_ip] = ("eni", mb, private, pkt.sports)
                self._translate_ports(pkt)
                private = mb_ip
                public = self.ix.public_of[(vpc, mb_ip)]
        if public is None:
            owner = self.ix.owner_in_vpc(vpc, pkt.src)
            who = owner[1] if owner else ip_str(pkt.src)
            lam = ""
            if owner and owner[0] == "eni":
                itype = self.topo.network_interfaces[owner[1]].get("InterfaceType")
                if itype == "lambda":
                    lam = (" (Lambda network interfaces never get a public IP address, even in a "
                           "public subnet: route the function's traffic through a NAT gateway)")
            ctx_eni = owner[1] if owner and owner[0] == "eni" else None
            ctx_nat = owner[1] if owner and owner[0] == "nat" else None
            self.block("IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", igw_id, T.INTERNET_GATEWAY,
                       f"{who} ({ip_str(pkt.src)}) has no public IPv4 address, so {igw_id} "
                       f"cannot carry its traffic to the internet{lam}",
                       internet_gateway_id=igw_id, network_interface_id=ctx_eni,
                       nat_gateway_id=ctx_nat, address=ip_str(pkt.src), route_table_id=rtb_id,
                       subnet_id=subnet_id, vpc_id=vpc)
            public = private  # the blocked path goes on as if it had one
        if self.trace and self.hops:
            self.hops[-1].note = f"translates {ip_str(pkt.src)} to {ip_str(public)}"
        if self.path == "forward":
            self.igw_table[public] = (vpc, private, igw_id)
            self.exit_igw = igw_id
        pkt.src = public
        return self.on_internet(pkt)

    def on_internet(self, pkt: _Packet):
        self._step()
        if self.path == "forward" and self.internet_source is None:
            self.internet_source = pkt.src  # the address the internet sees the client at
        owner = None
        if pkt.dst not in self.internet_hosts:
            owner = self.ix.public_owner.get(pkt.dst)
            if owner is None and pkt.dst in self.igw_table:
                owner = self.igw_table[pkt.dst][:2]
        if owner is None:
            pl = self.ix.service_prefix_list(pkt.dst)
            if pl is not None:
                return _Node("service", pl, address=pkt.dst)
            return _Node("internet", ip_str(pkt.dst), address=pkt.dst)
        vpc, private = owner
        igw_id = self.ix.vpc_igw.get(vpc)
        left_by = self.igw_table.get(pkt.dst) if self.path == "return" else None
        if left_by is not None:
            igw_id = left_by[2]  # back in where it went out (its state was reported then)
        if igw_id is None:
            self.hop(vpc, T.VPC, pkt, allowed=False)
            self.block("NO_PATH", vpc, T.VPC,
                       f"{vpc} has no internet gateway attached, so {ip_str(pkt.dst)} is "
                       f"unreachable from the internet", vpc_id=vpc, address=ip_str(pkt.dst))
            return None
        if (self.path == "forward" and self.src.kind == "internet" and self.src.igw
                and self.src.igw != igw_id):
            self.hop(self.src.igw, T.INTERNET_GATEWAY, pkt, allowed=False)
            self.block("NO_PATH", self.src.igw, T.INTERNET_GATEWAY,
                       f"{ip_str(pkt.dst)} is behind {igw_id}, not {self.src.igw}",
                       internet_gateway_id=self.src.igw, vpc_id=vpc)
        self.hop(igw_id, T.INTERNET_GATEWAY, pkt, vpc_id=vpc,
                 note=f"translates {ip_str(pkt.dst)} to {ip_str(private)}")
        pkt.dst = private
        subnet = self.ix.subnet_for(vpc, private)
        if subnet is None:
            self.block("NO_POSSIBLE_DESTINATION", igw_id, T.INTERNET_GATEWAY,
                       f"{ip_str(private)} is in no subnet of {vpc}", vpc_id=vpc,
                       address=ip_str(private))
            return None
        self.acl(subnet, False, pkt)
        return self.arrive(vpc, subnet, pkt)

    def missing_target(self, rtb_id: str, route: Route) -> None:
        """A route whose target (NAT, peering, endpoint, interface) no longer exists."""
        self.block("BAD_STATE_ROUTE", rtb_id, T.ROUTE_TABLE,
                   f"the route {route.destination} of {rtb_id} targets {route.target}, which "
                   f"does not exist", route=route.describe() if self.trace else None,
                   route_table_id=rtb_id)

    def via_nat(self, vpc, subnet_id, rtb_id, route: Route, pkt: _Packet):
        nat_id = route.target
        nat = self.topo.nat_gateways.get(nat_id)
        if nat is None:
            return self.missing_target(rtb_id, route)
        key = ("nat", nat_id, self.path)
        if key in self.visited:
            self.block("NO_ROUTE_TO_DESTINATION", rtb_id, T.ROUTE_TABLE,
                       f"route table {rtb_id} of {nat_id}'s own subnet {subnet_id} sends "
                       f"{ip_str(pkt.dst)} back to {nat_id} (a loop): a NAT gateway must be in a "
                       f"public subnet, whose route table sends 0.0.0.0/0 to an internet gateway",
                       route=route.describe() if self.trace else None, subnet_id=subnet_id,
                       nat_gateway_id=nat_id, route_table_id=rtb_id)
            return None
        self.visited.add(key)
        nat_vpc = nat.get("VpcId", "")
        nat_subnet = nat.get("SubnetId", "")
        if nat_subnet != subnet_id:
            self.acl(nat_subnet, False, pkt)
        nat_ip = self.ix.nat_ip.get(nat_id)
        self.hop(nat_id, T.NAT_GATEWAY, pkt, vpc_id=nat_vpc, subnet_id=nat_subnet)
        state = nat.get("State", "available")
        if state != "available":
            self.block("BAD_STATE", nat_id, T.NAT_GATEWAY,
                       f"{nat_id} is {state}, not available", state=state, nat_gateway_id=nat_id,
                       route_table_id=rtb_id)
        if self.path == "return":
            self.block("NO_PATH", nat_id, T.NAT_GATEWAY,
                       f"the reply to {ip_str(pkt.dst)} is routed to {nat_id}, which did not carry "
                       f"the request (asymmetric routing: {rtb_id} should send it back the way "
                       f"it came)", nat_gateway_id=nat_id, route_table_id=rtb_id,
                       address=ip_str(pkt.dst))
            return None
        if not self.ix.in_vpc(nat_vpc, pkt.src) or nat_vpc != vpc:
            self.block("NGW_REQUIRES_SOURCE_IN_VPC", nat_id, T.NAT_GATEWAY,
                       f"{nat_id} only translates traffic from {nat_vpc}, not from "
                       f"{ip_str(pkt.src)}", nat_gateway_id=nat_id, vpc_id=nat_vpc,
                       address=ip_str(pkt.src), route_table_id=rtb_id)
        if nat_ip is None:
            self.block("BAD_STATE", nat_id, T.NAT_GATEWAY, f"{nat_id} has no address",
                       nat_gateway_id=nat_id)
            return None
        if self.trace:
            self.hops[-1].note = f"translates {ip_str(pkt.src)} to {ip_str(nat_ip)}"
        self.nat_table[nat_ip] = ("nat", nat_id, pkt.src, pkt.sports)
        self._translate_ports(pkt)
        pkt.src = nat_ip
        return self.leave_subnet(nat_subnet, pkt)

    def _peer_blocks(self, pcx: dict, vpc: str) -> list[tuple[int, int, int]]:
        blocks = self.ix.vpc_blocks.get(vpc)
        if blocks:
            return blocks
        out = []
        for info in (pcx.get("RequesterVpcInfo") or {}, pcx.get("AccepterVpcInfo") or {}):
            if info.get("VpcId") != vpc:
                continue
            texts = [info.get("CidrBlock")] + [c.get("CidrBlock") for c in info.get("CidrBlockSet") or ()]
            out.extend(cidr(t) for t in texts if t)
        return out

    def via_peering(self, vpc, rtb_id, route: Route, pkt: _Packet):
        pcx_id = route.target
        pcx = self.topo.vpc_peering_connections.get(pcx_id)
        desc = route.describe() if self.trace else None
        if pcx is None:
            return self.missing_target(rtb_id, route)
        a, b = self.ix.pcx_vpcs.get(pcx_id, ("", ""))
        self.hop(pcx_id, T.VPC_PEERING_CONNECTION, pkt)
        if vpc not in (a, b):
            self.block("BAD_STATE_ROUTE", rtb_id, T.ROUTE_TABLE,
                       f"{pcx_id} does not connect {vpc}", route=desc, route_table_id=rtb_id)
            return None
        peer = b if vpc == a else a
        status = (pcx.get("Status") or {}).get("Code", "active")
        if status != "active":
            self.block("BAD_STATE", pcx_id, T.VPC_PEERING_CONNECTION,
                       f"{pcx_id} is {status}, not active", state=status,
                       vpc_peering_connection_id=pcx_id, route_table_id=rtb_id)
        if not any(in_cidr(pkt.src, blk) for blk in self._peer_blocks(pcx, vpc)):
            self.block("PCX_REQUIRES_ADDRESS_IN_VPC_CIDR", pcx_id, T.VPC_PEERING_CONNECTION,
                       f"{pcx_id} only carries traffic from {vpc}'s addresses, not from "
                       f"{ip_str(pkt.src)} (peering is not transitive)",
                       vpc_peering_connection_id=pcx_id, address=ip_str(pkt.src),
                       route_table_id=rtb_id)
        if not any(in_cidr(pkt.dst, blk) for blk in self._peer_blocks(pcx, peer)):
            self.block("PCX_REQUIRES_ADDRESS_IN_VPC_CIDR", pcx_id, T.VPC_PEERING_CONNECTION,
                       f"{ip_str(pkt.dst)} is not in the CIDR blocks of {peer}, the VPC at the "
                       f"other end of {pcx_id} (peering is not transitive)",
                       vpc_peering_connection_id=pcx_id, vpc_id=peer, address=ip_str(pkt.dst),
                       route_table_id=rtb_id, route=desc)
            return None
        target = self.ix.subnet_for(peer, pkt.dst)
        if target is None:
            self.block("NO_POSSIBLE_DESTINATION", pcx_id, T.VPC_PEERING_CONNECTION,
                       f"{ip_str(pkt.dst)} is in no subnet of {peer}", vpc_id=peer,
                       address=ip_str(pkt.dst))
            return None
        self.acl(target, False, pkt)
        return self.arrive(peer, target, pkt)

    def via_endpoint(self, vpc, rtb_id, route: Route, pkt: _Packet):
        vpce_id = route.target
        ep = self.topo.vpc_endpoints.get(vpce_id)
        if ep is None:
            return self.missing_target(rtb_id, route)
        self.hop(vpce_id, T.VPC_ENDPOINT, pkt, vpc_id=vpc)
        state = str(ep.get("State", "available"))
        if state.lower() != "available":
            self.block("BAD_STATE", vpce_id, T.VPC_ENDPOINT, f"{vpce_id} is {state}",
                       state=state, vpc_endpoint_id=vpce_id, route_table_id=rtb_id)
        if not self.ix.in_vpc(vpc, pkt.src):
            self.block("VPCE_GATEWAY_EGRESS_SOURCE_ADDRESS_RESTRICTION", vpce_id, T.VPC_ENDPOINT,
                       f"{vpce_id} only carries traffic from {vpc}, not from {ip_str(pkt.src)}",
                       vpc_endpoint_id=vpce_id, address=ip_str(pkt.src))
        self.endpoint_used = vpce_id
        pl = route.prefix_list or self.ix.service_prefix_list(pkt.dst) or vpce_id
        return _Node("service", pl, vpc=vpc, address=pkt.dst)

    def via_middlebox(self, vpc, subnet_id, rtb_id, route: Route, pkt: _Packet):
        eni_id = route.target
        eni = self.topo.network_interfaces.get(eni_id)
        if eni is None:
            return self.missing_target(rtb_id, route)
        key = ("eni", eni_id, self.path)
        if key in self.visited:
            self.block("NO_PATH", rtb_id, T.ROUTE_TABLE,
                       f"{rtb_id} sends {ip_str(pkt.dst)} back to {eni_id} (a routing loop)",
                       route_table_id=rtb_id)
            return None
        self.visited.add(key)
        mb_subnet = eni.get("SubnetId", "")
        mb_vpc = eni.get("VpcId", "")
        if mb_subnet != subnet_id:
            self.acl(mb_subnet, False, pkt)
        owner = self.ix.owner_in_vpc(mb_vpc, pkt.dst)
        if owner is not None and owner[1] == eni_id:  # addressed to the middlebox itself:
            return self.arrive(mb_vpc, mb_subnet, pkt)  # it is the destination, not a hop
        self.hop(eni_id, T.NETWORK_INTERFACE, pkt, vpc_id=mb_vpc, subnet_id=mb_subnet,
                 note="forwards traffic (middlebox)")
        if eni.get("SourceDestCheck", True):
            self.block("ENI_SOURCE_DEST_CHECK_RESTRICTION", eni_id, T.NETWORK_INTERFACE,
                       f"{eni_id} has its source/destination check enabled, so it drops traffic "
                       f"for {ip_str(pkt.dst)} instead of forwarding it",
                       network_interface_id=eni_id)
        if self.path == "forward":  # group references see the addresses' owners' groups
            self.sg(eni_id, False, pkt, pkt.src, self._groups_of(mb_vpc, pkt.src))
            self.sg(eni_id, True, pkt, pkt.dst, self._groups_of(mb_vpc, pkt.dst))
        self.middlebox = (eni_id, mb_vpc)
        return self.leave_subnet(mb_subnet, pkt)

    # ---- the two directions -------------------------------------------------------------------

    def _groups_of(self, vpc: str, address: int) -> frozenset[str]:
        """The groups a rule of an interface in `vpc` sees for an address: its owner's, when
        it is the primary address of an interface in this VPC or a peered one."""
        for other in self.topo.vpcs:
            if other != vpc and not self.ix.pcx_between.get(frozenset((vpc, other))):
                continue
            eni_id = self.ix.eni_by_ip.get((other, address))
            if eni_id is not None and self.ix.eni_ip.get(eni_id) == address:
                return frozenset(self.ix.eni_groups.get(eni_id) or ())
        return frozenset()

    def _peer_groups(self, a: Endpoint, b: Endpoint, address: int) -> frozenset[str]:
        """Groups of b as seen by a's security group rules, when b is addressed privately."""
        if b.kind != "eni" or address != self.ix.eni_ip.get(b.id):
            return frozenset()
        if a.vpc == b.vpc or (a.vpc and b.vpc and self.ix.pcx_between.get(frozenset((a.vpc, b.vpc)))):
            return b.groups
        return frozenset()

    def run(self) -> bool:
        src, dst, flow = self.src, self.dst, self.flow
        pkt = _Packet(src.ip, dst.ip, flow.classes, flow.source_ports, flow.destination_ports)
        try:
            node = self._forward(pkt)
            fwd_ok = node is not None and self._deliver(node, pkt)
            self.forward = self.hops
            if not fwd_ok:
                return False
            self.path = "return"
            self.hops = []
            self.visited.clear()
            self.steps = 0
            reply = _Packet(pkt.dst, pkt.src, flow.reply_classes, pkt.dports, pkt.sports)
            self._set_dports(reply, pkt.sports)
            back = self._reply(node, reply)
            back_ok = back is not None and self._returned(back, reply)
            return fwd_ok and back_ok and not self.blocked
        except _Stop:
            if self.trace and self.steps > MAX_STEPS:
                self.explanations.append(T.Explanation(
                    "NO_PATH", "", "", "the path loops (more than 32 hops)", path=self.path))
            self.blocked = True
            return False
        finally:
            if self.path == "forward":
                self.forward = self.hops
            else:
                self.back = self.hops

    def _forward(self, pkt: _Packet):
        src, dst = self.src, self.dst
        if src.kind == "internet":
            self.hop(ip_str(src.ip), T.INTERNET, pkt)
            return self.on_internet(pkt)
        if src.kind == "address" or src.subnet is None:
            self.hop(src.id, T.ADDRESS, pkt, allowed=False)
            self.block("NO_SOURCE_OR_DESTINATION", src.id, T.ADDRESS,
                       f"no network interface has the address {ip_str(src.ip)}",
                       address=ip_str(src.ip))
            if src.subnet is None:
                return None
        else:
            self.hop(src.id, src.component_type, pkt, vpc_id=src.vpc, subnet_id=src.subnet)
        if dst.kind == "dns" and dst.vpc == src.vpc:
            return self._dns(pkt)
        if src.kind == "eni":
            self.sg(src.id, True, pkt, pkt.dst, self._peer_groups(src, dst, pkt.dst))
        return self.leave_subnet(src.subnet, pkt)

    def _dns(self, pkt: _Packet):
        # Security groups and network ACLs do not filter traffic to the Amazon DNS server.
        self.hop(self.dst.id, T.AMAZON_DNS, pkt, vpc_id=self.dst.vpc,
                 note="security groups and network ACLs do not filter Amazon DNS traffic")
        ok = all(p in (6, 17) and lo <= 53 <= hi for p, lo, hi in pkt.classes)
        if not ok:
            self.block("NO_POSSIBLE_DESTINATION", self.dst.id, T.AMAZON_DNS,
                       "the Amazon DNS server only answers DNS (tcp/udp port 53)")
        return _Node("dns", self.dst.id, self.dst.vpc, None, pkt.dst)

    def _deliver(self, node: _Node, pkt: _Packet) -> bool:
        src, dst = self.src, self.dst
        if dst.kind == "dns":
            return node.kind == "dns"
        if dst.kind in ("eni", "nat", "address"):
            if node.kind != dst.kind or (dst.kind != "address" and node.id != dst.id):
                got = node.id if node.kind != "address" else f"the address {node.id}"
                self.block("NO_PATH", node.id, node.kind,
                           f"the traffic arrives at {got}, not at {dst.id}", address=ip_str(pkt.dst))
                return False
            self.hop(dst.id, dst.component_type, pkt, vpc_id=node.vpc, subnet_id=node.subnet)
            if dst.kind == "eni":
                self.sg(dst.id, False, pkt, pkt.src, self._peer_groups(dst, src, pkt.src))
            elif dst.kind == "address":
                self.block("NO_POSSIBLE_DESTINATION", dst.id, T.ADDRESS,
                           f"the network delivers the traffic to {dst.id}, but no network "
                           f"interface has that address", address=dst.id, subnet_id=node.subnet)
            return True
        if dst.kind == "internet":
            if node.kind not in ("internet", "service"):
                self.block("NO_PATH", node.id, node.kind,
                           f"the traffic arrives at {node.id}, not on the internet")
                return False
            self.hop(node.id, T.INTERNET, pkt)
            if dst.igw and self.exit_igw != dst.igw:
                self.block("NO_PATH", dst.igw, T.INTERNET_GATEWAY,
                           f"the traffic does not leave through {dst.igw}"
                           + (f" but through {self.exit_igw}" if self.exit_igw else ""),
                           internet_gateway_id=dst.igw)
            return True
        if dst.kind == "service":
            if node.kind not in ("service", "internet"):
                self.block("NO_PATH", node.id, node.kind,
                           f"the traffic arrives at {node.id}, not at the service")
                return False
            self.hop(ip_str(node.ip), T.AWS_SERVICE, pkt, note=self._service_note(node.id))
            if dst.via and self.endpoint_used != dst.via:
                rtb, route = self.first_rtb or ("", None)
                how = f"to {route.target}" if route is not None else "elsewhere"
                self.block("NO_ROUTE_TO_DESTINATION", rtb or dst.via, T.ROUTE_TABLE,
                           f"route table {rtb} sends the traffic for {ip_str(pkt.dst)} {how}, "
                           f"not to {dst.via} (the route table is not associated with the "
                           f"endpoint)", route_table_id=rtb, vpc_endpoint_id=dst.via)
            return True
        return False

    def _service_note(self, pl_id: str) -> str:
        name = (self.topo.prefix_lists.get(pl_id) or {}).get("PrefixListName", pl_id)
        return f"AWS service endpoint ({name}, {pl_id})"

    def _reply(self, node: _Node, pkt: _Packet):
        if node.kind == "dns":
            self.hop(node.id, T.AMAZON_DNS, pkt)
            return _Node(self.src.kind, self.src.id, address=self.src.ip)
        if node.kind == "internet":
            self.hop(node.id, T.INTERNET, pkt)
            return self.on_internet(pkt)
        if node.kind == "service":
            self.hop(ip_str(node.ip), T.AWS_SERVICE, pkt, note=self._service_note(node.id))
            if self.endpoint_used:
                vpce = self.endpoint_used
                vpc = node.vpc or ""
                self.hop(vpce, T.VPC_ENDPOINT, pkt, vpc_id=vpc)
                subnet = self.ix.subnet_for(vpc, pkt.dst)
                if subnet is None:
                    self.block("NO_PATH", vpce, T.VPC_ENDPOINT,
                               f"{ip_str(pkt.dst)} is in no subnet of {vpc}", vpc_id=vpc)
                    return None
                self.acl(subnet, False, pkt)
                return self.arrive(vpc, subnet, pkt)
            return self.on_internet(pkt)
        self.hop(node.id, {"eni": T.NETWORK_INTERFACE, "nat": T.NAT_GATEWAY}.get(node.kind, T.ADDRESS),
                 pkt, vpc_id=node.vpc, subnet_id=node.subnet)
        if node.subnet is None:
            self.block("NO_PATH", node.id, node.kind, f"{node.id} is in no subnet")
            return None
        return self.leave_subnet(node.subnet, pkt)

    def _returned(self, node: _Node, pkt: _Packet) -> bool:
        src = self.src
        if src.kind == "internet":
            ok = node.kind in ("internet", "service") and node.ip == src.ip
        elif src.kind == "address":
            ok = node.kind == "address" and node.ip == src.ip
        else:
            ok = node.kind == src.kind and node.id == src.id
        if not ok:
            self.block("NO_PATH", node.id, node.kind,
                       f"the reply arrives at {node.id}, not back at {src.id}",
                       address=ip_str(pkt.dst))
            return False
        self.hop(src.id, src.component_type, pkt, vpc_id=src.vpc, subnet_id=src.subnet)
        return True


# ---------------------------------------------------------------------------------------------


class Engine:
    """A topology indexed once; analyze as many flows as you like against it.

    The topology's records are only read. If the topology changes, make a new Engine.
    """

    def __init__(self, topology: Topology, resolver: Resolver | None = None) -> None:
        self.topology = topology
        self.index = Index(topology)
        self.resolver = resolver

    # ---- endpoints ---------------------------------------------------------------------------

    def endpoints(self, source: str, destination: str, resolver: Resolver | None = None):
        resolver = resolver or self.resolver
        src = resolve(self.index, source, as_destination=False, resolver=resolver)
        dst = resolve(self.index, destination, as_destination=True, resolver=resolver,
                      near_vpc=src.vpc)
        if dst.candidates and src.subnet:
            # an interface endpoint: prefer its interface in the source's Availability Zone
            az = self.topology.subnets.get(src.subnet, {}).get("AvailabilityZone")
            for eni in dst.candidates:
                sub = self.topology.network_interfaces[eni].get("SubnetId", "")
                if self.topology.subnets.get(sub, {}).get("AvailabilityZone") == az:
                    chosen = resolve(self.index, eni, as_destination=True)
                    chosen.candidates = dst.candidates
                    dst = chosen
                    break
        self.choose_address(src, dst)
        return src, dst

    def choose_address(self, src: Endpoint, dst: Endpoint) -> None:
        """Pick the address a destination interface is reached at from this source."""
        if dst.fixed or dst.kind not in ("eni", "nat"):
            return
        private = self.index.eni_ip.get(dst.id) if dst.kind == "eni" else self.index.nat_ip.get(dst.id)
        if src.kind == "internet":
            dst.ip = dst.public  # None: handled by analyze (no public address)
            return
        if src.vpc == dst.vpc or (
            src.vpc and dst.vpc and self.index.pcx_between.get(frozenset((src.vpc, dst.vpc)))
        ):
            dst.ip = private
        elif dst.public is not None:
            dst.ip = dst.public
        else:
            dst.ip = private

    # ---- analysis ----------------------------------------------------------------------------

    def analyze(
        self,
        source: str,
        destination: str,
        protocol: str | int = "tcp",
        port: int | None = None,
        *,
        source_port: int | tuple[int, int] | None = None,
        icmp_type: int = 8,
        icmp_code: int = 0,
        fixes: bool = True,
        resolver: Resolver | None = None,
    ) -> T.Analysis:
        """Analyze one flow. Raises UnknownComponentError for sources/destinations it can't
        resolve and ValueError for a bad protocol or port.

        A TCP or UDP flow without a port asks, like a Reachability Analyzer path without a
        destination port, whether *some* port gets through: the analysis is that of the first
        such port (``Analysis.port`` says which), or, when none does, that of the port that
        got furthest.
        """
        src, dst = self.endpoints(source, destination, resolver)
        if port is None and proto_number(protocol) in (6, 17):
            port = self._any_port(src, dst, protocol, source_port)
        flow = make_flow(protocol, port, source_port, icmp_type, icmp_code)
        analysis = self.analyze_endpoints(src, dst, flow)
        if fixes and not analysis.reachable:
            from .fixes import propose_fixes

            request = {"source": source, "destination": destination, "protocol": protocol, "port": port,
                           "source_port": source_port, "icmp_type": icmp_type, "icmp_code": icmp_code,
                           "resolver": resolver}
            analysis.fixes, analysis.fixes_verified = propose_fixes(self, analysis, request)
        return analysis

    def _candidate_ports(self, src: Endpoint, dst: Endpoint, proto: int) -> list[int]:
        """One port per interval on which every relevant rule gives the same answer."""
        points = {0, 1024}
        groups = set(src.groups) | set(dst.groups)
        for g in groups:
            for egress in (True, False):
                for rule in self.index.sg_rules(g, egress):
                    if rule[0] == proto:
                        points.update((rule[1], rule[2], rule[2] + 1))
        for acl in self.topology.network_acls:
            for egress in (True, False):
                for entry in self.index.acl_entries(acl, egress):
                    if entry[2] == proto:
                        points.update((entry[5], entry[6], entry[6] + 1))
        return sorted(p for p in points if 0 <= p <= 65535)

    def _any_port(self, src: Endpoint, dst: Endpoint, protocol, source_port) -> int:
        proto = proto_number(protocol)
        candidates = self._candidate_ports(src, dst, proto)
        for p in candidates:
            if self.reachable_endpoints(src, dst, make_flow(protocol, p, source_port)):
                return p
        best, best_key = candidates[0], None
        for p in candidates[:64]:
            a = self.analyze_endpoints(src, dst, make_flow(protocol, p, source_port))
            key = (len(a.explanations), -len(a.forward) - len(a.return_))
            if best_key is None or key < best_key:
                best, best_key = p, key
        return best

    def analyze_endpoints(self, src: Endpoint, dst: Endpoint, flow: Flow) -> T.Analysis:
        pre = self._precheck(src, dst)
        if pre is not None:
            return T.Analysis(src.describe(), dst.describe(), flow.protocol_name, flow.port,
                              False, [], [], [pre])
        walk = _Walk(self, src, dst, flow, trace=True)
        ok = walk.run()
        return T.Analysis(src.describe(), dst.describe(), flow.protocol_name, flow.port,
                          ok and not walk.explanations, walk.forward, walk.back,
                          walk.explanations)

    def _precheck(self, src: Endpoint, dst: Endpoint) -> T.Explanation | None:
        if dst.ip is None:
            if src.kind == "internet":
                igw = src.igw or self.index.vpc_igw.get(dst.vpc or "")
                if igw is None:
                    return T.Explanation(
                        "NO_PATH", dst.vpc or dst.id, T.VPC,
                        f"{dst.vpc} has no internet gateway attached, and {dst.id} has no public "
                        f"IPv4 address", context={"vpc_id": dst.vpc, "network_interface_id": dst.id})
                return T.Explanation(
                    "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS", igw, T.INTERNET_GATEWAY,
                    f"{dst.id} has no public IPv4 address or Elastic IP, so {igw} has nothing to "
                    f"send internet traffic to it with", context={
                        "internet_gateway_id": igw, "network_interface_id": dst.id,
                        "vpc_id": dst.vpc})
            return T.Explanation("NO_POSSIBLE_DESTINATION", dst.id, dst.component_type,
                                 f"{dst.id} has no IPv4 address")
        if src.ip is None:
            return T.Explanation("NO_SOURCE_OR_DESTINATION", src.id, src.component_type,
                                 f"{src.id} has no IPv4 address")
        if (src.vpc and dst.vpc and src.vpc != dst.vpc and dst.kind in ("eni", "nat")
                and is_private(dst.ip)
                and not self.index.pcx_between.get(frozenset((src.vpc, dst.vpc)))
                and not self._routed_to_peering(src, dst.ip)):
            return T.Explanation(
                "DISCONNECTED_VPCS", dst.vpc, T.VPC,
                f"{src.vpc} (of {src.id}) and {dst.vpc} (of {dst.id}) are not connected by a "
                f"peering connection, and {dst.id} has no public address",
                context={"vpc_id": dst.vpc, "source_vpc_id": src.vpc})
        return None

    def _routed_to_peering(self, src: Endpoint, address: int) -> bool:
        """Does the source's route table send this address to a peering connection?"""
        rtb = self.index.rtb_id_for_subnet(src.subnet) if src.subnet else None
        table = self.index.route_table(rtb) if rtb else None
        route = table.lookup(address) if table else None
        return route is not None and route.kind == PCX

    def reachable(self, source: str, destination: str, protocol: str | int = "tcp",
                  port: int | None = None, **kw) -> bool:
        """Just the verdict, without building hops or explanations (several times faster)."""
        src, dst = self.endpoints(source, destination, kw.get("resolver"))
        if port is None and proto_number(protocol) in (6, 17):
            proto = proto_number(protocol)
            return any(self.reachable_endpoints(src, dst, make_flow(protocol, p,
                                                                    kw.get("source_port")))
                       for p in self._candidate_ports(src, dst, proto))
        flow = make_flow(protocol, port, kw.get("source_port"), kw.get("icmp_type", 8),
                         kw.get("icmp_code", 0))
        return self.reachable_endpoints(src, dst, flow)

    def reachable_endpoints(self, src: Endpoint, dst: Endpoint, flow: Flow) -> bool:
        if self._precheck(src, dst) is not None:
            return False
        return _Walk(self, src, dst, flow, trace=False).run()

    def analyze_any(self, sources: Iterable[str], destination: str, protocol: str | int = "tcp",
                    port: int | None = None, **kw) -> T.AnyAnalysis:
        """Try each source (e.g. a function's interfaces, one per subnet) in order; return the
        first that reaches the destination, or all the blocked analyses.

        Unlike analyze, this needs a port for TCP and UDP (it answers `vpclocal reach`, where a
        missing port is a mistake, not a question about every port)."""
        make_flow(protocol, port)  # ValueError: a destination port is required for tcp and udp
        blocked: list[T.Analysis] = []
        sources = list(sources)
        for source in sources:
            if self.reachable(source, destination, protocol, port,
                              **{k: v for k, v in kw.items() if k != "fixes"}):
                result = self.analyze(source, destination, protocol, port, **kw)
                return T.AnyAnalysis(True, result, blocked)
            blocked.append(self.analyze(source, destination, protocol, port, **kw))
        return T.AnyAnalysis(False, None, blocked)

    def matrix(self, enis: Sequence[str], protocol: str | int = "tcp", port: int | None = None,
               **kw):
        """Reachability between every ordered pair of interfaces; see matrix.py."""
        from .matrix import reachability_matrix

        return reachability_matrix(self, enis, protocol, port, **kw)


def analyze(topology: Topology, source: str, destination: str, protocol: str | int = "tcp",
            port: int | None = None, **kw) -> T.Analysis:
    """Analyze one flow. Indexes the topology each call: for many queries, use Engine."""
    resolver = kw.pop("resolver", None)
    return Engine(topology, resolver).analyze(source, destination, protocol, port, **kw)


def analyze_any(topology: Topology, sources: Iterable[str], destination: str,
                protocol: str | int = "tcp", port: int | None = None, **kw) -> T.AnyAnalysis:
    resolver = kw.pop("resolver", None)
    return Engine(topology, resolver).analyze_any(sources, destination, protocol, port, **kw)
