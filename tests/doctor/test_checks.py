"""Each doctor check: the situation built through the API gives the finding (its severity, the
resources involved, the guide's rationale, the fix as `aws` commands); after the fix (run with
the real `aws` CLI where it names every resource) the finding is gone."""

from __future__ import annotations

from tests.conftest import unique
from tests.doctor.conftest import apply_fix, findings
from tests.lambda_.conftest import VPC_ACCESS


def only(found: list[dict]) -> dict:
    assert len(found) == 1, found
    return found[0]


def test_function_in_one_zone(server, net):
    name = net.function([net.subnet_a])
    finding = only(findings(server, "function-single-az", name))
    assert finding["severity"] == "warning"
    assert finding["resources"] == [name, net.subnet_a]
    assert "us-east-1a" in finding["message"] and "multiple AZs" in finding["rationale"]
    # the fix names the private subnet in the other zone
    assert finding["fix"] == [
        (f"aws lambda update-function-configuration --function-name {name} --vpc-config "
        f"SubnetIds={net.subnet_a},{net.subnet_b},SecurityGroupIds={net.function_sg}")]
    apply_fix(server, finding["fix"][0])
    assert findings(server, "function-single-az", name) == []


def test_function_in_one_zone_with_no_other_subnet(server, net):
    net.ec2.delete_subnet(SubnetId=net.subnet_b)
    name = net.function([net.subnet_a])
    fix = only(findings(server, "function-single-az", name))["fix"]
    assert fix[0] == (f"aws ec2 create-subnet --vpc-id {net.vpc} --cidr-block <FREE-CIDR> "
                      "--availability-zone us-east-1b")
    subnet = net.ec2.create_subnet(VpcId=net.vpc, CidrBlock="10.0.30.0/24",
                                   AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    apply_fix(server, fix[1].replace("<NEW-SUBNET-ID>", subnet))
    assert findings(server, "function-single-az", name) == []


def test_database_port_open_to_the_world(server, net):
    net.function()
    db = net.ec2.create_security_group(VpcId=net.vpc, GroupName=unique("db"),
                                       Description="database")["GroupId"]
    net.ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    finding = only(findings(server, "database-port-open-to-world", db))
    assert finding["severity"] == "error"
    assert "5432 (PostgreSQL)" in finding["message"]
    assert finding["fix"] == [
        (f"aws ec2 revoke-security-group-ingress --group-id {db} --protocol tcp --port 5432 "
        "--cidr 0.0.0.0/0"),
        (f"aws ec2 authorize-security-group-ingress --group-id {db} --protocol tcp --port 5432 "
        f"--source-group {net.function_sg}")]
    for command in finding["fix"]:
        apply_fix(server, command)
    assert findings(server, "database-port-open-to-world", db) == []
    [rule] = net.ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0][
        "IpPermissions"]
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [net.function_sg]


def test_every_port_open_to_the_world_and_a_range(server, net):
    db = net.ec2.create_security_group(VpcId=net.vpc, GroupName=unique("db"),
                                       Description="database")["GroupId"]
    net.ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 6000, "ToPort": 6500,
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,  # not a database port
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    found = findings(server, "database-port-open-to-world", db)
    assert sorted(f["message"].split("database port ")[1] for f in found) == [
        "1433 (SQL Server), 3306 (MySQL), 5432 (PostgreSQL), 5439 (Redshift), 6379 (Redis)",
        "6379 (Redis)"]
    for finding in found:  # no function in the VPC: whose group to allow is for the user
        assert finding["fix"][1].endswith("--source-group <FUNCTION-SECURITY-GROUP-ID>")
        apply_fix(server, finding["fix"][0])
    assert findings(server, "database-port-open-to-world", db) == []
    [left] = net.ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0][
        "IpPermissions"]
    assert left["FromPort"] == 443


