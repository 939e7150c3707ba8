"""Multi-AZ DB instances on real servers, through the fabric: a standby replicating in the
other AZ's subnet, failover by RebootDBInstance --force-failover, by FIS (reboot with
forceFailover, and the primary's subnet cut off), the endpoint name following it in the VPC
resolver, committed rows surviving, the RDS events, the RDS Proxy following its target; the
standby's subnet cut off (writes go on, a new standby when it is back); a vpclocal restart;
and AWS's errors.

The client is a process of this test in a client ENI's namespace (us-east-1c), which resolves
the endpoint name with the VPC resolver and connects as a function in the VPC would."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from unittest import mock

import botocore.exceptions
import pymysql
import pytest

from tests.conftest import unique
from tests.fabric.conftest import needs_fabric, until
from tests.fabric.test_functions_in_fabric import InNamespace, netns_of, start_server
from tests.fis.conftest import NONE, ROLE, reaches
from tests.rds.test_rds import internal

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
PASSWORD = "Secret123!"
PORTS = {"mysql": 3306, "postgres": 5432}

# one command per stdin line, one JSON answer per line: resolve | connect | sql <statement>
CLIENT = """
import json, sys
import dns.resolver, pg8000.native, pymysql
resolver_ip, name, port, engine, password = sys.argv[1:6]
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers, resolver.lifetime = [resolver_ip], 3
conn = None

def resolve():
    return resolver.resolve(name, "A")[0].to_text()

def connect(host):
    if engine == "postgres":
        return pg8000.native.Connection("admin", host=host, port=int(port), password=password,
                                        database="app", timeout=5)
    return pymysql.connect(host=host, port=int(port), user="admin", password=password,
                           database="app", connect_timeout=5, read_timeout=5, autocommit=True)

def run(sql):
    if engine == "postgres":
        return conn.run(sql)
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()

