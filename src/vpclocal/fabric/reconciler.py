"""Converge the sandbox's kernel state to a plan, idempotently and in batches.

The reconciler remembers the plan it last applied: nothing but the reconciler changes the
sandbox, so that plan is what the kernel has. apply() diffs the new plan against it:

- an ENI that is new gets a namespace and a veth pair to its router, made by the agent over
  rtnetlink (`ip` would cost two process starts per ENI, most of a large build's time); an
  ENI that is gone or changed (address, subnet, MAC) loses its router port first (deleting
  a veth is synchronous; a namespace's teardown is not) and then its namespace;
- each router's nftables table changes by `nft -f` transactions that declare new chains and
  sets, refill what changed (a chain is flushed and refilled in one transaction; set
  elements are added and deleted), and delete what is gone: a rule change is one small
  atomic transaction; a large change is packed into several (see BUDGET);
- new router ports are configured and brought up last, once their rules are in force;
- a router whose VPC gets a flow log gets the flow log table (flowlogs.py) once, and loses it
  when its last flow log goes: its counters live in the kernel, so no other change touches it.
- a router's `lo` carries the VPC resolver's addresses (base + 2 and 169.254.169.253), where
  the fabric service binds the resolver's sockets (dns.py).

If anything fails, the state is unknown: the next apply() rebuilds everything from scratch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .compiler import (
    ENI_SYSCTL,
    ROUTER_SYSCTL,
    TABLE,
    EniPlan,
    NftSet,
    Plan,
    RouterPlan,
    compile_plan,
)
from .flowlogs import flow_table_change
from .sandbox import Sandbox, Space

IP = ["ip", "-batch", "-"]
NFT = ["nft", "-f", "-"]


@dataclass
class Stats:
    """What one apply() did, and how long it took (seconds)."""

    enis_added: int = 0
    enis_removed: int = 0
    routers_added: int = 0
    routers_removed: int = 0
    nft_changes: int = 0  # nft statements sent
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.enis_added or self.enis_removed or self.routers_added
                    or self.routers_removed or self.nft_changes)


class Reconciler:
    def __init__(self, sandbox: Sandbox, parallel: int = 2) -> None:
        self.sb = sandbox
        self.parallel = parallel
        self.routers: dict[str, Space] = {}
        self.enis: dict[str, Space] = {}
        self.plan = Plan()  # what the kernel has
        self._broken = False

    def apply_topology(self, topology) -> Stats:
        return self.apply(compile_plan(topology))

    def apply(self, plan: Plan) -> Stats:
        if self._broken:
            self.clear()
        try:
            return self._apply(plan)
        except BaseException:
            self._broken = True
            raise

    def clear(self) -> None:
        """Drop every namespace this reconciler made."""
        self.sb.ns_del([*self.enis.values(), *self.routers.values()])
        self.enis.clear()
        self.routers.clear()
        self.plan = Plan()
        self._broken = False

    def space(self, eni_id: str) -> Space:
        """The namespace of an ENI (where its functions and servers run)."""
        return self.enis[eni_id]

    def router_space(self, vpc_id: str) -> Space:
        return self.routers[vpc_id]

    # ---- the steps -------------------------------------------------------------------------

    def _apply(self, plan: Plan) -> Stats:
        stats = Stats()
        start = last = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal last
            now = time.perf_counter()
            stats.phases[name] = now - last
            last = now

        old = self.plan
        # 1. gone or changed ENIs: their router ports first, then their namespaces
        drop = [i for i, e in old.enis.items() if plan.enis.get(i) != e]
        gone_routers = [v for v in old.routers if v not in plan.routers]
        unplug: dict[str, list[str]] = {}
        for i in drop:
            if old.enis[i].vpc not in gone_routers:
                unplug.setdefault(old.enis[i].vpc, []).append(old.enis[i].port)
        self.sb.check([(IP, self.routers[v], "".join(f"link del dev {p}\n" for p in ports))
                       for v, ports in unplug.items()])
        self.sb.ns_del([self.enis.pop(i) for i in drop] + [self.routers.pop(v) for v in gone_routers])
        stats.enis_removed, stats.routers_removed = len(drop), len(gone_routers)
        lap("remove")

        # 2. new routers
        new_routers = [v for v in plan.routers if v not in self.routers]
        for v, space in zip(new_routers, self.sb.ns_new(len(new_routers), sysctl=ROUTER_SYSCTL),
                            strict=True):
            self.routers[v] = space
        stats.routers_added = len(new_routers)
        # the VPC resolver's addresses on each router's lo (its sockets are the service's)
        self.sb.check([(IP, self.routers[v], batch) for v, r in plan.routers.items()
                       if (batch := resolver_batch(None if v in new_routers
                                                   else old.routers.get(v), r))],
                      self.parallel)

        # 3. new ENIs: a namespace each, and the veth pair to the router, its port still down
        new = [e for i, e in plan.enis.items() if i not in self.enis]
        spaces = self.sb.ns_new(len(new), sysctl=ENI_SYSCTL) if new else []
        for e, space in zip(new, spaces, strict=True):
            self.enis[e.id] = space
        lap("namespaces")
        self.sb.plug([{"ns": self.enis[e.id].ns, "router": self.routers[e.vpc].ns,
                       "port": e.port, "group": e.group, "mac": e.mac,
                       "addresses": list(e.addresses), "gateway": e.gateway} for e in new])
        stats.enis_added = len(new)
        lap("enis")

        # 4. rules, before any new port comes up; the flow log tables first (counting before
        # the `vpc` table defers its drops to them)
        flow_jobs = [(NFT, self.routers[v], flow_table_change(old.routers.get(v), r))
                     for v, r in plan.routers.items()]
        self.sb.check([j for j in flow_jobs if j[2]], self.parallel)
        batches = {v: nft_diff(old.routers.get(v), r) for v, r in plan.routers.items()}
        while any(batches.values()):  # routers in parallel, each one's batches in order
            jobs = [(NFT, self.routers[v], b.pop(0)) for v, b in batches.items() if b]
            stats.nft_changes += sum(text.count("\n") for _argv, _space, text in jobs)
            self.sb.check(jobs, self.parallel)
        lap("nft")

        # 5. router side of the new ports
        ports: dict[str, list[str]] = {}
        for e in new:
            ports.setdefault(e.vpc, []).append(port_batch(e))
        self.sb.check([(IP, self.routers[v], "".join(b)) for v, b in ports.items()],
                      self.parallel)
        lap("ports")

        self.plan = plan
        stats.seconds = time.perf_counter() - start
        return stats


# ---- batches ---------------------------------------------------------------------------------


def port_batch(e: EniPlan) -> str:
    """`ip -batch` inside the router: the ENI's port, the gateway address, routes to it."""
    lines = [f"link set dev {e.port} group {e.group} up",
             f"addr add {e.gateway}/32 dev {e.port}"]
    lines += [f"route add {a.split('/')[0]}/32 dev {e.port}" for a in e.addresses]
    return "\n".join(lines) + "\n"


