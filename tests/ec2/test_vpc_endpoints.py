"""VPC endpoints, endpoint services and prefix lists, driven with boto3 and the aws CLI."""

from __future__ import annotations

import json

from tests.errors import error

S3 = "com.amazonaws.us-east-1.s3"
LAMBDA = "com.amazonaws.us-east-1.lambda"
S3_PREFIX_LIST = "pl-63a5400a"  # AWS's id of the S3 prefix list in us-east-1


def routes(ec2, rtb_id: str) -> list[dict]:
    return ec2.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]["Routes"]


def endpoint(ec2, vpce_id: str) -> dict:
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce_id])["VpcEndpoints"][0]


def enable_dns_hostnames(ec2, vpc_id: str) -> None:
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})


def subnets(ec2, vpc_id: str, *specs: tuple[str, str]) -> list[str]:
    return [ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"][
        "SubnetId"] for cidr, zone in specs]


# ---- gateway endpoints ---------------------------------------------------------------------


def test_s3_gateway_endpoint_adds_prefix_list_routes(ec2, vpc):
    first = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    second = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    created = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=S3, RouteTableIds=[first],
                                      TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                          "Tags": [{"Key": "k", "Value": "v"}]}])
    ep = created["VpcEndpoint"]
    vpce = ep["VpcEndpointId"]
    assert vpce.startswith("vpce-")
    assert ep["VpcEndpointType"] == "Gateway" and ep["State"] == "available"
    assert ep["RouteTableIds"] == [first] and ep["SubnetIds"] == []
    assert ep["NetworkInterfaceIds"] == [] and ep["PrivateDnsEnabled"] is False
    assert json.loads(ep["PolicyDocument"])["Statement"][0]["Effect"] == "Allow"
    assert {"DestinationPrefixListId": S3_PREFIX_LIST, "GatewayId": vpce,
            "Origin": "CreateRoute", "State": "active"} in routes(ec2, first)
    found = ec2.describe_route_tables(Filters=[
        {"Name": "route.gateway-id", "Values": [vpce]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [first]

    for name, value in (("service-name", S3), ("vpc-id", vpc), ("vpc-endpoint-id", vpce),
                        ("vpc-endpoint-type", "Gateway"), ("vpc-endpoint-state", "available"),
                        ("tag:k", "v")):
        got = ec2.describe_vpc_endpoints(Filters=[{"Name": name, "Values": [value]},
                                                  {"Name": "vpc-id", "Values": [vpc]}])
        assert [e["VpcEndpointId"] for e in got["VpcEndpoints"]] == [vpce], name

    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=S3, RouteTableIds=[first])
    assert err == {"Code": "RouteAlreadyExists",
                   "Message": f"route table {first} already has a route with "
                              f"destination-prefix-list-id {S3_PREFIX_LIST}"}

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[second],
                            RemoveRouteTableIds=[first])
    assert endpoint(ec2, vpce)["RouteTableIds"] == [second]
    assert all(r.get("GatewayId") != vpce for r in routes(ec2, first))
    assert any(r.get("GatewayId") == vpce for r in routes(ec2, second))
    policy = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*",
                                        "Resource": "*"}]})
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy)
    assert endpoint(ec2, vpce)["PolicyDocument"] == policy
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True)
    assert "Allow" in endpoint(ec2, vpce)["PolicyDocument"]

    # The endpoint's own routes change only through the endpoint.
    err = error(ec2.delete_route, RouteTableId=second, DestinationPrefixListId=S3_PREFIX_LIST)
    assert err["Code"] == "InvalidParameterValue"
    assert error(ec2.replace_route, RouteTableId=second, DestinationPrefixListId=S3_PREFIX_LIST,
                 GatewayId=vpce)["Code"] == "InvalidParameterValue"
    # A route made by hand to the endpoint outlives it as a blackhole.
    ec2.create_route(RouteTableId=first, DestinationCidrBlock="192.0.2.0/24", GatewayId=vpce)
    assert {"DestinationCidrBlock": "192.0.2.0/24", "GatewayId": vpce, "Origin": "CreateRoute",
            "State": "active"} in routes(ec2, first)

    assert error(ec2.delete_vpc, VpcId=vpc)["Code"] == "DependencyViolation"
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])["Unsuccessful"] == []
    assert all(r.get("GatewayId") != vpce for r in routes(ec2, second))
    assert {"DestinationCidrBlock": "192.0.2.0/24", "GatewayId": vpce, "Origin": "CreateRoute",
            "State": "blackhole"} in routes(ec2, first)
    err = error(ec2.describe_vpc_endpoints, VpcEndpointIds=[vpce])
    assert err == {"Code": "InvalidVpcEndpointId.NotFound",
                   "Message": f"The Vpc Endpoint Id '{vpce}' does not exist"}
    again = ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce, "bogus"])["Unsuccessful"]
    assert again == [
        {"ResourceId": vpce, "Error": {"Code": "InvalidVpcEndpoint.NotFound",
                                       "Message": f"The VPC endpoint '{vpce}' does not exist"}},
        {"ResourceId": "bogus", "Error": {"Code": "InvalidVpcEndpoint.NotFound",
                                          "Message": "The VPC endpoint 'bogus' does not exist"}}]


