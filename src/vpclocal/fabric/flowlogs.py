"""VPC flow logs: records from the kernel's packet counters, delivered to CloudWatch Logs.

Refusing. In the router of a VPC with a flow log (flow_logged_vpcs), the compiler has every
drop of the `vpc` table become a mark of the side that refused the packet, and an accept
(defer_drops): REJECT_SRC refused on the source's side, REJECT_DST on the destination's.
`rejected_*` chains of the same table drop such a packet later in the same hooks, once the
flow log table has counted it. Other VPCs keep plain drops.

Counting. Such a router has, beside the compiler's `vpc` table, a `flowlog` table. The
reconciler installs it once and leaves it alone, so no rule change ever resets a count. Its
sets are dynamic, with a counter per element, keyed by the flow (addresses, protocol,
ports) and the verdict: the packet's mark (0: passed, or the refusing side's bit). It
counts in prerouting after the `vpc` table's routing chain (what that chain refused) and in
forward after its filter chain (everything forwarded, or refused by the security groups). An
element idle for TIMEOUT goes; the collector reads much more often than that and keeps the
counts it last saw, to turn the cumulative counters into the packets and bytes since its last
read.

Records. Each ENI sees a flow from its own point of view, as on AWS: the source's ENI as its
egress (REJECT when its own side refused it), the destination's ENI as its ingress unless the
source's side refused it (REJECT when its side did). So when a NACL drops a reply, the
request shows ACCEPT and the reply REJECT. A flow log covers the ENIs of its VPC, subnet or
interface, and aggregates their records per window of its interval: MaxAggregationInterval,
at most VPCLOCAL_FLOW_LOG_INTERVAL seconds (AWS's interval is a maximum too; locally one wants
to see records soon), aligned on the epoch; `start` and `end` are the window's. A window with
no traffic has no records. They are delivered when the window ends, to the log group (created
when missing, as AWS's delivery does), one stream per ENI named `<eni>-all` (AWS combines
the flow logs that share a log group into one stream per ENI).

What is counted is what the router's kernel sees: a GSO/GRO super-packet counts as one packet
(bytes are exact); traffic to the router itself (the VPC resolver) is not logged, as on AWS.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vpclocal.network.names import GATEWAY_ADDRESSES
from vpclocal.network.topology import Topology

from .plan import NftChain, RouterPlan

log = logging.getLogger("vpclocal.fabric.flowlogs")

TABLE = "flowlog"
GATEWAY_AT = {address: service for service, address in GATEWAY_ADDRESSES.items()}
TIMEOUT = 60  # seconds an idle flow keeps its counters in the kernel
LIVE_SECONDS = 60  # how long the console shows a flow after its last packet
DEFAULT_FORMAT = ("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} "
                  "${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} "
                  "${log-status}")
# the record version that introduced each field (a custom format's version is the highest)
FIELD_VERSIONS = {
    **dict.fromkeys(("version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport",
                     "dstport", "protocol", "packets", "bytes", "start", "end", "action",
                     "log-status"), 2),
    **dict.fromkeys(("vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr",
                     "pkt-dstaddr"), 3),
    **dict.fromkeys(("region", "az-id", "sublocation-type", "sublocation-id"), 4),
    **dict.fromkeys(("pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction",
                     "traffic-path"), 5),
}
_FIELD = re.compile(r"\$\{([^}]*)\}")
_PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
              "sctp": 132}

Flow = tuple[str, str, int, int, int]  # srcaddr, dstaddr, protocol, srcport, dstport
Deliver = Callable[[str, str, str, list[tuple[int, str]]], None]  # region, group, stream, events

FLOW_LOG_DESTINATIONS = {"cloud-watch-logs"}  # the ones vpclocal delivers
# The side that refused a packet, as a bit of its mark: the source's (its subnet's outbound
# ACL, the route table, the source/destination check, its security groups' egress rules) or
# the destination's (its subnet's inbound ACL, its security groups' ingress rules).
REJECT_SRC, REJECT_DST = 0x10000000, 0x20000000
REJECTED = REJECT_SRC | REJECT_DST
_DROP = re.compile(r"(^|\s)drop$")


# ---- the router's side: drops the flow log table sees -----------------------------------------


def flow_logged_vpcs(topology: Topology) -> set[str]:
    """VPCs with a flow log on themselves, one of their subnets or one of their ENIs."""
    out = set()
    for fl in topology.flow_logs.values():
        if fl.get("LogDestinationType") not in FLOW_LOG_DESTINATIONS:
            continue
        rid = fl.get("ResourceId", "")
        record = (topology.vpcs.get(rid) or topology.subnets.get(rid)
                  or topology.network_interfaces.get(rid))
        if record is not None and record.get("VpcId") in topology.vpcs:
            out.add(record["VpcId"])
    return out


def defer_drops(r: RouterPlan) -> None:
    """A drop becomes `goto reject_src|dst`: mark the side, accept; the flow log table counts
    the packet (priority -290 / 10) before `rejected_*` drop it (-280 / 20), still before
    conntrack (-200) for the first. The new chains come first, so that even a change split over
    several transactions never has a rule leading to them before they drop."""
    mark = f"meta mark & {REJECTED:#x} != 0 drop"
    chains = {
        "rejected_routing": NftChain("rejected_routing", (mark,),
                                     "type filter hook prerouting priority -280; policy accept;"),
        "rejected_filter": NftChain("rejected_filter", (mark,),
                                    "type filter hook forward priority 20; policy accept;"),
        "reject_src": NftChain("reject_src", (f"meta mark set meta mark | {REJECT_SRC:#x} accept",)),
        "reject_dst": NftChain("reject_dst", (f"meta mark set meta mark | {REJECT_DST:#x} accept",)),
    }
    for name, c in r.chains.items():
        if c.hook and "postrouting" in c.hook:  # past the flow log's counting: a drop there
            chains[name] = c  # (a conntrack-invalid packet) is no rejected flow
            continue
        # the destination's side: inbound ACL (acl_…_in) and ingress rules (ei_<port>)
        # (and a disruption's inbound chain, dis_…_i)
        side = "dst" if name.startswith("ei_") or (name.startswith("acl_")
                                                  and name.endswith("_in")) or (
            name.startswith("dis_") and name.endswith("_i")) else "src"
        chains[name] = NftChain(name, tuple(_DROP.sub(rf"\1goto reject_{side}", rule)
                                            for rule in c.rules), c.hook)
    r.chains = chains
    r.flow_logs = True


# ---- the kernel side ----------------------------------------------------------------------------


def table_text() -> str:
    """The flow log table (`nft -f`): what it counts depends on nothing in the model.

    Keys have five parts at most: nft 1.0.6 cannot list (or even load) longer concatenations
    in a dynamic set, hence a set per port-carrying protocol (whose key leaves the protocol
    out) and one for the rest (without ports: ICMP's would be its type and checksum)."""
    flags = f"flags dynamic,timeout; timeout {TIMEOUT}s; counter;"
    verdict = f"meta mark & {REJECTED:#x}"
    return "\n".join([
        f"table ip {TABLE} {{",
        *(f"  set {p}_flows {{ type ipv4_addr . ipv4_addr . inet_service . inet_service . mark; "
          f"{flags} }}" for p in ("tcp", "udp")),
        f"  set other_flows {{ type ipv4_addr . ipv4_addr . inet_proto . mark; {flags} }}",
        "  chain count {",
        *(f"    meta l4proto {p} update @{p}_flows {{ ip saddr . ip daddr . th sport . th dport"
          f" . {verdict} }} accept" for p in ("tcp", "udp")),
        f"    update @other_flows {{ ip saddr . ip daddr . meta l4proto . {verdict} }}",
        "  }",
        "  chain routed {",  # after the vpc table's routing (-300), before it drops (-280)
        "    type filter hook prerouting priority -290; policy accept;",
        f"    {verdict} != 0 goto count",
        "  }",
        "  chain forwarded {",  # after the vpc table's filter (0), before it drops (20)
        "    type filter hook forward priority 10; policy accept;",
        "    goto count",
        "  }",
        "}",
    ]) + "\n"


def flow_table_change(old: RouterPlan | None, new: RouterPlan) -> str:
    """`nft -f` text installing or removing a router's flow log table, or "" (left alone)."""
    had = old is not None and old.flow_logs
    if new.flow_logs and not had:
        return table_text()
    if had and not new.flow_logs:
        return f"delete table ip {TABLE}\n"
    return ""


def _number(value, names: dict[str, int], lookup) -> int:
    if isinstance(value, int):
        return value
    if str(value).isdigit():
        return int(value)
    try:
        return names.get(value) or lookup(value)
    except OSError:
        return 0


def parse_counts(text: str) -> dict[tuple[Flow, int], tuple[int, int]]:
    """`nft -j list table ip flowlog` -> {(flow, verdict): (packets, bytes)}, cumulative."""
    out: dict[tuple[Flow, int], tuple[int, int]] = {}
    for item in json.loads(text).get("nftables", []):
        s = item.get("set")
        if not s or s.get("table") != TABLE:
            continue
        for element in s.get("elem", ()):
            element = element.get("elem", element) if isinstance(element, dict) else {}
            value = (element.get("val") or {}).get("concat")
            counter = element.get("counter") or {}
            if not value or not counter:
                continue
            if s["name"] in ("tcp_flows", "udp_flows"):
                src, dst, sport, dport, mark = value
                proto = _PROTOCOLS[s["name"].split("_")[0]]
                sport, dport = (_number(p, {}, socket.getservbyname) for p in (sport, dport))
            else:
                src, dst, proto, mark = value
                proto, sport, dport = _number(proto, _PROTOCOLS, socket.getprotobyname), 0, 0
            key = ((src, dst, proto, sport, dport), int(mark) & REJECTED)
            packets, size = out.get(key, (0, 0))
            out[key] = (packets + counter.get("packets", 0), size + counter.get("bytes", 0))
    return out


class Deltas:
    """Cumulative counters per router -> what each read adds."""

    def __init__(self) -> None:
        self.last: dict[str, dict] = {}

    def update(self, router: str, counts: dict) -> dict[tuple[Flow, int], tuple[int, int]]:
        last = self.last.get(router, {})
        out = {}
        for key, (packets, size) in counts.items():
            was_packets, was_size = last.get(key, (0, 0))
            if packets < was_packets or size < was_size:  # a new element (idle, gone, back)
                was_packets = was_size = 0
            if packets > was_packets:
                out[key] = (packets - was_packets, size - was_size)
        self.last[router] = counts
        return out

    def forget(self, keep) -> None:
        for router in [r for r in self.last if r not in keep]:
            del self.last[router]


def views(flow: Flow, verdict: int, owner: dict[str, str]) -> list[tuple[str, str, str]]:
    """(ENI, flow-direction, action) for each ENI of the VPC that sees a counted flow."""
    out = []
    src_eni, dst_eni = owner.get(flow[0]), owner.get(flow[1])
    if src_eni:
        out.append((src_eni, "egress", "REJECT" if verdict & REJECT_SRC else "ACCEPT"))
    if dst_eni and not verdict & REJECT_SRC:
        out.append((dst_eni, "ingress", "REJECT" if verdict & REJECT_DST else "ACCEPT"))
    return out


# ---- records ------------------------------------------------------------------------------------


def record_version(fmt: str) -> int:
    return max((FIELD_VERSIONS.get(f, 2) for f in _FIELD.findall(fmt)), default=2)


def render(fmt: str, fields: dict) -> str:
    return _FIELD.sub(lambda m: str(fields.get(m.group(1), "-")), fmt)


@dataclass(frozen=True)
class Target:
    """Where a flow log's records go, and how they are cut: flow logs that share all of it
    share their records (one stream per ENI; their traffic types add up)."""

    region: str
    group: str
    fmt: str
    interval: int


@dataclass
class Window:
    records: dict[tuple, list[int]] = field(default_factory=dict)  # (eni, dir, flow, action)
    enis: dict[str, dict] = field(default_factory=dict)  # eni -> its fields (vpc-id, ...)


def effective_interval(max_interval: int, local: float | None) -> int:
    """The window length: AWS's maximum, or the local one when shorter (whole seconds)."""
    if not local or local <= 0:
        return int(max_interval)
    return max(1, min(int(max_interval), round(local)))


def scopes(store, local: float | None) -> tuple[dict[Target, dict[str, set[str]]],
                                                dict[str, dict]]:
    """From one snapshot of the store: each target's ENIs with the actions it wants, and the
    fields of every ENI concerned."""
    targets: dict[Target, dict[str, set[str]]] = {}
    info: dict[str, dict] = {}
    with store.transaction("global"):  # the store's lock; writes nothing
        for region in store.scopes("flow_logs"):
            view = store.view(region)
            logs = [dict(r) for r in view.all("flow_logs").values()]
            enis = dict(view.all("network_interfaces"))
            subnets = dict(view.all("subnets"))
            for fl in logs:
                if fl.get("LogDestinationType", "cloud-watch-logs") != "cloud-watch-logs":
                    continue
                rid = fl.get("ResourceId", "")
                key = ("NetworkInterfaceId" if rid.startswith("eni-") else
                       "SubnetId" if rid.startswith("subnet-") else "VpcId")
                covered = [e for e_id, e in enis.items() if e.get(key) == rid]
                if not covered:
                    continue
                target = Target(region, fl["LogGroupName"], fl.get("LogFormat") or DEFAULT_FORMAT,
                                effective_interval(fl.get("MaxAggregationInterval", 600), local))
                actions = {"ACCEPT", "REJECT"} if fl["TrafficType"] == "ALL" else {fl["TrafficType"]}
                wanted = targets.setdefault(target, {})
                for e in covered:
                    e_id = e["NetworkInterfaceId"]
                    wanted.setdefault(e_id, set()).update(actions)
                    if e_id not in info:
                        subnet = subnets.get(e.get("SubnetId", "")) or {}
                        info[e_id] = {
                            "account-id": e.get("OwnerId", "-"), "interface-id": e_id,
                            "vpc-id": e.get("VpcId", "-"), "subnet-id": e.get("SubnetId", "-"),
                            "instance-id": (e.get("Attachment") or {}).get("InstanceId") or "-",
                            "region": region, "az-id": subnet.get("AvailabilityZoneId", "-")}
    return targets, info


def lines(target: Target, start: int, window: Window) -> dict[str, list[tuple[int, str]]]:
    """A closed window's events, by ENI."""
    version = 2 if target.fmt == DEFAULT_FORMAT else record_version(target.fmt)
    out: dict[str, list[tuple[int, str]]] = {}
    for (eni, direction, flow, action), (packets, size) in sorted(window.records.items()):
        src, dst, proto, sport, dport = flow
        fields = {**window.enis.get(eni, {}), "version": version, "srcaddr": src,
                  "dstaddr": dst, "srcport": sport, "dstport": dport, "protocol": proto,
                  "packets": packets, "bytes": size, "start": start,
                  "end": start + target.interval, "action": action, "log-status": "OK",
                  "type": "IPv4", "pkt-srcaddr": src, "pkt-dstaddr": dst,
                  "flow-direction": direction}
        out.setdefault(eni, []).append((start * 1000, render(target.fmt, fields)))
    return out


# ---- the collector ------------------------------------------------------------------------------


class Collector:
    """Reads the flow log tables of a running fabric (FabricService) and delivers records."""

    def __init__(self, service, deliver: Deliver, local_interval: float | None) -> None:
        self.service = service
        self.deliver = deliver
        self.local = local_interval
        self.deltas = Deltas()
        self.windows: dict[tuple[Target, int], Window] = {}
        self.figures = {"reads": 0, "delivered": 0, "errors": 0}
        # the console's live flows: what each read added, per edge, for LIVE_SECONDS
        self.live: dict[tuple, list] = {}
        # the bytes each ENI of a flow-logged VPC accepted (sent or received) since its VPC's
        # counting began: what a NAT gateway or an endpoint processed (`vpclocal cost`)
        self.processed: dict[str, int] = {}
        # ... of which to or from a gateway service's public endpoint: (ENI, "s3") -> bytes
        self.processed_for: dict[tuple[str, str], int] = {}
        self.counting_since: dict[str, float] = {}  # VPC -> when its first read was
        self._live_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._period = 1.0

    def start(self) -> Collector:
        self._thread = threading.Thread(target=self._run, name="vpclocal-flowlogs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.tick(time.time())
            except Exception as exc:  # noqa: BLE001 - keep logging; the next read catches up
                self.figures["errors"] += 1
                log.error("flow logs: %s", exc)

    def tick(self, now: float) -> None:
        targets, info = scopes(self.service.store, self.local)
        # read often enough to close windows in time, and far within the counters' TIMEOUT
        shortest = min((t.interval for t in targets), default=4)
        self._period = min(max(shortest / 4, 0.25), 5.0)
        for target, start in [k for k in self.windows if k[0] not in targets]:
            del self.windows[(target, start)]  # its flow log is gone
        seen = self._read(targets)
        for target, enis in targets.items():
            start = int(math.floor(now / target.interval) * target.interval)
            window = None
            for eni, direction, flow, action, packets, size in seen:
                if action not in enis.get(eni, ()):
                    continue
                if window is None:
                    window = self.windows.setdefault((target, start), Window())
                counted = window.records.setdefault((eni, direction, flow, action), [0, 0])
                counted[0] += packets
                counted[1] += size
                window.enis[eni] = info[eni]
        self._deliver(now)

    def _read(self, targets) -> list[tuple[str, str, Flow, str, int, int]]:
        fabric = self.service.fabric
        if fabric is None or not targets:
            return []
        reconciler = fabric.reconciler
        plan, spaces = reconciler.plan, dict(reconciler.routers)
        routers = [v for v, r in plan.routers.items() if r.flow_logs and v in spaces]
        self.deltas.forget(set(routers))
        if not routers:
            return []
        results = fabric.sandbox.run([(["nft", "-j", "list", "table", "ip", TABLE],
                                       spaces[v], "") for v in routers], 2)
        self.figures["reads"] += 1
        owners: dict[str, dict[str, str]] = {v: {} for v in routers}
        for e in plan.enis.values():
            if e.vpc in owners:
                owners[e.vpc].update((a.split("/")[0], e.id) for a in e.addresses)
        out = []
        now = time.time()
        for v, result in zip(routers, results, strict=True):
            if result.rc != 0:  # the table is being replaced: counted at the next read
                continue
            self.counting_since.setdefault(v, now)
            for (flow, verdict), (packets, size) in self.deltas.update(
                    v, parse_counts(result.out)).items():
                seen = views(flow, verdict, owners[v])
                out += [(eni, direction, flow, action, packets, size)
                        for eni, direction, action in seen]
                service = GATEWAY_AT.get(flow[1]) or GATEWAY_AT.get(flow[0])
                for eni, _direction, action in seen:
                    if action == "ACCEPT":
                        self.processed[eni] = self.processed.get(eni, 0) + size
                        if service:
                            key = (eni, service)
                            self.processed_for[key] = self.processed_for.get(key, 0) + size
                self._remember(v, flow, verdict, owners[v], packets, size, now)
        return out

    def measured(self, now: float) -> dict:
        """ENI (or (ENI, gateway service)) -> (bytes it accepted, over how many seconds), in
        flow-logged VPCs."""
        fabric = self.service.fabric
        plan = fabric.reconciler.plan if fabric is not None else None
        out: dict = {}
        for key, size in [*self.processed.items(), *self.processed_for.items()]:
            e = plan.enis.get(key if isinstance(key, str) else key[0]) if plan else None
            since = self.counting_since.get(e.vpc) if e is not None else None
            if since is not None:
                out[key] = (size, now - since)
        return out

    def _remember(self, vpc: str, flow: Flow, verdict: int, owner: dict[str, str],
                  packets: int, size: int, now: float) -> None:
        """One edge of the console's live flows: between the two ENIs (or an ENI and an
        address), the service's port, and whether the fabric refused it. A reply (from the
        lower port to the higher, ephemeral one) counts on its request's edge."""
        src, dst, proto, sport, dport = flow
        if sport and sport < dport:
            src, dst, sport, dport = dst, src, dport, sport
        key = (vpc, owner.get(src) or src, owner.get(dst) or dst, proto, dport,
               "REJECT" if verdict & REJECTED else "ACCEPT")
        with self._live_lock:
            edge = self.live.setdefault(key, [0, 0, now])
            edge[0] += packets
            edge[1] += size
            edge[2] = now

    def recent(self, vpcs: set[str], now: float) -> list[dict]:
        """The edges of these VPCs seen in the last LIVE_SECONDS, with their counts."""
        with self._live_lock:
            for key in [k for k, e in self.live.items() if now - e[2] > LIVE_SECONDS]:
                del self.live[key]
            edges = sorted(self.live.items())
        return [{"vpc": vpc, "source": src, "destination": dst, "protocol": proto,
                 "port": dport, "action": action, "packets": packets, "bytes": size,
                 "age": round(now - seen, 1)}
                for (vpc, src, dst, proto, dport, action), (packets, size, seen) in edges
                if vpc in vpcs]

    def _deliver(self, now: float) -> None:
        for (target, start), window in sorted(self.windows.items(),
                                              key=lambda item: item[0][1]):
            if start + target.interval > now:
                continue
            del self.windows[(target, start)]
            for eni, events in lines(target, start, window).items():
                self.deliver(target.region, target.group, f"{eni}-all", events)
                self.figures["delivered"] += len(events)
