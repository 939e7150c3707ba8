"""Handlers of data stores: AWS::RDS::*, AWS::S3::Bucket and BucketPolicy,
AWS::DynamoDB::Table, AWS::Logs::LogGroup."""

from __future__ import annotations

import json

from vpclocal.services.cloudformation.resources.base import (
    Handler,
    HandlerError,
    as_bool,
    ignore_missing,
    required,
    tags,
)

# AWS::RDS::DBInstance property -> CreateDBInstance parameter (the rest keep their names)
_RDS_RENAMED = {"VPCSecurityGroups": "VpcSecurityGroupIds"}
_RDS_PARAMS = ("DBInstanceClass", "Engine", "EngineVersion", "MasterUsername",
               "MasterUserPassword", "AllocatedStorage", "DBName", "VPCSecurityGroups",
               "DBSubnetGroupName", "PubliclyAccessible", "Port", "MultiAZ",
               "BackupRetentionPeriod", "AvailabilityZone", "StorageType", "StorageEncrypted",
               "DBParameterGroupName", "LicenseModel", "Iops", "DeletionProtection",
               "EnableIAMDatabaseAuthentication", "CopyTagsToSnapshot")


class DbSubnetGroup(Handler):
    type_name = "AWS::RDS::DBSubnetGroup"

    async def create(self, env, props):
        name = (props.get("DBSubnetGroupName") or env.physical_name(255)).lower()
        params = {"DBSubnetGroupName": name, "SubnetIds": props["SubnetIds"],
                  "DBSubnetGroupDescription": props["DBSubnetGroupDescription"]}
        if tags(props):
            params["Tags"] = tags(props)
        await env.call("rds", "CreateDBSubnetGroup", params)
        return name, {}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("rds", "DeleteDBSubnetGroup",
                                      {"DBSubnetGroupName": physical_id}))


class DbInstance(Handler):
    type_name = "AWS::RDS::DBInstance"

    async def create(self, env, props):
        required(props, "DBInstanceClass")
        name = (props.get("DBInstanceIdentifier") or env.physical_name(63)).lower()
        params = {"DBInstanceIdentifier": name}
        for key in _RDS_PARAMS:
            if props.get(key) is not None:
                params[_RDS_RENAMED.get(key, key)] = props[key]
        if tags(props):
            params["Tags"] = tags(props)
        await env.call("rds", "CreateDBInstance", params)

        async def ready():
            db = (await env.call("rds", "DescribeDBInstances",
                                 {"DBInstanceIdentifier": name}))["DBInstances"][0]
            if db["DBInstanceStatus"] == "failed":
                raise HandlerError(f"DB instance {name} failed")
            return db if db["DBInstanceStatus"] == "available" else None

        db = await env.wait(ready, "DB instance available", timeout=600)
        endpoint = db.get("Endpoint") or {}
        return name, {"Endpoint.Address": endpoint.get("Address"),
                      "Endpoint.Port": str(endpoint.get("Port", "")),
                      "Endpoint.HostedZoneId": endpoint.get("HostedZoneId"),
                      "DBInstanceArn": db["DBInstanceArn"],
                      "DbiResourceId": db.get("DbiResourceId")}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("rds", "DeleteDBInstance", {
            "DBInstanceIdentifier": physical_id, "SkipFinalSnapshot": True}))


