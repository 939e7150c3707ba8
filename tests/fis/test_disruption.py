"""aws:network:disrupt-connectivity on the real fabric: a VPC function in the disrupted
subnet times out connecting to a host in another subnet while a function in a healthy subnet
still connects; once the experiment completes (or is stopped), the first one connects again.

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
            "parameters": {"duration": "PT10M", "scope": "s3"}}})
        eid = fis.start_experiment(clientToken=unique("c"),
                                   experimentTemplateId=tid)["experiment"]["id"]
        exp = reaches(fis, eid, "failed")
        assert "scope s3" in exp["state"]["reason"]
        assert exp["actions"]["cut"]["state"]["status"] == "failed"
        assert connects(lam, names["a"], host)
    finally:
        if listener is not None:
            listener.stop()
        server.stop()