def resolver_batch(old: RouterPlan | None, new: RouterPlan) -> str:
    """`ip -batch` inside a router: its resolver addresses on lo, as the plan changes them."""
    before = old.resolver if old is not None else ()
    lines = [f"addr del {a}/32 dev lo" for a in before if a not in new.resolver]
    lines += [f"addr add {a}/32 dev lo" for a in new.resolver if a not in before]
    return "".join(line + "\n" for line in lines)


def _kind(s: NftSet) -> str:
    return "map" if " : " in s.spec else "set"


# nft sends a transaction in one netlink message, which must fit the socket's send buffer:
# inside a user namespace nft cannot raise it (SO_SNDBUFFORCE needs the host's CAP_NET_ADMIN),
# so it stays at net.core.wmem_default (208 KiB by default), about 500 rules. Transactions
# are packed under a budget, in units of about 400 bytes of netlink: a rule is 1, a set
# element 1/4. A group of statements that must be atomic (a chain's flush and refill) is
# never split.
BUDGET = 320
ELEMENTS_PER_LINE = 400


def _elements(verb: str, s_name: str, elements: list[str]) -> list[tuple[str, float]]:
    t = TABLE
    return [(f"{verb} element ip {t} {s_name} {{ {', '.join(elements[i:i + ELEMENTS_PER_LINE])} }}",
             len(elements[i:i + ELEMENTS_PER_LINE]) / 4)
            for i in range(0, len(elements), ELEMENTS_PER_LINE)]


