"""VPC peering connections, driven with boto3 against a real server."""

from __future__ import annotations

import pytest

from tests.errors import error

ACCOUNT = "000000000000"


def pcx(ec2, pcx_id: str) -> dict:
    return ec2.describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[pcx_id])["VpcPeeringConnections"][0]


def route_state(ec2, rtb_id: str, dest: str) -> str:
    table = ec2.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]
    return next(r["State"] for r in table["Routes"] if r.get("DestinationCidrBlock") == dest)


@pytest.fixture
def peer(ec2):
    return ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]


def test_request_accept_route_delete(ec2, vpc, peer):
    created = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer, TagSpecifications=[
        {"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Name", "Value": "p"}]}])
    conn = created["VpcPeeringConnection"]
    pcx_id = conn["VpcPeeringConnectionId"]
    assert pcx_id.startswith("pcx-")
    assert conn["Status"] == {"Code": "initiating-request",
                              "Message": f"Initiating Request to {ACCOUNT}"}
    assert conn["RequesterVpcInfo"] == {
        "CidrBlock": "10.0.0.0/16", "CidrBlockSet": [{"CidrBlock": "10.0.0.0/16"}],
        "OwnerId": ACCOUNT, "Region": "us-east-1", "VpcId": vpc,
        "PeeringOptions": {"AllowDnsResolutionFromRemoteVpc": False,
                           "AllowEgressFromLocalClassicLinkToRemoteVpc": False,
                           "AllowEgressFromLocalVpcToRemoteClassicLink": False}}
    assert conn["AccepterVpcInfo"] == {"OwnerId": ACCOUNT, "Region": "us-east-1",
                                       "VpcId": peer}
    shown = pcx(ec2, pcx_id)
    assert shown["Status"] == {"Code": "pending-acceptance",
                               "Message": f"Pending Acceptance by {ACCOUNT}"}
    assert "ExpirationTime" in shown and shown["Tags"] == [{"Key": "Name", "Value": "p"}]

    # Routes to a connection that is not yet active go nowhere.
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    peer_rtb = ec2.create_route_table(VpcId=peer)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.1.0.0/16",
                     VpcPeeringConnectionId=pcx_id)
    assert route_state(ec2, rtb, "10.1.0.0/16") == "blackhole"

    accepted = ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert accepted["VpcPeeringConnection"]["Status"]["Code"] == "provisioning"
    ec2.get_waiter("vpc_peering_connection_exists").wait(
        VpcPeeringConnectionIds=[pcx_id], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    shown = pcx(ec2, pcx_id)
    assert shown["Status"] == {"Code": "active", "Message": "Active"}
    assert "ExpirationTime" not in shown
    assert shown["AccepterVpcInfo"]["CidrBlock"] == "10.1.0.0/16"
    assert shown["AccepterVpcInfo"]["CidrBlockSet"] == [{"CidrBlock": "10.1.0.0/16"}]
    assert route_state(ec2, rtb, "10.1.0.0/16") == "active"
    ec2.create_route(RouteTableId=peer_rtb, DestinationCidrBlock="10.0.0.0/16",
                     VpcPeeringConnectionId=pcx_id)
    found = ec2.describe_route_tables(Filters=[
        {"Name": "route.vpc-peering-connection-id", "Values": [pcx_id]}])["RouteTables"]
    assert {t["RouteTableId"] for t in found} == {rtb, peer_rtb}

    err = error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx_id)
    assert err == {"Code": "InvalidStateTransition",
                   "Message": f"Invalid state transition for {pcx_id}, attempted to transition "
                              "from active to active"}

    assert ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)["Return"] is True
    assert pcx(ec2, pcx_id)["Status"] == {"Code": "deleted", "Message": f"Deleted by {ACCOUNT}"}
    assert route_state(ec2, rtb, "10.1.0.0/16") == "blackhole"
    assert route_state(ec2, peer_rtb, "10.0.0.0/16") == "blackhole"
    err = error(ec2.delete_vpc_peering_connection, VpcPeeringConnectionId=pcx_id)
    assert err == {"Code": "InvalidStateTransition",
                   "Message": f"Invalid state transition for {pcx_id}, attempted to transition "
                              "from deleted to deleting"}
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.2.0.0/16",
                VpcPeeringConnectionId=pcx_id)
    assert err["Code"] == "InvalidVpcPeeringConnectionID.NotFound"