class DbProxy(Handler):
    type_name = "AWS::RDS::DBProxy"

    async def create(self, env, props):
        name = props["DBProxyName"]
        params = {k: props[k] for k in ("DBProxyName", "EngineFamily", "Auth", "RoleArn",
                                        "VpcSubnetIds", "VpcSecurityGroupIds",
                                        "IdleClientTimeout") if props.get(k) is not None}
        for key in ("RequireTLS", "DebugLogging"):
            if key in props:
                params[key] = as_bool(props[key])
        if tags(props):
            params["Tags"] = tags(props)
        await env.call("rds", "CreateDBProxy", params)

        async def ready():
            proxy = (await env.call("rds", "DescribeDBProxies",
                                    {"DBProxyName": name}))["DBProxies"][0]
            if proxy["Status"] in ("incompatible-network", "insufficient-resource-limits"):
                raise HandlerError(f"DB proxy {name} is {proxy['Status']}")
            return proxy if proxy["Status"] == "available" else None

        proxy = await env.wait(ready, "DB proxy available")
        return proxy["DBProxyName"], {"DBProxyArn": proxy["DBProxyArn"],
                                      "Endpoint": proxy["Endpoint"], "VpcId": proxy["VpcId"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("rds", "DeleteDBProxy", {"DBProxyName": physical_id}))


# AWS::RDS::DBProxyTargetGroup ConnectionPoolConfigurationInfo -> ConnectionPoolConfig
_POOL = ("MaxConnectionsPercent", "MaxIdleConnectionsPercent", "ConnectionBorrowTimeout",
         "SessionPinningFilters", "InitQuery")


class DbProxyTargetGroup(Handler):
    type_name = "AWS::RDS::DBProxyTargetGroup"

    async def _converge(self, env, old: dict, new: dict) -> dict:
        proxy = new["DBProxyName"]
        group = {"DBProxyName": proxy, "TargetGroupName": new["TargetGroupName"]}
        pool = new.get("ConnectionPoolConfigurationInfo") or {}
        if pool != (old.get("ConnectionPoolConfigurationInfo") or {}):
            await env.call("rds", "ModifyDBProxyTargetGroup", {
                **group, "ConnectionPoolConfig": {k: pool[k] for k in _POOL if k in pool}})
        before = [i.lower() for i in old.get("DBInstanceIdentifiers") or []]
        after = [i.lower() for i in new.get("DBInstanceIdentifiers") or []]
        gone = [i for i in before if i not in after]
        added = [i for i in after if i not in before]
        if gone:
            await ignore_missing(env.call("rds", "DeregisterDBProxyTargets", {
                **group, "DBInstanceIdentifiers": gone}))
        if added or new.get("DBClusterIdentifiers"):
            await env.call("rds", "RegisterDBProxyTargets", {
                **group, **({"DBInstanceIdentifiers": added} if added else {}),
                **({"DBClusterIdentifiers": new["DBClusterIdentifiers"]}
                   if new.get("DBClusterIdentifiers") else {})})
        return (await env.call("rds", "DescribeDBProxyTargetGroups", group))["TargetGroups"][0]

    async def create(self, env, props):
        found = await self._converge(env, {}, props)
        return found["TargetGroupArn"], {"TargetGroupArn": found["TargetGroupArn"]}

    async def update(self, env, physical_id, attrs, old, new):
        await self._converge(env, old, new)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        targets = props.get("DBInstanceIdentifiers") or []
        if targets:
            await ignore_missing(env.call("rds", "DeregisterDBProxyTargets", {
                "DBProxyName": props["DBProxyName"], "TargetGroupName": props["TargetGroupName"],
                "DBInstanceIdentifiers": targets}))


class Bucket(Handler):
    type_name = "AWS::S3::Bucket"

    async def create(self, env, props):
        name = props.get("BucketName") or env.physical_name(63, lower=True)
        params = {"Bucket": name}
        if env.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": env.region}
        await env.call("s3", "CreateBucket", params)
        if tags(props):
            await env.call("s3", "PutBucketTagging", {"Bucket": name,
                                                      "Tagging": {"TagSet": tags(props)}})
        suffix = "amazonaws.com"
        return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.{suffix}",
                      "RegionalDomainName": f"{name}.s3.{env.region}.{suffix}",
                      "DualStackDomainName": f"{name}.s3.dualstack.{env.region}.{suffix}",
                      "WebsiteURL": f"http://{name}.s3-website-{env.region}.{suffix}"}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("s3", "DeleteBucket", {"Bucket": physical_id}))


class BucketPolicy(Handler):
    type_name = "AWS::S3::BucketPolicy"

    async def _put(self, env, props):
        policy = props["PolicyDocument"]
        await env.call("s3", "PutBucketPolicy", {
            "Bucket": props["Bucket"],
            "Policy": policy if isinstance(policy, str) else json.dumps(policy)})

    async def create(self, env, props):
        await self._put(env, props)
        return props["Bucket"], {}

    async def update(self, env, physical_id, attrs, old, new):
        await self._put(env, new)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("s3", "DeleteBucketPolicy", {"Bucket": physical_id}))


class Table(Handler):
    type_name = "AWS::DynamoDB::Table"

    async def create(self, env, props):
        name = props.get("TableName") or env.physical_name(255)
        params = {"TableName": name, **{k: props[k] for k in (
            "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput",
            "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification",
            "SSESpecification", "TableClass") if props.get(k) is not None}}
        if tags(props):
            params["Tags"] = tags(props)
        await env.call("dynamodb", "CreateTable", params)

        async def ready():
            table = (await env.call("dynamodb", "DescribeTable", {"TableName": name}))["Table"]
            return table if table["TableStatus"] == "ACTIVE" else None

        table = await env.wait(ready, "table ACTIVE")
        attrs = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attrs["StreamArn"] = table["LatestStreamArn"]
        return name, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("dynamodb", "DeleteTable", {"TableName": physical_id}))


class LogGroup(Handler):
    type_name = "AWS::Logs::LogGroup"

    async def create(self, env, props):
        name = props.get("LogGroupName") or env.physical_name(512)
        await env.call("logs", "CreateLogGroup", {"logGroupName": name})
        if props.get("RetentionInDays") is not None:
            await env.call("logs", "PutRetentionPolicy", {
                "logGroupName": name, "retentionInDays": props["RetentionInDays"]})
        return name, {"Arn": f"arn:aws:logs:{env.region}:{env.account}:log-group:{name}:*"}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("logs", "DeleteLogGroup", {"logGroupName": physical_id}))


HANDLERS = [DbSubnetGroup, DbInstance, DbProxy, DbProxyTargetGroup, Bucket, BucketPolicy, Table,
            LogGroup]