for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    try:
        if command == "resolve":
            out = resolve()
        elif command == "connect":
            out = resolve()
            conn = connect(out)
        else:
            out = [list(row) for row in run(arg) or []]
        print(json.dumps({"ok": out}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
"""


class Client:
    def __init__(self, server, vpc: dict, subnet: str, name: str, engine: str) -> None:
        ec2 = server.client("ec2")
        sg = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[sg])["NetworkInterface"]
        resolver = str(ipaddress.ip_network(vpc["CidrBlock"])[2])
        self.proc = InNamespace(netns_of(server, eni["NetworkInterfaceId"]), CLIENT, resolver,
                                name, str(PORTS[engine]), engine, PASSWORD)

    def ask(self, line: str) -> dict:
        return json.loads(self.proc.send(line))

    def ok(self, line: str):
        answer = self.ask(line)
        assert "ok" in answer, (line, answer)
        return answer["ok"]


def error_of(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call(**kwargs)
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("multiaz") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def rds(server):
    return server.client("rds")


def network(server, second: int) -> dict:
    """A VPC 10.<second>.0.0/16: subnets a, b (the DB subnet group) and c (clients)."""
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{second}.0.0/16")["Vpc"]
    subnets = {z: ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"10.{second}.{i}.0/24",
                                    AvailabilityZone=f"us-east-1{z}")["Subnet"]
               for i, z in ((1, "a"), (2, "b"), (3, "c"))}
    group = unique("maz")
    server.client("rds").create_db_subnet_group(
        DBSubnetGroupName=group, DBSubnetGroupDescription="multi-az",
        SubnetIds=[subnets["a"]["SubnetId"], subnets["b"]["SubnetId"]])
    return {"vpc": vpc, "subnets": subnets, "group": group}


def create(rds, net: dict, engine: str, **more) -> dict:
    db_id = unique(f"maz-{engine}")
    rds.create_db_instance(DBInstanceIdentifier=db_id, DBInstanceClass="db.t3.micro",
                           Engine=engine, MasterUsername="admin", MasterUserPassword=PASSWORD,
                           AllocatedStorage=20, DBSubnetGroupName=net["group"], DBName="app",
                           **more)
    return described(rds, db_id)


def described(rds, db_id: str) -> dict:
    return rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]


def zone_of(net: dict, address: str) -> str:
    return next(z for z, s in net["subnets"].items()
                if ipaddress.ip_address(address) in ipaddress.ip_network(s["CidrBlock"]))


def messages(rds, db_id: str) -> list[str]:
    return [e["Message"] for e in rds.describe_events(
        SourceType="db-instance", SourceIdentifier=db_id)["Events"]]


def standby_healthy(server, db_id: str) -> bool:
    return bool(internal(server, "db_instances", db_id).get("_Standby", {}).get("Healthy"))


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_force_failover_moves_the_endpoint_and_keeps_committed_rows(server, rds, engine):
    net = network(server, 60 if engine == "mysql" else 61)
    db = create(rds, net, engine, MultiAZ=True)
    db_id, name = db["DBInstanceIdentifier"], db["Endpoint"]["Address"]
    assert (db["DBInstanceStatus"], db["MultiAZ"]) == ("available", True)
    assert (db["AvailabilityZone"], db["SecondaryAvailabilityZone"]) == ("us-east-1a",
                                                                         "us-east-1b")
    client = Client(server, net["vpc"], net["subnets"]["c"]["SubnetId"], name, engine)
    try:
        assert zone_of(net, client.ok("connect")) == "a"
        client.ok("sql CREATE TABLE items (id INT PRIMARY KEY)")
        client.ok("sql INSERT INTO items VALUES (1), (2), (3)")

        answer = rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        assert answer["DBInstance"]["DBInstanceStatus"] == "rebooting"
        after = described(rds, db_id)
        assert after["DBInstanceStatus"] == "available"
        assert (after["AvailabilityZone"], after["SecondaryAvailabilityZone"]) == (
            "us-east-1b", "us-east-1a")
        assert after["Endpoint"] == db["Endpoint"]
        assert "error" in client.ask("sql SELECT 1")  # the in-flight connection broke
        assert zone_of(net, client.ok("resolve")) == "b"
        assert zone_of(net, client.ok("connect")) == "b"
        assert client.ok("sql SELECT count(*) FROM items") == [[3]]
        client.ok("sql INSERT INTO items VALUES (4)")  # the new primary takes writes
        assert messages(rds, db_id) == [
            "DB instance created", "Multi-AZ instance failover started.",
            "Multi-AZ instance failover completed",
            "The user requested a failover of the DB instance.", "DB instance restarted"]
        events = rds.describe_events(SourceType="db-instance", SourceIdentifier=db_id,
                                     EventCategories=["failover"])["Events"]
        assert [e["EventCategories"] for e in events] == [["failover"]] * 3
        assert {e["SourceArn"] for e in events} == {db["DBInstanceArn"]}

        # the old primary was rebuilt as the standby: failing back finds every row there
        assert standby_healthy(server, db_id)
        rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        assert described(rds, db_id)["AvailabilityZone"] == "us-east-1a"
        assert zone_of(net, client.ok("connect")) == "a"
        assert client.ok("sql SELECT count(*) FROM items") == [[4]]
    finally:
        client.proc.stop()
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)


def test_fis_az_disruption_fails_over_and_the_standby_comes_back(server, rds):
    """FIS cuts off us-east-1a's subnet (disrupt-connectivity, scope all): the primary there
    fails over to us-east-1b; when the experiment ends, a standby is rebuilt in us-east-1a.
    Then FIS reboot-db-instances with forceFailover fails it back."""
    net = network(server, 62)
    db = create(rds, net, "mysql", MultiAZ=True)
    db_id, name = db["DBInstanceIdentifier"], db["Endpoint"]["Address"]
    client = Client(server, net["vpc"], net["subnets"]["c"]["SubnetId"], name, "mysql")
    fis = server.client("fis")
    try:
        client.ok("connect")
        client.ok("sql CREATE TABLE items (id INT PRIMARY KEY)")
        client.ok("sql INSERT INTO items VALUES (1)")
        subnet_a = net["subnets"]["a"]
        template = fis.create_experiment_template(
            clientToken=unique("t"), description="lose us-east-1a", roleArn=ROLE,
            stopConditions=NONE,
            targets={"a": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                           "resourceArns": [subnet_a["SubnetArn"]]}},
            actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                             "parameters": {"duration": "PT10M", "scope": "all"},
                             "targets": {"Subnets": "a"}}})["experimentTemplate"]["id"]
        eid = fis.start_experiment(clientToken=unique("s"),
                                   experimentTemplateId=template)["experiment"]["id"]
        reaches(fis, eid, "running")
        until(lambda: "Multi-AZ instance failover completed" in messages(rds, db_id), 30,
              lambda: f"no failover: {messages(rds, db_id)}")
        assert described(rds, db_id)["AvailabilityZone"] == "us-east-1b"
        assert zone_of(net, client.ok("connect")) == "b"
        assert client.ok("sql SELECT count(*) FROM items") == [[1]]
        assert "The primary host of the RDS Multi-AZ instance is unreachable due to loss of " \
               "network connectivity." in messages(rds, db_id)
        assert not standby_healthy(server, db_id)  # nowhere to build it while us-east-1a is out

        fis.stop_experiment(id=eid)
        reaches(fis, eid, "stopped")
        until(lambda: standby_healthy(server, db_id), 60, lambda: "no standby rebuilt")
        assert described(rds, db_id)["SecondaryAvailabilityZone"] == "us-east-1a"

        template = fis.create_experiment_template(
            clientToken=unique("t"), description="fail over", roleArn=ROLE, stopConditions=NONE,
            targets={"db": {"resourceType": "aws:rds:db", "selectionMode": "ALL",
                            "resourceArns": [db["DBInstanceArn"]]}},
            actions={"reboot": {"actionId": "aws:rds:reboot-db-instances",
                                "parameters": {"forceFailover": "true"},
                                "targets": {"DBInstances": "db"}}})["experimentTemplate"]["id"]
        eid = fis.start_experiment(clientToken=unique("s"),
                                   experimentTemplateId=template)["experiment"]["id"]
        reaches(fis, eid, "completed", timeout=60)
        assert described(rds, db_id)["AvailabilityZone"] == "us-east-1a"
        assert zone_of(net, client.ok("connect")) == "a"
        assert client.ok("sql SELECT count(*) FROM items") == [[1]]
    finally:
        client.proc.stop()
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)


def test_standby_cut_off_leaves_writes_going_and_comes_back(server, rds):
    """FIS cuts off the standby's subnet (us-east-1b): the PostgreSQL primary's commits stop
    waiting for it (they would wait for ever); when the subnet is back, a new standby
    replicates, and a failover to it finds every row."""
    net = network(server, 68)
    db = create(rds, net, "postgres", MultiAZ=True)
    db_id, name = db["DBInstanceIdentifier"], db["Endpoint"]["Address"]
    client = Client(server, net["vpc"], net["subnets"]["c"]["SubnetId"], name, "postgres")
    fis = server.client("fis")
    try:
        client.ok("connect")
        client.ok("sql CREATE TABLE items (id INT PRIMARY KEY)")
        template = fis.create_experiment_template(
            clientToken=unique("t"), description="lose us-east-1b", roleArn=ROLE,
            stopConditions=NONE,
            targets={"b": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                           "resourceArns": [net["subnets"]["b"]["SubnetArn"]]}},
            actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                             "parameters": {"duration": "PT10M", "scope": "all"},
                             "targets": {"Subnets": "b"}}})["experimentTemplate"]["id"]
        eid = fis.start_experiment(clientToken=unique("s"),
                                   experimentTemplateId=template)["experiment"]["id"]
        reaches(fis, eid, "running")
        until(lambda: not standby_healthy(server, db_id), 30, lambda: "standby not lost")
        client.ok("sql INSERT INTO items VALUES (1)")  # (within the client's 5 s timeout)
        assert described(rds, db_id)["AvailabilityZone"] == "us-east-1a"
        fis.stop_experiment(id=eid)
        reaches(fis, eid, "stopped")
        until(lambda: standby_healthy(server, db_id), 60, lambda: "no standby rebuilt")
        client.ok("sql INSERT INTO items VALUES (2)")
        rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        assert zone_of(net, client.ok("connect")) == "b"
        assert client.ok("sql SELECT count(*) FROM items") == [[2]]
    finally:
        client.proc.stop()
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_rds_proxy_follows_the_failover(server, rds, engine):
    net = network(server, 63 if engine == "mysql" else 67)
    db = create(rds, net, engine, MultiAZ=True)
    db_id = db["DBInstanceIdentifier"]
    proxy = unique("prx")
    found = rds.create_db_proxy(
        DBProxyName=proxy, EngineFamily="MYSQL" if engine == "mysql" else "POSTGRESQL",
        RoleArn="arn:aws:iam::000000000000:role/p",
        VpcSubnetIds=[net["subnets"]["a"]["SubnetId"], net["subnets"]["b"]["SubnetId"]],
        Auth=[{"SecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db"}]
    )["DBProxy"]
    rds.register_db_proxy_targets(DBProxyName=proxy, DBInstanceIdentifiers=[db_id])
    client = Client(server, net["vpc"], net["subnets"]["c"]["SubnetId"], found["Endpoint"],
                    engine)
    try:
        client.ok("connect")
        client.ok("sql CREATE TABLE items (id INT PRIMARY KEY)")
        client.ok("sql INSERT INTO items VALUES (1), (2)")
        rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        target = rds.describe_db_proxy_targets(DBProxyName=proxy)["Targets"][0]
        assert target["TargetHealth"] == {"State": "AVAILABLE"}
        client.ok("connect")  # the proxy's address is the same; its target moved
        assert client.ok("sql SELECT count(*) FROM items") == [[2]]
        client.ok("sql INSERT INTO items VALUES (3)")
    finally:
        client.proc.stop()
        rds.delete_db_proxy(DBProxyName=proxy)
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)


def test_errors(server, rds):
    ec2 = server.client("ec2")
    net = network(server, 64)
    # force failover of a Single-AZ instance
    single = create(rds, net, "mysql")
    db_id = single["DBInstanceIdentifier"]
    try:
        assert single["MultiAZ"] is False and "SecondaryAvailabilityZone" not in single
        code, message, status = error_of(rds.reboot_db_instance, DBInstanceIdentifier=db_id,
                                         ForceFailover=True)
        assert (code, status) == ("InvalidParameterCombination", 400) and db_id in message
        assert described(rds, db_id)["DBInstanceStatus"] == "available"
        # Multi-AZ with an AZ of one's choice
        assert error_of(rds.create_db_instance, DBInstanceIdentifier=unique("x"),
                        DBInstanceClass="db.t3.micro", Engine="mysql", MasterUsername="admin",
                        MasterUserPassword=PASSWORD, DBSubnetGroupName=net["group"],
                        MultiAZ=True, AvailabilityZone="us-east-1a") == (
            "InvalidParameterCombination",
            "Requesting a specific availability zone is not valid for Multi-AZ instances.", 400)
        # a subnet group left with one AZ (its us-east-1b subnet deleted)
        one = network(server, 65)
        ec2.delete_subnet(SubnetId=one["subnets"]["b"]["SubnetId"])
        enis = len(ec2.describe_network_interfaces()["NetworkInterfaces"])
        coverage = ("DBSubnetGroupDoesNotCoverEnoughAZs",
                    ("The DB subnet group doesn't meet Availability Zone (AZ) coverage "
                     "requirement. Current AZ coverage: us-east-1a. Add subnets to cover at "
                     "least 2 AZs."), 400)
        assert error_of(rds.create_db_instance, DBInstanceIdentifier=unique("x"),
                        DBInstanceClass="db.t3.micro", Engine="postgres",
                        MasterUsername="admin", MasterUserPassword=PASSWORD,
                        DBSubnetGroupName=one["group"], MultiAZ=True) == coverage
        assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == enis
        # DescribeEvents: an identifier needs its type
        assert error_of(rds.describe_events, SourceIdentifier=db_id)[::2] == (
            "InvalidParameterCombination", 400)
        assert messages(rds, db_id) == ["DB instance created"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        assert rds.describe_events(SourceType="db-instance", SourceIdentifier=db_id,
                                   StartTime=later)["Events"] == []
        assert len(rds.describe_events(SourceType="db-instance", SourceIdentifier=db_id,
                                       Duration=5)["Events"]) == 1
        assert rds.describe_events(SourceType="db-snapshot", SourceIdentifier=db_id,
                                   Duration=5)["Events"] == []
        # Multi-AZ by ModifyDBInstance: a standby appears, and goes again
        modified = rds.modify_db_instance(DBInstanceIdentifier=db_id, MultiAZ=True,
                                          ApplyImmediately=True)["DBInstance"]
        assert (modified["MultiAZ"], modified["SecondaryAvailabilityZone"]) == (True,
                                                                                "us-east-1b")
        assert standby_healthy(server, db_id)
        back = rds.modify_db_instance(DBInstanceIdentifier=db_id, MultiAZ=False,
                                      ApplyImmediately=True)["DBInstance"]
        assert back["MultiAZ"] is False and "SecondaryAvailabilityZone" not in back
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)


def test_a_public_address_follows_the_primary(server, rds):
    ec2 = server.client("ec2")
    net = network(server, 69)
    db_id = create(rds, net, "postgres", MultiAZ=True,
                   PubliclyAccessible=True)["DBInstanceIdentifier"]

    def public_of(zone: str):
        found = ec2.describe_network_interfaces(Filters=[
            {"Name": "subnet-id", "Values": [net["subnets"][zone]["SubnetId"]]},
            {"Name": "description", "Values": ["RDSNetworkInterface"]}])["NetworkInterfaces"]
        return (found[0].get("Association") or {}).get("PublicIp")

    try:
        address = public_of("a")
        assert address and public_of("b") is None
        rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        assert (public_of("a"), public_of("b")) == (None, address)
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)


def test_a_restart_keeps_the_standby(server, rds):
    """vpclocal restarted: the standby replicates again, and a failover finds the rows
    written before and after the restart."""
    net = network(server, 66)
    db_id = create(rds, net, "mysql", MultiAZ=True)["DBInstanceIdentifier"]

    def sql(statement: str):
        port = internal(server, "db_instances", db_id)["_LocalPort"]
        with pymysql.connect(host="127.0.0.1", port=port, user="admin", password=PASSWORD,
                             database="app", autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()

    try:
        sql("CREATE TABLE items (id INT PRIMARY KEY)")
        sql("INSERT INTO items VALUES (1)")
        server.stop()
        with mock.patch.dict(os.environ, {"VPCLOCAL_FABRIC": "1"}):
            server.start()
        until(lambda: standby_healthy(server, db_id), 60, lambda: "the standby not back")
        sql("INSERT INTO items VALUES (2)")
        rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        assert described(rds, db_id)["AvailabilityZone"] == "us-east-1b"
        assert sql("SELECT count(*) FROM items") == ((2,),)
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
