"""Cache clusters through boto3 and the aws CLI, each node a real redis-server."""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess

import pytest
from botocore.exceptions import ClientError

from tests.conftest import BIN
from tests.elasticache.conftest import node, record

NODE_HOST = re.compile(r"[a-z0-9-]+\.[a-z0-9]{6}\.0001\.use1\.cache\.amazonaws\.com")


def fails(call, code: str, message: str, status: int = 400, **kwargs) -> None:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    got = err.value.response
    assert (got["Error"]["Code"], got["Error"]["Message"]) == (code, message)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == status


def create(elasticache, net, cluster_id: str, **extra) -> dict:
    return elasticache.create_cache_cluster(
        CacheClusterId=cluster_id, Engine="redis", CacheNodeType="cache.t3.micro",
        NumCacheNodes=1, CacheSubnetGroupName=net["group"], **extra)["CacheCluster"]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_create_is_available_at_once_and_serves_redis(server, ec2, elasticache, net):
    made = create(elasticache, net, "Orders-Cache", SecurityGroupIds=[net["cache_sg"]])
    assert made["CacheClusterId"] == "orders-cache"  # AWS lower-cases identifiers
    assert made["CacheClusterStatus"] == "creating" and "CacheNodes" not in made
    got = elasticache.describe_cache_clusters(CacheClusterId="ORDERS-CACHE",
                                              ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert got["CacheClusterStatus"] == "available"
    assert (got["Engine"], got["EngineVersion"], got["NumCacheNodes"]) == ("redis", "7.1", 1)
    assert got["CacheSubnetGroupName"] == net["group"]
    assert got["SecurityGroups"] == [{"SecurityGroupId": net["cache_sg"], "Status": "active"}]
    assert got["ARN"] == "arn:aws:elasticache:us-east-1:000000000000:cluster:orders-cache"
    assert got["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7"
    [cache_node] = got["CacheNodes"]
    assert cache_node["CacheNodeId"] == "0001" and cache_node["CacheNodeStatus"] == "available"
    assert cache_node["Endpoint"]["Port"] == 6379
    assert NODE_HOST.fullmatch(cache_node["Endpoint"]["Address"])
    assert cache_node["Endpoint"]["Address"].startswith("orders-cache.")
    assert cache_node["CustomerAvailabilityZone"] == got["PreferredAvailabilityZone"]
    without = elasticache.describe_cache_clusters(CacheClusterId="orders-cache")
    assert "CacheNodes" not in without["CacheClusters"][0]

    client = node(server, "orders-cache")
    assert client.set("order:1", "paid") and client.get("order:1") == b"paid"

    rec = record(server, "orders-cache")
    assert rec["_Hostname"] == cache_node["Endpoint"]["Address"]
    [eni] = ec2.describe_network_interfaces(
        NetworkInterfaceIds=rec["_NetworkInterfaceIds"])["NetworkInterfaces"]
    assert eni["Description"] == "ElastiCache orders-cache"
    assert eni["RequesterManaged"] is True and eni["PrivateIpAddress"] == rec["_Address"]
    assert [g["GroupId"] for g in eni["Groups"]] == [net["cache_sg"]]
    assert eni["SubnetId"] in net["subnets"]
    assert eni["AvailabilityZone"] == got["PreferredAvailabilityZone"]


def test_defaults_security_group_and_zone(server, ec2, elasticache, net):
    made = create(elasticache, net, "zoned", PreferredAvailabilityZone="us-east-1b")
    default_sg = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [net["vpc"]]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    assert made["SecurityGroups"] == [{"SecurityGroupId": default_sg, "Status": "active"}]
    assert made["PreferredAvailabilityZone"] == "us-east-1b"
    eni_id = record(server, "zoned")["_NetworkInterfaceIds"][0]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert eni["SubnetId"] == net["subnets"][1]

    # ModifyCacheCluster moves the node's ENI behind the new groups
    modified = elasticache.modify_cache_cluster(
        CacheClusterId="zoned", SecurityGroupIds=[net["app_sg"], net["cache_sg"]],
        ApplyImmediately=True)["CacheCluster"]
    assert [g["SecurityGroupId"] for g in modified["SecurityGroups"]] == [net["app_sg"],
                                                                           net["cache_sg"]]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert {g["GroupId"] for g in eni["Groups"]} == {net["app_sg"], net["cache_sg"]}
    # a requester-managed ENI cannot be deleted through EC2
    with pytest.raises(ClientError) as err:
        ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    assert err.value.response["Error"]["Code"] == "InvalidNetworkInterface.InUse"


def test_reboot_keeps_the_data(server, elasticache, net):
    create(elasticache, net, "rebooted")
    node(server, "rebooted").set("k", "v")
    answer = elasticache.reboot_cache_cluster(CacheClusterId="rebooted",
                                              CacheNodeIdsToReboot=["0001"])["CacheCluster"]
    assert answer["CacheClusterStatus"] == "rebooting cache cluster nodes"
    got = elasticache.describe_cache_clusters(CacheClusterId="rebooted")["CacheClusters"][0]
    assert got["CacheClusterStatus"] == "available"
    assert node(server, "rebooted").get("k") == b"v"


def test_cli_create_wait_delete(server, ec2, net):
    made = server.aws("elasticache", "create-cache-cluster", "--cache-cluster-id", "cli-cache",
                      "--engine", "redis", "--cache-node-type", "cache.t4g.micro",
                      "--num-cache-nodes", "1", "--cache-subnet-group-name", net["group"])
    assert made["CacheCluster"]["CacheClusterStatus"] == "creating"
    # available by the first describe, so the waiter's first poll ends it
    # (bench/elasticache_create.py times create -> available)
    assert server.aws("elasticache", "describe-cache-clusters", "--cache-cluster-id",
                      "cli-cache")["CacheClusters"][0]["CacheClusterStatus"] == "available"
    server.aws("elasticache", "wait", "cache-cluster-available", "--cache-cluster-id",
               "cli-cache")
    shown = server.aws("elasticache", "describe-cache-clusters", "--cache-cluster-id",
                       "cli-cache", "--show-cache-node-info")["CacheClusters"][0]
    assert shown["CacheNodes"][0]["Endpoint"]["Port"] == 6379

    rec = record(server, "cli-cache")
    node(server, "cli-cache").set("x", "1")
    directory = server.data_dir / "elasticache" / "us-east-1" / "cli-cache"
    assert directory.is_dir() and listening(rec["_LocalPort"])

    deleted = server.aws("elasticache", "delete-cache-cluster", "--cache-cluster-id",
                         "cli-cache")
    assert deleted["CacheCluster"]["CacheClusterStatus"] == "deleting"
    server.aws("elasticache", "wait", "cache-cluster-deleted", "--cache-cluster-id",
               "cli-cache")
    assert not listening(rec["_LocalPort"]) and not directory.exists()
    assert record(server, "cli-cache") is None
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "network-interface-id", "Values": rec["_NetworkInterfaceIds"]}])[
        "NetworkInterfaces"] == []
    proc = server.aws("elasticache", "describe-cache-clusters", "--cache-cluster-id",
                      "cli-cache", check=False)
    assert proc.returncode == 255  # awscli v1: a service error
    assert ("An error occurred (CacheClusterNotFound) when calling the DescribeCacheClusters "
            "operation: CacheCluster not found: cli-cache") in proc.stderr


