"""AWS::ElastiCache::* handlers over the ElastiCache provider."""

from __future__ import annotations

from vpclocal.services.cloudformation.resources.base import (
    Handler,
    HandlerError,
    NeedsReplacement,
    as_bool,
    ignore_missing,
    tags,
)


class SubnetGroup(Handler):
    type_name = "AWS::ElastiCache::SubnetGroup"

    async def create(self, env, props):
        name = (props.get("CacheSubnetGroupName") or env.physical_name(255)).lower()
        params = {"CacheSubnetGroupName": name, "CacheSubnetGroupDescription":
                  props["Description"], "SubnetIds": props["SubnetIds"]}
        if tags(props):
            params["Tags"] = tags(props)
        await env.call("elasticache", "CreateCacheSubnetGroup", params)
        return name, {}

    async def update(self, env, physical_id, attrs, old, new):
        if (old.get("CacheSubnetGroupName") or "").lower() != \
                (new.get("CacheSubnetGroupName") or "").lower():
            raise NeedsReplacement
        await env.call("elasticache", "ModifyCacheSubnetGroup", {
            "CacheSubnetGroupName": physical_id, "SubnetIds": new["SubnetIds"],
            "CacheSubnetGroupDescription": new["Description"]})
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("elasticache", "DeleteCacheSubnetGroup",
                                      {"CacheSubnetGroupName": physical_id}))


# AWS::ElastiCache::CacheCluster property -> CreateCacheCluster parameter
_RENAMED = {"VpcSecurityGroupIds": "SecurityGroupIds"}
_PARAMS = ("CacheNodeType", "Engine", "EngineVersion", "NumCacheNodes", "CacheSubnetGroupName",
           "VpcSecurityGroupIds", "Port", "PreferredAvailabilityZone", "PreferredMaintenanceWindow",
           "SnapshotRetentionLimit", "SnapshotWindow", "CacheParameterGroupName",
           "NotificationTopicArn", "IpDiscovery", "NetworkType", "AZMode")


class CacheCluster(Handler):
    type_name = "AWS::ElastiCache::CacheCluster"

    async def create(self, env, props):
        # a generated cluster name is short: ElastiCache allows 50 characters
        name = (props.get("ClusterName") or env.physical_name(40)).lower()
        params = {"CacheClusterId": name}
        for key in _PARAMS:
            if props.get(key) is not None:
                params[_RENAMED.get(key, key)] = props[key]
        for key in ("AutoMinorVersionUpgrade", "TransitEncryptionEnabled"):
            if key in props:
                params[key] = as_bool(props[key])
        if tags(props):
            params["Tags"] = tags(props)
        await env.call("elasticache", "CreateCacheCluster", params)

        async def ready():
            cluster = (await env.call("elasticache", "DescribeCacheClusters", {
                "CacheClusterId": name, "ShowCacheNodeInfo": True}))["CacheClusters"][0]
            if cluster["CacheClusterStatus"] in ("incompatible-network", "create-failed"):
                raise HandlerError(f"Cache cluster {name} is {cluster['CacheClusterStatus']}")
            return cluster if cluster["CacheClusterStatus"] == "available" else None

        cluster = await env.wait(ready, "cache cluster available")
        endpoint = cluster["CacheNodes"][0]["Endpoint"]
        kind = "RedisEndpoint" if cluster["Engine"] == "redis" else "ConfigurationEndpoint"
        return name, {f"{kind}.Address": endpoint["Address"],
                      f"{kind}.Port": str(endpoint["Port"])}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("elasticache", "DeleteCacheCluster",
                                      {"CacheClusterId": physical_id}))


HANDLERS = [SubnetGroup, CacheCluster]
