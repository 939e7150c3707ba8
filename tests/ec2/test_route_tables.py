"""Route tables, associations and routes, driven with boto3 against a real server."""

from __future__ import annotations

import pytest

from tests.errors import error


def table(ec2, rtb_id: str) -> dict:
    return ec2.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]


def main_table(ec2, vpc_id: str) -> dict:
    return ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]


def route_to(ec2, rtb_id: str, dest: str) -> dict:
    return next(r for r in table(ec2, rtb_id)["Routes"]
                if dest in (r.get("DestinationCidrBlock"), r.get("DestinationPrefixListId")))


@pytest.fixture
def igw(ec2, vpc):
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc)
    return igw_id


def test_create_describe_delete(ec2, vpc):
    created = ec2.create_route_table(VpcId=vpc, TagSpecifications=[
        {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "private"}]}])
    rt = created["RouteTable"]
    assert rt["RouteTableId"].startswith("rtb-")
    assert rt["VpcId"] == vpc and rt["Associations"] == []
    assert rt["Routes"] == [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local",
                             "Origin": "CreateRouteTable", "State": "active"}]
    assert rt["Tags"] == [{"Key": "Name", "Value": "private"}]
    assert table(ec2, rt["RouteTableId"])["OwnerId"] == rt["OwnerId"]

    in_vpc = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    assert len(in_vpc["RouteTables"]) == 2
    main = main_table(ec2, vpc)
    assert main["RouteTableId"] != rt["RouteTableId"]
    assert main["Associations"][0]["Main"] is True
    assert main["Associations"][0]["AssociationState"] == {"State": "associated"}
    tagged = ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": ["private"]},
                                                {"Name": "vpc-id", "Values": [vpc]}])
    assert [t["RouteTableId"] for t in tagged["RouteTables"]] == [rt["RouteTableId"]]

    ec2.delete_route_table(RouteTableId=rt["RouteTableId"])
    err = error(ec2.describe_route_tables, RouteTableIds=[rt["RouteTableId"]])
    assert err["Code"] == "InvalidRouteTableID.NotFound"
    assert err["Message"] == f"The routeTable ID '{rt['RouteTableId']}' does not exist"
    err = error(ec2.delete_route_table, RouteTableId=rt["RouteTableId"])
    assert err["Code"] == "InvalidRouteTableID.NotFound"


def test_create_in_unknown_vpc(ec2):
    err = error(ec2.create_route_table, VpcId="vpc-0123456789abcdef0")
    assert err == {"Code": "InvalidVpcID.NotFound",
                   "Message": "The vpc ID 'vpc-0123456789abcdef0' does not exist"}


def test_main_or_associated_table_cannot_be_deleted(ec2, vpc):
    main = main_table(ec2, vpc)["RouteTableId"]
    err = error(ec2.delete_route_table, RouteTableId=main)
    assert err == {"Code": "DependencyViolation",
                   "Message": f"The routeTable '{main}' has dependencies and cannot be "
                              "deleted."}
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"]
    err = error(ec2.delete_route_table, RouteTableId=rtb)
    assert err["Code"] == "DependencyViolation"
    assert len(table(ec2, rtb)["Associations"]) == 1  # nothing changed
    ec2.disassociate_route_table(AssociationId=assoc)
    ec2.delete_route_table(RouteTableId=rtb)


