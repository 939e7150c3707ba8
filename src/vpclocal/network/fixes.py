"""The smallest changes that open a blocked path, each verified by re-analysis.

For the first block of a blocked analysis, candidate changes are generated (narrowest first: a
security group rule naming the peer's group, an ACL entry for just this traffic, a route to a
gateway that exists), each is applied to a copy of the topology, and the flow is analyzed
again. The first candidate that removes the block is kept and the search continues from the
changed copy with the next block, so the result is one change per block, in path order, and
every change listed as verified really was checked by the engine. Blocks that need resources
the engine cannot invent (a NAT gateway where there is none, a peering connection) get a
suggestion with the commands to run, marked unverified.

The original topology is never modified: copies share every record except the changed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import types as T
from .addr import AddressError, cidr, ip, ip_str, is_private
from .flows import make_flow
from .routing import IGW, NAT
from .rules import ICMP, ICMP_REPLY_TYPE, proto_number
from .topology import KINDS, Topology

MAX_ROUNDS = 8
PLACEHOLDER_EIP = "192.0.2.1"  # TEST-NET-1: stands in for an Elastic IP not yet allocated

Apply = Callable[[Topology], Topology]


@dataclass
class _Candidate:
    fix: T.Fix
    apply: Apply | None  # None: a suggestion that cannot be simulated


# ---- copy-on-write topology edits ------------------------------------------------------------


def _with(topo: Topology, kind: str, rec_id: str, record: dict | None) -> Topology:
    """A new Topology sharing every record but one (record None deletes it)."""
    kinds = {k: getattr(topo, k) for k in KINDS}
    changed = dict(kinds[kind])
    if record is None:
        changed.pop(rec_id, None)
    else:
        changed[rec_id] = record
    kinds[kind] = changed
    return Topology(**kinds)


def _add_route(rtb_id: str, route: dict, replace_dest: bool) -> Apply:
    def apply(topo: Topology) -> Topology:
        rec = dict(topo.route_tables[rtb_id])
        routes = list(rec.get("Routes") or [])
        if replace_dest:
            key = ("DestinationCidrBlock", route.get("DestinationCidrBlock")) if route.get(
                "DestinationCidrBlock") else ("DestinationPrefixListId",
                                              route.get("DestinationPrefixListId"))
            routes = [r for r in routes if r.get(key[0]) != key[1]]
        routes.append(route)
        rec["Routes"] = routes
        return _with(topo, "route_tables", rtb_id, rec)

    return apply


def _delete_route(rtb_id: str, dest: str) -> Apply:
    def apply(topo: Topology) -> Topology:
        rec = dict(topo.route_tables[rtb_id])
        rec["Routes"] = [r for r in rec.get("Routes") or []
                         if r.get("DestinationCidrBlock") != dest
                         and r.get("DestinationPrefixListId") != dest]
        return _with(topo, "route_tables", rtb_id, rec)

    return apply


def _patch(kind: str, rec_id: str, **changes: Any) -> Apply:
    def apply(topo: Topology) -> Topology:
        rec = dict(getattr(topo, kind)[rec_id])
        rec.update(changes)
        return _with(topo, kind, rec_id, rec)

    return apply


def _chain(*steps: Apply) -> Apply:
    def apply(topo: Topology) -> Topology:
        for step in steps:
            topo = step(topo)
        return topo

    return apply


# ---- the flow's traffic as rules ---------------------------------------------------------------


def _sg_permission(request: dict) -> dict:
    proto = proto_number(request["protocol"])
    perm: dict[str, Any] = {"IpProtocol": {6: "tcp", 17: "udp", 1: "icmp"}.get(proto, str(proto))}
    if proto in (6, 17):
        perm["FromPort"] = perm["ToPort"] = int(request["port"])
    elif proto == ICMP:
        perm["FromPort"], perm["ToPort"] = request.get("icmp_type", 8), request.get("icmp_code", 0)
    perm.update(IpRanges=[], UserIdGroupPairs=[], PrefixListIds=[], Ipv6Ranges=[])
    return perm


def _perm_cli(perm: dict) -> str:
    parts = [f"IpProtocol={perm['IpProtocol']}"]
    if "FromPort" in perm:
        parts += [f"FromPort={perm['FromPort']}", f"ToPort={perm['ToPort']}"]
    if perm["IpRanges"]:
        parts.append(f"IpRanges=[{{CidrIp={perm['IpRanges'][0]['CidrIp']}}}]")
    if perm["UserIdGroupPairs"]:
        parts.append(f"UserIdGroupPairs=[{{GroupId={perm['UserIdGroupPairs'][0]['GroupId']}}}]")
    if perm["PrefixListIds"]:
        parts.append(f"PrefixListIds=[{{PrefixListId={perm['PrefixListIds'][0]['PrefixListId']}}}]")
    return ",".join(parts)


def _perm_text(perm: dict) -> str:
    proto = perm["IpProtocol"]
    what = "all traffic" if proto == "-1" else proto
    if proto in ("tcp", "udp"):
        what += f" port {perm['FromPort']}"
    elif proto == "icmp":
        what += f" type {perm['FromPort']} code {perm['ToPort']}"
    if perm["UserIdGroupPairs"]:
        return f"{what} with {perm['UserIdGroupPairs'][0]['GroupId']}"
    if perm["PrefixListIds"]:
        return f"{what} with {perm['PrefixListIds'][0]['PrefixListId']}"
    return f"{what} with {perm['IpRanges'][0]['CidrIp']}"


def _acl_traffic(request: dict, reply: bool) -> dict:
    """Protocol and port fields of an ACL entry that lets this flow (or its reply) through."""
    proto = proto_number(request["protocol"])
    out: dict[str, Any] = {"Protocol": str(proto)}
    if proto in (6, 17):
        flow = make_flow(request["protocol"], request["port"], request.get("source_port"))
        lo, hi = flow.source_ports if reply else flow.destination_ports
        out["PortRange"] = {"From": lo, "To": hi}
    elif proto == ICMP:
        t = request.get("icmp_type", 8)
        out["IcmpTypeCode"] = {"Type": ICMP_REPLY_TYPE.get(t, t) if reply else t,
                               "Code": request.get("icmp_code", 0)}
    return out


def _acl_cli_proto(number: str) -> str:
    return {"6": "tcp", "17": "udp", "1": "icmp"}.get(number, number)


# ---- candidate generation -----------------------------------------------------------------------


class _Ctx:
    def __init__(self, engine, analysis: T.Analysis, request: dict) -> None:
        self.engine = engine
        self.topo: Topology = engine.topology
        self.ix = engine.index
        self.analysis = analysis
        self.request = request
        self.src, self.dst = engine.endpoints(request["source"], request["destination"],
                                              request.get("resolver"))

    @property
    def generic_internet(self) -> bool:
        return self.dst.kind == "internet" and self.dst.id in ("internet",) + tuple(
            self.topo.internet_gateways)

    def peer_cidr(self, address: str) -> str:
        """The narrowest natural block for an ACL entry naming a peer address."""
        addr = ip(address)
        if address == ip_str(self.src.ip or -1) and self.src.kind == "internet" and \
                self.src.id in ("internet",) + tuple(self.topo.internet_gateways):
            return "0.0.0.0/0"
        if self.dst.kind == "internet" and address == ip_str(self.dst.ip or -1) and \
                self.generic_internet:
            return "0.0.0.0/0"
        for vpc in self.ix.vpc_of_address(addr):
            sub = self.ix.subnet_for(vpc, addr)
            if sub:
                return self.topo.subnets[sub]["CidrBlock"]
        return f"{address}/32"

    def rtb_vpc(self, rtb_id: str) -> str:
        return self.topo.route_tables[rtb_id].get("VpcId", "")

    def has_route(self, rtb_id: str, dest: str) -> bool:
        return any(r.get("DestinationCidrBlock") == dest or r.get("DestinationPrefixListId") == dest
                   for r in self.topo.route_tables[rtb_id].get("Routes") or ())

    def route_candidate(self, rtb_id: str, dest: str, target: str, code: str,
                        why: str = "") -> _Candidate:
        field, flag = {
            "nat": ("NatGatewayId", "--nat-gateway-id"),
            "pcx": ("VpcPeeringConnectionId", "--vpc-peering-connection-id"),
            "eni": ("NetworkInterfaceId", "--network-interface-id"),
        }.get(target.split("-", 1)[0], ("GatewayId", "--gateway-id"))
        exists = self.has_route(rtb_id, dest)
        verb = "replace-route" if exists else "create-route"
        route = {"DestinationCidrBlock": dest, field: target, "State": "active",
                 "Origin": "CreateRoute"}
        desc = (f"{'replace the' if exists else 'add a'} route {dest} → {target} "
                f"{'in' if exists else 'to'} {rtb_id}{why}")
        cmd = (f"aws ec2 {verb} --route-table-id {rtb_id} --destination-cidr-block {dest} "
               f"{flag} {target}")
        return _Candidate(
            T.Fix(desc, [cmd], code, rtb_id, False,
                  {"action": verb, "route_table_id": rtb_id, "route": route}),
            _add_route(rtb_id, route, exists))

    # rtbs on the forward path, in order, with the subnet each was used for
    def path_route_tables(self) -> list[tuple[str, str | None]]:
        out = []
        for hop in self.analysis.forward:
            if hop.component_type == T.ROUTE_TABLE and hop.component_id in self.topo.route_tables:
                item = (hop.component_id, hop.subnet_id)
                if item not in out:
                    out.append(item)
        return out

    def working_nats(self, vpc: str) -> list[str]:
        """Available public NAT gateways of a VPC whose own subnet routes to an attached IGW."""
        out = []
        igw = self.ix.vpc_igw.get(vpc)
        for nat_id, nat in self.topo.nat_gateways.items():
            if nat.get("VpcId") != vpc or nat.get("State") != "available":
                continue
            if nat.get("ConnectivityType", "public") != "public" or igw is None:
                continue
            rtb = self.ix.rtb_id_for_subnet(nat.get("SubnetId", ""))
            table = self.ix.route_table(rtb) if rtb else None
            route = table.lookup(ip("198.51.100.10")) if table else None
            if route is not None and route.kind == IGW and route.state == "active":
                out.append(nat_id)
        az = None
        if self.src.subnet:
            az = self.topo.subnets.get(self.src.subnet, {}).get("AvailabilityZone")
        out.sort(key=lambda n: self.topo.subnets.get(
            self.topo.nat_gateways[n].get("SubnetId", ""), {}).get("AvailabilityZone") != az)
        return out

    def public_subnets(self, vpc: str) -> list[str]:
        out = []
        for sub_id, sub in self.topo.subnets.items():
            if sub.get("VpcId") != vpc:
                continue
            rtb = self.ix.rtb_id_for_subnet(sub_id)
            table = self.ix.route_table(rtb) if rtb else None
            route = table.lookup(ip("198.51.100.10")) if table else None
            if route is not None and route.kind == IGW and route.state == "active":
                out.append(sub_id)
        return out

    def source_has_public(self) -> bool:
        return self.src.kind in ("eni", "nat") and self.src.public is not None

    def is_lambda(self, eni_id: str | None) -> bool:
        rec = self.topo.network_interfaces.get(eni_id or "")
        return bool(rec) and rec.get("InterfaceType") == "lambda"

    def function_name(self, eni_id: str) -> str:
        desc = self.topo.network_interfaces[eni_id].get("Description", "")
        prefix = "AWS Lambda VPC ENI-"
        if desc.startswith(prefix):
            rest = desc[len(prefix):]
            parts = rest.split("-")
            if len(parts) > 5:  # <name>-<uuid with 4 dashes>
                return "-".join(parts[:-5])
            return rest
        return "<function-name>"

    # ---- per explanation code -------------------------------------------------------------

    def candidates(self, e: T.Explanation) -> list[_Candidate]:
        handler = getattr(self, "c_" + e.code, None)
        return handler(e) if handler else []

    def c_ENI_SG_RULES_MISMATCH(self, e: T.Explanation) -> list[_Candidate]:
        eni_id = e.context.get("network_interface_id")
        rec = self.topo.network_interfaces.get(eni_id or "")
        if not rec:
            return []
        group = (rec.get("Groups") or [{}])[0].get("GroupId")
        if not group:
            return []
        egress = e.direction == "egress"
        peer = e.context.get("address", "")
        base = _sg_permission(self.request)
        perms = []
        # the peer's own security group, when the peer is an interface addressed privately
        for ep in (self.dst, self.src):
            if ep.kind == "eni" and ep.ip is not None and ip_str(ep.ip) == peer and ep.id != eni_id:
                same = self.ix.eni_ip.get(ep.id) == ep.ip
                if same and ep.groups:
                    first = (self.topo.network_interfaces[ep.id].get("Groups") or [{}])[0]
                    perms.append(dict(base, UserIdGroupPairs=[{"GroupId": first.get("GroupId")}]))
        if egress and self.dst.kind == "service":
            pl = self.ix.service_prefix_list(ip(peer)) if peer else None
            if pl:
                perms.append(dict(base, PrefixListIds=[{"PrefixListId": pl}]))
        generic = (self.generic_internet and egress) or (
            not egress and self.src.kind == "internet"
            and self.src.id in ("internet",) + tuple(self.topo.internet_gateways))
        perms.append(dict(base, IpRanges=[{"CidrIp": "0.0.0.0/0" if generic else f"{peer}/32"}]))
        out = []
        key = "IpPermissionsEgress" if egress else "IpPermissions"
        verb = "authorize-security-group-egress" if egress else "authorize-security-group-ingress"
        for perm in perms:
            def apply(topo: Topology, perm=perm) -> Topology:
                sg = dict(topo.security_groups[group])
                sg[key] = list(sg.get(key) or []) + [perm]
                return _with(topo, "security_groups", group, sg)

            desc = (f"allow {'outbound' if egress else 'inbound'} {_perm_text(perm)} "
                    f"in {group} (of {eni_id})")
            cmd = f"aws ec2 {verb} --group-id {group} --ip-permissions '{_perm_cli(perm)}'"
            out.append(_Candidate(
                T.Fix(desc, [cmd], e.code, group, False,
                      {"action": verb, "group_id": group, "ip_permission": perm}), apply))
        return out

    def c_SUBNET_ACL_RESTRICTION(self, e: T.Explanation) -> list[_Candidate]:
        acl_id = e.component_id
        acl = self.topo.network_acls.get(acl_id)
        if not acl:
            return []
        egress = e.direction == "egress"
        reply = e.path == "return"
        blocking = (e.rule or {}).get("RuleNumber", 32767)
        used = {x.get("RuleNumber") for x in acl.get("Entries") or ()
                if bool(x.get("Egress")) == egress}
        below = [n for n in used if isinstance(n, int) and n < blocking]
        number = None
        if blocking == 32767:
            step = ((max(below) // 100) + 1) * 100 if below else 100
            if step < 32767 and step not in used:
                number = step
        if number is None:
            free = [n for n in range(blocking - 1, 0, -1) if n not in used]
            tens = [n for n in free if n % 10 == 0]
            number = (tens or free or [None])[0]
        if number is None:
            return []
        traffic = _acl_traffic(self.request, reply)
        block = self.peer_cidr(e.context.get("address", "0.0.0.0"))
        entry = dict(traffic, RuleNumber=number, RuleAction="allow", Egress=egress,
                     CidrBlock=block)

        def apply(topo: Topology) -> Topology:
            rec = dict(topo.network_acls[acl_id])
            rec["Entries"] = list(rec.get("Entries") or []) + [entry]
            return _with(topo, "network_acls", acl_id, rec)

        ports = ""
        if "PortRange" in traffic:
            pr = traffic["PortRange"]
            ports = f" --port-range From={pr['From']},To={pr['To']}"
            what = f"{_acl_cli_proto(traffic['Protocol'])} ports {pr['From']}-{pr['To']}"
        elif "IcmpTypeCode" in traffic:
            it = traffic["IcmpTypeCode"]
            ports = f" --icmp-type-code Type={it['Type']},Code={it['Code']}"
            what = f"icmp type {it['Type']}"
        else:
            what = "all traffic"
        cmd = (f"aws ec2 create-network-acl-entry --network-acl-id {acl_id} "
               f"{'--egress' if egress else '--ingress'} --rule-number {number} "
               f"--protocol {_acl_cli_proto(traffic['Protocol'])}{ports} --cidr-block {block} "
               f"--rule-action allow")
        desc = (f"add {'outbound' if egress else 'inbound'} rule {number} allowing {what} "
                f"{'to' if egress else 'from'} {block} to {acl_id}"
                + (" (for the replies)" if reply else ""))
        out = [_Candidate(T.Fix(desc, [cmd], e.code, acl_id, False,
                                {"action": "create-network-acl-entry", "network_acl_id": acl_id,
                                 "entry": entry}), apply)]
        if blocking != 32767:
            cmd = (f"aws ec2 delete-network-acl-entry --network-acl-id {acl_id} "
                   f"{'--egress' if egress else '--ingress'} --rule-number {blocking}")

            def drop(topo: Topology) -> Topology:
                rec = dict(topo.network_acls[acl_id])
                rec["Entries"] = [x for x in rec.get("Entries") or []
                                  if not (x.get("RuleNumber") == blocking
                                          and bool(x.get("Egress")) == egress)]
                return _with(topo, "network_acls", acl_id, rec)

            out.append(_Candidate(T.Fix(f"delete rule {blocking} of {acl_id}", [cmd], e.code,
                                        acl_id, False,
                                        {"action": "delete-network-acl-entry",
                                         "network_acl_id": acl_id, "rule_number": blocking,
                                         "egress": egress}), drop))
        return out

    def _internet_targets(self, rtb_id: str, code: str, address: int) -> list[_Candidate]:
        vpc = self.rtb_vpc(rtb_id)
        out: list[_Candidate] = []
        igw = self.ix.vpc_igw.get(vpc)
        nats = [n for n in self.working_nats(vpc)
                if self.ix.rtb_id_for_subnet(self.topo.nat_gateways[n]["SubnetId"]) != rtb_id]
        nat_first = [self.route_candidate(rtb_id, "0.0.0.0/0", n, code) for n in nats]
        igw_c = [self.route_candidate(rtb_id, "0.0.0.0/0", igw, code)] if igw else []
        out = igw_c + nat_first if self.source_has_public() else nat_first + igw_c
        pl = self.ix.service_prefix_list(address)
        if pl is not None:
            for vpce_id, ep in self.topo.vpc_endpoints.items():
                if ep.get("VpcId") == vpc and self.ix.pl_by_name.get(ep.get("ServiceName")) == pl \
                        and str(ep.get("VpcEndpointType", "Gateway")).lower() == "gateway":
                    out.insert(0, self._endpoint_association(vpce_id, rtb_id, pl, code))
        return out

    def _endpoint_association(self, vpce_id: str, rtb_id: str, pl: str, code: str) -> _Candidate:
        route = {"DestinationPrefixListId": pl, "GatewayId": vpce_id, "State": "active",
                 "Origin": "CreateRoute"}
        ids = list(self.topo.vpc_endpoints[vpce_id].get("RouteTableIds") or []) + [rtb_id]
        apply = _chain(_add_route(rtb_id, route, True),
                       _patch("vpc_endpoints", vpce_id, RouteTableIds=ids))
        cmd = f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {vpce_id} --add-route-table-ids {rtb_id}"
        return _Candidate(T.Fix(f"associate {rtb_id} with the gateway endpoint {vpce_id} (adds "
                                f"the route {pl} → {vpce_id})", [cmd], code, rtb_id, False,
                                {"action": "modify-vpc-endpoint", "vpc_endpoint_id": vpce_id,
                                 "add_route_table_ids": [rtb_id]}), apply)

    def _peering_targets(self, rtb_id: str, code: str, address: int) -> list[_Candidate]:
        vpc = self.rtb_vpc(rtb_id)
        out = []
        for other in self.ix.vpc_of_address(address):
            if other == vpc:
                continue
            for pcx in self.ix.pcx_between.get(frozenset((vpc, other)), []):
                dest = self.topo.vpcs.get(other, {}).get("CidrBlock")
                if dest:
                    out.append(self.route_candidate(rtb_id, dest, pcx, code))
        return out

    def _route_targets(self, rtb_id: str, code: str, address: int) -> list[_Candidate]:
        if is_private(address):
            return self._peering_targets(rtb_id, code, address)
        return self._internet_targets(rtb_id, code, address)

    def _nat_suggestion(self, rtb_id: str, code: str) -> _Candidate:
        vpc = self.rtb_vpc(rtb_id)
        igw = self.ix.vpc_igw.get(vpc)
        publics = [s for s in self.public_subnets(vpc)
                   if self.ix.rtb_id_for_subnet(s) != rtb_id]
        cmds = []
        if igw is None:
            cmds += ["aws ec2 create-internet-gateway",
                     f"aws ec2 attach-internet-gateway --internet-gateway-id <igw-id> --vpc-id {vpc}"]
        if publics:
            subnet = publics[0]
            where = f"the public subnet {subnet}"
        else:
            subnet = "<public-subnet-id>"
            where = (f"a public subnet of {vpc} (a subnet whose route table sends 0.0.0.0/0 to "
                     f"{igw or 'the internet gateway'})")
            cmds += [f"aws ec2 create-subnet --vpc-id {vpc} --cidr-block <cidr>",
                     f"aws ec2 create-route-table --vpc-id {vpc}",
                     (f"aws ec2 create-route --route-table-id <public-rtb-id> "
                     f"--destination-cidr-block 0.0.0.0/0 --gateway-id {igw or '<igw-id>'}"),
                     ("aws ec2 associate-route-table --route-table-id <public-rtb-id> "
                     "--subnet-id <public-subnet-id>")]
        cmds += ["aws ec2 allocate-address --domain vpc",
                 f"aws ec2 create-nat-gateway --subnet-id {subnet} --allocation-id <allocation-id>",
                 (f"aws ec2 create-route --route-table-id {rtb_id} --destination-cidr-block "
                 f"0.0.0.0/0 --nat-gateway-id <nat-gateway-id>")]
        desc = (f"no simple fix: {vpc} has no NAT gateway that can carry this traffic to the "
                f"internet. Create a NAT gateway in {where} and add a route 0.0.0.0/0 → it to "
                f"{rtb_id}")
        stuck = [n for n, rec in self.topo.nat_gateways.items()
                 if rec.get("VpcId") == vpc and n not in self.working_nats(vpc)]
        if stuck:
            desc += "; " + "; ".join(
                f"{n} can't: it is {self.topo.nat_gateways[n].get('State')}, "
                f"{self.topo.nat_gateways[n].get('ConnectivityType', 'public')}, in "
                f"{self.topo.nat_gateways[n].get('SubnetId')}"
                + ("" if self.topo.nat_gateways[n].get("SubnetId") in self.public_subnets(vpc)
                   else " (not a public subnet: its route table does not send 0.0.0.0/0 to "
                        "an internet gateway)")
                for n in stuck)
        if self.dst.kind == "service":
            desc += (" — or, for S3 and DynamoDB, create a gateway VPC endpoint for "
                     f"{rtb_id} (aws ec2 create-vpc-endpoint --vpc-id {vpc} --service-name "
                     f"<service-name> --route-table-ids {rtb_id})")
        return _Candidate(T.Fix(desc, cmds, code, rtb_id, False,
                                {"action": "create-nat-gateway", "vpc_id": vpc}), None)

    def c_NO_ROUTE_TO_DESTINATION(self, e: T.Explanation) -> list[_Candidate]:
        address = e.context.get("address")
        out: list[_Candidate] = []
        rtbs = [r for r, _s in self.path_route_tables()]
        if e.component_id in self.topo.route_tables and e.component_id not in rtbs:
            rtbs.append(e.component_id)
        if e.context.get("vpc_endpoint_id") and e.component_id in self.topo.route_tables:
            pl = self.ix.pl_by_name.get(
                self.topo.vpc_endpoints[e.context["vpc_endpoint_id"]].get("ServiceName", ""))
            if pl:
                out.append(self._endpoint_association(e.context["vpc_endpoint_id"],
                                                      e.component_id, pl, e.code))
        if address is None:
            address = ip_str(self.dst.ip) if self.dst.ip is not None else None
        if address is None:
            return out
        addr = ip(address)
        # the blocking table first, then the tables before it on the path
        first = [e.component_id] if e.component_id in self.topo.route_tables else []
        for rtb in first + [r for r in reversed(rtbs) if r not in first]:
            out += self._route_targets(rtb, e.code, addr)
        if not is_private(addr) and first:
            src_rtb = rtbs[0] if rtbs else first[0]
            out.append(self._nat_suggestion(src_rtb, e.code))
        elif first:
            out.append(self._peering_suggestion(first[0], addr, e.code))
        return out

    def _peering_suggestion(self, rtb_id: str, addr: int, code: str) -> _Candidate:
        vpc = self.rtb_vpc(rtb_id)
        others = [v for v in self.ix.vpc_of_address(addr) if v != vpc]
        other = others[0] if others else "<peer-vpc-id>"
        dest = self.topo.vpcs.get(other, {}).get("CidrBlock", "<peer-vpc-cidr>")
        cmds = [f"aws ec2 create-vpc-peering-connection --vpc-id {vpc} --peer-vpc-id {other}",
                "aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id <pcx-id>",
                (f"aws ec2 create-route --route-table-id {rtb_id} --destination-cidr-block {dest} "
                f"--vpc-peering-connection-id <pcx-id>"),
                "(and the return route in the peer VPC's route table)"]
        return _Candidate(T.Fix(f"no simple fix: nothing connects {vpc} to {ip_str(addr)}; peer "
                                f"{vpc} with {other} and route {dest} over the peering connection",
                                cmds, code, rtb_id, False,
                                {"action": "create-vpc-peering-connection", "vpc_id": vpc,
                                 "peer_vpc_id": other}), None)

    def c_BAD_STATE_ROUTE(self, e: T.Explanation) -> list[_Candidate]:
        rtb_id = e.context.get("route_table_id") or e.component_id
        if rtb_id not in self.topo.route_tables:
            return []
        route = e.route or {}
        dest = route.get("DestinationCidr") or route.get("DestinationPrefixListId")
        address = ip(e.context["address"]) if e.context.get("address") else self.dst.ip
        out: list[_Candidate] = []
        if dest and not str(dest).startswith("pl-") and address is not None:
            for cand in self._route_targets(rtb_id, e.code, address):
                r = cand.fix.change["route"]
                target = next(v for k, v in r.items() if k.endswith("Id"))
                out.append(self.route_candidate(rtb_id, dest, target, e.code,
                                                " (the old target is gone)"))
        if dest:
            cmd_flag = ("--destination-prefix-list-id" if str(dest).startswith("pl-")
                        else "--destination-cidr-block")
            out.append(_Candidate(T.Fix(f"delete the blackhole route {dest} from {rtb_id}",
                                        [(f"aws ec2 delete-route --route-table-id {rtb_id} "
                                         f"{cmd_flag} {dest}")], e.code, rtb_id, False,
                                        {"action": "delete-route", "route_table_id": rtb_id,
                                         "destination": dest}),
                                  _delete_route(rtb_id, dest)))
            if address is not None and not is_private(address) and not any(
                    c.apply for c in out[:-1]):
                out.append(self._nat_suggestion(rtb_id, e.code))
        return out

    def c_IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS(self, e: T.Explanation) -> list[_Candidate]:
        eni_id = e.context.get("network_interface_id")
        nat_id = e.context.get("nat_gateway_id")
        rtb_id = e.context.get("route_table_id")
        out: list[_Candidate] = []
        if nat_id:
            vpc = self.topo.nat_gateways[nat_id].get("VpcId", "")
            for rtb, _sub in self.path_route_tables():
                for other in self.working_nats(vpc):
                    if other != nat_id and self.ix.rtb_id_for_subnet(
                            self.topo.nat_gateways[other]["SubnetId"]) != rtb:
                        out.append(self.route_candidate(rtb, "0.0.0.0/0", other, e.code))
            out.append(_Candidate(T.Fix(
                f"no simple fix: {nat_id} is a private NAT gateway and cannot reach the internet; "
                f"use a public NAT gateway (with an Elastic IP) in a public subnet",
                ["aws ec2 allocate-address --domain vpc",
                 ("aws ec2 create-nat-gateway --subnet-id <public-subnet-id> --allocation-id "
                 "<allocation-id>")], e.code, nat_id, False,
                {"action": "create-nat-gateway"}), None))
            return out
        if not eni_id:
            return out
        rec = self.topo.network_interfaces[eni_id]
        vpc = rec.get("VpcId", "")
        if self.is_lambda(eni_id):
            # Lambda interfaces never get public addresses: move the function to a subnet
            # that reaches the internet through a NAT gateway.
            name = self.function_name(eni_id)
            groups = ",".join(g["GroupId"] for g in rec.get("Groups") or ())
            working = set(self.working_nats(vpc))

            def nat_of(sub_id: str) -> str | None:
                rtb = self.ix.rtb_id_for_subnet(sub_id)
                table = self.ix.route_table(rtb) if rtb else None
                route = table.lookup(ip("198.51.100.10")) if table else None
                return route.target if route is not None and route.kind == NAT else None

            subnets = sorted(self.topo.subnets.items(), key=lambda kv: nat_of(kv[0]) not in working)
            for sub_id, sub in subnets:
                if sub.get("VpcId") != vpc or sub_id == rec.get("SubnetId"):
                    continue
                rtb = self.ix.rtb_id_for_subnet(sub_id)
                table = self.ix.route_table(rtb) if rtb else None
                dst = self.dst.ip if self.dst.ip is not None else ip("198.51.100.10")
                route = table.lookup(dst) if table else None
                if route is None or route.kind != NAT:
                    continue
                new_ip = _free_address(self.topo, sub)
                if new_ip is None:
                    continue
                apply = _patch("network_interfaces", eni_id, SubnetId=sub_id,
                               PrivateIpAddress=new_ip,
                               PrivateIpAddresses=[{"Primary": True, "PrivateIpAddress": new_ip}],
                               AvailabilityZone=sub.get("AvailabilityZone"))
                cmd = (f"aws lambda update-function-configuration --function-name {name} "
                       f"--vpc-config SubnetIds={sub_id},SecurityGroupIds={groups}")
                out.append(_Candidate(T.Fix(
                    f"connect the function {name} to the private subnet {sub_id} (its route "
                    f"table {rtb} sends internet traffic to {route.target}) instead of "
                    f"{rec.get('SubnetId')}: Lambda network interfaces never get a public IP "
                    f"address", [cmd], e.code, eni_id, False,
                    {"action": "update-function-configuration", "function_name": name,
                     "subnet_ids": [sub_id], "network_interface_id": eni_id}), apply))
            if rtb_id:
                for nat in self.working_nats(vpc):
                    if self.ix.rtb_id_for_subnet(self.topo.nat_gateways[nat]["SubnetId"]) != rtb_id:
                        out.append(self.route_candidate(rtb_id, "0.0.0.0/0", nat, e.code))
            if not out:
                out.append(_Candidate(T.Fix(
                    f"no simple fix: Lambda network interfaces never get a public IP address, so "
                    f"{name} needs a private subnet whose route table sends 0.0.0.0/0 to a NAT "
                    f"gateway in a public subnet", [
                        "aws ec2 allocate-address --domain vpc",
                        ("aws ec2 create-nat-gateway --subnet-id <public-subnet-id> "
                        "--allocation-id <allocation-id>"),
                        f"aws ec2 create-subnet --vpc-id {vpc} --cidr-block <cidr>",
                        f"aws ec2 create-route-table --vpc-id {vpc}",
                        ("aws ec2 create-route --route-table-id <private-rtb-id> "
                        "--destination-cidr-block 0.0.0.0/0 --nat-gateway-id <nat-gateway-id>"),
                        ("aws ec2 associate-route-table --route-table-id <private-rtb-id> "
                        "--subnet-id <private-subnet-id>"),
                        (f"aws lambda update-function-configuration --function-name {name} "
                        f"--vpc-config SubnetIds=<private-subnet-id>,SecurityGroupIds={groups}")],
                    e.code, eni_id, False, {"action": "create-nat-gateway"}), None))
            return out
        if rec.get("InterfaceType", "interface") == "interface" and not rec.get("RequesterManaged"):
            assoc = {"PublicIp": PLACEHOLDER_EIP, "AllocationId": "<allocation-id>"}
            apply = _patch("network_interfaces", eni_id, Association=assoc)
            out.append(_Candidate(T.Fix(
                f"associate an Elastic IP address with {eni_id}",
                ["aws ec2 allocate-address --domain vpc",
                 (f"aws ec2 associate-address --allocation-id <allocation-id> "
                 f"--network-interface-id {eni_id}")], e.code, eni_id, False,
                {"action": "associate-address", "network_interface_id": eni_id}), apply))
        if rtb_id:
            for nat in self.working_nats(vpc):
                if self.ix.rtb_id_for_subnet(self.topo.nat_gateways[nat]["SubnetId"]) != rtb_id:
                    out.append(self.route_candidate(rtb_id, "0.0.0.0/0", nat, e.code))
        return out

    def c_BAD_STATE(self, e: T.Explanation) -> list[_Candidate]:
        out: list[_Candidate] = []
        pcx = e.context.get("vpc_peering_connection_id")
        nat = e.context.get("nat_gateway_id")
        state = e.context.get("state", "")
        if pcx:
            if state == "pending-acceptance":
                out.append(_Candidate(T.Fix(
                    f"accept the peering connection {pcx}",
                    [f"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id {pcx}"],
                    e.code, pcx, False, {"action": "accept-vpc-peering-connection",
                                         "vpc_peering_connection_id": pcx}),
                    _patch("vpc_peering_connections", pcx, Status={"Code": "active",
                                                                   "Message": "Active"})))
            else:
                out.append(_Candidate(T.Fix(
                    f"no simple fix: {pcx} is {state}; create a new peering connection and "
                    f"route over it", [("aws ec2 create-vpc-peering-connection --vpc-id <vpc-id> "
                                       "--peer-vpc-id <peer-vpc-id>")], e.code, pcx, False,
                    {"action": "create-vpc-peering-connection"}), None))
        elif nat:
            rtb = e.context.get("route_table_id")
            vpc = self.topo.nat_gateways[nat].get("VpcId", "")
            if rtb:
                for other in self.working_nats(vpc):
                    if other != nat and self.ix.rtb_id_for_subnet(
                            self.topo.nat_gateways[other]["SubnetId"]) != rtb:
                        out.append(self.route_candidate(rtb, "0.0.0.0/0", other, e.code))
            what = ("wait until it is available" if state == "pending"
                    else "create a new NAT gateway in a public subnet and route to it")
            out.append(_Candidate(T.Fix(f"no simple fix: {nat} is {state}; {what}",
                                        [f"aws ec2 describe-nat-gateways --nat-gateway-ids {nat}"],
                                        e.code, nat, False, {"action": "wait"}), None))
        return out

    def c_BAD_STATE_ATTACHMENT(self, e: T.Explanation) -> list[_Candidate]:
        igw = e.context.get("internet_gateway_id")
        vpc = e.context.get("vpc_id")
        if not igw or not vpc or self.ix.igw_vpcs.get(igw):
            return []
        return [_Candidate(T.Fix(
            f"attach {igw} to {vpc}",
            [f"aws ec2 attach-internet-gateway --internet-gateway-id {igw} --vpc-id {vpc}"],
            e.code, igw, False, {"action": "attach-internet-gateway", "internet_gateway_id": igw,
                                 "vpc_id": vpc}),
            _patch("internet_gateways", igw, Attachments=[{"VpcId": vpc, "State": "available"}]))]

    def c_PCX_REQUIRES_ADDRESS_IN_VPC_CIDR(self, e: T.Explanation) -> list[_Candidate]:
        rtb = e.context.get("route_table_id")
        address = e.context.get("address")
        if not rtb or not address:
            return []
        addr = ip(address)
        out = self._peering_targets(rtb, e.code, addr)
        if not out:
            out.append(self._peering_suggestion(rtb, addr, e.code))
        return out

    def c_NGW_REQUIRES_SOURCE_IN_VPC(self, e: T.Explanation) -> list[_Candidate]:
        nat = e.context.get("nat_gateway_id", "")
        return [_Candidate(T.Fix(
            f"no simple fix: {nat} only serves its own VPC (peering is not transitive); give the "
            f"source's VPC its own NAT gateway and route 0.0.0.0/0 to it",
            [("aws ec2 create-nat-gateway --subnet-id <public-subnet-in-source-vpc> "
             "--allocation-id <allocation-id>")], e.code, nat, False,
            {"action": "create-nat-gateway"}), None)]

    def c_DISCONNECTED_VPCS(self, e: T.Explanation) -> list[_Candidate]:
        a = e.context.get("source_vpc_id", "<vpc-id>")
        b = e.context.get("vpc_id", "<peer-vpc-id>")
        return [_Candidate(T.Fix(
            f"no simple fix: {a} and {b} are not connected; peer them and add routes both ways",
            [f"aws ec2 create-vpc-peering-connection --vpc-id {a} --peer-vpc-id {b}",
             "aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id <pcx-id>",
             (f"aws ec2 create-route --route-table-id <route-table-of-{a}> --destination-cidr-block "
             f"{self.topo.vpcs.get(b, {}).get('CidrBlock', '<cidr>')} --vpc-peering-connection-id "
             f"<pcx-id>"),
             (f"aws ec2 create-route --route-table-id <route-table-of-{b}> --destination-cidr-block "
             f"{self.topo.vpcs.get(a, {}).get('CidrBlock', '<cidr>')} --vpc-peering-connection-id "
             f"<pcx-id>")], e.code, b, False, {"action": "create-vpc-peering-connection"}), None)]

    def c_ENI_SOURCE_DEST_CHECK_RESTRICTION(self, e: T.Explanation) -> list[_Candidate]:
        eni = e.context.get("network_interface_id", e.component_id)
        return [_Candidate(T.Fix(
            f"disable the source/destination check of {eni}",
            [(f"aws ec2 modify-network-interface-attribute --network-interface-id {eni} "
             f"--no-source-dest-check")], e.code, eni, False,
            {"action": "modify-network-interface-attribute", "network_interface_id": eni,
             "source_dest_check": False}),
            _patch("network_interfaces", eni, SourceDestCheck=False))]

    def c_IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS(self, e: T.Explanation) -> list[_Candidate]:
        rtb = e.context.get("route_table_id")
        address = e.context.get("address")
        if not rtb or not address:
            return []
        return (self._peering_targets(rtb, e.code, ip(address))
                or [self._peering_suggestion(rtb, ip(address), e.code)])

    def c_IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS(self, e: T.Explanation) -> list[_Candidate]:
        eni = e.context.get("network_interface_id")
        rec = self.topo.network_interfaces.get(eni or "")
        if not rec:
            return []
        if rec.get("InterfaceType", "interface") != "interface":
            return [_Candidate(T.Fix(
                f"no simple fix: {eni} is a {rec.get('InterfaceType')} interface, which never "
                f"gets a public address; reach it through a load balancer or from inside the VPC",
                [], e.code, eni, False, {"action": "none"}), None)]
        assoc = {"PublicIp": PLACEHOLDER_EIP, "AllocationId": "<allocation-id>"}
        return [_Candidate(T.Fix(
            f"associate an Elastic IP address with {eni}",
            ["aws ec2 allocate-address --domain vpc",
             (f"aws ec2 associate-address --allocation-id <allocation-id> "
              f"--network-interface-id {eni}")], e.code, eni, False,
            {"action": "associate-address", "network_interface_id": eni}),
            _patch("network_interfaces", eni, Association=assoc))]

    def c_NO_PATH(self, e: T.Explanation) -> list[_Candidate]:
        out: list[_Candidate] = []
        rtb = e.context.get("route_table_id")
        address = e.context.get("address")
        if rtb and address and is_private(ip(address)):
            out += self._peering_targets(rtb, e.code, ip(address))
        nat = e.context.get("nat_gateway_id")
        if nat and rtb and e.path == "return" and self.src.kind == "internet":
            igw = self.ix.vpc_igw.get(self.rtb_vpc(rtb))
            if igw and self.src.ip is not None:
                dest = "0.0.0.0/0" if self.peer_cidr(ip_str(self.src.ip)) == "0.0.0.0/0" \
                    else f"{ip_str(self.src.ip)}/32"
                if dest != "0.0.0.0/0":
                    out.append(self.route_candidate(rtb, dest, igw, e.code,
                                                    " so that replies go back the way they came"))
                out.append(_Candidate(T.Fix(
                    f"no simple fix: the destination's subnet routes internet traffic through "
                    f"{nat}, so replies to the internet don't go back through the internet "
                    f"gateway; put the destination in a public subnet", [], e.code, rtb, False,
                    {"action": "move-to-public-subnet"}), None))
        if e.component_type == T.VPC and e.component_id in self.topo.vpcs:
            vpc = e.component_id
            out.append(_Candidate(T.Fix(
                f"no simple fix: {vpc} has no internet gateway; create and attach one, and route "
                f"0.0.0.0/0 to it from the destination's subnet",
                ["aws ec2 create-internet-gateway",
                 f"aws ec2 attach-internet-gateway --internet-gateway-id <igw-id> --vpc-id {vpc}"],
                e.code, vpc, False, {"action": "create-internet-gateway"}), None))
        return out


def _free_address(topo: Topology, subnet: dict) -> str | None:
    try:
        net, _m, plen = cidr(subnet["CidrBlock"])
    except (AddressError, KeyError):
        return None
    used = {rec.get("PrivateIpAddress") for rec in topo.network_interfaces.values()
            if rec.get("SubnetId") == subnet.get("SubnetId")}
    size = 1 << (32 - plen)
    for offset in range(4, size - 1):
        candidate = ip_str(net + offset)
        if candidate not in used:
            return candidate
    return None


def _key(e: T.Explanation) -> tuple:
    return (e.code, e.component_id, e.path, e.direction)


def apply_changes(topology: Topology, fixes: list[T.Fix]) -> Topology:
    """Apply the machine-readable ``change`` of verified fixes to a copy of a topology.

    This is how a caller (or a test) replays fixes without the engine's closures; suggestions
    (unverified fixes) are skipped. The topology passed in is not modified.
    """
    topo = topology
    for fix in fixes:
        if not fix.verified:
            continue
        c = fix.change
        action = c.get("action")
        if action in ("create-route", "replace-route"):
            topo = _add_route(c["route_table_id"], dict(c["route"]),
                              action == "replace-route")(topo)
        elif action == "delete-route":
            topo = _delete_route(c["route_table_id"], c["destination"])(topo)
        elif action in ("authorize-security-group-egress", "authorize-security-group-ingress"):
            key = "IpPermissionsEgress" if action.endswith("egress") else "IpPermissions"
            sg = dict(topo.security_groups[c["group_id"]])
            sg[key] = list(sg.get(key) or []) + [dict(c["ip_permission"])]
            topo = _with(topo, "security_groups", c["group_id"], sg)
        elif action == "create-network-acl-entry":
            acl = dict(topo.network_acls[c["network_acl_id"]])
            acl["Entries"] = list(acl.get("Entries") or []) + [dict(c["entry"])]
            topo = _with(topo, "network_acls", c["network_acl_id"], acl)
        elif action == "delete-network-acl-entry":
            acl = dict(topo.network_acls[c["network_acl_id"]])
            acl["Entries"] = [x for x in acl.get("Entries") or []
                              if not (x.get("RuleNumber") == c["rule_number"]
                                      and bool(x.get("Egress")) == c["egress"])]
            topo = _with(topo, "network_acls", c["network_acl_id"], acl)
        elif action == "modify-vpc-endpoint":
            vpce = c["vpc_endpoint_id"]
            ep = topo.vpc_endpoints[vpce]
            pl = next((p for p, rec in topo.prefix_lists.items()
                       if rec.get("PrefixListName") == ep.get("ServiceName")), None)
            for rtb in c["add_route_table_ids"]:
                route = {"DestinationPrefixListId": pl, "GatewayId": vpce, "State": "active",
                         "Origin": "CreateRoute"}
                topo = _add_route(rtb, route, True)(topo)
            ids = list(ep.get("RouteTableIds") or []) + list(c["add_route_table_ids"])
            topo = _patch("vpc_endpoints", vpce, RouteTableIds=ids)(topo)
        elif action == "accept-vpc-peering-connection":
            topo = _patch("vpc_peering_connections", c["vpc_peering_connection_id"],
                          Status={"Code": "active", "Message": "Active"})(topo)
        elif action == "attach-internet-gateway":
            topo = _patch("internet_gateways", c["internet_gateway_id"],
                          Attachments=[{"VpcId": c["vpc_id"], "State": "available"}])(topo)
        elif action == "modify-network-interface-attribute":
            topo = _patch("network_interfaces", c["network_interface_id"],
                          SourceDestCheck=c["source_dest_check"])(topo)
        elif action == "associate-address":
            topo = _patch("network_interfaces", c["network_interface_id"],
                          Association={"PublicIp": PLACEHOLDER_EIP,
                                       "AllocationId": "<allocation-id>"})(topo)
        elif action == "update-function-configuration":
            sub = topo.subnets[c["subnet_ids"][0]]
            new_ip = _free_address(topo, sub)
            topo = _patch("network_interfaces", c["network_interface_id"],
                          SubnetId=sub["SubnetId"], PrivateIpAddress=new_ip,
                          PrivateIpAddresses=[{"Primary": True, "PrivateIpAddress": new_ip}],
                          AvailabilityZone=sub.get("AvailabilityZone"))(topo)
        else:
            raise ValueError(f"cannot apply {action!r}")
    return topo


class _Search:
    """Depth-first search for a sequence of verified changes that opens the path.

    Each level takes the first block of the current analysis and tries its candidates in
    order; a candidate counts only if re-analysis shows its block gone. The first sequence
    ending in a reachable analysis wins. If there is none, the search stops at the first block
    that has suggestions (changes needing new resources) and reports them, after the verified
    changes that got it there; a block without suggestions is passed with its first verified
    candidate, so independent fixable blocks before an unfixable one are still reported.
    """

    def __init__(self, request: dict, budget: int = 60, depth: int = MAX_ROUNDS) -> None:
        self.request = request
        self.budget = budget
        self.depth = depth
        self.kwargs = {k: request.get(k) for k in ("source_port", "resolver")}
        self.kwargs.update(icmp_type=request.get("icmp_type", 8),
                           icmp_code=request.get("icmp_code", 0))

    def trial(self, engine, cand: _Candidate):
        from .engine import Engine  # engine.py imports this module lazily

        if self.budget <= 0 or cand.apply is None:
            return None
        self.budget -= 1
        try:
            topo = cand.apply(engine.topology)
            trial_engine = Engine(topo, engine.resolver)
            r = self.request
            trial = trial_engine.analyze(r["source"], r["destination"], r["protocol"], r["port"],
                                         fixes=False, **self.kwargs)
        except (KeyError, ValueError):
            return None
        return trial_engine, trial

    def solve(self, engine, analysis: T.Analysis, depth: int):
        """-> (fixes, final analysis)"""
        if analysis.reachable or not analysis.explanations:
            return [], analysis
        target = analysis.explanations[0]
        candidates = _Ctx(engine, analysis, self.request).candidates(target) if depth > 0 else []
        partial = None
        for cand in candidates:
            result = self.trial(engine, cand)
            if result is None:
                continue
            trial_engine, trial = result
            if not trial.reachable and _key(target) in {_key(x) for x in trial.explanations}:
                continue
            fixes, final = self.solve(trial_engine, trial, depth - 1)
            fixed = replace(cand.fix, verified=True)
            if final.reachable:
                return [fixed, *fixes], final
            if partial is None:
                partial = ([fixed, *fixes], final)
        suggestions = [c.fix for c in candidates if c.apply is None]
        if suggestions or partial is None:
            if not suggestions:
                suggestions = [T.Fix(f"no simple fix found for {target.code} at "
                                     f"{target.component_id}: {target.message}", [], target.code,
                                     target.component_id, False, {"action": "none"})]
            return suggestions, analysis
        return partial


def propose_fixes(engine, analysis: T.Analysis, request: dict) -> tuple[list[T.Fix], bool]:
    """Fixes for a blocked analysis, and whether applying them all opens the path."""
    fixes, final = _Search(request).solve(engine, analysis, MAX_ROUNDS)
    return fixes, final.reachable


__all__ = ["PLACEHOLDER_EIP", "apply_changes", "propose_fixes"]
