"""ElastiCache fixtures: a VPC with a cache subnet group, and a look into the server's store
for what the API does not show (the node's loopback port in this slice)."""

from __future__ import annotations

import json
import sqlite3

import pytest
import redis


def record(server, cluster_id: str, region: str = "us-east-1") -> dict | None:
    """The cluster's stored record, internal keys included (read-only, beside the server)."""
    db = sqlite3.connect(f"file:{server.data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT body FROM records WHERE scope=? AND kind='cache_clusters'"
                         " AND id=?", (region, cluster_id)).fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row else None


def node(server, cluster_id: str) -> redis.Redis:
    """A client of the cluster's real redis-server."""
    port = record(server, cluster_id)["_LocalPort"]
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)


@pytest.fixture(scope="session")
def elasticache(server):
    return server.client("elasticache")


@pytest.fixture(scope="module")
def net(ec2, elasticache, request):
    """10.232.0.0/16, subnets in two zones, an app and a cache security group, and a cache
    subnet group named after the module."""
    vpc = ec2.create_vpc(CidrBlock="10.232.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.232.{i}.0/24",
                                 AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
               for i, zone in ((1, "a"), (2, "b"))]
    app_sg, cache_sg = (ec2.create_security_group(VpcId=vpc, GroupName=n, Description=n)[
        "GroupId"] for n in ("app", "cache"))
    group = request.module.__name__.rpartition(".")[2].replace("_", "-")
    elasticache.create_cache_subnet_group(CacheSubnetGroupName=group, SubnetIds=subnets,
                                          CacheSubnetGroupDescription="cache subnets")
    return {"vpc": vpc, "subnets": subnets, "app_sg": app_sg, "cache_sg": cache_sg,
            "group": group}
