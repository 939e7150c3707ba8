"""RDS instances, RDS proxies and ElastiCache nodes answer at their ENI's private address inside
the fabric, behind their security groups: a VPC function reaches MariaDB (pymysql, as in the
guide), the proxy (by its endpoint name) and Redis there while the rules allow it, and times out
once the RDS ingress rule is revoked."""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from pathlib import Path

import pymysql
import pytest

from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import start_server
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, unique, wait_state

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

PASSWORD = "MyPassword123!"
HANDLER = """
import socket
import pymysql

def handler(event, context):
    if event.get("redis"):
        s = socket.create_connection((event["redis"], 6379), timeout=2)
        s.sendall(b"PING\\r\\n")
        answer = s.recv(64).decode()
        s.close()
        return {"redis": answer}
    try:
        conn = pymysql.connect(host=event["host"], user="admin", password=event["password"],
                               database="mysql", connect_timeout=event.get("timeout", 5))
    except pymysql.MySQLError as exc:
        return {"error": exc.args[0], "text": str(exc)}
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    conn.close()
    return {"version": version}
"""


def with_pymysql(source: str) -> bytes:
    """The function's zip: its code and the pymysql package, as the guide's step 4 builds it."""
    buffer = io.BytesIO()
    package = Path(pymysql.__file__).parent
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
        for path in package.rglob("*.py"):
            archive.write(path, f"pymysql/{path.relative_to(package)}")
    return buffer.getvalue()


def invoke(lam, name: str, event: dict, log: list | None = None) -> dict:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    assert "FunctionError" not in out
    if log is not None:
        log.append(base64.b64decode(out["LogResult"]).decode())
    return json.loads(out["Payload"].read())


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def test_database_and_cache_at_their_eni_address(server):
    ec2, rds, cache, lam = (server.client(s) for s in ("ec2", "rds", "elasticache", "lambda"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
               for c, z in (("10.0.10.0/24", "us-east-1a"), ("10.0.20.0/24", "us-east-1b"))]
    lambda_sg, rds_sg = (ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)
                         ["GroupId"] for n in ("lambda-sg", "rds-sg"))
    for port in (3306, 6379):
        ec2.authorize_security_group_ingress(GroupId=rds_sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": lambda_sg}]}])
    rds.create_db_subnet_group(DBSubnetGroupName="dbs", DBSubnetGroupDescription="d",
                               SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro",
                           Engine="mysql", MasterUsername="admin", MasterUserPassword=PASSWORD,
                           AllocatedStorage=20, DBSubnetGroupName="dbs",
                           VpcSecurityGroupIds=[rds_sg])
    cache.create_cache_subnet_group(CacheSubnetGroupName="cs", CacheSubnetGroupDescription="c",
                                    SubnetIds=subnets)
    cache.create_cache_cluster(CacheClusterId="cc", Engine="redis", CacheNodeType="cache.t3.micro",
                               NumCacheNodes=1, CacheSubnetGroupName="cs",
                               SecurityGroupIds=[rds_sg])
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="db",
                                                 WaiterConfig={"Delay": 1})
    rds.create_db_proxy(DBProxyName="proxy", EngineFamily="MYSQL", VpcSubnetIds=subnets,
                        VpcSecurityGroupIds=[rds_sg],
                        RoleArn="arn:aws:iam::000000000000:role/proxy",
                        Auth=[{"SecretArn": "arn:aws:secretsmanager:us-east-1:000000000000:"
                               "secret:db"}])
    rds.register_db_proxy_targets(DBProxyName="proxy", DBInstanceIdentifiers=["db"])
    proxy_host = rds.describe_db_proxies(DBProxyName="proxy")["DBProxies"][0]["Endpoint"]
    cache.get_waiter("cache_cluster_available").wait(CacheClusterId="cc",
                                                     WaiterConfig={"Delay": 1})
    addresses = {
        e["Description"]: e["PrivateIpAddress"]
        for e in ec2.describe_network_interfaces(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]}
    db_ip = next(a for d, a in addresses.items() if "RDS" in d)
    cache_ip = next(a for d, a in addresses.items() if "ElastiCache" in d)

    role = make_role(server.client("iam"), BASIC, VPC_ACCESS)
    name = unique()
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role,
                        Handler="index.handler", Code={"ZipFile": with_pymysql(HANDLER)},
                        Timeout=30, VpcConfig={"SubnetIds": subnets,
                                               "SecurityGroupIds": [lambda_sg]})
    wait_state(lam, name)

    version = invoke(lam, name, {"host": db_ip, "password": PASSWORD})
    assert "MariaDB" in version["version"], version
    # the RDS Proxy by its endpoint name (the VPC resolver), its pool in front of the database
    via_proxy = invoke(lam, name, {"host": proxy_host, "password": PASSWORD})
    assert via_proxy == version, via_proxy
    assert invoke(lam, name, {"redis": cache_ip}) == {"redis": "+PONG\r\n"}
    denied = invoke(lam, name, {"host": db_ip, "password": "wrong"})
    assert denied["error"] == 1045, denied  # the real server answered

    ec2.revoke_security_group_ingress(GroupId=rds_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
        "UserIdGroupPairs": [{"GroupId": lambda_sg}]}])
    log: list[str] = []
    blocked = invoke(lam, name, {"host": db_ip, "password": PASSWORD, "timeout": 1}, log)
    assert blocked["error"] == 2003, blocked  # the SYN was dropped: pymysql's connect timeout
    assert "timed out" in blocked["text"], blocked
    # beyond AWS: the log says which component dropped it, and how to open it
    hint = next(line for line in log[0].splitlines() if line.startswith("vpclocal: connection"))
    assert f"to {db_ip}:3306/tcp" in hint and "ENI_SG_RULES_MISMATCH" in hint, hint
    assert rds_sg in hint and "aws ec2 authorize-security-group-ingress" in hint, hint
    assert invoke(lam, name, {"redis": cache_ip}) == {"redis": "+PONG\r\n"}  # 6379 still open
