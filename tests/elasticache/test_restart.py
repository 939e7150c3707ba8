"""A cluster's data outlives vpclocal: a clean stop, and a kill -9 that orphans the Redis."""

from __future__ import annotations

import os
import signal

from tests.conftest import Server
from tests.elasticache.conftest import node, record


def test_data_survives_restarts(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        ec2 = srv.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.234.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.234.1.0/24")["Subnet"]["SubnetId"]
        ec = srv.client("elasticache")
        ec.create_cache_subnet_group(CacheSubnetGroupName="g", CacheSubnetGroupDescription="g",
                                     SubnetIds=[subnet])
        ec.create_cache_cluster(CacheClusterId="durable", CacheNodeType="cache.t3.micro",
                                Engine="redis", NumCacheNodes=1, CacheSubnetGroupName="g")
        node(srv, "durable").set("session:1", "alice")

        srv.stop()  # SIGTERM: the server stops its Redis, which flushes its append-only file
        pid_file = srv.data_dir / "elasticache" / "us-east-1" / "durable" / "redis.pid"
        assert not pid_file.exists()
        srv.start()
        assert status(srv) == "available"
        assert node(srv, "durable").get("session:1") == b"alice"
        node(srv, "durable").set("session:2", "bob")

        orphan = int(pid_file.read_text())
        srv.stop(signal.SIGKILL)  # the Redis lives on; the next start stops and restarts it
        srv.start()
        assert int(pid_file.read_text()) != orphan
        assert not os.path.exists(f"/proc/{orphan}/cwd")
        client = node(srv, "durable")
        assert client.get("session:1") == b"alice" and client.get("session:2") == b"bob"
        assert record(srv, "durable")["CacheNodes"][0]["CacheNodeStatus"] == "available"
    finally:
        srv.stop()


def status(srv) -> str:
    return srv.client("elasticache").describe_cache_clusters(CacheClusterId="durable")["CacheClusters"][0][
        "CacheClusterStatus"]
