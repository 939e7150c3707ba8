"""Resource types over the existing providers, each deployed by a stack and seen through its
service's own API, updated where AWS updates in place, and gone with the stack: network ACLs,
their entries and subnet associations, VPC peering, flow logs, RDS proxies and their target
groups, ElastiCache subnet groups and clusters, S3 bucket policies."""

from __future__ import annotations

import json

import pytest

from tests.cloudformation.conftest import outputs, settle, wait
from tests.conftest import unique

NETWORK = """
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.61.0.0/16}
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.61.1.0/24,
                 AvailabilityZone: !Select [0, !GetAZs '']}
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.61.2.0/24,
                 AvailabilityZone: !Select [1, !GetAZs '']}
Outputs:
  VpcId: {Value: !Ref Vpc}
  SubnetA: {Value: !Ref SubnetA}
  SubnetB: {Value: !Ref SubnetB}
"""


@pytest.fixture(scope="module")
def net(cfn):
    """A VPC with subnets in two AZs, shared by this module's stacks (as parameters)."""
    name = unique("net")
    cfn.create_stack(StackName=name, TemplateBody=NETWORK)
    yield outputs(wait(cfn, name))
    cfn.delete_stack(StackName=name)


def params(net: dict, *keys: str) -> list[dict]:
    return [{"ParameterKey": k, "ParameterValue": net[k]} for k in keys]


def deploy(cfn, body: str, parameters: list[dict] | None = None) -> tuple[str, dict]:
    name = unique("t")
    cfn.create_stack(StackName=name, TemplateBody=body, Parameters=parameters or [],
                     Capabilities=["CAPABILITY_IAM"])
    return name, outputs(wait(cfn, name))


def delete(cfn, name: str) -> None:
    stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=name)
    assert wait(cfn, stack_id, "stack_delete_complete")["StackStatus"] == "DELETE_COMPLETE"


def failure(cfn, name: str) -> tuple[str, str]:
    """A failed create's stack status and its failed resource's reason."""
    stack = settle(cfn, name)
    reason = next(e["ResourceStatusReason"] for e in cfn.describe_stack_events(
        StackName=name)["StackEvents"] if e["ResourceStatus"] == "CREATE_FAILED")
    return stack["StackStatus"], reason


ACL = """
Parameters:
  VpcId: {Type: 'AWS::EC2::VPC::Id'}
  SubnetA: {Type: 'AWS::EC2::Subnet::Id'}
  Port: {Type: Number, Default: 443}
Resources:
  Acl:
    Type: AWS::EC2::NetworkAcl
    Properties:
      VpcId: !Ref VpcId
      Tags: [{Key: Name, Value: app}]
  InboundHttps:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref Acl
      RuleNumber: 100
      Protocol: 6
      RuleAction: allow
      CidrBlock: 10.0.0.0/8
      PortRange: {From: !Ref Port, To: !Ref Port}
  OutboundAll:
    Type: AWS::EC2::NetworkAclEntry
    Properties:
      NetworkAclId: !Ref Acl
      RuleNumber: 100
      Protocol: -1
      Egress: true
      RuleAction: allow
      CidrBlock: 0.0.0.0/0
  Association:
    Type: AWS::EC2::SubnetNetworkAclAssociation
    Properties:
      NetworkAclId: !Ref Acl
      SubnetId: !Ref SubnetA
Outputs:
  Acl: {Value: !Ref Acl}
  AclId: {Value: !GetAtt Acl.Id}
  Inbound: {Value: !Ref InboundHttps}
  Association: {Value: !GetAtt Association.AssociationId}
"""


def _acl(ec2, acl_id: str) -> dict:
    return ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]


def _rules(acl: dict) -> list[tuple]:
    return sorted((e["RuleNumber"], e["Egress"], e["Protocol"], e["RuleAction"], e["CidrBlock"],
                   (e.get("PortRange") or {}).get("From")) for e in acl["Entries"])


