"""RDS against a live server: real MariaDB / PostgreSQL behind instances, pgbouncer behind
RDS Proxy. Servers listen on loopback at the instance's internal _LocalPort (read from the
store) until the fabric places them at their ENI's address."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time

import botocore.exceptions
import pg8000.native
import pymysql
import pytest

from tests.conftest import Server, served

PASSWORD = "Secret123!"


def internal(server: Server, kind: str, rid: str) -> dict:
    with sqlite3.connect(server.data_dir / "state.db") as db:
        row = db.execute("SELECT body FROM records WHERE kind=? AND id=?", (kind, rid)).fetchone()
    return json.loads(row[0])


def aws(server: Server, *args: str, check: bool = True):
    # awscli v1 pins rds to https://rds.amazonaws.com in us-east-1 unless --endpoint-url is given
    return server.aws("--endpoint-url", server.endpoint, "rds", *args, check=check)


def network(ec2, cidr: str = "10.0.0.0/16"):
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.rsplit(".", 2)[0]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{i}.0/24",
                                 AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    return vpc, subnets


def error_of(call, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call(**kwargs)
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def mysql_connect(server, db_id, password=PASSWORD, db="app"):
    port = internal(server, "db_instances", db_id)["_LocalPort"]
    return pymysql.connect(host="127.0.0.1", port=port, user="admin", password=password,
                           database=db, connect_timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Our own server: the tests restart it."""
    yield from served(tmp_path_factory, "rds")


@pytest.fixture(scope="module")
def ec2(server):
    return server.client("ec2")


@pytest.fixture(scope="module")
def rds(server):
    return server.client("rds")


@pytest.fixture(scope="module")
def group(server, ec2, rds):
    vpc, subnets = network(ec2, "10.40.0.0/16")
    rds.create_db_subnet_group(DBSubnetGroupName="rds-tests", DBSubnetGroupDescription="t",
                               SubnetIds=subnets)
    return vpc, subnets


def test_subnet_group_rules(ec2, rds, group):
    vpc, subnets = group
    got = rds.describe_db_subnet_groups(DBSubnetGroupName="rds-tests")["DBSubnetGroups"][0]
    assert got["VpcId"] == vpc and got["SubnetGroupStatus"] == "Complete"
    assert {s["SubnetIdentifier"] for s in got["Subnets"]} == set(subnets)
    assert error_of(rds.create_db_subnet_group, DBSubnetGroupName="one-az",
                    DBSubnetGroupDescription="x", SubnetIds=[subnets[0]]) == (
        "DBSubnetGroupDoesNotCoverEnoughAZs",
        ("The DB subnet group doesn't meet Availability Zone (AZ) coverage requirement. "
         "Current AZ coverage: us-east-1a. Add subnets to cover at least 2 AZs."), 400)
    assert error_of(rds.create_db_subnet_group, DBSubnetGroupName="rds-tests",
                    DBSubnetGroupDescription="x", SubnetIds=subnets)[0] == \
        "DBSubnetGroupAlreadyExists"
    assert error_of(rds.describe_db_subnet_groups, DBSubnetGroupName="nope")[::2] == (
        "DBSubnetGroupNotFoundFault", 404)


def test_proxy_subnets_must_share_a_vpc(ec2, rds, group):
    """CreateDBProxy refuses subnets of two VPCs (InvalidSubnet), leaving no proxy and no
    network interface behind."""
    _, subnets = group
    _, others = network(ec2, "10.41.0.0/16")
    enis = len(ec2.describe_network_interfaces()["NetworkInterfaces"])
    assert error_of(rds.create_db_proxy, DBProxyName="two-vpcs", EngineFamily="MYSQL",
                    RoleArn="arn:aws:iam::000000000000:role/proxy",
                    VpcSubnetIds=[subnets[0], others[1]],
                    Auth=[{"SecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:"
                           "secret:db"}]) == (
        "InvalidSubnet", "The requested subnets are not all in a common VPC.", 400)
    assert error_of(rds.describe_db_proxies, DBProxyName="two-vpcs")[0] == \
        "DBProxyNotFoundFault"
    assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == enis


def test_create_errors_leave_nothing(server, ec2, rds, group):
    base = {"DBInstanceIdentifier": "bad", "DBInstanceClass": "db.t3.micro", "Engine": "mysql",
            "MasterUsername": "admin", "MasterUserPassword": PASSWORD, "AllocatedStorage": 20,
            "DBSubnetGroupName": "rds-tests"}
    enis = len(ec2.describe_network_interfaces()["NetworkInterfaces"])
    assert error_of(rds.create_db_instance, **{**base, "MasterUserPassword": "short"}) == (
        "InvalidParameterValue", ("The parameter MasterUserPassword is not a valid password "
                                  "because it is shorter than 8 characters."), 400)
    assert error_of(rds.create_db_instance, **{**base, "Engine": "oracle-xx"}) == (
        "InvalidParameterValue", "Invalid DB engine", 400)
    assert error_of(rds.create_db_instance, **{**base, "DBSubnetGroupName": "nope"})[::2] == (
        "DBSubnetGroupNotFoundFault", 404)
    assert error_of(rds.create_db_instance, **{**base, "DBInstanceIdentifier": "a--b"})[0] == \
        "InvalidParameterValue"
    assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == enis
    assert error_of(rds.describe_db_instances, DBInstanceIdentifier="bad") == (
        "DBInstanceNotFound", "DBInstance bad not found.", 404)


