"""aws:network:disrupt-connectivity on the real fabric: a VPC function in the disrupted
subnet times out connecting to a host in another subnet while a function in a healthy subnet
still connects; once the experiment completes (or is stopped), the first one connects again.
The other scopes (availability-zone, prefix-list, s3, dynamodb) take exactly their part of
the subnet's traffic (a host in another AZ; the prefix list's addresses; S3's or DynamoDB's
public endpoint, reached through gateway endpoints) and leave the rest.

The host is a listener this test (root) starts in its ENI's namespace, as
tests/fabric/test_functions_in_fabric.py does."""

from __future__ import annotations

import os

import pytest

from tests.conftest import unique
from tests.fabric.conftest import needs_fabric
from tests.fabric.test_functions_in_fabric import (
    HANDLER,
    LISTENER,
    InNamespace,
    invoke,
    netns_of,
    start_server,
)
from tests.fis.conftest import NONE, ROLE, advance, reaches
from tests.lambda_.conftest import BASIC, VPC_ACCESS, make_role, wait_state, zipped

pytestmark = [needs_fabric, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
PORT = 5432


def connects(lam, name: str, host: str) -> bool:
    payload, error, logs = invoke(lam, name, {"host": host, "port": PORT, "timeout": 1.0})
    if error is None:
        return True
    assert payload["errorType"] == "TimeoutError", (payload, logs)
    return False


def test_disrupted_subnet_loses_its_connections_then_gets_them_back(tmp_path):
    server = start_server(tmp_path / "data")
    listener = None
    try:
        ec2, lam, fis = server.client("ec2"), server.client("lambda"), server.client("fis")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        label = unique("az-a")
        subnets = {}
        for key, block, zone in (("a", "10.0.10.0/24", "us-east-1a"),
                                 ("b", "10.0.20.0/24", "us-east-1b"),
                                 ("db", "10.0.30.0/24", "us-east-1b")):
            subnets[key] = ec2.create_subnet(VpcId=vpc, CidrBlock=block, AvailabilityZone=zone,
                                             TagSpecifications=[{
                                                 "ResourceType": "subnet",
                                                 "Tags": [{"Key": "fis", "Value": label}]}]
                                             )["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(VpcId=vpc, GroupName=unique("fis-all"),
                                       Description="all")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
            "IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
        db = ec2.create_network_interface(SubnetId=subnets["db"], Groups=[sg])[
            "NetworkInterface"]
        host = db["PrivateIpAddress"]
        role = make_role(server.client("iam"), BASIC, VPC_ACCESS)
        names = {}
        for key in ("a", "b"):
            names[key] = unique(f"fn-{key}")
            lam.create_function(FunctionName=names[key], Runtime="python3.12", Role=role,
                                Handler="index.handler", Code={"ZipFile": zipped(HANDLER)},
                                Timeout=10, VpcConfig={"SubnetIds": [subnets[key]],
                                                       "SecurityGroupIds": [sg]})
            assert wait_state(lam, names[key], timeout=30)["State"] == "Active"
        listener = InNamespace(netns_of(server, db["NetworkInterfaceId"]), LISTENER, str(PORT))
        assert listener.line() == "ready"
        assert connects(lam, names["a"], host) and connects(lam, names["b"], host)

        # subnets by tag and a filter: the tagged subnet in us-east-1a (subnet a only)
        tid = fis.create_experiment_template(
            clientToken=unique("t"), description="lose us-east-1a", roleArn=ROLE,
            stopConditions=NONE,
            targets={"az": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                            "resourceTags": {"fis": label},
                            "filters": [{"path": "AvailabilityZone",
                                         "values": ["us-east-1a"]}]}},
            actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                             "parameters": {"duration": "PT10M", "scope": "all"},
                             "targets": {"Subnets": "az"}}})["experimentTemplate"]["id"]

        # 1: runs to completion (vpclocal's clock moved past its duration)
        eid = fis.start_experiment(clientToken=unique("c"),
                                   experimentTemplateId=tid)["experiment"]["id"]
        reaches(fis, eid, "running", "cut")  # running: the disruption is in force
        resolved = fis.list_experiment_resolved_targets(experimentId=eid)["resolvedTargets"]
        assert [r["targetInformation"]["arn"].rpartition("/")[2] for r in resolved] == [
            subnets["a"]]
        assert not connects(lam, names["a"], host)
        assert connects(lam, names["b"], host)
        advance(server, "11m")
        reaches(fis, eid, "completed")  # completed: the disruption is removed
        assert connects(lam, names["a"], host)

        # 2: stopped
        eid = fis.start_experiment(clientToken=unique("c"),
                                   experimentTemplateId=tid)["experiment"]["id"]
        reaches(fis, eid, "running", "cut")
        assert not connects(lam, names["a"], host)
        fis.stop_experiment(id=eid)
        assert reaches(fis, eid, "stopped")["actions"]["cut"]["state"]["status"] == "stopped"
        assert connects(lam, names["a"], host) and connects(lam, names["b"], host)

        # a scope vpclocal does not run yet fails the experiment, with the reason
        fis.update_experiment_template(id=tid, actions={"cut": {
            "actionId": "aws:network:disrupt-connectivity", "targets": {"Subnets": "az"},
            "parameters": {"duration": "PT10M", "scope": "s3express"}}})
        eid = fis.start_experiment(clientToken=unique("c"),
                                   experimentTemplateId=tid)["experiment"]["id"]
        exp = reaches(fis, eid, "failed")
        assert "scope s3express" in exp["state"]["reason"]
        assert exp["actions"]["cut"]["state"]["status"] == "failed"
        assert connects(lam, names["a"], host)
    finally:
        if listener is not None:
            listener.stop()
        server.stop()