def test_guide_s3_endpoint_with_the_cli(server, ec2, vpc):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    created = server.aws("ec2", "create-vpc-endpoint", "--vpc-id", vpc, "--service-name", S3,
                         "--route-table-ids", rtb)["VpcEndpoint"]
    shown = server.aws("ec2", "describe-route-tables", "--route-table-ids", rtb)
    assert {"DestinationPrefixListId": S3_PREFIX_LIST, "GatewayId": created["VpcEndpointId"],
            "Origin": "CreateRoute", "State": "active"} in shown["RouteTables"][0]["Routes"]
    server.aws("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", created["VpcEndpointId"])


def test_endpoint_request_errors(ec2, vpc):
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName="com.amazonaws.us-east-1.nope")
    assert err == {"Code": "InvalidServiceName",
                   "Message": "The Vpc Endpoint Service 'com.amazonaws.us-east-1.nope' does not "
                              "exist"}
    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName="com.amazonaws.eu-west-1.s3")
    assert err["Code"] == "InvalidServiceName"
    err = error(ec2.create_vpc_endpoint, VpcId="vpc-0123456789abcdef0", ServiceName=S3)
    assert err["Code"] == "InvalidVpcID.NotFound"
    assert error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=LAMBDA)["Code"] == \
        "InvalidParameter"  # lambda has no gateway endpoint
    assert error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=LAMBDA,
                 VpcEndpointType="Interface", RouteTableIds=[rtb],
                 PrivateDnsEnabled=False)["Code"] == "InvalidParameter"
    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=S3,
                RouteTableIds=["rtb-0123456789abcdef0"])
    assert err["Code"] == "InvalidRouteTableID.NotFound"
    other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_route_table(VpcId=other_vpc)["RouteTable"]["RouteTableId"]
    assert error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=S3,
                 RouteTableIds=[foreign])["Code"] == "InvalidParameter"
    assert ec2.describe_vpc_endpoints(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"] == []  # nothing left behind
    assert all("GatewayId" not in r or r["GatewayId"] == "local" for r in routes(ec2, rtb))


# ---- interface endpoints -------------------------------------------------------------------


def test_private_dns_needs_dns_hostnames(ec2, vpc):
    [sub] = subnets(ec2, vpc, ("10.0.1.0/24", "us-east-1a"))
    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=LAMBDA,
                VpcEndpointType="Interface", SubnetIds=[sub])
    assert err == {"Code": "InvalidParameter",
                   "Message": "Enabling private DNS requires both enableDnsSupport and "
                              f"enableDnsHostnames VPC attributes set to true for {vpc}"}
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [sub]}])["NetworkInterfaces"] == []