def test_mysql_lifecycle(server, ec2, rds, group):
    vpc, subnets = group
    sg = ec2.create_security_group(GroupName="db-sg", Description="d", VpcId=vpc)["GroupId"]
    created = aws(server, "create-db-instance", "--db-instance-identifier", "MyDb",
                  "--db-instance-class", "db.t3.micro", "--engine", "mysql",
                  "--master-username", "admin", "--master-user-password", PASSWORD,
                  "--allocated-storage", "20", "--db-subnet-group-name", "rds-tests",
                  "--vpc-security-group-ids", sg, "--db-name", "app",
                  "--no-publicly-accessible")["DBInstance"]
    assert created["DBInstanceStatus"] == "creating"
    # available by the first describe, so the waiter's first poll ends it (bench/rds_create.py
    # times create -> available)
    db = rds.describe_db_instances(DBInstanceIdentifier="mydb")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available" and db["Engine"] == "mysql"
    aws(server, "wait", "db-instance-available", "--db-instance-identifier", "mydb")
    assert db["EngineVersion"] == "8.0.35" and db["DBName"] == "app"
    assert db["Endpoint"]["Port"] == 3306
    assert db["Endpoint"]["Address"].startswith("mydb.") and \
        db["Endpoint"]["Address"].endswith(".us-east-1.rds.amazonaws.com")
    assert db["VpcSecurityGroups"] == [{"VpcSecurityGroupId": sg, "Status": "active"}]
    assert db["DBSubnetGroup"]["VpcId"] == vpc and db["PubliclyAccessible"] is False
    record = internal(server, "db_instances", "mydb")
    eni = ec2.describe_network_interfaces(
        NetworkInterfaceIds=record["_NetworkInterfaceIds"])["NetworkInterfaces"][0]
    assert eni["Description"] == "RDSNetworkInterface" and eni["RequesterManaged"]
    assert eni["SubnetId"] in subnets and eni["Groups"][0]["GroupId"] == sg
    assert record["_Address"] == eni["PrivateIpAddress"]
    assert record["_Hostname"] == db["Endpoint"]["Address"]

    with mysql_connect(server, "mydb") as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION(), DATABASE()")
        version, current = cur.fetchone()
        assert "MariaDB" in version and current == "app"
        cur.execute("CREATE TABLE t (v INT)")
        cur.execute("INSERT INTO t VALUES (42)")
        conn.commit()

    rds.modify_db_instance(DBInstanceIdentifier="mydb", MasterUserPassword="NewSecret99",
                           ApplyImmediately=True)
    with pytest.raises(pymysql.err.OperationalError):
        mysql_connect(server, "mydb")
    mysql_connect(server, "mydb", password="NewSecret99").close()

    assert error_of(rds.create_db_instance, DBInstanceIdentifier="mydb",
                    DBInstanceClass="db.t3.micro", Engine="mysql", MasterUsername="admin",
                    MasterUserPassword=PASSWORD, AllocatedStorage=20,
                    DBSubnetGroupName="rds-tests")[::2] == ("DBInstanceAlreadyExists", 400)
    assert error_of(rds.delete_db_subnet_group, DBSubnetGroupName="rds-tests")[0] == \
        "InvalidDBSubnetGroupStateFault"

    # restart: the data and the new password survive
    server.stop()
    server.start()
    with mysql_connect(server, "mydb", password="NewSecret99") as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM t")
        assert cur.fetchone() == (42,)

    assert error_of(rds.delete_db_instance, DBInstanceIdentifier="mydb") == (
        "InvalidParameterCombination",
        "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.", 400)
    pid = int((server.data_dir / "rds/us-east-1/mydb/server.pid").read_text())
    gone = rds.delete_db_instance(DBInstanceIdentifier="mydb", SkipFinalSnapshot=True)
    assert gone["DBInstance"]["DBInstanceStatus"] == "deleting"
    assert not (server.data_dir / "rds/us-east-1/mydb").exists()
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True, check=False).returncode != 0
    assert ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id",
                  "Values": record["_NetworkInterfaceIds"]}])["NetworkInterfaces"] == []