def test_network_acl_and_entries_created_updated_in_place_and_deleted(server, cfn, net):
    ec2 = server.client("ec2")
    name, out = deploy(cfn, ACL, params(net, "VpcId", "SubnetA"))
    assert out["Acl"] == out["AclId"] and out["Acl"].startswith("acl-")
    acl = _acl(ec2, out["Acl"])
    assert acl["VpcId"] == net["VpcId"] and acl["IsDefault"] is False
    assert acl["Tags"] == [{"Key": "Name", "Value": "app"}]
    assert _rules(acl) == [(100, False, "6", "allow", "10.0.0.0/8", 443),
                           (100, True, "-1", "allow", "0.0.0.0/0", None),
                           (32767, False, "-1", "deny", "0.0.0.0/0", None),
                           (32767, True, "-1", "deny", "0.0.0.0/0", None)]
    assert out["Inbound"].startswith(f"{name}-InboundHttps-")

    # a new port: the entry is replaced in place (ReplaceNetworkAclEntry), same physical ID
    cfn.update_stack(StackName=name, TemplateBody=ACL, Parameters=[
        *params(net, "VpcId", "SubnetA"), {"ParameterKey": "Port", "ParameterValue": "8443"}])
    after = outputs(wait(cfn, name, "stack_update_complete"))
    assert after["Inbound"] == out["Inbound"]
    assert (100, False, "6", "allow", "10.0.0.0/8", 8443) in _rules(_acl(ec2, out["Acl"]))

    delete(cfn, name)
    assert ec2.describe_network_acls(Filters=[
        {"Name": "network-acl-id", "Values": [out["Acl"]]}])["NetworkAcls"] == []


