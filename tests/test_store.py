"""The store: state survives a clean restart and a SIGKILL; one operation is atomic."""

from __future__ import annotations

import signal

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server
from vpclocal.store import Store


def test_state_survives_sigkill(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        ec2 = srv.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "k", "Value": "v"}]}])["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.1.0/24")["Subnet"]["SubnetId"]
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
        default_vpc = ec2.describe_vpcs(
            Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    finally:
        srv.stop(signal.SIGKILL)
    srv = Server(tmp_path / "data").start()
    try:
        ec2 = srv.client("ec2")
        [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
        assert v["Tags"] == [{"Key": "k", "Value": "v"}]
        [s] = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
        assert s["AvailableIpAddressCount"] == 250
        [e] = ec2.describe_network_interfaces(
            NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"]
        assert e["PrivateIpAddress"] == eni["PrivateIpAddress"]
        # the default VPC is not created a second time
        defaults = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
        assert [d["VpcId"] for d in defaults["Vpcs"]] == [default_vpc]
    finally:
        srv.stop()


def test_failed_operation_changes_nothing(ec2, vpc):
    """CreateTags tags its resources one after another in the operation's transaction: the VPC
    and the subnet are tagged there before the missing subnet fails the call, and none of it
    lands."""
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    tags = [{"Key": "k", "Value": "v"}]

    def tags_of() -> tuple:  # AWS leaves Tags out of an untagged resource
        return (ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0].get("Tags"),
                ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0].get("Tags"))
    with pytest.raises(ClientError) as caught:
        ec2.create_tags(Resources=[vpc, subnet, "subnet-0123456789abcdef0"], Tags=tags)
    assert caught.value.response["Error"]["Code"] == "InvalidSubnetID.NotFound"
    assert tags_of() == (None, None)
    ec2.create_tags(Resources=[vpc, subnet], Tags=tags)  # without the missing one: both
    assert tags_of() == (tags, tags)


def test_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.transaction("r") as tx:
        tx.put("things", "a", {"n": 1})
    with pytest.raises(RuntimeError), store.transaction("r") as tx:
        tx.edit("things", "a")["n"] = 2
        tx.put("things", "b", {"n": 3})
        raise RuntimeError("boom")
    assert store.view("r").all("things") == {"a": {"n": 1}}
    store.close()
    reopened = Store(tmp_path / "s.db")
    assert reopened.view("r").all("things") == {"a": {"n": 1}}
    reopened.close()