def nft_diff(old: RouterPlan | None, new: RouterPlan) -> list[str]:
    """`nft -f` transactions taking the table from `old` to `new` (none when equal)."""
    t = TABLE
    groups: list[list[tuple[str, float]]] = []  # each group lands in one transaction
    if old is not None and (
            any(old.sets[n].spec != s.spec for n, s in new.sets.items() if n in old.sets)
            or any(old.chains[n].hook != c.hook for n, c in new.chains.items()
                   if n in old.chains)):
        # unreachable with the compiler as it is (a name fixes its type and hook)
        groups.append([(f"delete table ip {t}", 1)])
        old = None
    if old is None:
        groups.append([(f"add table ip {t}", 1)])
        old = RouterPlan(new.vpc)
    declare, fill, drop = [], [], []  # chains are declared before sets (see below)
    for name, s in new.sets.items():
        was = old.sets.get(name)
        if was is None:
            declare.append([(f"add {_kind(s)} ip {t} {name} {{ {s.spec} }}", 1)])
            fill.extend([e] for e in _elements("add", name, list(s.elements)))
        elif was.elements != s.elements:
            # only what changed, deletes first (a refill of a large interval set costs nft
            # its elements); together, so no packet sees half of it
            key = (lambda el: el.split(" : ")[0]) if _kind(s) == "map" else (lambda el: el)
            now, before = set(s.elements), set(was.elements)
            removed = [key(el) for el in was.elements if el not in now]
            added = [el for el in s.elements if el not in before]
            fill.append([*_elements("delete", name, removed), *_elements("add", name, added)])
    for name in old.sets:
        if name not in new.sets:
            drop.append([(f"delete {_kind(old.sets[name])} ip {t} {name}", 1)])
    for name, c in new.chains.items():
        was = old.chains.get(name)
        if was is None:
            # before any set: an interval verdict map declared before the chains its
            # elements name rejects them (ENOENT, nft 1.0.6)
            declare.insert(0, [(f"add chain ip {t} {name} {{ {c.hook or ''} }}", 1)])
            group = []
        elif was.rules == c.rules:
            continue
        else:
            group = [(f"flush chain ip {t} {name}", 1)]
        fill.append(group + [(f"add rule ip {t} {name} {r}", 1) for r in c.rules])
    gone = [name for name in old.chains if name not in new.chains]
    # references first: gone chains are emptied (they may jump to each other or use gone
    # sets), then gone sets deleted (maps may name gone chains), then gone chains
    drop = ([[(f"flush chain ip {t} {n}", 1)] for n in gone] + drop
            + [[(f"delete chain ip {t} {n}", 1)] for n in gone])
    return _pack(groups + declare + fill + drop)


def _pack(groups: list[list[tuple[str, float]]]) -> list[str]:
    out: list[str] = []
    lines: list[str] = []
    size = 0.0
    for group in groups:
        weight = sum(w for _line, w in group)
        if lines and size + weight > BUDGET:
            out.append("\n".join(lines) + "\n")
            lines, size = [], 0.0
        lines.extend(line for line, _w in group)
        size += weight
    if lines:
        out.append("\n".join(lines) + "\n")
    return out