def test_subnet_network_acl_association_and_back_to_the_default_on_delete(server, cfn, net):
    ec2 = server.client("ec2")
    subnet = net["SubnetA"]

    def acl_of_subnet() -> tuple[str, str]:
        acl = ec2.describe_network_acls(Filters=[
            {"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
        return acl["NetworkAclId"], next(a["NetworkAclAssociationId"]
                                         for a in acl["Associations"] if a["SubnetId"] == subnet)

    default_acl, _ = acl_of_subnet()
    name, out = deploy(cfn, ACL, params(net, "VpcId", "SubnetA"))
    assert acl_of_subnet() == (out["Acl"], out["Association"])
    assert out["Association"].startswith("aclassoc-")
    delete(cfn, name)
    assert acl_of_subnet()[0] == default_acl


def test_subnet_network_acl_association_of_a_missing_subnet_fails_with_ec2s_error(cfn, net):
    body = ACL.replace("SubnetId: !Ref SubnetA", "SubnetId: subnet-0123456789abcdef0")
    name = unique("t")
    cfn.create_stack(StackName=name, TemplateBody=body,
                     Parameters=params(net, "VpcId", "SubnetA"))
    status, reason = failure(cfn, name)
    assert status == "ROLLBACK_COMPLETE"
    assert "The subnet ID 'subnet-0123456789abcdef0' does not exist" in reason, reason
    assert "HandlerErrorCode: NotFound" in reason


PEERING = """
Parameters:
  VpcId: {Type: 'AWS::EC2::VPC::Id'}
Resources:
  Peer:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.62.0.0/16}
  Peering:
    Type: AWS::EC2::VPCPeeringConnection
    Properties:
      VpcId: !Ref VpcId
      PeerVpcId: !Ref Peer
      Tags: [{Key: Name, Value: to-peer}]
  PeerRoutes:
    Type: AWS::EC2::RouteTable
    Properties: {VpcId: !Ref Peer}
  ToRequester:
    Type: AWS::EC2::Route
    Properties:
      RouteTableId: !Ref PeerRoutes
      DestinationCidrBlock: 10.61.0.0/16
      VpcPeeringConnectionId: !Ref Peering
Outputs:
  Peering: {Value: !GetAtt Peering.Id}
  Peer: {Value: !Ref Peer}
  Routes: {Value: !Ref PeerRoutes}
"""


def test_vpc_peering_connection_in_the_account_is_accepted_and_deleted(server, cfn, net):
    ec2 = server.client("ec2")
    name, out = deploy(cfn, PEERING, params(net, "VpcId"))
    pcx = ec2.describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[out["Peering"]])["VpcPeeringConnections"][0]
    assert pcx["Status"]["Code"] == "active"
    assert pcx["RequesterVpcInfo"]["VpcId"] == net["VpcId"]
    assert pcx["AccepterVpcInfo"]["VpcId"] == out["Peer"]
    assert pcx["Tags"] == [{"Key": "Name", "Value": "to-peer"}]
    routes = ec2.describe_route_tables(RouteTableIds=[out["Routes"]])["RouteTables"][0]["Routes"]
    assert {"DestinationCidrBlock": "10.61.0.0/16", "VpcPeeringConnectionId": out["Peering"],
            "Origin": "CreateRoute", "State": "active"} in routes
    delete(cfn, name)
    gone = ec2.describe_vpc_peering_connections(Filters=[
        {"Name": "vpc-peering-connection-id", "Values": [out["Peering"]]}])
    assert [p["Status"]["Code"] for p in gone["VpcPeeringConnections"]] in ([], ["deleted"])


FLOW_LOG = """
Parameters:
  VpcId: {Type: 'AWS::EC2::VPC::Id'}
Resources:
  Logs:
    Type: AWS::S3::Bucket
  FlowLog:
    Type: AWS::EC2::FlowLog
    Properties:
      ResourceId: !Ref VpcId
      ResourceType: VPC
      TrafficType: REJECT
      LogDestinationType: s3
      LogDestination: !GetAtt Logs.Arn
      MaxAggregationInterval: 60
      Tags: [{Key: team, Value: net}]
Outputs:
  FlowLog: {Value: !Ref FlowLog}
  FlowLogId: {Value: !GetAtt FlowLog.Id}
  Bucket: {Value: !Ref Logs}
"""


def test_flow_log_to_s3_created_and_deleted(server, cfn, net):
    ec2 = server.client("ec2")
    name, out = deploy(cfn, FLOW_LOG, params(net, "VpcId"))
    assert out["FlowLog"] == out["FlowLogId"] and out["FlowLog"].startswith("fl-")
    log = ec2.describe_flow_logs(FlowLogIds=[out["FlowLog"]])["FlowLogs"][0]
    assert (log["ResourceId"], log["TrafficType"], log["LogDestinationType"],
            log["LogDestination"], log["MaxAggregationInterval"]) == (
        net["VpcId"], "REJECT", "s3", f"arn:aws:s3:::{out['Bucket']}", 60)
    assert log["Tags"] == [{"Key": "team", "Value": "net"}]
    delete(cfn, name)
    assert ec2.describe_flow_logs(FlowLogIds=[out["FlowLog"]])["FlowLogs"] == []


def test_flow_log_refused_by_ec2_rolls_the_stack_back_with_its_reason(server, cfn, net):
    body = FLOW_LOG.replace("TrafficType: REJECT", "TrafficType: SOME")
    name = unique("t")
    cfn.create_stack(StackName=name, TemplateBody=body, Parameters=params(net, "VpcId"))
    status, reason = failure(cfn, name)
    assert status == "ROLLBACK_COMPLETE"
    assert "Value (SOME) for parameter trafficType is invalid" in reason, reason
    assert "(Service: Ec2, Status Code: 400" in reason


PROXY = """
Parameters:
  SubnetA: {Type: 'AWS::EC2::Subnet::Id'}
  SubnetB: {Type: 'AWS::EC2::Subnet::Id'}
  MaxConnections: {Type: Number, Default: 50}
Resources:
  Subnets:
    Type: AWS::RDS::DBSubnetGroup
    Properties:
      DBSubnetGroupDescription: proxy test
      SubnetIds: [!Ref SubnetA, !Ref SubnetB]
  Db:
    Type: AWS::RDS::DBInstance
    DeletionPolicy: Delete
    Properties:
      DBInstanceClass: db.t3.micro
      Engine: mysql
      MasterUsername: admin
      MasterUserPassword: Secret123!
      AllocatedStorage: 20
      DBSubnetGroupName: !Ref Subnets
  ProxyRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: rds.amazonaws.com}, Action: sts:AssumeRole}
  Proxy:
    Type: AWS::RDS::DBProxy
    Properties:
      DBProxyName: !Sub '${AWS::StackName}-proxy'
      EngineFamily: MYSQL
      RoleArn: !GetAtt ProxyRole.Arn
      VpcSubnetIds: [!Ref SubnetA, !Ref SubnetB]
      Auth:
        - {AuthScheme: SECRETS, IAMAuth: DISABLED,
           SecretArn: !Sub 'arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:db'}
  Targets:
    Type: AWS::RDS::DBProxyTargetGroup
    Properties:
      DBProxyName: !Ref Proxy
      TargetGroupName: default
      DBInstanceIdentifiers: [!Ref Db]
      ConnectionPoolConfigurationInfo: {MaxConnectionsPercent: !Ref MaxConnections}
Outputs:
  Proxy: {Value: !Ref Proxy}
  Arn: {Value: !GetAtt Proxy.DBProxyArn}
  Endpoint: {Value: !GetAtt Proxy.Endpoint}
  VpcId: {Value: !GetAtt Proxy.VpcId}
  TargetGroup: {Value: !Ref Targets}
  Db: {Value: !Ref Db}
"""


def test_db_proxy_and_its_target_group(server, cfn, net):
    rds = server.client("rds")
    name, out = deploy(cfn, PROXY, params(net, "SubnetA", "SubnetB"))
    assert out["Proxy"] == f"{name}-proxy"
    proxy = rds.describe_db_proxies(DBProxyName=out["Proxy"])["DBProxies"][0]
    assert proxy["Status"] == "available"
    assert (proxy["DBProxyArn"], proxy["Endpoint"], proxy["VpcId"]) == (
        out["Arn"], out["Endpoint"], net["VpcId"])
    group = rds.describe_db_proxy_target_groups(DBProxyName=out["Proxy"])["TargetGroups"][0]
    assert group["TargetGroupArn"] == out["TargetGroup"]
    assert group["ConnectionPoolConfig"]["MaxConnectionsPercent"] == 50
    targets = rds.describe_db_proxy_targets(DBProxyName=out["Proxy"])["Targets"]
    assert [t["RdsResourceId"] for t in targets] == [out["Db"]]

    # the pool's size changes in place
    cfn.update_stack(StackName=name, TemplateBody=PROXY, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[*params(net, "SubnetA", "SubnetB"),
                                 {"ParameterKey": "MaxConnections", "ParameterValue": "80"}])
    assert outputs(wait(cfn, name, "stack_update_complete"))["TargetGroup"] == out["TargetGroup"]
    group = rds.describe_db_proxy_target_groups(DBProxyName=out["Proxy"])["TargetGroups"][0]
    assert group["ConnectionPoolConfig"]["MaxConnectionsPercent"] == 80

    delete(cfn, name)
    assert rds.describe_db_proxies()["DBProxies"] == []
    assert out["Db"] not in [d["DBInstanceIdentifier"]
                             for d in rds.describe_db_instances()["DBInstances"]]


CACHE = """
Parameters:
  SubnetA: {Type: 'AWS::EC2::Subnet::Id'}
  SubnetB: {Type: 'AWS::EC2::Subnet::Id'}
Resources:
  CacheSubnets:
    Type: AWS::ElastiCache::SubnetGroup
    Properties:
      Description: cache subnets
      SubnetIds: [!Ref SubnetA, !Ref SubnetB]
  Cache:
    Type: AWS::ElastiCache::CacheCluster
    Properties:
      CacheNodeType: cache.t3.micro
      Engine: redis
      NumCacheNodes: 1
      CacheSubnetGroupName: !Ref CacheSubnets
Outputs:
  Group: {Value: !Ref CacheSubnets}
  Cache: {Value: !Ref Cache}
  Address: {Value: !GetAtt Cache.RedisEndpoint.Address}
  Port: {Value: !GetAtt Cache.RedisEndpoint.Port}
"""


def test_elasticache_subnet_group_and_cache_cluster(server, cfn, net):
    cache = server.client("elasticache")
    name, out = deploy(cfn, CACHE, params(net, "SubnetA", "SubnetB"))
    assert out["Group"] == out["Group"].lower() and out["Group"].startswith(name.lower())
    group = cache.describe_cache_subnet_groups(
        CacheSubnetGroupName=out["Group"])["CacheSubnetGroups"][0]
    assert group["VpcId"] == net["VpcId"]
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(
        [net["SubnetA"], net["SubnetB"]])
    cluster = cache.describe_cache_clusters(CacheClusterId=out["Cache"],
                                            ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert cluster["CacheClusterStatus"] == "available"
    assert cluster["CacheSubnetGroupName"] == out["Group"]
    assert cluster["CacheNodes"][0]["Endpoint"] == {"Address": out["Address"],
                                                    "Port": int(out["Port"])}
    delete(cfn, name)
    assert out["Cache"] not in [c["CacheClusterId"]
                                for c in cache.describe_cache_clusters()["CacheClusters"]]
    assert out["Group"] not in [g["CacheSubnetGroupName"] for g in
                                cache.describe_cache_subnet_groups()["CacheSubnetGroups"]]


POLICY = """
Parameters:
  Principal: {Type: String, Default: 'arn:aws:iam::000000000000:root'}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {AWS: !Ref Principal}
            Action: s3:GetObject
            Resource: !Sub '${Bucket.Arn}/*'
Outputs:
  Bucket: {Value: !Ref Bucket}
  Policy: {Value: !Ref Policy}
"""


def test_bucket_policy_put_updated_and_deleted(server, cfn):
    s3 = server.client("s3")
    name, out = deploy(cfn, POLICY)
    assert out["Policy"] == out["Bucket"]

    def statement() -> dict:
        return json.loads(s3.get_bucket_policy(Bucket=out["Bucket"])["Policy"])["Statement"][0]

    assert statement()["Resource"] == f"arn:aws:s3:::{out['Bucket']}/*"
    assert statement()["Principal"] == {"AWS": "arn:aws:iam::000000000000:root"}
    cfn.update_stack(StackName=name, TemplateBody=POLICY, Parameters=[
        {"ParameterKey": "Principal", "ParameterValue": "arn:aws:iam::111111111111:root"}])
    wait(cfn, name, "stack_update_complete")
    assert statement()["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    delete(cfn, name)
    assert out["Bucket"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bucket_policy_on_a_missing_bucket_fails_with_s3s_error(cfn):
    body = """
Resources:
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: no-such-bucket-vpclocal
      PolicyDocument:
        Statement: [{Effect: Allow, Principal: '*', Action: 's3:GetObject',
                     Resource: 'arn:aws:s3:::no-such-bucket-vpclocal/*'}]
"""
    name = unique("t")
    cfn.create_stack(StackName=name, TemplateBody=body)
    status, reason = failure(cfn, name)
    assert status == "ROLLBACK_COMPLETE"
    assert "The specified bucket does not exist" in reason, reason
    assert "HandlerErrorCode: NotFound" in reason


ALARM = """
Parameters:
  Threshold: {Type: Number, Default: 5}
Resources:
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmDescription: too many errors
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: checkout}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 2
      DatapointsToAlarm: 1
      Threshold: !Ref Threshold
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
      ActionsEnabled: 'false'
Outputs:
  Name: {Value: !Ref Errors}
  Arn: {Value: !GetAtt Errors.Arn}
"""


def test_cloudwatch_alarm_created_updated_in_place_and_deleted(server, cfn):
    cw = server.client("cloudwatch")
    name, out = deploy(cfn, ALARM)
    assert out["Name"].startswith(f"{name}-Errors-")
    [alarm] = cw.describe_alarms(AlarmNames=[out["Name"]])["MetricAlarms"]
    assert alarm["AlarmArn"] == out["Arn"]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"],
            alarm["ActionsEnabled"], alarm["TreatMissingData"]) == (
        5.0, 2, 1, False, "notBreaching")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": "checkout"}]
    cfn.update_stack(StackName=name, UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": "Threshold", "ParameterValue": "9"}])
    assert settle(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    [alarm] = cw.describe_alarms(AlarmNames=[out["Name"]])["MetricAlarms"]
    assert alarm["Threshold"] == 9.0 and alarm["AlarmArn"] == out["Arn"]  # the same alarm
    delete(cfn, name)
    assert cw.describe_alarms(AlarmNames=[out["Name"]])["MetricAlarms"] == []
