"""Fabric speed: the data path against a bare veth pair, and the reconciler's build times,
for each fabric variant this machine runs (fabric/variant.py; --variant to pick some).

Data path (issue 5 goals: connect latency <= 1.5x the floor, throughput >= 80 % of it): TCP
from an ENI to an ENI in another subnet of the same VPC, through its router's route tables,
network ACLs and security groups (with CIDR and group-referencing rules), against two
namespaces joined by a bare veth pair (the floor), and the same VPC with a flow log (what
counting costs); and from an internet host to an ENI's public address through the internet
gateway's 1:1 NAT, the one part whose form differs between variants. Python clients, same
process, same run.

Reconcile (goals: 1,000 subnets / 10,000 rules from empty <= 5 s, one rule change <= 100 ms):
one ENI per subnet, the rules spread over security groups and network ACLs.

Run: .venv/bin/python bench/fabric_bench.py [--subnets 1000 --rules 10000] [--quick]
     [--variant userns/conntrack ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.network.builder import Net
from vpclocal.fabric import Fabric, available
from vpclocal.fabric.probe import Probe

INTERNET_HOST = "198.51.100.10"  # the internet side's source address (a documentation range)


def variant_fabric(name: str) -> Fabric:
    """A started fabric of a variant "sandbox/nat", forced as a user would."""
    sandbox, nat = name.split("/")
    with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC_NAT": nat}):
        return Fabric(sandbox=sandbox).start()


def machine_variants() -> list[str]:
    """The user-namespace sandbox with the NAT form(s) this kernel allows there, and (as
    root) the root sandbox with both."""
    with Fabric(sandbox="userns") as f:
        chosen = f.variant
    assert chosen is not None
    out = [chosen.name]
    if chosen.nat == "rewrite":
        out.append("userns/conntrack")
    if os.geteuid() == 0:
        out += ["root/rewrite", "root/conntrack"]
    return out


def public_topology(n: Net) -> tuple[str, str]:
    """A VPC whose ENI has a public IP behind an internet gateway, open to the internet."""
    vpc = n.vpc("10.9.0.0/16")
    subnet = n.public_subnet(vpc, "10.9.1.0/24", n.igw(vpc))
    sg = n.sg(vpc, "web")
    n.allow(sg, "ingress", "tcp", (5001, 5432), cidr="0.0.0.0/0")
    eni = n.eni(subnet, [sg], public=True)
    return eni, n.t.network_interfaces[eni]["Association"]["PublicIp"]


def data_path_topology(n: Net | None = None, second: int = 0) -> tuple[Net, str, str]:
    n = n or Net()
    vpc = n.vpc(f"10.{second}.0.0/16")
    fn_subnet, db_subnet = (n.subnet(vpc, f"10.{second}.{i}.0/24") for i in (1, 2))
    for subnet in (fn_subnet, db_subnet):  # custom ACLs: a few denies before the allows
        acl = n.acl(vpc, [subnet])
        for egress in (False, True):
            for i in range(8):
                n.acl_entry(acl, 10 + i, egress, "deny", "6", f"192.0.2.{i * 16}/28", (0, 65535))
            for rule, ports in ((100, (1024, 65535)), (110, (5001, 5001)), (120, (5432, 5432))):
                n.acl_entry(acl, rule, egress, "allow", "6", f"10.{second}.0.0/16", ports)
    rtb = n.route_table(vpc, [fn_subnet, db_subnet])
    n.route(rtb, f"10.{second}.200.0/24", "nat-0000000000000dead", state="blackhole")
    fn, db = n.sg(vpc, "function"), n.sg(vpc, "database", egress_all=False)
    for i in range(50):  # rules that do not match, then the one that does
        n.allow(db, "ingress", "tcp", 6000 + i, cidr=f"172.16.{i}.0/24")
    n.allow(db, "ingress", "tcp", (5001, 5432), group=fn)
    return n, n.lambda_eni(fn_subnet, [fn]), n.eni(db_subnet, [db])


def bench_data_path(variant: str, count: int, size: int, rounds: int = 5) -> None:
    """Floor and fabric measured in alternating rounds (the machine's speed drifts)."""
    with variant_fabric(variant) as fabric, Probe(fabric.sandbox) as probe:
        sb = fabric.sandbox
        a, b = sb.ns_new(1)[0], sb.ns_new(1, holder=True)[0]  # b's holder names it for ip
        sb.ip(a, f"link add veth0 type veth peer name veth1 netns {b.pid}\n"
                 "addr add 10.255.0.1/30 dev veth0\nlink set veth0 up\n")
        sb.ip(b, "addr add 10.255.0.2/30 dev veth1\nlink set veth1 up\n")
        n, fn_eni, db_eni = data_path_topology()
        # the same VPC again, with a flow log: its router defers drops to a mark and counts
        # every forwarded packet in a dynamic set (fabric/flowlogs.py)
        _n, logged_fn, logged_db = data_path_topology(n, second=1)
        vpc = n.t.network_interfaces[logged_fn]["VpcId"]
        n.t.flow_logs["fl-0000000000000bench"] = {
            "FlowLogId": "fl-0000000000000bench", "ResourceId": vpc, "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs"}
        web, public = public_topology(n)
        fabric.apply(n.t)

        def path(src: str, dst: str) -> tuple[int, int, str]:
            return (fabric.space(src).ns, fabric.space(dst).ns,
                    n.t.network_interfaces[dst]["PrivateIpAddress"])

        paths = {"floor": (a.ns, b.ns, "10.255.0.2", None), "fabric": (*path(fn_eni, db_eni), None),
                 "flow log": (*path(logged_fn, logged_db), None),
                 "internet gateway": (fabric.internet.ns, fabric.space(web).ns, public,
                                      INTERNET_HOST)}
        for _src, dst, _ip, _source in paths.values():
            probe.call("listen", ns=dst, ports=[5432])
        latency: dict[str, list[float]] = {k: [] for k in paths}
        rate: dict[str, list[float]] = {k: [] for k in paths}
        for src, _dst, ip, source in paths.values():  # warm up
            probe.call("latency", ns=src, ip=ip, port=5432, count=200, source=source)
        for _ in range(rounds):
            for name, (src, _dst, ip, source) in paths.items():
                latency[name] += probe.call("latency", ns=src, ip=ip, port=5432,
                                            count=count // rounds, source=source)["us"]
        for _ in range(3):
            for name, (src, dst, ip, source) in paths.items():
                rate[name].append(probe.call("throughput", ns=src, sink_ns=dst, ip=ip,
                                             port=5001, bytes=size, source=source
                                             )["bits_per_second"])
    floor = statistics.median(latency["floor"]), statistics.median(rate["floor"])
    through = statistics.median(latency["fabric"]), statistics.median(rate["fabric"])
    logged = statistics.median(latency["flow log"]), statistics.median(rate["flow log"])
    igw = statistics.median(latency["internet gateway"]), statistics.median(rate["internet gateway"])
    print(f"variant {variant}")
    print("data path (Python client, median)        floor (veth)   fabric    ratio   goal")
    print(f"  TCP connect latency                    {floor[0]:8.1f} µs {through[0]:7.1f} µs"
          f"   {through[0] / floor[0]:5.2f}x  <= 1.5x")
    print(f"  bulk throughput                        {floor[1] / 1e9:6.2f} Gb/s "
          f"{through[1] / 1e9:5.2f} Gb/s   {through[1] / floor[1] * 100:4.0f} %   >= 80 %")
    print("with a flow log on the VPC                      fabric  flow log   cost")
    print(f"  TCP connect latency                         {through[0]:7.1f} µs {logged[0]:7.1f} µs"
          f" {logged[0] - through[0]:+6.1f} µs")
    print(f"  bulk throughput                           {through[1] / 1e9:5.2f} Gb/s "
          f"{logged[1] / 1e9:5.2f} Gb/s {(logged[1] / through[1] - 1) * 100:+5.0f} %")
    print("internet -> public IP (1:1 NAT)        floor (veth)  gateway    ratio")
    print(f"  TCP connect latency                    {floor[0]:8.1f} µs {igw[0]:7.1f} µs"
          f"   {igw[0] / floor[0]:5.2f}x")
    print(f"  bulk throughput                        {floor[1] / 1e9:6.2f} Gb/s "
          f"{igw[1] / 1e9:5.2f} Gb/s   {igw[1] / floor[1] * 100:4.0f} %")


def reconcile_topology(subnets: int, rules: int):
    n = Net()
    vpcs, per_vpc = [], 200  # AWS's default quota: 200 subnets per VPC
    for v in range((subnets + per_vpc - 1) // per_vpc):
        vpcs.append(n.vpc(f"10.{v}.0.0/16"))
    groups, acls = [], []
    enis = []
    for i in range(subnets):
        vpc = vpcs[i // per_vpc]
        v = i // per_vpc
        subnet = n.subnet(vpc, f"10.{v}.{i % per_vpc}.0/24")
        if i % 10 == 0:
            groups.append(n.sg(vpc))
            acls.append(n.acl(vpc))
        n.acl_associate(acls[-1], subnet)
        enis.append(n.eni(subnet, [groups[-1]]))
    sg_rules = rules * 9 // 10
    for k in range(sg_rules):  # most rules are security group rules, a tenth ACL entries
        g = groups[k % len(groups)]
        if k % 5 == 0:
            n.allow(g, "ingress", "tcp", 1000 + k % 50000, group=groups[(k // 5) % len(groups)])
        else:
            n.allow(g, "ingress", "tcp", 1000 + k % 50000, cidr=f"172.{16 + k % 16}.{k % 256}.0/24")
    for k in range(rules - sg_rules):
        n.acl_entry(acls[k % len(acls)], 1 + k // len(acls), k % 2 == 0, "allow", "6",
                    f"10.0.{k % 256}.0/24", (1024, 65535))
    return n, groups, enis


def bench_reconcile(variant: str, subnets: int, rules: int) -> None:
    n, groups, enis = reconcile_topology(subnets, rules)
    with variant_fabric(variant) as fabric:
        start = time.perf_counter()
        stats = fabric.apply(n.t)
        full = time.perf_counter() - start
        changes = []
        for k in range(10):
            n.allow(groups[k], "ingress", "tcp", 60000 + k, cidr="10.0.0.0/8")
            t = time.perf_counter()
            fabric.apply(n.t)
            changes.append(time.perf_counter() - t)
        moves = []
        for k in range(10):  # membership: an ENI joins another group (group-referencing sets)
            eni = n.t.network_interfaces[enis[k]]
            eni["Groups"] = [*eni["Groups"], {"GroupId": groups[-1 - k], "GroupName": "x"}]
            t = time.perf_counter()
            fabric.apply(n.t)
            moves.append(time.perf_counter() - t)
    phases = ", ".join(f"{k} {v:.2f}" for k, v in stats.phases.items())
    print(f"reconcile ({variant}): {subnets} subnets, {len(enis)} ENIs, {rules} rules "
          f"({len(n.t.vpcs)} VPCs)")
    print(f"  full build from empty                  {full:8.2f} s    (phases, s: {phases})")
    print(f"  one rule change (median of 10)         {statistics.median(changes) * 1000:8.1f} ms"
          f"   goal <= 100 ms")
    print(f"  one ENI joins a group (median of 10)   {statistics.median(moves) * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subnets", type=int, default=100)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer samples, smaller transfers")
    parser.add_argument("--variant", action="append",
                        help="sandbox/nat, e.g. userns/conntrack (default: every one this "
                             "machine runs)")
    args = parser.parse_args()
    ok, why = available()
    if not ok:
        sys.exit(f"the fabric cannot run here: {why}")
    count, size = (500, 256 << 20) if args.quick else (3000, 2 << 30)
    for variant in args.variant or machine_variants():
        bench_data_path(variant, count, size)
        bench_reconcile(variant, args.subnets, args.rules)
        print()


if __name__ == "__main__":
    main()