def test_subnet_associations(ec2, vpc):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    other = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    out = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    assoc = out["AssociationId"]
    assert assoc.startswith("rtbassoc-")
    assert out["AssociationState"] == {"State": "associated"}
    assert table(ec2, rtb)["Associations"] == [{
        "Main": False, "RouteTableAssociationId": assoc, "RouteTableId": rtb,
        "SubnetId": subnet, "AssociationState": {"State": "associated"}}]
    found = ec2.describe_route_tables(Filters=[
        {"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    found = ec2.describe_route_tables(Filters=[
        {"Name": "association.route-table-association-id", "Values": [assoc]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]

    err = error(ec2.associate_route_table, RouteTableId=other, SubnetId=subnet)
    assert err == {"Code": "Resource.AlreadyAssociated",
                   "Message": f"the specified association for route table {other} conflicts "
                              "with an existing association"}

    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    err = error(ec2.associate_route_table, RouteTableId=rtb, SubnetId=foreign)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": f"Route table {rtb} and subnet {foreign} belong to different "
                              "networks"}

    ec2.disassociate_route_table(AssociationId=assoc)
    assert table(ec2, rtb)["Associations"] == []
    err = error(ec2.disassociate_route_table, AssociationId=assoc)
    assert err == {"Code": "InvalidAssociationID.NotFound",
                   "Message": f"The association ID '{assoc}' does not exist"}
    main_assoc = main_table(ec2, vpc)["Associations"][0]["RouteTableAssociationId"]
    err = error(ec2.disassociate_route_table, AssociationId=main_assoc)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": "cannot disassociate the main route table association "
                              f"{main_assoc}"}


def test_replace_association_of_a_subnet_and_the_main_table(ec2, vpc):
    first = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    second = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    assoc = ec2.associate_route_table(RouteTableId=first, SubnetId=subnet)["AssociationId"]
    out = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=second)
    assert out["NewAssociationId"] != assoc
    assert out["AssociationState"] == {"State": "associated"}
    assert table(ec2, first)["Associations"] == []
    assert table(ec2, second)["Associations"][0]["SubnetId"] == subnet

    old_main = main_table(ec2, vpc)
    main_assoc = old_main["Associations"][0]["RouteTableAssociationId"]
    out = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=first)
    new_main = main_table(ec2, vpc)
    assert new_main["RouteTableId"] == first
    assert new_main["Associations"][0]["RouteTableAssociationId"] == out["NewAssociationId"]
    assert table(ec2, old_main["RouteTableId"])["Associations"] == []
    ec2.delete_route_table(RouteTableId=old_main["RouteTableId"])  # no longer the main one

    other_vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_route_table(VpcId=other_vpc)["RouteTable"]["RouteTableId"]
    new_assoc = out["NewAssociationId"]
    err = error(ec2.replace_route_table_association, AssociationId=new_assoc,
                RouteTableId=foreign)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": f"Route table association {new_assoc} and route table "
                              f"{foreign} belong to different networks"}
    err = error(ec2.replace_route_table_association,
                AssociationId="rtbassoc-0123456789abcdef0", RouteTableId=first)
    assert err["Code"] == "InvalidAssociationID.NotFound"


