"""The fabric's behaviour in named situations (the differential test covers random ones)."""

from __future__ import annotations

import pytest

from tests.fabric.conftest import needs_fabric
from tests.network.builder import Net

pytestmark = needs_fabric


def ip_of(n: Net, eni: str) -> str:
    return n.t.network_interfaces[eni]["PrivateIpAddress"]


def connect(fabric, probe, n, src, dst, port, sport=0, timeout=0.3) -> bool:
    flow = [fabric.space(src).ns, sport, ip_of(n, dst), port]
    return probe.call("connect", flows=[flow], timeout=timeout)["ok"][0]


@pytest.fixture
def app_and_db():
    """The guide's shape: a function's ENI and a database ENI in another subnet; the
    database's group lets in members of the app group only."""
    n = Net()
    vpc = n.vpc()
    private_a, private_b = n.subnet(vpc, "10.0.1.0/24"), n.subnet(vpc, "10.0.2.0/24")
    app, db, other = n.sg(vpc, "app"), n.sg(vpc, "db"), n.sg(vpc, "other")
    n.allow(db, "ingress", "tcp", 5432, group=app)
    fn = n.lambda_eni(private_a, [other])
    database = n.eni(private_b, [db])
    return n, fn, database, app


def test_group_reference_follows_membership(fabric, probe, app_and_db):
    n, fn, database, app = app_and_db
    fabric.apply(n.t)
    probe.call("listen", ns=fabric.space(database).ns, ports=[5432])
    assert not connect(fabric, probe, n, fn, database, 5432)

    n.t.network_interfaces[fn]["Groups"].append({"GroupId": app, "GroupName": "app"})
    stats = fabric.apply(n.t)
    assert stats.enis_added == stats.enis_removed == 0  # only rules and sets change
    # (how long it takes: bench/fabric_bench.py, "one ENI joins a group")
    assert connect(fabric, probe, n, fn, database, 5432, timeout=2)

    n.t.network_interfaces[fn]["Groups"].pop()
    fabric.apply(n.t)
    assert not connect(fabric, probe, n, fn, database, 5432)


def test_a_new_connection_on_reused_ports_meets_the_current_rules(fabric, probe):
    """Conntrack keeps an entry for a connection whose reply it saw, even if an ACL then
    dropped the reply; a new SYN on the same ports must not pass as part of it."""
    n = Net()
    vpc = n.vpc()
    a_subnet, b_subnet = n.subnet(vpc, "10.0.1.0/24"), n.subnet(vpc, "10.0.2.0/24")
    acl = n.acl(vpc, [a_subnet])
    n.acl_entry(acl, 100, egress=True)  # out: everything; in: nothing (the replies)
    g = n.sg(vpc, "g")
    rule = n.allow(g, "ingress", "tcp", 22, cidr="0.0.0.0/0")
    a, b = n.eni(a_subnet, [g]), n.eni(b_subnet, [g])
    fabric.apply(n.t)
    probe.call("listen", ns=fabric.space(b).ns, ports=[22])
    assert not connect(fabric, probe, n, a, b, 22, sport=40000)

    n.acl_entry(acl, 100, egress=False)  # replies now pass ...
    n.t.security_groups[g]["IpPermissions"].remove(rule)  # ... but nothing is let in
    fabric.apply(n.t)
    probe.call("reset")
    probe.call("listen", ns=fabric.space(b).ns, ports=[22])
    assert not connect(fabric, probe, n, a, b, 22, sport=40000)

    n.t.security_groups[g]["IpPermissions"].append(rule)
    fabric.apply(n.t)
    assert connect(fabric, probe, n, a, b, 22, sport=40000, timeout=2)


def test_apply_is_idempotent_and_enis_come_and_go(fabric, probe, app_and_db):
    n, fn, database, app = app_and_db
    n.t.network_interfaces[fn]["Groups"] = [{"GroupId": app, "GroupName": "app"}]
    first = fabric.apply(n.t)
    assert first.enis_added == 2 and first.routers_added == 1
    assert not fabric.apply(n.t).changed
    router = fabric.reconciler.router_space(next(iter(n.t.vpcs)))
    port = fabric.reconciler.plan.enis[database].port
    assert port in fabric.sandbox.sh(router, "ip -o link").out

    record = n.t.network_interfaces.pop(database)
    stats = fabric.apply(n.t)
    assert stats.enis_removed == 1
    assert port not in fabric.sandbox.sh(router, "ip -o link").out
    assert port not in fabric.sandbox.sh(router, "nft list ruleset").out

    n.t.network_interfaces[database] = record
    assert fabric.apply(n.t).enis_added == 1
    probe.call("listen", ns=fabric.space(database).ns, ports=[5432])
    assert connect(fabric, probe, n, fn, database, 5432, timeout=2)


def test_an_eni_only_sends_from_its_own_addresses(fabric, probe):
    n = Net()
    vpc = n.vpc()
    a_subnet, b_subnet = n.subnet(vpc, "10.0.1.0/24"), n.subnet(vpc, "10.0.2.0/24")
    a, b = n.eni(a_subnet), n.eni(b_subnet)  # the default group: members reach each other
    fabric.apply(n.t)
    probe.call("listen", ns=fabric.space(b).ns, ports=[80])
    assert connect(fabric, probe, n, a, b, 80, timeout=2)
    sb = fabric.sandbox
    sb.sh(fabric.space(a), "ip addr add 10.0.1.99/24 dev eth0 noprefixroute")
    spoof = ("import socket; s = socket.socket(); s.settimeout(0.3); s.bind(('10.0.1.99', 0))\n"
             f"try: s.connect(('{ip_of(n, b)}', 80)); print('connected')\n"
             "except OSError: print('dropped')")
    assert sb.run([(["python3", "-c", spoof], fabric.space(a), "")])[0].out.strip() == "dropped"


def test_a_rule_change_is_one_small_transaction(fabric):
    """Security group rules are sets: a new rule changes one set, not a chain."""
    n = Net()
    vpc = n.vpc()
    groups = [n.sg(vpc) for _ in range(10)]
    for i, g in enumerate(groups):
        for j in range(100):
            n.allow(g, "ingress", "tcp", 1000 + j, cidr=f"10.{i}.{j}.0/24")
    for i in range(50):
        n.eni(n.subnet(vpc, f"10.0.{i}.0/24"), [groups[i % 10]])
    fabric.apply(n.t)
    n.allow(groups[3], "ingress", "tcp", 8080, cidr="10.0.0.0/16")
    stats = fabric.apply(n.t)
    assert stats.nft_changes == 1  # one statement: the new elements of the group's TCP set
    # (how long it takes: bench/fabric_bench.py)