# connects and closes (the S3 and DynamoDB addresses speak TLS or HTTP: nothing to read)
CONNECT = """
import socket

def handler(event, context):
    s = socket.create_connection((event["host"], event["port"]), timeout=event["timeout"])
    s.close()
    return {"ok": True}
"""
S3, DYNAMODB = "203.0.113.193", "203.0.113.209"  # network/names.AWS_SERVICE_ADDRESSES


class World:
    """One server: subnet a (us-east-1a, the one disrupted) and a near host in another
    us-east-1a subnet; subnet b and a far host (us-east-1b); gateway endpoints for S3 and
    DynamoDB on the main route table; a connect-only function in a and in b."""

    def __init__(self, data_dir) -> None:
        self.listeners: list[InNamespace] = []
        self.server = server = start_server(data_dir)
        ec2, self.lam, self.fis = server.client("ec2"), server.client("lambda"), server.client(
            "fis")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.label = unique("scope")
        subnets = {}
        for key, block, zone in (("a", "10.0.10.0/24", "us-east-1a"),
                                 ("near", "10.0.11.0/24", "us-east-1a"),
                                 ("b", "10.0.20.0/24", "us-east-1b"),
                                 ("far", "10.0.30.0/24", "us-east-1b")):
            tags = [{"Key": "fis", "Value": self.label}] if key == "a" else []
            subnets[key] = ec2.create_subnet(
                VpcId=vpc, CidrBlock=block, AvailabilityZone=zone,
                TagSpecifications=[{"ResourceType": "subnet",
                                    "Tags": tags or [{"Key": "k", "Value": "v"}]}]
            )["Subnet"]["SubnetId"]
        rtb = ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
        for service in ("s3", "dynamodb"):
            ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Gateway", RouteTableIds=[rtb],
                                    ServiceName=f"com.amazonaws.us-east-1.{service}")
        self.s3_list = ec2.describe_managed_prefix_lists(Filters=[{
            "Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}])[
            "PrefixLists"][0]["PrefixListId"]
        sg = ec2.create_security_group(VpcId=vpc, GroupName=unique("fis-scope"),
                                       Description="all")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
            "IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
        self.hosts = {}
        for key in ("near", "far"):
            eni = ec2.create_network_interface(SubnetId=subnets[key], Groups=[sg])[
                "NetworkInterface"]
            self.hosts[key] = eni["PrivateIpAddress"]
            listener = InNamespace(netns_of(server, eni["NetworkInterfaceId"]), LISTENER,
                                   str(PORT))
            self.listeners.append(listener)
            assert listener.line() == "ready"
        self.hosts |= {"s3": S3, "dynamodb": DYNAMODB}
        role = make_role(server.client("iam"), BASIC, VPC_ACCESS)
        self.names = {}
        for key in ("a", "b"):
            self.names[key] = unique(f"fn-{key}")
            self.lam.create_function(
                FunctionName=self.names[key], Runtime="python3.12", Role=role,
                Handler="index.handler", Code={"ZipFile": zipped(CONNECT)}, Timeout=10,
                VpcConfig={"SubnetIds": [subnets[key]], "SecurityGroupIds": [sg]})
            assert wait_state(self.lam, self.names[key], timeout=30)["State"] == "Active"

    def reach(self, fn: str) -> dict[str, bool]:
        """What the function in subnet `fn` connects to, of the four hosts."""
        out = {}
        for host, address in self.hosts.items():
            port = 80 if host in ("s3", "dynamodb") else PORT
            payload, error, logs = invoke(self.lam, self.names[fn],
                                          {"host": address, "port": port, "timeout": 1.0})
            if error is not None:
                assert payload["errorType"] == "TimeoutError", (host, payload, logs)
            out[host] = error is None
        return out

    def start(self, scope: str, **more) -> str:
        tid = self.fis.create_experiment_template(
            clientToken=unique("t"), description=f"scope {scope}", roleArn=ROLE,
            stopConditions=NONE,
            targets={"a": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                           "resourceTags": {"fis": self.label}}},
            actions={"cut": {"actionId": "aws:network:disrupt-connectivity",
                             "parameters": {"duration": "PT10M", "scope": scope, **more},
                             "targets": {"Subnets": "a"}}})["experimentTemplate"]["id"]
        return self.fis.start_experiment(clientToken=unique("c"),
                                         experimentTemplateId=tid)["experiment"]["id"]

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        self.server.stop()


EVERYTHING = {"near": True, "far": True, "s3": True, "dynamodb": True}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("fis-scopes") / "data")
    try:
        assert w.reach("a") == EVERYTHING and w.reach("b") == EVERYTHING
        yield w
    finally:
        w.stop()


