"""Reachability engine benchmark.

Generates a region with 1,000 subnets, 2,000 security groups, 50,000 security group rules and
10,000 network interfaces (4 VPCs, two peerings, IGWs, NAT gateways, S3 gateway endpoints,
custom network ACLs) and prints:

  - the index build time,
  - the median (and p90) time of one query, with the full hop list and explanations
    (Engine.analyze(fixes=False)) and verdict-only (Engine.reachable),
  - the time of the all-pairs matrix over 1,000 interfaces on one port,

against the goals (one query <= 1 ms, matrix <= 10 s). A sample of matrix cells is checked
against the engine pair by pair. Pure computation: no network traffic.

    .venv/bin/python bench/reach_bench.py [--seed N] [--queries N] [--matrix N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vpclocal.network import Engine, Topology

GOAL_QUERY_MS = 1.0
GOAL_MATRIX_S = 10.0
VPCS = 4
SUBNETS_PER_VPC = 250
PUBLIC_PER_VPC = 25
GROUPS = 2000
RULES = 50_000
ENIS = 10_000
PORTS = [22, 80, 443, 3306, 5432, 6379, 8080]
S3_CIDRS = ["203.0.113.192/27", "52.216.0.0/15"]


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:017x}"


def build(seed: int) -> Topology:
    rnd = random.Random(seed)
    new = Ids()
    t = Topology()
    pl = new("pl")
    t.prefix_lists[pl] = {"PrefixListId": pl, "PrefixListName": "com.amazonaws.us-east-1.s3",
                          "Entries": [{"Cidr": c} for c in S3_CIDRS]}
    vpcs, subnets, publics, groups = [], {}, {}, {}
    for v in range(VPCS):
        vpc = new("vpc")
        block = f"10.{v}.0.0/16"
        t.vpcs[vpc] = {"VpcId": vpc, "CidrBlock": block, "State": "available",
                       "CidrBlockAssociationSet": [{"CidrBlock": block,
                                                    "CidrBlockState": {"State": "associated"}}]}
        vpcs.append(vpc)
        igw = new("igw")
        t.internet_gateways[igw] = {"InternetGatewayId": igw,
                                    "Attachments": [{"VpcId": vpc, "State": "available"}]}
        local = {"DestinationCidrBlock": block, "GatewayId": "local", "State": "active",
                 "Origin": "CreateRouteTable"}
        main = new("rtb")
        t.route_tables[main] = {"RouteTableId": main, "VpcId": vpc, "Routes": [local],
                                "Associations": [{"Main": True, "RouteTableId": main}]}
        public_rtb = new("rtb")
        t.route_tables[public_rtb] = {
            "RouteTableId": public_rtb, "VpcId": vpc, "Associations": [],
            "Routes": [local, {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw,
                               "State": "active", "Origin": "CreateRoute"}]}
        default_acl = new("acl")
        t.network_acls[default_acl] = {
            "NetworkAclId": default_acl, "VpcId": vpc, "IsDefault": True, "Associations": [],
            "Entries": [{"RuleNumber": n, "Protocol": "-1", "RuleAction": a, "Egress": e,
                         "CidrBlock": "0.0.0.0/0"}
                        for e in (False, True) for n, a in ((100, "allow"), (32767, "deny"))]}
        subnets[vpc], publics[vpc] = [], []
        for s in range(SUBNETS_PER_VPC):
            sid = new("subnet")
            t.subnets[sid] = {"SubnetId": sid, "VpcId": vpc, "CidrBlock": f"10.{v}.{s}.0/24",
                              "AvailabilityZone": f"us-east-1{'abc'[s % 3]}"}
            subnets[vpc].append(sid)
            if s < PUBLIC_PER_VPC:
                publics[vpc].append(sid)
                t.route_tables[public_rtb]["Associations"].append(
                    {"Main": False, "SubnetId": sid, "RouteTableId": public_rtb})
        # NAT gateways in two public subnets; private subnets spread over 10 route tables
        nats = []
        for k in range(2):
            nat = new("nat")
            sub = publics[vpc][k]
            eni = new("eni")
            private = f"10.{v}.{k}.250"
            public = f"3.{v}.{k}.1"
            t.network_interfaces[eni] = {
                "NetworkInterfaceId": eni, "SubnetId": sub, "VpcId": vpc,
                "PrivateIpAddress": private, "Groups": [], "InterfaceType": "nat_gateway",
                "Association": {"PublicIp": public}, "RequesterManaged": True}
            t.nat_gateways[nat] = {"NatGatewayId": nat, "SubnetId": sub, "VpcId": vpc,
                                   "State": "available", "ConnectivityType": "public",
                                   "NatGatewayAddresses": [{"NetworkInterfaceId": eni,
                                                            "PrivateIp": private,
                                                            "PublicIp": public}]}
            nats.append(nat)
        private_rtbs = []
        for k in range(10):
            rtb = new("rtb")
            t.route_tables[rtb] = {
                "RouteTableId": rtb, "VpcId": vpc, "Associations": [],
                "Routes": [local, {"DestinationCidrBlock": "0.0.0.0/0",
                                   "NatGatewayId": nats[k % 2], "State": "active",
                                   "Origin": "CreateRoute"}]}
            private_rtbs.append(rtb)
        vpce = new("vpce")
        chosen = private_rtbs[:5]
        t.vpc_endpoints[vpce] = {"VpcEndpointId": vpce, "VpcEndpointType": "Gateway",
                                 "VpcId": vpc, "ServiceName": "com.amazonaws.us-east-1.s3",
                                 "State": "available", "RouteTableIds": chosen}
        for rtb in chosen:
            t.route_tables[rtb]["Routes"].append(
                {"DestinationPrefixListId": pl, "GatewayId": vpce, "State": "active",
                 "Origin": "CreateRoute"})
        for i, sid in enumerate(subnets[vpc][PUBLIC_PER_VPC:]):
            rtb = private_rtbs[i % 10]
            t.route_tables[rtb]["Associations"].append(
                {"Main": False, "SubnetId": sid, "RouteTableId": rtb})
        # 25 custom ACLs per VPC, each on 4 private subnets
        for k in range(25):
            acl = new("acl")
            entries = [{"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny",
                        "Egress": e, "CidrBlock": "0.0.0.0/0"} for e in (False, True)]
            for n in range(1, 7):
                entries.append({
                    "RuleNumber": n * 10, "Protocol": rnd.choice(["6", "6", "17", "-1"]),
                    "RuleAction": rnd.choice(["allow", "allow", "allow", "deny"]),
                    "Egress": rnd.random() < 0.5,
                    "CidrBlock": rnd.choice(["0.0.0.0/0", "10.0.0.0/8", block,
                                             f"10.{v}.{rnd.randrange(250)}.0/24"]),
                    "PortRange": rnd.choice([{"From": 0, "To": 65535},
                                             {"From": 1024, "To": 65535},
                                             {"From": (p := rnd.choice(PORTS)), "To": p}])})
            entries += [{"RuleNumber": 200, "Protocol": "-1", "RuleAction": "allow",
                         "Egress": e, "CidrBlock": "0.0.0.0/0"} for e in (False, True)]
            assoc = subnets[vpc][PUBLIC_PER_VPC + 4 * k: PUBLIC_PER_VPC + 4 * k + 4]
            t.network_acls[acl] = {"NetworkAclId": acl, "VpcId": vpc, "IsDefault": False,
                                   "Entries": entries,
                                   "Associations": [{"NetworkAclId": acl, "SubnetId": s}
                                                    for s in assoc]}
        t.network_acls[default_acl]["Associations"] = [
            {"NetworkAclId": default_acl, "SubnetId": s} for s in subnets[vpc]
            if not any(a["SubnetId"] == s for acl in t.network_acls.values()
                       if not acl["IsDefault"] for a in acl["Associations"])]
        groups[vpc] = [new("sg") for _ in range(GROUPS // VPCS)]

    # peerings: VPC0-VPC1 and VPC2-VPC3, with routes in every route table of both sides
    for a, b in ((0, 1), (2, 3)):
        va, vb = vpcs[a], vpcs[b]
        pcx = new("pcx")
        t.vpc_peering_connections[pcx] = {
            "VpcPeeringConnectionId": pcx, "Status": {"Code": "active"},
            "RequesterVpcInfo": {"VpcId": va, "CidrBlock": t.vpcs[va]["CidrBlock"]},
            "AccepterVpcInfo": {"VpcId": vb, "CidrBlock": t.vpcs[vb]["CidrBlock"]}}
        for rtb in t.route_tables.values():
            peer = vb if rtb["VpcId"] == va else va if rtb["VpcId"] == vb else None
            if peer:
                rtb["Routes"].append({"DestinationCidrBlock": t.vpcs[peer]["CidrBlock"],
                                      "VpcPeeringConnectionId": pcx, "State": "active",
                                      "Origin": "CreateRoute"})

    # security groups: 25 rules each on average
    per_group = RULES // GROUPS
    for v, vpc in enumerate(vpcs):
        block = t.vpcs[vpc]["CidrBlock"]
        for gid in groups[vpc]:
            ingress, egress = [], []
            for r in range(per_group):
                proto = rnd.choice(["tcp"] * 6 + ["udp", "icmp", "-1"])
                perm = {"IpProtocol": proto, "IpRanges": [], "UserIdGroupPairs": [],
                        "PrefixListIds": [], "Ipv6Ranges": []}
                if proto in ("tcp", "udp"):
                    p = rnd.choice(PORTS)
                    perm["FromPort"], perm["ToPort"] = (p, p) if rnd.random() < 0.8 else (p, p + 10)
                elif proto == "icmp":
                    perm["FromPort"], perm["ToPort"] = -1, -1
                kind = rnd.random()
                if kind < 0.35:
                    perm["UserIdGroupPairs"] = [{"GroupId": rnd.choice(groups[vpc])}]
                elif kind < 0.4:
                    perm["PrefixListIds"] = [{"PrefixListId": pl}]
                else:
                    perm["IpRanges"] = [{"CidrIp": rnd.choice([
                        "0.0.0.0/0", block, "10.0.0.0/8", f"10.{v}.{rnd.randrange(250)}.0/24",
                        f"10.{v}.{rnd.randrange(250)}.{rnd.randrange(4, 250)}/32",
                        "198.51.100.0/24"])}]
                (egress if r % 5 == 0 else ingress).append(perm)
            if rnd.random() < 0.5:
                egress.append({"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                               "UserIdGroupPairs": [], "PrefixListIds": [], "Ipv6Ranges": []})
            t.security_groups[gid] = {"GroupId": gid, "GroupName": gid, "VpcId": vpc,
                                      "IpPermissions": ingress, "IpPermissionsEgress": egress}

    # interfaces: 10 per subnet, 1-3 groups, public addresses in public subnets
    per_subnet = ENIS // (VPCS * SUBNETS_PER_VPC)
    public_n = 0
    for v, vpc in enumerate(vpcs):
        for s, sid in enumerate(subnets[vpc]):
            for k in range(per_subnet):
                eni = new("eni")
                rec = {"NetworkInterfaceId": eni, "SubnetId": sid, "VpcId": vpc,
                       "PrivateIpAddress": f"10.{v}.{s}.{10 + k}",
                       "Groups": [{"GroupId": g} for g in
                                  rnd.sample(groups[vpc], rnd.choice([1, 1, 2, 3]))],
                       "InterfaceType": rnd.choice(["interface"] * 3 + ["lambda"]),
                       "SourceDestCheck": True}
                if sid in publics[vpc] and rec["InterfaceType"] == "interface" \
                        and rnd.random() < 0.5:
                    public_n += 1
                    rec["Association"] = {"PublicIp": f"54.{v}.{public_n // 250}.{public_n % 250}"}
                t.network_interfaces[eni] = rec
    return t


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--matrix", type=int, default=1000)
    args = ap.parse_args()
    rnd = random.Random(args.seed)

    t0 = time.perf_counter()
    topo = build(args.seed)
    t_gen = time.perf_counter() - t0
    rules = sum(len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", []))
                + len(p.get("PrefixListIds", []))
                for g in topo.security_groups.values()
                for p in g["IpPermissions"] + g["IpPermissionsEgress"])
    print(f"network: {len(topo.vpcs)} VPCs, {len(topo.subnets)} subnets, "
          f"{len(topo.security_groups)} security groups, {rules} rules, "
          f"{len(topo.network_interfaces)} network interfaces, "
          f"{len(topo.route_tables)} route tables, {len(topo.network_acls)} ACLs "
          f"(generated in {t_gen:.2f} s)")

    t0 = time.perf_counter()
    engine = Engine(topo)
    t_index = time.perf_counter() - t0
    print(f"index build: {t_index * 1000:.1f} ms")

    enis = [e for e, r in topo.network_interfaces.items() if r["InterfaceType"] != "nat_gateway"]
    hosts = ["198.51.100.7", "203.0.113.200", "203.0.113.9"]
    queries = []
    for _ in range(args.queries):
        src = rnd.choice(enis)
        dst = rnd.choice(enis) if rnd.random() < 0.8 else rnd.choice(hosts)
        queries.append((src, dst, "tcp", rnd.choice(PORTS)))
    # warm the lazily compiled rules once, as a long-running server would be
    for q in queries:
        engine.reachable(*q)

    full, fast, reached, full_ok = [], [], 0, []
    for q in queries:
        t0 = time.perf_counter()
        a = engine.analyze(*q, fixes=False)
        full.append(time.perf_counter() - t0)
        reached += a.reachable
        if a.reachable:
            full_ok.append(full[-1])
        t0 = time.perf_counter()
        engine.reachable(*q)
        fast.append(time.perf_counter() - t0)
    med = statistics.median(full) * 1000
    print(f"one query, full analysis (hops + explanations): median {med:.3f} ms, "
          f"p90 {percentile(full, 0.9) * 1000:.3f} ms over {len(queries)} queries "
          f"({reached} reachable)   goal <= {GOAL_QUERY_MS} ms: "
          f"{'OK' if med <= GOAL_QUERY_MS else 'MISSED'}")
    if full_ok:
        print(f"  of which reachable ones (whole forward and return path): median "
              f"{statistics.median(full_ok) * 1000:.3f} ms, "
              f"p90 {percentile(full_ok, 0.9) * 1000:.3f} ms")
    print(f"one query, verdict only (Engine.reachable): median "
          f"{statistics.median(fast) * 1000:.3f} ms, p90 {percentile(fast, 0.9) * 1000:.3f} ms")

    cold = Engine(topo)
    t0 = time.perf_counter()
    cold.analyze(*queries[0], fixes=False)
    print(f"first query on a fresh index (compiles what it touches): "
          f"{(time.perf_counter() - t0) * 1000:.2f} ms")

    blocked = next((q for q in queries if not engine.reachable(*q)), None)
    if blocked:
        t0 = time.perf_counter()
        a = engine.analyze(*blocked)
        print(f"one blocked query with verified fixes: {(time.perf_counter() - t0) * 1000:.0f} ms "
              f"({a.codes[0]}, {len(a.fixes)} fix(es), verified={a.fixes_verified})")

    sample = rnd.sample(enis, min(args.matrix, len(enis)))
    t0 = time.perf_counter()
    m = engine.matrix(sample, "tcp", 443)
    t_matrix = time.perf_counter() - t0
    pairs = len(sample) * (len(sample) - 1)
    print(f"all-pairs matrix over {len(sample)} interfaces, tcp 443: {t_matrix:.2f} s for "
          f"{pairs} pairs, {m.count()} reachable   goal <= {GOAL_MATRIX_S} s: "
          f"{'OK' if t_matrix <= GOAL_MATRIX_S else 'MISSED'}")
    print(f"  how the pairs were decided: {m.stats}")

    check = [(rnd.choice(sample), rnd.choice(sample)) for _ in range(3000)]
    check = [(s, d) for s, d in check if s != d]
    bad = [(s, d) for s, d in check if m.reachable(s, d) != engine.reachable(s, d, "tcp", 443)]
    print(f"  matrix vs engine on {len(check)} sampled pairs: {len(bad)} disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
