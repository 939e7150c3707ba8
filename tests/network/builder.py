"""Build VPC topologies for engine tests, in the exact EC2 Describe* shapes.

Defaults follow AWS: a new VPC has a main route table with the local route, a default network
ACL allowing everything (rule 100 + the 32767 deny), and a default security group; a new
security group allows all egress; a new custom ACL has only the 32767 denies.
"""

from __future__ import annotations

import ipaddress
import itertools

from vpclocal.network.topology import Topology

S3_CIDRS = ["52.216.0.0/15", "3.5.0.0/19"]
DDB_CIDRS = ["52.94.0.0/22"]
REGION = "us-east-1"


def _all(proto: str = "-1") -> dict:
    return {"IpProtocol": proto, "IpRanges": [], "UserIdGroupPairs": [], "PrefixListIds": [],
            "Ipv6Ranges": []}


class Net:
    def __init__(self) -> None:
        self.t = Topology()
        self._n = itertools.count(1)
        self._next_ip: dict[str, int] = {}
        self._public = itertools.count(1)
        self.main_rtb: dict[str, str] = {}
        self.default_acl: dict[str, str] = {}
        self.default_sg: dict[str, str] = {}

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._n):017x}"

    def public_ip(self) -> str:
        n = next(self._public)
        return f"34.{n // 250}.{n % 250}.7"

    # ---- VPCs, subnets, route tables --------------------------------------------------------

    def vpc(self, cidr: str = "10.0.0.0/16") -> str:
        vpc_id = self._id("vpc")
        self.t.vpcs[vpc_id] = {
            "VpcId": vpc_id, "CidrBlock": cidr, "State": "available", "IsDefault": False,
            "CidrBlockAssociationSet": [{"AssociationId": self._id("vpc-cidr-assoc"),
                                         "CidrBlock": cidr,
                                         "CidrBlockState": {"State": "associated"}}],
        }
        rtb = self._id("rtb")
        self.t.route_tables[rtb] = {
            "RouteTableId": rtb, "VpcId": vpc_id,
            "Associations": [{"Main": True, "RouteTableId": rtb,
                              "RouteTableAssociationId": self._id("rtbassoc"),
                              "AssociationState": {"State": "associated"}}],
            "Routes": [{"DestinationCidrBlock": cidr, "GatewayId": "local", "State": "active",
                        "Origin": "CreateRouteTable"}],
        }
        self.main_rtb[vpc_id] = rtb
        acl = self._id("acl")
        self.t.network_acls[acl] = {
            "NetworkAclId": acl, "VpcId": vpc_id, "IsDefault": True, "Associations": [],
            "Entries": [
                {"RuleNumber": n, "Protocol": "-1", "RuleAction": a, "Egress": e,
                 "CidrBlock": "0.0.0.0/0"}
                for e in (False, True) for n, a in ((100, "allow"), (32767, "deny"))
            ],
        }
        self.default_acl[vpc_id] = acl
        sg = self._id("sg")
        self.t.security_groups[sg] = {
            "GroupId": sg, "GroupName": "default", "VpcId": vpc_id, "Description": "default",
            "IpPermissions": [dict(_all(), UserIdGroupPairs=[{"GroupId": sg}])],
            "IpPermissionsEgress": [dict(_all(), IpRanges=[{"CidrIp": "0.0.0.0/0"}])],
        }
        self.default_sg[vpc_id] = sg
        return vpc_id

    def subnet(self, vpc: str, cidr: str, az: str = "us-east-1a") -> str:
        subnet_id = self._id("subnet")
        self.t.subnets[subnet_id] = {
            "SubnetId": subnet_id, "VpcId": vpc, "CidrBlock": cidr, "AvailabilityZone": az,
            "MapPublicIpOnLaunch": False, "State": "available",
            "AvailableIpAddressCount": ipaddress.ip_network(cidr).num_addresses - 5,
        }
        self._next_ip[subnet_id] = int(ipaddress.ip_network(cidr).network_address) + 4
        # default ACL association, like AWS
        acl = self.t.network_acls[self.default_acl[vpc]]
        acl["Associations"].append({"NetworkAclAssociationId": self._id("aclassoc"),
                                    "NetworkAclId": acl["NetworkAclId"], "SubnetId": subnet_id})
        return subnet_id

    def route_table(self, vpc: str, subnets: tuple[str, ...] | list[str] = ()) -> str:
        rtb = self._id("rtb")
        self.t.route_tables[rtb] = {
            "RouteTableId": rtb, "VpcId": vpc, "Associations": [],
            "Routes": [{"DestinationCidrBlock": self.t.vpcs[vpc]["CidrBlock"],
                        "GatewayId": "local", "State": "active", "Origin": "CreateRouteTable"}],
        }
        for s in subnets:
            self.associate(rtb, s)
        return rtb

    def associate(self, rtb: str, subnet: str) -> None:
        for other in self.t.route_tables.values():
            other["Associations"] = [a for a in other["Associations"] if a.get("SubnetId") != subnet]
        self.t.route_tables[rtb]["Associations"].append(
            {"Main": False, "SubnetId": subnet, "RouteTableId": rtb,
             "RouteTableAssociationId": self._id("rtbassoc"),
             "AssociationState": {"State": "associated"}})

    def route(self, rtb: str, dest: str, target: str, state: str = "active") -> dict:
        r: dict = {"State": state, "Origin": "CreateRoute"}
        if dest.startswith("pl-"):
            r["DestinationPrefixListId"] = dest
        else:
            r["DestinationCidrBlock"] = dest
        if target.startswith("nat-"):
            r["NatGatewayId"] = target
        elif target.startswith("pcx-"):
            r["VpcPeeringConnectionId"] = target
        elif target.startswith("eni-"):
            r["NetworkInterfaceId"] = target
        else:
            r["GatewayId"] = target
        self.t.route_tables[rtb]["Routes"].append(r)
        return r

    def rtb_of(self, subnet: str) -> str:
        for rtb in self.t.route_tables.values():
            if any(a.get("SubnetId") == subnet for a in rtb["Associations"]):
                return rtb["RouteTableId"]
        return self.main_rtb[self.t.subnets[subnet]["VpcId"]]

    # ---- gateways ---------------------------------------------------------------------------

    def igw(self, vpc: str | None = None) -> str:
        igw = self._id("igw")
        self.t.internet_gateways[igw] = {
            "InternetGatewayId": igw,
            "Attachments": [{"VpcId": vpc, "State": "available"}] if vpc else [],
        }
        return igw

    def public_subnet(self, vpc: str, cidr: str, igw: str, az: str = "us-east-1a") -> str:
        s = self.subnet(vpc, cidr, az)
        rtb = self.route_table(vpc, [s])
        self.route(rtb, "0.0.0.0/0", igw)
        return s

    def nat(self, subnet: str, public: bool = True, state: str = "available") -> str:
        nat = self._id("nat")
        vpc = self.t.subnets[subnet]["VpcId"]
        eni = self.eni(subnet, groups=(), itype="nat_gateway",
                       description=f"Interface for NAT Gateway {nat}")
        private = self.t.network_interfaces[eni]["PrivateIpAddress"]
        addr: dict = {"NetworkInterfaceId": eni, "PrivateIp": private, "IsPrimary": True,
                      "Status": "succeeded"}
        if public:
            pub = self.public_ip()
            alloc = self._id("eipalloc")
            addr.update(AllocationId=alloc, PublicIp=pub)
            self.t.addresses[alloc] = {"AllocationId": alloc, "PublicIp": pub, "Domain": "vpc",
                                       "NetworkInterfaceId": eni, "PrivateIpAddress": private,
                                       "AssociationId": self._id("eipassoc")}
            self.t.network_interfaces[eni]["Association"] = {"PublicIp": pub,
                                                             "AllocationId": alloc}
        self.t.nat_gateways[nat] = {
            "NatGatewayId": nat, "SubnetId": subnet, "VpcId": vpc, "State": state,
            "ConnectivityType": "public" if public else "private",
            "NatGatewayAddresses": [addr],
        }
        return nat

    def prefix_list(self, name: str, cidrs: list[str]) -> str:
        for pl_id, pl in self.t.prefix_lists.items():
            if pl["PrefixListName"] == name:
                return pl_id
        pl = self._id("pl")
        self.t.prefix_lists[pl] = {"PrefixListId": pl, "PrefixListName": name,
                                   "AddressFamily": "IPv4", "State": "create-complete",
                                   "OwnerId": "AWS", "Entries": [{"Cidr": c} for c in cidrs]}
        return pl

    def s3_prefix_list(self) -> str:
        return self.prefix_list(f"com.amazonaws.{REGION}.s3", S3_CIDRS)

    def gateway_endpoint(self, vpc: str, service: str = "s3", route_tables=()) -> str:
        cidrs = S3_CIDRS if service == "s3" else DDB_CIDRS
        pl = self.prefix_list(f"com.amazonaws.{REGION}.{service}", cidrs)
        vpce = self._id("vpce")
        self.t.vpc_endpoints[vpce] = {
            "VpcEndpointId": vpce, "VpcEndpointType": "Gateway", "VpcId": vpc,
            "ServiceName": f"com.amazonaws.{REGION}.{service}", "State": "available",
            "RouteTableIds": list(route_tables), "SubnetIds": [], "NetworkInterfaceIds": [],
            "Groups": [], "PrivateDnsEnabled": False,
        }
        for rtb in route_tables:
            self.route(rtb, pl, vpce)["Origin"] = "CreateRoute"
        return vpce

    def peering(self, a: str, b: str, status: str = "active") -> str:
        pcx = self._id("pcx")
        self.t.vpc_peering_connections[pcx] = {
            "VpcPeeringConnectionId": pcx, "Status": {"Code": status},
            "RequesterVpcInfo": {"VpcId": a, "CidrBlock": self.t.vpcs[a]["CidrBlock"]},
            "AccepterVpcInfo": {"VpcId": b, "CidrBlock": self.t.vpcs[b]["CidrBlock"]},
        }
        return pcx

    # ---- security groups and ACLs ------------------------------------------------------------

    def sg(self, vpc: str, name: str | None = None, egress_all: bool = True) -> str:
        sg = self._id("sg")
        self.t.security_groups[sg] = {
            "GroupId": sg, "GroupName": name or sg, "VpcId": vpc, "Description": name or sg,
            "IpPermissions": [],
            "IpPermissionsEgress": (
                [dict(_all(), IpRanges=[{"CidrIp": "0.0.0.0/0"}])] if egress_all else []),
        }
        return sg

    def allow(self, sg: str, direction: str = "ingress", proto: str = "tcp",
              port: int | tuple[int, int] | None = None, cidr: str | None = None,
              group: str | None = None, prefix_list: str | None = None) -> dict:
        perm: dict = _all(proto)
        if port is not None:
            lo, hi = (port, port) if isinstance(port, int) else port
            perm["FromPort"], perm["ToPort"] = lo, hi
        if cidr:
            perm["IpRanges"] = [{"CidrIp": cidr}]
        if group:
            perm["UserIdGroupPairs"] = [{"GroupId": group}]
        if prefix_list:
            perm["PrefixListIds"] = [{"PrefixListId": prefix_list}]
        key = "IpPermissions" if direction == "ingress" else "IpPermissionsEgress"
        self.t.security_groups[sg][key].append(perm)
        return perm

    def clear_egress(self, sg: str) -> None:
        self.t.security_groups[sg]["IpPermissionsEgress"] = []

    def acl(self, vpc: str, subnets=()) -> str:
        acl = self._id("acl")
        self.t.network_acls[acl] = {
            "NetworkAclId": acl, "VpcId": vpc, "IsDefault": False, "Associations": [],
            "Entries": [{"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny",
                         "Egress": e, "CidrBlock": "0.0.0.0/0"} for e in (False, True)],
        }
        for s in subnets:
            self.acl_associate(acl, s)
        return acl

    def acl_associate(self, acl: str, subnet: str) -> None:
        for other in self.t.network_acls.values():
            other["Associations"] = [a for a in other["Associations"] if a["SubnetId"] != subnet]
        self.t.network_acls[acl]["Associations"].append(
            {"NetworkAclAssociationId": self._id("aclassoc"), "NetworkAclId": acl,
             "SubnetId": subnet})

    def acl_entry(self, acl: str, rule: int, egress: bool, action: str = "allow",
                  proto: str = "-1", cidr: str = "0.0.0.0/0",
                  ports: tuple[int, int] | None = None,
                  icmp: tuple[int, int] | None = None) -> dict:
        e: dict = {"RuleNumber": rule, "Protocol": proto, "RuleAction": action, "Egress": egress,
                   "CidrBlock": cidr}
        if ports:
            e["PortRange"] = {"From": ports[0], "To": ports[1]}
        if icmp:
            e["IcmpTypeCode"] = {"Type": icmp[0], "Code": icmp[1]}
        entries = self.t.network_acls[acl]["Entries"]
        entries[:] = [x for x in entries if not (x["RuleNumber"] == rule and x["Egress"] == egress)]
        entries.append(e)
        return e

    # ---- interfaces ---------------------------------------------------------------------------

    def eni(self, subnet: str, groups=None, *, ip: str | None = None, public: bool = False,
            itype: str = "interface", description: str = "", source_dest_check: bool = True) -> str:
        sub = self.t.subnets[subnet]
        vpc = sub["VpcId"]
        if groups is None:
            groups = (self.default_sg[vpc],)
        if ip is None:
            ip = str(ipaddress.ip_address(self._next_ip[subnet]))
            self._next_ip[subnet] += 1
        eni = self._id("eni")
        rec: dict = {
            "NetworkInterfaceId": eni, "SubnetId": subnet, "VpcId": vpc,
            "AvailabilityZone": sub["AvailabilityZone"], "PrivateIpAddress": ip,
            "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": ip}],
            "Groups": [{"GroupId": g, "GroupName": self.t.security_groups[g]["GroupName"]}
                       for g in groups],
            "InterfaceType": itype, "Description": description, "Status": "in-use",
            "SourceDestCheck": source_dest_check,
            "RequesterManaged": itype in ("lambda", "nat_gateway", "vpc_endpoint"),
        }
        if public:
            pub = self.public_ip()
            rec["Association"] = {"PublicIp": pub, "IpOwnerId": "amazon"}
            rec["PrivateIpAddresses"][0]["Association"] = {"PublicIp": pub}
        self.t.network_interfaces[eni] = rec
        return eni

    def lambda_eni(self, subnet: str, groups, function: str = "MyFunction") -> str:
        return self.eni(subnet, groups, itype="lambda",
                        description=f"AWS Lambda VPC ENI-{function}-"
                                    f"{next(self._n):08x}-aaaa-bbbb-cccc-0123456789ab")

    def eip(self, eni: str) -> str:
        pub = self.public_ip()
        alloc = self._id("eipalloc")
        rec = self.t.network_interfaces[eni]
        self.t.addresses[alloc] = {"AllocationId": alloc, "PublicIp": pub, "Domain": "vpc",
                                   "NetworkInterfaceId": eni,
                                   "PrivateIpAddress": rec["PrivateIpAddress"],
                                   "AssociationId": self._id("eipassoc")}
        rec["Association"] = {"PublicIp": pub, "AllocationId": alloc}
        return pub

    @property
    def topology(self) -> Topology:
        return self.t