def test_one_nat_gateway_for_two_zones(server, net):
    nat = net.nat(net.public_subnet("us-east-1a", "10.0.1.0/24"))
    net.ec2.create_route(RouteTableId=net.route_table, DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=nat)
    finding = only(findings(server, "nat-gateway-shared-across-azs", nat))
    assert finding["severity"] == "warning"
    assert finding["resources"] == [nat, *sorted([net.subnet_a, net.subnet_b])]
    assert "(in us-east-1a)" in finding["message"]
    assert "<PUBLIC-SUBNET-IN-us-east-1b>" in finding["fix"][1]
    assert finding["fix"][-1] == ("aws ec2 associate-route-table --route-table-id "
                                  f"<NEW-ROUTE-TABLE-1> --subnet-id {net.subnet_b}")
    # the fix, with the resources it creates: a NAT in zone b for the subnet in zone b
    public_b = net.public_subnet("us-east-1b", "10.0.2.0/24")
    assert "<PUBLIC-SUBNET" not in only(findings(
        server, "nat-gateway-shared-across-azs", nat))["fix"][1]
    nat_b = net.nat(public_b)
    table = net.ec2.create_route_table(VpcId=net.vpc)["RouteTable"]["RouteTableId"]
    net.ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=nat_b)
    association = next(a for a in net.ec2.describe_route_tables(RouteTableIds=[
        net.route_table])["RouteTables"][0]["Associations"] if a["SubnetId"] == net.subnet_b)
    net.ec2.replace_route_table_association(
        AssociationId=association["RouteTableAssociationId"], RouteTableId=table)
    assert findings(server, "nat-gateway-shared-across-azs", nat) == []
    assert findings(server, "nat-gateway-shared-across-azs", nat_b) == []


def test_private_subnet_with_no_way_out(server, net):
    name = net.function()
    found = findings(server, "private-subnet-without-egress", name)
    assert sorted(f["resources"][0] for f in found) == sorted([net.subnet_a, net.subnet_b])
    finding = found[0]
    assert finding["severity"] == "info"
    assert "cannot reach the internet or AWS APIs" in finding["message"]
    assert finding["fix"][0] == "aws ec2 allocate-address --domain vpc"  # no NAT yet
    # an S3 gateway endpoint on the subnets' route table is a way out to AWS APIs
    endpoint = finding["fix"][-1]
    assert endpoint.startswith("aws ec2 create-vpc-endpoint --vpc-endpoint-type Gateway")
    apply_fix(server, endpoint)
    assert findings(server, "private-subnet-without-egress", name) == []


def test_private_subnet_with_a_nat_in_the_vpc_but_no_route(server, net):
    nat = net.nat(net.public_subnet("us-east-1a", "10.0.1.0/24"))
    name = net.function()
    fix = findings(server, "private-subnet-without-egress", name)[0]["fix"]
    assert fix[0] == (f"aws ec2 create-route --route-table-id {net.route_table} "
                      f"--destination-cidr-block 0.0.0.0/0 --nat-gateway-id {nat}")
    apply_fix(server, fix[0])
    assert findings(server, "private-subnet-without-egress", name) == []


def test_interface_endpoint_is_a_way_out(server, net):
    name = net.function()
    assert findings(server, "private-subnet-without-egress", name)
    net.ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=net.vpc,
                                ServiceName="com.amazonaws.us-east-1.sqs",
                                SubnetIds=[net.subnet_a], SecurityGroupIds=[net.function_sg],
                                PrivateDnsEnabled=False)
    assert findings(server, "private-subnet-without-egress", name) == []