def test_postgres_and_proxy(server, ec2, rds, group):
    _, subnets = group
    rds.create_db_instance(DBInstanceIdentifier="pg", DBInstanceClass="db.t3.micro",
                           Engine="postgres", MasterUsername="master",
                           MasterUserPassword=PASSWORD, AllocatedStorage=20,
                           DBSubnetGroupName="rds-tests", DBName="app")
    db = rds.describe_db_instances(DBInstanceIdentifier="pg")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available" and db["Endpoint"]["Port"] == 5432
    port = internal(server, "db_instances", "pg")["_LocalPort"]
    conn = pg8000.native.Connection("master", host="127.0.0.1", port=port, database="app",
                                    password=PASSWORD)
    assert "PostgreSQL 15" in conn.run("SELECT version()")[0][0]

    proxy = rds.create_db_proxy(DBProxyName="pgproxy", EngineFamily="POSTGRESQL",
                                RoleArn="arn:aws:iam::000000000000:role/proxy",
                                VpcSubnetIds=subnets,
                                Auth=[{"SecretArn": "arn:aws:secretsmanager:us-east-1:"
                                       "000000000000:secret:db"}])["DBProxy"]
    assert proxy["Status"] == "creating"
    assert proxy["Endpoint"].startswith("pgproxy.proxy-")
    assert rds.describe_db_proxies(DBProxyName="pgproxy")["DBProxies"][0]["Status"] == \
        "available"
    group_conf = rds.describe_db_proxy_target_groups(DBProxyName="pgproxy")["TargetGroups"][0]
    assert group_conf["ConnectionPoolConfig"]["MaxConnectionsPercent"] == 100
    assert group_conf["ConnectionPoolConfig"]["MaxIdleConnectionsPercent"] == 50
    rds.modify_db_proxy_target_group(DBProxyName="pgproxy", TargetGroupName="default",
                                     ConnectionPoolConfig={"MaxConnectionsPercent": 5})
    rds.register_db_proxy_targets(DBProxyName="pgproxy", DBInstanceIdentifiers=["pg"])
    targets = rds.describe_db_proxy_targets(DBProxyName="pgproxy")["Targets"]
    assert targets[0]["RdsResourceId"] == "pg"
    assert targets[0]["TargetHealth"]["State"] == "AVAILABLE"

    proxy_port = internal(server, "db_proxies", "pgproxy")["_LocalPort"]
    errors, peak = [], []
    barrier = threading.Barrier(100)

    def client():
        try:
            c = pg8000.native.Connection("master", host="127.0.0.1", port=proxy_port,
                                         database="app", password=PASSWORD, timeout=60)
            barrier.wait(60)
            for _ in range(3):
                c.run("SELECT pg_sleep(0.02)")
            c.close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(100)]
    for t in threads:
        t.start()
    query = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
             "AND usename = 'master' AND datname = 'app' AND pid <> pg_backend_pid()")
    while any(t.is_alive() for t in threads):
        peak.append(conn.run(query)[0][0])
        time.sleep(0.01)
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert max(peak) <= 5  # 5 % of max_connections 100
    assert max(peak) >= 1

    rds.deregister_db_proxy_targets(DBProxyName="pgproxy", DBInstanceIdentifiers=["pg"])
    assert rds.describe_db_proxy_targets(DBProxyName="pgproxy")["Targets"] == []
    rds.delete_db_proxy(DBProxyName="pgproxy")
    assert error_of(rds.describe_db_proxies, DBProxyName="pgproxy")[::2] == (
        "DBProxyNotFoundFault", 404)
    conn.close()
    pid = int((server.data_dir / "rds/us-east-1/pg/server.pid").read_text())
    enis = internal(server, "db_instances", "pg")["_NetworkInterfaceIds"]
    assert enis
    rds.delete_db_instance(DBInstanceIdentifier="pg", SkipFinalSnapshot=True)
    # the PostgreSQL server, its data and its ENI go with the instance
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True, check=False).returncode != 0
    assert not (server.data_dir / "rds/us-east-1/pg").exists()
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "network-interface-id", "Values": enis}])["NetworkInterfaces"] == []
    assert error_of(rds.describe_db_instances, DBInstanceIdentifier="pg") == (
        "DBInstanceNotFound", "DBInstance pg not found.", 404)



def test_publicly_accessible_instance_gets_a_public_address(ec2, rds, group):
    """--publicly-accessible: the instance's ENI gets an AWS-owned public IP (used through an
    IGW); the default, --no-publicly-accessible, none. The address goes with the instance."""
    vpc, _subnets = group
    before = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()[
        "NetworkInterfaces"]}
    for db_id, public in (("pub", True), ("priv", False)):
        rds.create_db_instance(DBInstanceIdentifier=db_id, DBInstanceClass="db.t3.micro",
                               Engine="mysql", MasterUsername="admin",
                               MasterUserPassword=PASSWORD, AllocatedStorage=20,
                               DBSubnetGroupName="rds-tests", PubliclyAccessible=public)
        new = [e for e in ec2.describe_network_interfaces(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
            if e["NetworkInterfaceId"] not in before]
        assert len(new) == 1
        before.add(new[0]["NetworkInterfaceId"])
        association = new[0].get("Association")
        if public:
            assert association["IpOwnerId"] == "amazon"
            assert association["PublicIp"].startswith("192.0.2.")
            assert association["PublicDnsName"] == (
                "ec2-" + association["PublicIp"].replace(".", "-") + ".compute-1.amazonaws.com")
        else:
            assert association is None
        described = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
        assert described["PubliclyAccessible"] is public
    for db_id in ("pub", "priv"):
        rds.delete_db_instance(DBInstanceIdentifier=db_id, SkipFinalSnapshot=True)
