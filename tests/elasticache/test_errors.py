"""Cache subnet groups, and the errors AWS gives: code, message and HTTP status, with nothing
left half-created."""

from __future__ import annotations

from tests.elasticache.conftest import record
from tests.elasticache.test_clusters import create, fails


def test_subnet_group_lifecycle(ec2, elasticache, net):
    ec = elasticache
    [got] = ec.describe_cache_subnet_groups(CacheSubnetGroupName=net["group"])[
        "CacheSubnetGroups"]
    assert got["VpcId"] == net["vpc"] and got["CacheSubnetGroupDescription"] == "cache subnets"
    assert [s["SubnetIdentifier"] for s in got["Subnets"]] == net["subnets"]
    assert [s["SubnetAvailabilityZone"]["Name"] for s in got["Subnets"]] == ["us-east-1a",
                                                                             "us-east-1b"]
    assert got["ARN"].endswith(f":subnetgroup:{net['group']}")

    made = ec.create_cache_subnet_group(CacheSubnetGroupName="Temp-Group",
                                        CacheSubnetGroupDescription="t",
                                        SubnetIds=net["subnets"][:1])["CacheSubnetGroup"]
    assert made["CacheSubnetGroupName"] == "temp-group"
    fails(ec.create_cache_subnet_group, "CacheSubnetGroupAlreadyExists",
          "Cache subnet group temp-group already exists.", CacheSubnetGroupName="temp-group",
          CacheSubnetGroupDescription="t", SubnetIds=net["subnets"][:1])
    modified = ec.modify_cache_subnet_group(CacheSubnetGroupName="temp-group",
                                            SubnetIds=net["subnets"],
                                            CacheSubnetGroupDescription="two")["CacheSubnetGroup"]
    assert len(modified["Subnets"]) == 2 and modified["CacheSubnetGroupDescription"] == "two"
    ec.delete_cache_subnet_group(CacheSubnetGroupName="temp-group")
    for call, kwargs in ((ec.describe_cache_subnet_groups, {}),
                         (ec.delete_cache_subnet_group, {}),
                         (ec.modify_cache_subnet_group, {"CacheSubnetGroupDescription": "x"})):
        fails(call, "CacheSubnetGroupNotFoundFault", "Cache subnet group temp-group does not "
              "exist.", CacheSubnetGroupName="temp-group", **kwargs)

    other_vpc = ec2.create_vpc(CidrBlock="10.233.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.233.1.0/24")["Subnet"]["SubnetId"]
    fails(ec.create_cache_subnet_group, "InvalidSubnet",
          "Subnets must all belong to the same VPC.", CacheSubnetGroupName="mixed",
          CacheSubnetGroupDescription="m", SubnetIds=[net["subnets"][0], other])
    fails(ec.create_cache_subnet_group, "InvalidSubnet",
          "The subnet ID subnet-0000000000000000f does not exist", CacheSubnetGroupName="gone",
          CacheSubnetGroupDescription="g", SubnetIds=["subnet-0000000000000000f"])


def test_group_in_use_and_cluster_errors(server, ec2, elasticache, net):
    ec = elasticache
    create(ec, net, "busy")
    fails(ec.delete_cache_subnet_group, "CacheSubnetGroupInUse",
          f"Cache subnet group {net['group']} is currently in use by a cache cluster.",
          CacheSubnetGroupName=net["group"])
    fails(create, "CacheClusterAlreadyExists", "Cache cluster busy already exists.",
          elasticache=ec, net=net, cluster_id="BUSY")

    enis_before = len(ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [net["vpc"]]}])["NetworkInterfaces"])
    bad = {
        "two nodes": ({"NumCacheNodes": 2}, "InvalidParameterValue",
                      ("Cannot create a Redis cluster with a NumCacheNodes parameter "
                       "greater than 1."), 400),
        "memcached": ({"Engine": "memcached"}, "InvalidParameterValue",
                      "The engine memcached is not supported by vpclocal, which runs redis.",
                      400),
        "no group": ({"CacheSubnetGroupName": "nope"}, "CacheSubnetGroupNotFoundFault",
                     "Cache subnet group nope does not exist.", 400),
        "unknown sg": ({"SecurityGroupIds": ["sg-0000000000000000f"]},
                       "InvalidParameterValue",
                       "The security group sg-0000000000000000f does not exist", 400),
        "version": ({"EngineVersion": "2.8"}, "InvalidParameterCombination",
                    "Cannot find version 2.8 for redis", 400),
    }
    for params, code, message, status in bad.values():
        kwargs = {"CacheClusterId": "half", "Engine": "redis", "CacheNodeType": "cache.t3.micro",
                  "NumCacheNodes": 1, "CacheSubnetGroupName": net["group"], **params}
        fails(ec.create_cache_cluster, code, message, status, **kwargs)
    for cluster_id in ("1abc", "a--b", "ends-", "x" * 51):
        fails(ec.create_cache_cluster, "InvalidParameterValue",
              "The parameter CacheClusterIdentifier is not a valid identifier. Identifiers must "
              "begin with a letter; must contain only ASCII letters, digits, and hyphens; and "
              "must not end with a hyphen or contain two consecutive hyphens.",
              CacheClusterId=cluster_id, CacheNodeType="cache.t3.micro",
              CacheSubnetGroupName=net["group"])
    fails(ec.create_cache_cluster, "InvalidParameterValue",
          "The parameter CacheNodeType must be provided and must not be blank.",
          CacheClusterId="half", CacheSubnetGroupName=net["group"])
    # nothing half-created: no cluster record, no ENI
    assert record(server, "half") is None
    assert len(ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [net["vpc"]]}])["NetworkInterfaces"]) == enis_before

    for call, kwargs in ((ec.describe_cache_clusters, {}), (ec.delete_cache_cluster, {}),
                         (ec.reboot_cache_cluster, {"CacheNodeIdsToReboot": ["0001"]}),
                         (ec.modify_cache_cluster, {})):
        fails(call, "CacheClusterNotFound", "CacheCluster not found: ghost", 404,
              CacheClusterId="ghost", **kwargs)