def test_interface_endpoint(ec2, vpc):
    enable_dns_hostnames(ec2, vpc)
    a, b, c = subnets(ec2, vpc, ("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"),
                      ("10.0.3.0/24", "us-east-1c"))
    sg = ec2.create_security_group(GroupName="endpoints", Description="endpoints",
                                   VpcId=vpc)["GroupId"]
    created = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=LAMBDA, VpcEndpointType="Interface",
                                      SubnetIds=[a, b], SecurityGroupIds=[sg])["VpcEndpoint"]
    vpce = created["VpcEndpointId"]
    assert created["State"] == "pending"
    ep = endpoint(ec2, vpce)
    assert ep["State"] == "available" and ep["VpcEndpointType"] == "Interface"
    assert ep["SubnetIds"] == [a, b] and ep["PrivateDnsEnabled"] is True
    assert ep["Groups"] == [{"GroupId": sg, "GroupName": "endpoints"}]
    assert ep["RouteTableIds"] == [] and ep["IpAddressType"] == "ipv4"
    assert len(ep["NetworkInterfaceIds"]) == 2
    names = [d["DnsName"] for d in ep["DnsEntries"]]
    assert names[0].startswith(f"{vpce}-")
    assert names[0].endswith(".lambda.us-east-1.vpce.amazonaws.com")
    assert any(n.split(".")[0].endswith("-us-east-1a") for n in names)
    assert any(n.split(".")[0].endswith("-us-east-1b") for n in names)
    assert names[-1] == "lambda.us-east-1.amazonaws.com"
    assert ep["DnsEntries"][0]["HostedZoneId"] == "Z7HUB22UULQXV"

    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])
    for eni in enis["NetworkInterfaces"]:
        assert eni["InterfaceType"] == "vpc_endpoint" and eni["RequesterManaged"] is True
        assert eni["Description"] == f"VPC Endpoint Interface {vpce}"
        assert eni["Groups"] == [{"GroupId": sg, "GroupName": "endpoints"}]
        assert eni["Status"] == "in-use"
    assert {e["SubnetId"] for e in enis["NetworkInterfaces"]} == {a, b}
    assert error(ec2.delete_subnet, SubnetId=a)["Code"] == "DependencyViolation"

    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName=LAMBDA,
                VpcEndpointType="Interface", SubnetIds=[c])
    assert err == {"Code": "InvalidParameter",
                   "Message": "private-dns-enabled cannot be set because there is already a "
                              "conflicting DNS domain for lambda.us-east-1.amazonaws.com in the "
                              f"VPC {vpc}"}

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddSubnetIds=[c], RemoveSubnetIds=[a],
                            RemoveSecurityGroupIds=[sg],
                            AddSecurityGroupIds=[_default_group(ec2, vpc)])
    ep = endpoint(ec2, vpce)
    assert ep["SubnetIds"] == [b, c] and len(ep["NetworkInterfaceIds"]) == 2
    assert ep["Groups"] == [{"GroupId": _default_group(ec2, vpc), "GroupName": "default"}]
    assert not any(n.split(".")[0].endswith("-us-east-1a")
                   for n in (d["DnsName"] for d in ep["DnsEntries"]))
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PrivateDnsEnabled=False)
    ep = endpoint(ec2, vpce)
    assert ep["PrivateDnsEnabled"] is False
    assert "lambda.us-east-1.amazonaws.com" not in [d["DnsName"] for d in ep["DnsEntries"]]
    assert error(ec2.modify_vpc_endpoint, VpcEndpointId=vpce,
                 AddRouteTableIds=[_main_table(ec2, vpc)])["Code"] == "InvalidParameter"

    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"] == []
    ec2.delete_subnet(SubnetId=a)


def test_one_subnet_per_zone(ec2, vpc):
    a, b = subnets(ec2, vpc, ("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1a"))
    err = error(ec2.create_vpc_endpoint, VpcId=vpc, ServiceName="com.amazonaws.us-east-1.sts",
                VpcEndpointType="Interface", SubnetIds=[a, b], PrivateDnsEnabled=False)
    assert err == {"Code": "DuplicateSubnetsInSameZone",
                   "Message": f"Found another VPC endpoint subnet in the availability zone of "
                              f"{b}. VPC endpoint subnets should be in different availability "
                              "zones supported by the VPC endpoint service."}
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"] == []


def test_interface_endpoint_without_private_dns(ec2, vpc):
    [a] = subnets(ec2, vpc, ("10.0.1.0/24", "us-east-1a"))
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.secretsmanager",
                                 VpcEndpointType="Interface", SubnetIds=[a],
                                 PrivateDnsEnabled=False)["VpcEndpoint"]
    assert ep["PrivateDnsEnabled"] is False
    assert ep["Groups"] == [{"GroupId": _default_group(ec2, vpc), "GroupName": "default"}]
    assert all(".vpce.amazonaws.com" in d["DnsName"] for d in ep["DnsEntries"])
    # S3's interface endpoint does not turn private DNS on by itself.
    s3 = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=S3, VpcEndpointType="Interface",
                                 SubnetIds=[a])["VpcEndpoint"]
    assert s3["PrivateDnsEnabled"] is False
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"], s3["VpcEndpointId"]])


