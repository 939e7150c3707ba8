"""Random VPC topologies for property tests (a hypothesis strategy over the Net builder)."""

from __future__ import annotations

from hypothesis import strategies as st

from .builder import Net

PORTS = [22, 80, 443, 3306]
HOSTS = ["198.51.100.7", "203.0.113.9", "52.216.1.10"]  # two internet hosts and an S3 address
PROTOCOLS = ["tcp", "udp", "icmp", "-1"]


def _cidrs(n: Net, vpc_ids: list[str], subnets: list[str]) -> list[str]:
    out = ["0.0.0.0/0", "198.51.100.0/24", "10.0.0.0/8"]
    out += [n.t.vpcs[v]["CidrBlock"] for v in vpc_ids]
    out += [n.t.subnets[s]["CidrBlock"] for s in subnets]
    return out


@st.composite
def networks(draw) -> tuple[Net, list[str]]:
    """A random network and its 'interesting' interfaces (not NAT gateway interfaces)."""
    n = Net()
    vpc_ids = [n.vpc(f"10.{i}.0.0/16") for i in range(draw(st.integers(1, 3)))]
    subnets: dict[str, list[str]] = {}
    igws: dict[str, str] = {}
    for i, vpc in enumerate(vpc_ids):
        if draw(st.booleans()):
            igws[vpc] = n.igw(vpc)
        subnets[vpc] = [n.subnet(vpc, f"10.{i}.{j}.0/24", f"us-east-1{'ab'[j % 2]}")
                        for j in range(draw(st.integers(1, 3)))]
    all_subnets = [s for v in vpc_ids for s in subnets[v]]

    # peering connections
    pcxs: dict[tuple[str, str], str] = {}
    for a in range(len(vpc_ids)):
        for b in range(a + 1, len(vpc_ids)):
            if draw(st.booleans()):
                status = draw(st.sampled_from(["active", "active", "pending-acceptance"]))
                pcxs[(vpc_ids[a], vpc_ids[b])] = n.peering(vpc_ids[a], vpc_ids[b], status)

    # route tables: main plus some custom ones
    rtbs: dict[str, list[str]] = {v: [n.main_rtb[v]] for v in vpc_ids}
    for vpc in vpc_ids:
        for s in subnets[vpc]:
            if draw(st.booleans()):
                rtbs[vpc].append(n.route_table(vpc, [s]))

    # NAT gateways
    nats: dict[str, list[str]] = {v: [] for v in vpc_ids}
    for vpc in vpc_ids:
        for _ in range(draw(st.integers(0, 2))):
            s = draw(st.sampled_from(subnets[vpc]))
            nats[vpc].append(n.nat(s, public=draw(st.integers(0, 3)) != 0,
                                   state=draw(st.sampled_from(["available"] * 4 + ["pending"]))))

    # gateway endpoints for S3
    for vpc in vpc_ids:
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(rtbs[vpc]), max_size=2, unique=True))
            n.gateway_endpoint(vpc, "s3", chosen)

    # routes
    for vpc in vpc_ids:
        for rtb in rtbs[vpc]:
            targets = []
            if vpc in igws:
                targets.append(igws[vpc])
            targets += nats[vpc]
            if targets and draw(st.booleans()):
                n.route(rtb, "0.0.0.0/0", draw(st.sampled_from(targets)))
            for (a, b), pcx in pcxs.items():
                if vpc in (a, b) and draw(st.booleans()):
                    peer = b if vpc == a else a
                    n.route(rtb, n.t.vpcs[peer]["CidrBlock"], pcx)
            if draw(st.integers(0, 5)) == 0:
                n.route(rtb, "198.51.100.0/24", "nat-00000000000000bad", state="blackhole")

    # security groups
    groups: dict[str, list[str]] = {}
    for vpc in vpc_ids:
        groups[vpc] = [n.default_sg[vpc]] + [
            n.sg(vpc, egress_all=draw(st.booleans())) for _ in range(draw(st.integers(1, 3)))]
    cidrs = _cidrs(n, vpc_ids, all_subnets)
    all_groups = [g for v in vpc_ids for g in groups[v]]
    for vpc in vpc_ids:
        for g in groups[vpc]:
            for _ in range(draw(st.integers(0, 3))):
                direction = draw(st.sampled_from(["ingress", "egress"]))
                proto = draw(st.sampled_from(["tcp", "tcp", "udp", "icmp", "-1"]))
                port = None
                if proto in ("tcp", "udp"):
                    p = draw(st.sampled_from(PORTS))
                    port = draw(st.sampled_from([p, (p, p + 100), (0, 65535)]))
                elif proto == "icmp":
                    port = draw(st.sampled_from([(-1, -1), (8, -1), (8, 0), (0, 0)]))
                peer = draw(st.sampled_from(["cidr", "cidr", "group", "pl"]))
                if peer == "group":
                    n.allow(g, direction, proto, port, group=draw(st.sampled_from(all_groups)))
                elif peer == "pl":
                    n.allow(g, direction, proto, port, prefix_list=n.s3_prefix_list())
                else:
                    n.allow(g, direction, proto, port, cidr=draw(st.sampled_from(cidrs)))

    # custom network ACLs
    for vpc in vpc_ids:
        for s in subnets[vpc]:
            if draw(st.integers(0, 2)) == 0:
                acl = n.acl(vpc, [s])
                for _ in range(draw(st.integers(0, 4))):
                    proto = draw(st.sampled_from(["-1", "6", "17", "1"]))
                    ports = None
                    if proto in ("6", "17"):
                        ports = draw(st.sampled_from([(0, 65535), (1024, 65535), (32768, 65535),
                                                      (80, 80), (443, 443), (22, 3306)]))
                    n.acl_entry(acl, draw(st.integers(1, 300)), draw(st.booleans()),
                                draw(st.sampled_from(["allow", "allow", "deny"])), proto,
                                draw(st.sampled_from(cidrs)), ports)

    # interfaces
    enis = []
    for vpc in vpc_ids:
        for s in subnets[vpc]:
            for _ in range(draw(st.integers(0, 2))):
                gs = draw(st.lists(st.sampled_from(groups[vpc]), min_size=1, max_size=2,
                                   unique=True))
                kind = draw(st.sampled_from(["interface", "interface", "lambda"]))
                if kind == "lambda":
                    enis.append(n.lambda_eni(s, gs))
                else:
                    enis.append(n.eni(s, gs, public=draw(st.integers(0, 2)) == 0))
    # now and then a middlebox (a NAT instance or an inspection appliance) in a route
    for vpc in vpc_ids:
        mine = [e for e in enis if n.t.network_interfaces[e]["VpcId"] == vpc
                and n.t.network_interfaces[e]["InterfaceType"] == "interface"]
        if mine and draw(st.integers(0, 3)) == 0:
            box = draw(st.sampled_from(mine))
            n.t.network_interfaces[box]["SourceDestCheck"] = draw(st.booleans())
            rtb = draw(st.sampled_from(rtbs[vpc]))
            dest = draw(st.sampled_from(["198.51.100.0/24", "0.0.0.0/0"]
                                        + [n.t.subnets[x]["CidrBlock"] for x in subnets[vpc]]))
            n.t.route_tables[rtb]["Routes"] = [
                r for r in n.t.route_tables[rtb]["Routes"] if r.get("DestinationCidrBlock") != dest
                or r.get("GatewayId") == "local"]
            n.route(rtb, dest, box)
    return n, enis


@st.composite
def flows(draw, enis: list[str]) -> tuple[str, str, str, int | None]:
    src = draw(st.sampled_from(enis))
    dst = draw(st.sampled_from(enis + HOSTS))
    proto = draw(st.sampled_from(PROTOCOLS))
    port = draw(st.sampled_from(PORTS)) if proto in ("tcp", "udp") else None
    return src, dst, proto, port