@pytest.mark.parametrize(("scope", "lost", "more"), [
    ("availability-zone", {"far"}, {}),
    ("s3", {"s3"}, {}),
    ("dynamodb", {"dynamodb"}, {}),
    ("prefix-list", {"s3"}, {"prefixListIdentifier": "s3"}),
])
def test_scope_takes_its_part_of_the_subnets_traffic_and_leaves_the_rest(world, scope, lost,
                                                                         more):
    if more.get("prefixListIdentifier") == "s3":
        more = {"prefixListIdentifier": world.s3_list}  # S3's prefix list, named by its id
    eid = world.start(scope, **more)
    reaches(world.fis, eid, "running", "cut")  # running: the disruption is in force
    assert world.reach("a") == {h: h not in lost for h in EVERYTHING}
    assert world.reach("b") == EVERYTHING  # another subnet (and AZ): untouched
    if scope == "s3":  # ends by its duration (vpclocal's clock moved past it)
        advance(world.server, "11m")
        reaches(world.fis, eid, "completed")
    else:
        world.fis.stop_experiment(id=eid)
        reaches(world.fis, eid, "stopped")
    assert world.reach("a") == EVERYTHING


@pytest.mark.parametrize(("more", "reason"), [
    ({}, "needs the parameter prefixListIdentifier"),
    ({"prefixListIdentifier": "pl-00000000"}, "prefix list pl-00000000 does not exist"),
])
def test_prefix_list_scope_without_a_known_list_fails_the_experiment(world, more, reason):
    eid = world.start("prefix-list", **more)
    exp = reaches(world.fis, eid, "failed")
    assert reason in exp["state"]["reason"]
    assert exp["actions"]["cut"]["state"]["status"] == "failed"
    assert world.reach("a") == EVERYTHING