def test_gateway_association(ec2, vpc, igw):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    assoc = ec2.associate_route_table(RouteTableId=rtb, GatewayId=igw)["AssociationId"]
    found = ec2.describe_route_tables(Filters=[
        {"Name": "association.gateway-id", "Values": [igw]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    assert found[0]["Associations"][0]["GatewayId"] == igw
    other = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    err = error(ec2.associate_route_table, RouteTableId=other, GatewayId=igw)
    assert err["Code"] == "Resource.AlreadyAssociated"
    ec2.disassociate_route_table(AssociationId=assoc)


def test_routes_to_an_internet_gateway(ec2, vpc, igw):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    assert ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                            GatewayId=igw)["Return"] is True
    assert route_to(ec2, rtb, "0.0.0.0/0") == {
        "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "Origin": "CreateRoute",
        "State": "active"}
    # The same route again is accepted; another target for it is not.
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    eni = ec2.create_network_interface(SubnetId=ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"])["NetworkInterface"]
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert err == {"Code": "RouteAlreadyExists",
                   "Message": "The route identified by 0.0.0.0/0 already exists."}
    # CIDRs are canonicalized.
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="192.0.2.77/24", GatewayId=igw)
    assert route_to(ec2, rtb, "192.0.2.0/24")["GatewayId"] == igw

    found = ec2.describe_route_tables(Filters=[
        {"Name": "route.gateway-id", "Values": [igw]},
        {"Name": "route.destination-cidr-block", "Values": ["0.0.0.0/0"]},
        {"Name": "route.origin", "Values": ["CreateRoute"]},
        {"Name": "route.state", "Values": ["active"]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]

    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                      NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert route_to(ec2, rtb, "0.0.0.0/0") == {
        "DestinationCidrBlock": "0.0.0.0/0", "NetworkInterfaceId": eni["NetworkInterfaceId"],
        "Origin": "CreateRoute", "State": "blackhole"}  # an unattached interface
    err = error(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="172.16.0.0/12",
                GatewayId=igw)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": "There is no route defined for '172.16.0.0/12' in the route "
                              "table. Use CreateRoute instead."}

    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    err = error(ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    assert err == {"Code": "InvalidRoute.NotFound",
                   "Message": f"no route with destination-cidr-block 0.0.0.0/0 in route "
                              f"table {rtb}"}


def test_local_route_cannot_change(ec2, vpc, igw):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/16",
                GatewayId=igw)
    assert err == {"Code": "RouteAlreadyExists",
                   "Message": "The route identified by 10.0.0.0/16 already exists."}
    err = error(ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/16")
    assert err == {"Code": "InvalidParameterValue",
                   "Message": f"cannot remove local route 10.0.0.0/16 in route table {rtb}"}
    err = error(ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="10.0.0.0/16",
                GatewayId=igw)
    assert err["Code"] == "InvalidParameterValue"
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.0.5.0/24",
                GatewayId=igw)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": "Cannot create a more specific route for 10.0.5.0/24 than local "
                              f"route 10.0.0.0/16 in route table {rtb}"}
    assert route_to(ec2, rtb, "10.0.0.0/16")["GatewayId"] == "local"


def test_more_specific_route_to_an_interface(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.4.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.0.4.0/24",
                     NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert route_to(ec2, rtb, "10.0.4.0/24")["NetworkInterfaceId"] == eni["NetworkInterfaceId"]


def test_route_request_errors(ec2, vpc, igw):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    assert err["Code"] == "MissingParameter"
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                GatewayId=igw, NatGatewayId="nat-0123456789abcdef0")
    assert err["Code"] == "InvalidParameterCombination"
    err = error(ec2.create_route, RouteTableId=rtb, GatewayId=igw)
    assert err["Code"] == "MissingParameter"
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="not-a-cidr",
                GatewayId=igw)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": "Value (not-a-cidr) for parameter destinationCidrBlock is "
                              "invalid. This is not a valid CIDR block."}
    err = error(ec2.create_route, RouteTableId="rtb-0123456789abcdef0",
                DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert err["Code"] == "InvalidRouteTableID.NotFound"
    cases = {
        "GatewayId": ("igw-0123456789abcdef0", "InvalidInternetGatewayID.NotFound",
                      "The internetGateway ID 'igw-0123456789abcdef0' does not exist"),
        "NatGatewayId": ("nat-0123456789abcdef0", "InvalidNatGatewayID.NotFound",
                         "The natGateway ID 'nat-0123456789abcdef0' does not exist"),
        "VpcPeeringConnectionId": (
            "pcx-0123456789abcdef0", "InvalidVpcPeeringConnectionID.NotFound",
            "The vpcPeeringConnection ID 'pcx-0123456789abcdef0' does not exist"),
        "NetworkInterfaceId": (
            "eni-0123456789abcdef0", "InvalidNetworkInterfaceID.NotFound",
            "The networkInterface ID 'eni-0123456789abcdef0' does not exist"),
        "InstanceId": ("i-0123456789abcdef0", "InvalidInstanceID.NotFound",
                       "The instance ID 'i-0123456789abcdef0' does not exist"),
    }
    for param, (value, code, message) in cases.items():
        err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                    **{param: value})
        assert err == {"Code": code, "Message": message}, param
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                GatewayId="vgw-0123456789abcdef0")
    assert err == {"Code": "InvalidGatewayID.NotFound",
                   "Message": "The gateway ID 'vgw-0123456789abcdef0' does not exist"}
    err = error(ec2.create_route, RouteTableId=rtb,
                DestinationPrefixListId="pl-0123456789abcdef0", GatewayId=igw)
    assert err["Code"] == "InvalidPrefixListID.NotFound"
    # An internet gateway attached to another VPC.
    other_vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    other_igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=other_igw, VpcId=other_vpc)
    err = error(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0",
                GatewayId=other_igw)
    assert err == {"Code": "InvalidParameterValue",
                   "Message": f"route table {rtb} and network gateway {other_igw} belong to "
                              "different networks"}
    assert len(table(ec2, rtb)["Routes"]) == 1


