"""The kernel's verdict equals the reachability engine's, on random topologies and flows.

Each example is a VPC in EC2 Describe shapes (subnets, route tables with blackhole and
more-specific routes, routes to an internet gateway, a NAT gateway (public or private) and an
S3 gateway endpoint, public IPs, security groups with CIDR, group and prefix-list rules,
network ACLs) realized by the fabric (once per variant this machine can run: each NAT form,
each sandbox form; tests/fabric/conftest.VARIANTS), reconciled from the previous example's state, so the
diffing is exercised too, with and without a flow log (whose router defers its drops). Then random (source, destination, port, source port, protocol) flows are
really connected from the source's namespace to a listener in the destination's: ENI to ENI,
ENI to an internet host or S3's address (listeners in the internet namespace), and the
internet to an ENI's public IP. A connection succeeds if and only if the engine says the flow
is reachable.

Flows are TCP connections, UDP datagrams (echoed back) and ICMP echo requests. Route tables
also send traffic to a middlebox interface, which forwards it only with its
source/destination check off.

The source port is fixed per flow and given to the engine: network ACLs are stateless, and
the reply's port is what their rules match (for the engine's default question, every port
of the ephemeral range must pass, which implies each one does). A NAT gateway picks its own
source port from 1024-65535, and the engine asks whether every one of them passes the ACLs
after it: where a NAT gateway is drawn, ACL port ranges either hold all of 1024-65535 or
none of it, so that the kernel's one port answers as the whole range does.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from tests.fabric.conftest import VARIANTS, needs_fabric, variant_fabric
from tests.network.builder import Net
from vpclocal.fabric import compiler
from vpclocal.fabric.probe import Probe
from vpclocal.network import Engine

pytestmark = needs_fabric

PORTS = [22, 80, 443, 3306]
PROTOCOLS = ["tcp", "tcp", "udp", "icmp"]  # a flow's: ICMP is an echo request
DEAD_NAT = "nat-0000000000000dead"
HOST, S3 = "198.51.100.10", "203.0.113.193"
INTERNET = "internet"  # a flow's source: the internet namespace, from HOST
RANGES = [(0, 65535), (1024, 65535), (32768, 65535), (80, 80), (443, 443), (22, 3306), (1, 1023)]
ALIGNED = [(0, 65535), (1024, 65535), (80, 80), (443, 443), (22, 443), (1, 1023)]
EXAMPLES = int(os.environ.get("FABRIC_EXAMPLES", "40"))


@st.composite
def topologies(draw):
    n = Net()
    vpc = n.vpc("10.0.0.0/16")
    s3 = n.prefix_list("com.amazonaws.us-east-1.s3", ["203.0.113.192/28"])
    igw = n.igw(vpc if draw(st.integers(0, 5)) else None)  # sometimes detached
    subnets, blocks = [], []
    for i in range(draw(st.integers(1, 4))):
        block = f"10.0.{i}.0/{draw(st.sampled_from([24, 24, 26]))}"
        subnets.append(n.subnet(vpc, block))
        blocks.append(block)
    halves = [f"10.0.{i}.0/27" for i in range(len(subnets))]
    cidrs = ["0.0.0.0/0", "10.0.0.0/16", "10.0.0.0/8", "198.51.100.0/24", "10.0.0.0/23",
             "10.0.0.4/32", "10.0.1.5/32", *blocks, *halves]
    office = n.prefix_list("office", draw(st.lists(st.sampled_from([*blocks, "192.0.2.0/24"]),
                                                   max_size=2, unique=True)))

    # gateways: a NAT gateway (public or private) in some subnet, an S3 endpoint
    targets = [igw, DEAD_NAT]
    nat = None
    if draw(st.booleans()):
        home = draw(st.sampled_from(subnets))
        nat = n.nat(home, public=draw(st.integers(0, 3)) > 0)
        targets.append(nat)
        if draw(st.integers(0, 3)):  # mostly in a public subnet, as it should be
            n.route(n.route_table(vpc, [home]), "0.0.0.0/0", igw)
    vpce = n.gateway_endpoint(vpc, "s3") if draw(st.booleans()) else None
    main = draw(st.sampled_from([None, *targets[:1], *targets[2:]]))
    if main is not None:  # the main route table's way out
        n.route(n.main_rtb[vpc], "0.0.0.0/0", main)

    # route tables: more-specific routes inside the VPC, the internet's, S3's
    for s in subnets:
        if draw(st.booleans()):
            rtb = n.route_table(vpc, [s])
            for dest in draw(st.lists(st.sampled_from([*blocks, *halves, "0.0.0.0/0",
                                                       "198.51.100.0/24"]),
                                      max_size=3, unique=True)):
                target = draw(st.sampled_from(targets))
                n.route(rtb, dest, target, state="blackhole" if target == DEAD_NAT else "active")
            if vpce and draw(st.booleans()):
                n.route(rtb, s3, vpce)

    # security groups
    groups = [n.default_sg[vpc]] + [n.sg(vpc, egress_all=draw(st.booleans()))
                                     for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):  # a web tier: open to everyone
        n.allow(n.default_sg[vpc], "ingress", "tcp", (22, 443), cidr="0.0.0.0/0")
    for g in groups:
        for _ in range(draw(st.integers(0, 5))):
            direction = draw(st.sampled_from(["ingress", "ingress", "ingress", "egress"]))
            proto = draw(st.sampled_from(["tcp", "tcp", "tcp", "udp", "icmp", "-1"]))
            port = None
            if proto in ("tcp", "udp"):
                p = draw(st.sampled_from(PORTS))
                port = draw(st.sampled_from([p, (p, p + 100), (0, 65535), (1, 1023)]))
            elif proto == "icmp":
                port = draw(st.sampled_from([(-1, -1), (8, -1), (8, 0)]))
            peer = draw(st.sampled_from(["cidr", "cidr", "group", "group", "pl"]))
            if peer == "group":
                n.allow(g, direction, proto, port, group=draw(st.sampled_from(groups)))
            elif peer == "pl":
                n.allow(g, direction, proto, port, prefix_list=office)
            else:
                n.allow(g, direction, proto, port, cidr=draw(st.sampled_from(cidrs)))

    # network ACLs: custom ones, and sometimes denies in the default one
    def entries(acl, count):
        for _ in range(count):
            proto = draw(st.sampled_from(["-1", "6", "6", "17", "1"]))
            ports = None
            if proto in ("6", "17"):
                ports = draw(st.sampled_from(ALIGNED if nat else RANGES))
            n.acl_entry(acl, draw(st.integers(1, 300)), draw(st.booleans()),
                        draw(st.sampled_from(["allow", "allow", "deny"])), proto,
                        draw(st.sampled_from(cidrs)), ports)

    for s in subnets:
        if draw(st.integers(0, 2)) == 0:
            acl = n.acl(vpc, [s])
            entries(acl, draw(st.integers(0, 5)))
            if draw(st.booleans()):  # what comes before an allow-all is what matters
                for egress in (False, True):
                    n.acl_entry(acl, 250, egress)
    if draw(st.integers(0, 3)) == 0:
        entries(n.default_acl[vpc], draw(st.integers(1, 2)))

    # interfaces
    enis = []
    for s in subnets:
        for _ in range(draw(st.integers(1, 2))):
            chosen = draw(st.lists(st.sampled_from(groups), min_size=1, max_size=2, unique=True))
            if draw(st.booleans()):  # the default group lets its members in: more reachable
                chosen = list(dict.fromkeys([n.default_sg[vpc], *chosen]))
            enis.append(n.eni(s, chosen, public=draw(st.integers(0, 2)) == 0))
    if len(enis) < 2:
        enis.append(n.eni(subnets[0], [draw(st.sampled_from(groups))]))
    # a middlebox (a firewall appliance): an interface some route tables send traffic to;
    # it forwards only with its source/destination check off
    if draw(st.booleans()):
        mb = n.eni(draw(st.sampled_from(subnets)),
                   draw(st.lists(st.sampled_from(groups), min_size=1, max_size=2, unique=True)),
                   source_dest_check=draw(st.integers(0, 3)) == 0)
        enis.append(mb)
        for s in subnets:
            if draw(st.booleans()):
                rtb = n.t.route_tables[n.rtb_of(s)]
                taken = {r.get("DestinationCidrBlock") for r in rtb["Routes"]}
                free = [d for d in [*blocks, *halves, "0.0.0.0/0", "198.51.100.0/24"]
                        if d not in taken]
                if free:
                    n.route(rtb["RouteTableId"], draw(st.sampled_from(free)), mb)
    if draw(st.booleans()):  # a flow log: the router defers its drops (flowlogs.defer_drops)
        n.t.flow_logs["fl-0123456789abcdef0"] = {
            "FlowLogId": "fl-0123456789abcdef0", "ResourceId": draw(st.sampled_from(subnets)),
            "LogDestinationType": "cloud-watch-logs", "TrafficType": "ALL"}
    return n, enis


def flows(enis):
    flow = st.tuples(st.sampled_from([*enis, INTERNET]),
                     st.sampled_from([*enis, HOST, S3]), st.sampled_from(PORTS),
                     st.integers(1024, 65535).filter(lambda p: p not in PORTS),
                     st.sampled_from(PROTOCOLS))
    return st.lists(flow.filter(lambda f: f[0] != f[1] and not (f[0] == INTERNET and f[1] in
                                                                (HOST, S3))),
                    min_size=1, max_size=12, unique_by=lambda f: (f[0], f[3]))


def address(n: Net, dst: str, src: str) -> str:
    """Where a flow connects to: an ENI's private address, or its public one from the
    internet (the engine's choice)."""
    eni = n.t.network_interfaces.get(dst)
    if eni is None:
        return dst
    public = (eni.get("Association") or {}).get("PublicIp")
    return public if src == INTERNET and public else eni["PrivateIpAddress"]


def forget_connections(fabric) -> None:
    """Each example starts with no tracked connection (UDP, ICMP and, in the conntrack
    variant, the internet gateway's TCP): one an earlier example left open would still pass,
    as on AWS, where the engine, asked about a new flow, says no."""
    spaces = [*fabric.reconciler.routers.values(), *fabric.reconciler.enis.values()]
    fabric.sandbox.run([(["conntrack", "-F"], space, "") for space in spaces], 4)


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: "/".join(v))
def world(request):
    with variant_fabric(*request.param) as fabric, Probe(fabric.sandbox) as probe:
        yield fabric, probe
    compiler.INLINE = compiler.DEFAULT_INLINE
    compiler._memo.clear()