def test_s3_and_dynamodb_through_a_nat(server, net):
    nat = net.nat(net.public_subnet("us-east-1a", "10.0.1.0/24"))
    net.ec2.create_route(RouteTableId=net.route_table, DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=nat)
    name = net.function([net.subnet_a])
    found = findings(server, "gateway-service-through-nat", name)
    assert [f["message"].split()[0] for f in found] == ["s3", "dynamodb"]
    for finding in found:
        assert finding["severity"] == "warning" and "free" in finding["rationale"]
        assert finding["resources"] == [net.route_table, nat, net.subnet_a, name]
        [command] = finding["fix"]
        assert command.startswith("aws ec2 create-vpc-endpoint --vpc-endpoint-type Gateway "
                                  f"--vpc-id {net.vpc} --service-name com.amazonaws.us-east-1.")
        apply_fix(server, command)
    assert findings(server, "gateway-service-through-nat", name) == []


def test_gateway_endpoint_on_another_route_table(server, net):
    nat = net.nat(net.public_subnet("us-east-1a", "10.0.1.0/24"))
    net.ec2.create_route(RouteTableId=net.route_table, DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=nat)
    other = net.ec2.create_route_table(VpcId=net.vpc)["RouteTable"]["RouteTableId"]
    endpoint = net.ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway", VpcId=net.vpc, ServiceName="com.amazonaws.us-east-1.s3",
        RouteTableIds=[other])["VpcEndpoint"]["VpcEndpointId"]
    name = net.function()
    [s3] = [f for f in findings(server, "gateway-service-through-nat", name)
            if f["message"].startswith("s3 ")]
    assert s3["fix"] == [(f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint} "
                         f"--add-route-table-ids {net.route_table}")]
    apply_fix(server, s3["fix"][0])
    assert [f["message"].split()[0] for f in findings(
        server, "gateway-service-through-nat", name)] == ["dynamodb"]


def test_vpc_without_flow_logs(server, net, iam):
    assert findings(server, "vpc-without-flow-logs", net.vpc) == []  # nothing in it yet
    net.function()
    finding = only(findings(server, "vpc-without-flow-logs", net.vpc))
    assert finding["severity"] == "info" and "Flow Logs" in finding["rationale"]
    role = iam.create_role(RoleName=unique("flowlogs"), AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
        '"vpc-flow-logs.amazonaws.com"},"Action":"sts:AssumeRole"}]}'))["Role"]["Arn"]
    apply_fix(server, finding["fix"][0].replace("<ROLE-ARN>", role))
    assert findings(server, "vpc-without-flow-logs", net.vpc) == []


def test_role_without_vpc_permissions(server, net, iam):
    role_name = unique("role")
    net.role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":'
        '"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=role_name, PolicyArn=VPC_ACCESS)
    name = net.function()
    assert findings(server, "role-without-vpc-permissions", name) == []
    iam.detach_role_policy(RoleName=role_name, PolicyArn=VPC_ACCESS)
    finding = only(findings(server, "role-without-vpc-permissions", name))
    assert finding["severity"] == "error"
    assert finding["resources"] == [name, net.role]
    assert "ec2:CreateNetworkInterface" in finding["message"]
    assert finding["fix"] == [(f"aws iam attach-role-policy --role-name {role_name} "
                              f"--policy-arn {VPC_ACCESS}")]
    apply_fix(server, finding["fix"][0])
    assert findings(server, "role-without-vpc-permissions", name) == []


def test_timeout_under_a_database_connect(server, net):
    rds = server.client("rds")
    name = net.function()  # the default timeout: 3 s
    assert findings(server, "timeout-under-database-connect", name) == []  # no database yet
    group = unique("dbs")
    rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="t",
                               SubnetIds=[net.subnet_a, net.subnet_b])
    db = unique("db")
    rds.create_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.t3.micro",
                           Engine="postgres", MasterUsername="app",
                           MasterUserPassword="password123", AllocatedStorage=20,
                           DBSubnetGroupName=group)
    try:
        finding = only(findings(server, "timeout-under-database-connect", name))
        assert finding["severity"] == "info"
        assert finding["resources"] == [name, net.vpc]
        apply_fix(server, finding["fix"][0])
        assert findings(server, "timeout-under-database-connect", name) == []
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=db, SkipFinalSnapshot=True)