def test_overlapping_cidrs_fail(ec2, vpc):
    overlapping = ec2.create_vpc(CidrBlock="10.0.128.0/17")["Vpc"]["VpcId"]
    pcx_id = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=overlapping)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert pcx(ec2, pcx_id)["Status"] == {
        "Code": "failed",
        "Message": "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range"}
    err = error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx_id)
    assert err["Code"] == "InvalidStateTransition"
    assert error(ec2.delete_vpc_peering_connection,
                 VpcPeeringConnectionId=pcx_id)["Message"].endswith("from failed to deleting")


def test_reject(ec2, vpc, peer):
    pcx_id = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert ec2.reject_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)["Return"] is True
    assert pcx(ec2, pcx_id)["Status"] == {"Code": "rejected",
                                          "Message": f"Rejected by {ACCOUNT}"}
    err = error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx_id)
    assert err["Message"] == (f"Invalid state transition for {pcx_id}, attempted to transition "
                              "from rejected to active")
    assert error(ec2.reject_vpc_peering_connection,
                 VpcPeeringConnectionId=pcx_id)["Code"] == "InvalidStateTransition"


def test_pending_request_can_be_deleted(ec2, vpc, peer):
    pcx_id = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    assert pcx(ec2, pcx_id)["Status"]["Code"] == "deleted"


def test_filters_and_errors(ec2, vpc, peer):
    third = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    first = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    second = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=third)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=second)

    def ids(*filters) -> set[str]:
        found = ec2.describe_vpc_peering_connections(Filters=[
            {"Name": n, "Values": [v]} for n, v in filters])["VpcPeeringConnections"]
        return {c["VpcPeeringConnectionId"] for c in found}

    assert ids(("requester-vpc-info.vpc-id", vpc)) == {first, second}
    assert ids(("accepter-vpc-info.vpc-id", third)) == {second}
    assert ids(("requester-vpc-info.vpc-id", vpc), ("status-code", "active")) == {second}
    assert ids(("requester-vpc-info.vpc-id", vpc),
               ("status-code", "pending-acceptance")) == {first}
    assert ids(("vpc-peering-connection-id", first)) == {first}
    assert ids(("accepter-vpc-info.cidr-block", "10.2.0.0/16"),
               ("requester-vpc-info.vpc-id", vpc)) == {second}

    err = error(ec2.describe_vpc_peering_connections,
                VpcPeeringConnectionIds=["pcx-0123456789abcdef0"])
    assert err == {"Code": "InvalidVpcPeeringConnectionID.NotFound",
                   "Message": "The vpcPeeringConnection ID 'pcx-0123456789abcdef0' does not "
                              "exist"}
    err = error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId="pcx-0123456789abcdef0")
    assert err["Code"] == "InvalidVpcPeeringConnectionID.NotFound"
    err = error(ec2.create_vpc_peering_connection, VpcId=vpc, PeerVpcId="vpc-0123456789abcdef0")
    assert err == {"Code": "InvalidVpcID.NotFound",
                   "Message": "The vpc ID 'vpc-0123456789abcdef0' does not exist"}
    err = error(ec2.create_vpc_peering_connection, VpcId="vpc-0123456789abcdef0", PeerVpcId=peer)
    assert err["Code"] == "InvalidVpcID.NotFound"


def test_peering_with_the_cli(server, vpc, peer):
    created = server.aws("ec2", "create-vpc-peering-connection", "--vpc-id", vpc,
                         "--peer-vpc-id", peer)["VpcPeeringConnection"]
    pcx_id = created["VpcPeeringConnectionId"]
    server.aws("ec2", "accept-vpc-peering-connection", "--vpc-peering-connection-id", pcx_id)
    shown = server.aws("ec2", "describe-vpc-peering-connections", "--filters",
                       "Name=status-code,Values=active",
                       f"Name=vpc-peering-connection-id,Values={pcx_id}")
    assert [c["Status"]["Code"] for c in shown["VpcPeeringConnections"]] == ["active"]