# no shrinking: each example is a kernel build, and shrinking one took minutes; a failure
# prints its flows, the interfaces, the groups and the router's ruleset instead
@settings(max_examples=EXAMPLES, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_kernel_agrees_with_the_engine(world, data):
    fabric, probe = world
    n, enis = data.draw(topologies())
    # regions compile to compares up to INLINE rows, to set lookups beyond: test both
    compiler.INLINE = data.draw(st.sampled_from([compiler.DEFAULT_INLINE, 0]))
    compiler._memo.clear()
    fabric.apply(n.t)
    forget_connections(fabric)
    probe.call("reset")
    for space in [*(fabric.space(eni) for eni in enis), fabric.internet]:
        for udp in (False, True):
            probe.call("listen", ns=space.ns, ports=PORTS, udp=udp)
    chosen = data.draw(flows(enis))
    engine = Engine(n.t)
    wanted = [engine.reachable(HOST if src == INTERNET else src, dst, proto,
                               None if proto == "icmp" else port,
                               source_port=None if proto == "icmp" else sport)
              for src, dst, port, sport, proto in chosen]
    event(f"flow log: {bool(n.t.flow_logs)}")
    event(f"flows reachable: {'some' if any(wanted) else 'none'}, "
          f"blocked: {'some' if not all(wanted) else 'none'}")
    for (src, dst, _port, _sport, proto), w in zip(chosen, wanted, strict=True):
        kind = ("inbound" if src == INTERNET else "to the internet" if dst in (HOST, S3)
                else "in the VPC")
        event(f"{kind} {proto}: {'reachable' if w else 'blocked'}")
    asked = [[fabric.internet.ns, sport, address(n, dst, src), port, HOST] if src == INTERNET
             else [fabric.space(src).ns, sport, address(n, dst, src), port]
             for src, dst, port, sport, _proto in chosen]
    protos = [proto for *_flow, proto in chosen]
    got = probe.call("connect", flows=asked, timeout=0.3, protos=protos)["ok"]
    # a connection the engine allows gets a second, longer chance (a busy machine); one it
    # forbids must never succeed
    late = [i for i, (w, g) in enumerate(zip(wanted, got, strict=True)) if w and not g]
    if late:
        again = probe.call("connect", flows=[asked[i] for i in late], timeout=3,
                           protos=[protos[i] for i in late])["ok"]
        for i, ok in zip(late, again, strict=True):
            got[i] = ok
    if got != wanted:
        lines = []
        for (src, dst, port, sport, proto), w, g in zip(chosen, wanted, got, strict=True):
            if w != g:
                icmp = proto == "icmp"
                a = engine.analyze(HOST if src == INTERNET else src, dst, proto,
                                   None if icmp else port,
                                   source_port=None if icmp else sport, fixes=False)
                why = "; ".join(e.message for e in a.explanations) or "reachable"
                lines.append(f"{src} -> {dst} {proto} {'' if icmp else port} from port "
                             f"{sport}: engine {w}, kernel {g} ({why})")
        for eni_id, eni in n.t.network_interfaces.items():
            lines.append(f"{eni_id} {eni['PrivateIpAddress']} {eni['SubnetId']} groups "
                         f"{[g['GroupId'] for g in eni['Groups']]} check "
                         f"{eni.get('SourceDestCheck', True)}")
        for sg_id, sg in n.t.security_groups.items():
            lines.append(f"{sg_id} in {sg.get('IpPermissions')} out {sg.get('IpPermissionsEgress')}")
        router = fabric.reconciler.router_space(next(iter(n.t.vpcs)))
        ruleset = fabric.sandbox.sh(router, "nft list ruleset").out
        pytest.fail("kernel and engine disagree:\n" + "\n".join(lines) + "\n\n" + ruleset)