def _default_group(ec2, vpc_id: str) -> str:
    return ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]


def _main_table(ec2, vpc_id: str) -> str:
    return ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]


# ---- endpoint services and prefix lists ----------------------------------------------------


def test_describe_endpoint_services(ec2):
    out = ec2.describe_vpc_endpoint_services()
    names = out["ServiceNames"]
    for short in ("s3", "dynamodb", "lambda", "sts", "logs", "monitoring", "secretsmanager",
                  "ssm", "rds", "elasticache", "ec2", "sqs", "sns", "kms"):
        assert f"com.amazonaws.us-east-1.{short}" in names
    s3 = [d for d in out["ServiceDetails"] if d["ServiceName"] == S3]
    assert sorted(d["ServiceType"][0]["ServiceType"] for d in s3) == ["Gateway", "Interface"]
    gateway = next(d for d in s3 if d["ServiceType"] == [{"ServiceType": "Gateway"}])
    assert gateway["BaseEndpointDnsNames"] == ["s3.us-east-1.amazonaws.com"]
    assert gateway["Owner"] == "amazon" and gateway["ServiceId"].startswith("vpce-svc-")
    lam = next(d for d in out["ServiceDetails"] if d["ServiceName"] == LAMBDA)
    assert lam["PrivateDnsName"] == "lambda.us-east-1.amazonaws.com"
    assert lam["AvailabilityZones"][0] == "us-east-1a"

    gateways = ec2.describe_vpc_endpoint_services(Filters=[
        {"Name": "service-type", "Values": ["Gateway"]}])
    assert gateways["ServiceNames"] == ["com.amazonaws.us-east-1.dynamodb", S3]
    one = ec2.describe_vpc_endpoint_services(ServiceNames=[LAMBDA])
    assert one["ServiceNames"] == [LAMBDA] and len(one["ServiceDetails"]) == 1
    err = error(ec2.describe_vpc_endpoint_services, ServiceNames=["com.amazonaws.x.y"])
    assert err == {"Code": "InvalidServiceName",
                   "Message": "The Vpc Endpoint Service 'com.amazonaws.x.y' does not exist"}
    page = ec2.describe_vpc_endpoint_services(MaxResults=5)
    assert len(page["ServiceDetails"]) == 5 and page["NextToken"]


def test_prefix_lists(ec2):
    lists = ec2.describe_prefix_lists()["PrefixLists"]
    by_name = {p["PrefixListName"]: p for p in lists}
    assert by_name[S3]["PrefixListId"] == S3_PREFIX_LIST
    assert by_name[S3]["Cidrs"] and "com.amazonaws.us-east-1.dynamodb" in by_name
    one = ec2.describe_prefix_lists(PrefixListIds=[S3_PREFIX_LIST])["PrefixLists"]
    assert [p["PrefixListName"] for p in one] == [S3]
    flt = ec2.describe_prefix_lists(Filters=[
        {"Name": "prefix-list-name", "Values": ["*dynamodb"]}])["PrefixLists"]
    assert [p["PrefixListName"] for p in flt] == ["com.amazonaws.us-east-1.dynamodb"]
    err = error(ec2.describe_prefix_lists, PrefixListIds=["pl-0123456789abcdef0"])
    assert err == {"Code": "InvalidPrefixListID.NotFound",
                   "Message": "The prefix list ID 'pl-0123456789abcdef0' does not exist"}

    managed = ec2.describe_managed_prefix_lists(PrefixListIds=[S3_PREFIX_LIST])["PrefixLists"]
    assert managed[0]["PrefixListName"] == S3 and managed[0]["OwnerId"] == "AWS"
    assert managed[0]["State"] == "create-complete" and managed[0]["AddressFamily"] == "IPv4"
    assert "Entries" not in managed[0]
    owned = ec2.describe_managed_prefix_lists(Filters=[{"Name": "owner-id", "Values": ["AWS"]}])
    assert len(owned["PrefixLists"]) >= 2
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=S3_PREFIX_LIST)["Entries"]
    assert [e["Cidr"] for e in entries] == by_name[S3]["Cidrs"]
    err = error(ec2.get_managed_prefix_list_entries, PrefixListId="pl-0123456789abcdef0")
    assert err["Code"] == "InvalidPrefixListID.NotFound"