def test_reach_shows_the_node_and_its_security_group(server, ec2, elasticache, net):
    create(elasticache, net, "reached", SecurityGroupIds=[net["cache_sg"]])
    client = ec2.create_network_interface(SubnetId=net["subnets"][0], Groups=[net["app_sg"]])[
        "NetworkInterface"]["NetworkInterfaceId"]
    eni_id = record(server, "reached")["_NetworkInterfaceIds"][0]

    def reach(destination: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "vpclocal"), "reach", client, destination, "--port",
                               "6379"], env=server.env(), capture_output=True, text=True,
                              timeout=60, check=False)

    blocked = reach("cache:reached")
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert eni_id in blocked.stdout and f"no ingress rule of {net['cache_sg']}" in blocked.stdout
    ec2.authorize_security_group_ingress(GroupId=net["cache_sg"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
        "UserIdGroupPairs": [{"GroupId": net["app_sg"]}]}])
    hostname = elasticache.describe_cache_clusters(CacheClusterId="reached",
                                                   ShowCacheNodeInfo=True)[
        "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
    for destination in ("cache:reached", hostname):
        opened = reach(destination)
        assert opened.returncode == 0, opened.stdout + opened.stderr
        assert "REACHABLE" in opened.stdout


def test_no_subnet_group_means_the_default_vpc(server, ec2, elasticache):
    made = elasticache.create_cache_cluster(CacheClusterId="in-default", Engine="redis",
                                            CacheNodeType="cache.t3.micro")["CacheCluster"]
    assert made["CacheSubnetGroupName"] == "default"
    [group] = elasticache.describe_cache_subnet_groups(CacheSubnetGroupName="default")[
        "CacheSubnetGroups"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["VpcId"]
    assert group["VpcId"] == default_vpc and group["Subnets"]
    pid = int((server.data_dir / "elasticache" / "us-east-1" / "in-default" / "redis.pid")
              .read_text())
    if os.geteuid() == 0:  # root hands the engine to the redis user
        assert os.stat(f"/proc/{pid}").st_uid == pwd.getpwnam("redis").pw_uid
    elasticache.delete_cache_cluster(CacheClusterId="in-default")