def test_prefix_list_destination(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.6.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    pl = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [
        "com.amazonaws.us-east-1.dynamodb"]}])["PrefixLists"][0]["PrefixListId"]
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationPrefixListId=pl, NetworkInterfaceId=eni)
    route = route_to(ec2, rtb, pl)
    assert route["NetworkInterfaceId"] == eni and "DestinationCidrBlock" not in route
    found = ec2.describe_route_tables(Filters=[
        {"Name": "route.destination-prefix-list-id", "Values": [pl]},
        {"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    ec2.delete_route(RouteTableId=rtb, DestinationPrefixListId=pl)
    err = error(ec2.delete_route, RouteTableId=rtb, DestinationPrefixListId=pl)
    assert err["Message"] == f"no route with destination-prefix-list-id {pl} in route table {rtb}"


def test_detaching_the_gateway_blackholes_its_routes(ec2, vpc, igw):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    assert route_to(ec2, rtb, "0.0.0.0/0")["State"] == "blackhole"
    found = ec2.describe_route_tables(Filters=[
        {"Name": "route.state", "Values": ["blackhole"]},
        {"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    assert route_to(ec2, rtb, "0.0.0.0/0")["State"] == "active"


def test_filters_and_pagination(ec2, vpc):
    ids = {ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in range(6)}
    ids.add(main_table(ec2, vpc)["RouteTableId"])
    flt = [{"Name": "vpc-id", "Values": [vpc]}]
    first = ec2.describe_route_tables(Filters=flt, MaxResults=5)
    assert len(first["RouteTables"]) == 5 and first["NextToken"]
    second = ec2.describe_route_tables(Filters=flt, MaxResults=5, NextToken=first["NextToken"])
    assert "NextToken" not in second
    seen = [t["RouteTableId"] for t in first["RouteTables"] + second["RouteTables"]]
    assert sorted(seen) == sorted(ids)
    paged = [t["RouteTableId"] for page in ec2.get_paginator("describe_route_tables").paginate(
        Filters=flt, PaginationConfig={"PageSize": 5}) for t in page["RouteTables"]]
    assert sorted(paged) == sorted(ids)
    err = error(ec2.describe_route_tables, Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert err == {"Code": "InvalidParameterValue",
                   "Message": "The filter 'no-such-filter' is invalid"}
    found = ec2.describe_route_tables(Filters=flt + [
        {"Name": "association.main", "Values": ["false"]}])["RouteTables"]
    assert found == []  # tables without associations are not returned for association.main


def test_new_vpc_cidr_adds_local_routes(ec2, vpc):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.50.0.0/16")
    assert route_to(ec2, rtb, "10.50.0.0/16")["GatewayId"] == "local"


def test_cli_route_table_round_trip(server, ec2, vpc):
    rtb = server.aws("ec2", "create-route-table", "--vpc-id", vpc)["RouteTable"]["RouteTableId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    assoc = server.aws("ec2", "associate-route-table", "--route-table-id", rtb,
                       "--subnet-id", subnet)
    assert assoc["AssociationState"]["State"] == "associated"
    tables = server.aws("ec2", "describe-route-tables", "--filters",
                        f"Name=association.subnet-id,Values={subnet}")["RouteTables"]
    assert [t["RouteTableId"] for t in tables] == [rtb]
