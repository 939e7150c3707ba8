"""Security groups: groups, rules (both request forms), merging, errors and dependencies."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_of

S3_PREFIX_LIST = "pl-63a5400a"  # the region's AWS-managed S3 prefix list (us-east-1)


def unique(prefix: str = "g") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_group(ec2, vpc, name=None, **kw) -> str:
    return ec2.create_security_group(GroupName=name or unique(), Description="test group",
                                     VpcId=vpc, **kw)["GroupId"]


def group(ec2, gid) -> dict:
    return ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]


def default_group(ec2, vpc) -> dict:
    return ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]},
    ])["SecurityGroups"][0]


def tcp(port, *cidrs, to=None) -> dict:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": to or port,
            "IpRanges": [{"CidrIp": c} for c in cidrs]}


def rules_of(ec2, gid) -> list[dict]:
    return ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroupRules"]


ALL_OUT = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
           "PrefixListIds": [], "UserIdGroupPairs": []}


# ---- groups ----------------------------------------------------------------------------------


def test_create_and_describe(ec2, vpc):
    name = unique("web")
    out = ec2.create_security_group(
        GroupName=name, Description="web tier", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group",
                            "Tags": [{"Key": "Name", "Value": "web"}]}])
    gid = out["GroupId"]
    assert gid.startswith("sg-")
    assert out["SecurityGroupArn"] == f"arn:aws:ec2:us-east-1:{group(ec2, gid)['OwnerId']}" \
        f":security-group/{gid}"
    assert out["Tags"] == [{"Key": "Name", "Value": "web"}]
    sg = group(ec2, gid)
    assert (sg["GroupName"], sg["Description"], sg["VpcId"]) == (name, "web tier", vpc)
    assert sg["IpPermissions"] == []
    assert sg["IpPermissionsEgress"] == [ALL_OUT]
    by = lambda name, value: [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": name, "Values": [value]}])["SecurityGroups"]]
    assert gid in by("group-name", name)
    assert gid in by("vpc-id", vpc)
    assert gid in by("description", "web*")
    assert gid in by("tag:Name", "web")
    assert gid in by("egress.ip-permission.cidr", "0.0.0.0/0")
    assert gid not in by("ip-permission.cidr", "0.0.0.0/0")


def test_default_group_of_a_new_vpc(ec2, vpc):
    sg = default_group(ec2, vpc)
    assert sg["Description"] == "default VPC security group"
    assert sg["IpPermissions"] == [{
        "IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
        "UserIdGroupPairs": [{"GroupId": sg["GroupId"], "UserId": sg["OwnerId"]}]}]
    assert sg["IpPermissionsEgress"] == [ALL_OUT]
    rules = {r["IsEgress"]: r for r in rules_of(ec2, sg["GroupId"])}
    assert rules[False]["ReferencedGroupInfo"] == {"GroupId": sg["GroupId"],
                                                   "UserId": sg["OwnerId"]}
    assert (rules[False]["FromPort"], rules[False]["ToPort"]) == (-1, -1)
    assert rules[True]["CidrIpv4"] == "0.0.0.0/0"


def test_default_group_cannot_be_deleted(ec2, vpc):
    gid = default_group(ec2, vpc)["GroupId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=gid)
    assert error_of(exc) == (
        "CannotDelete", f'the specified group: "{gid}" name: "default" cannot be deleted by a user')


def test_duplicate_name_is_case_insensitive_and_per_vpc(ec2, vpc):
    name = unique("App")
    make_group(ec2, vpc, name)
    for again in (name, name.lower()):
        with pytest.raises(ClientError) as exc:
            make_group(ec2, vpc, again)
        assert error_of(exc) == ("InvalidGroup.Duplicate",
                                 f"The security group '{again}' already exists for VPC '{vpc}'")
    other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    assert make_group(ec2, other, name).startswith("sg-")


@pytest.mark.parametrize("name,description,expected", [
    ("default", "d", ("InvalidParameterValue",
                      "Cannot use reserved security group name: default")),
    ("sg-web", "d", ("InvalidParameterValue", ("Value (sg-web) for parameter GroupName is "
                     "invalid. Group names may not be in the format sg-*."))),
    ("web", "caf\u00e9", ("InvalidParameterValue", ("Value (caf\u00e9) for parameter "
                          "GroupDescription is invalid. Character sets beyond ASCII are not "
                          "supported."))),
    ("web", "it's", ("InvalidParameterValue", ("Invalid security group description. Valid "
                     "descriptions are strings less than 256 characters from the following "
                     "set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"))),
    ("web", "x" * 256, ("InvalidParameterValue", ("Invalid security group description. Valid "
                        "descriptions are strings less than 256 characters from the following "
                        "set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"))),
    ("", "d", ("MissingParameter", "The request must contain the parameter GroupName")),
])
def test_create_validation(ec2, vpc, name, description, expected):
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc)
    assert error_of(exc) == expected


def test_create_in_unknown_vpc(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.create_security_group(GroupName="x", Description="d", VpcId="vpc-0123456789abcdef0")
    assert error_of(exc) == ("InvalidVpcID.NotFound",
                             "The vpc ID 'vpc-0123456789abcdef0' does not exist")


def test_default_vpc_by_name(ec2):
    """Without VpcId a group goes to the default VPC, where its name also addresses it."""
    name = unique("dflt")
    gid = ec2.create_security_group(GroupName=name, Description="d")["GroupId"]
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    assert group(ec2, gid)["VpcId"] == default_vpc["Vpcs"][0]["VpcId"]
    assert [g["GroupId"] for g in ec2.describe_security_groups(GroupNames=[name])[
        "SecurityGroups"]] == [gid]
    ec2.authorize_security_group_ingress(GroupName=name, IpPermissions=[tcp(80, "0.0.0.0/0")])
    assert group(ec2, gid)["IpPermissions"][0]["FromPort"] == 80
    assert ec2.delete_security_group(GroupName=name)["Return"] is True
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupNames=[name])
    assert error_of(exc) == (
        "InvalidGroup.NotFound",
        (f"The security group '{name}' does not exist in default VPC "
        f"'{default_vpc['Vpcs'][0]['VpcId']}'"))


def test_unknown_and_malformed_ids(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_groups(GroupIds=["sg-0123456789abcdef0"])
    assert error_of(exc) == ("InvalidGroup.NotFound",
                             "The security group 'sg-0123456789abcdef0' does not exist")
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId="bogus")
    assert error_of(exc)[0] == "InvalidGroupId.Malformed"


def test_delete_blocked_by_references_and_interfaces(ec2, vpc):
    db, app = make_group(ec2, vpc), make_group(ec2, vpc)
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": app}]}])
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=app)
    assert error_of(exc) == ("DependencyViolation", f"resource {app} has a dependent object")
    ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": app}]}])

    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[app])["NetworkInterface"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_security_group(GroupId=app)
    assert error_of(exc) == ("DependencyViolation", f"resource {app} has a dependent object")
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])

    # A group referencing itself is no obstacle.
    ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=[{
        "IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": app}]}])
    out = ec2.delete_security_group(GroupId=app)
    assert (out["Return"], out["GroupId"]) == (True, app)
    with pytest.raises(ClientError) as exc:
        group(ec2, app)
    assert error_of(exc)[0] == "InvalidGroup.NotFound"


def test_describe_paginates(ec2, vpc):
    made = {make_group(ec2, vpc) for _ in range(6)} | {default_group(ec2, vpc)["GroupId"]}
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}], MaxResults=5, **kw)
        seen += [g["GroupId"] for g in page["SecurityGroups"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 2 and sorted(seen) == sorted(made)


# ---- authorizing -----------------------------------------------------------------------------


def test_authorize_returns_rules_and_merges_like_aws(ec2, vpc):
    gid = make_group(ec2, vpc)
    out = ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[tcp(22, "203.0.113.0/24")])
    assert out["Return"] is True
    [rule] = out["SecurityGroupRules"]
    assert rule["SecurityGroupRuleId"].startswith("sgr-")
    assert (rule["GroupId"], rule["IsEgress"], rule["IpProtocol"], rule["FromPort"],
            rule["ToPort"], rule["CidrIpv4"]) == (gid, False, "tcp", 22, 22, "203.0.113.0/24")
    # Same protocol and ports: one IpPermission with both ranges; other ports: their own.
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {**tcp(22, "10.0.0.0/8"), "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "vpn"}]},
        tcp(443, "0.0.0.0/0")])
    perms = group(ec2, gid)["IpPermissions"]
    assert perms == [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "203.0.113.0/24"}, {"CidrIp": "10.0.0.0/8",
                                                     "Description": "vpn"}],
         "Ipv6Ranges": [], "PrefixListIds": []},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [],
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": []},
    ]
    # Rule ids are stable: DescribeSecurityGroupRules shows the id Authorize returned.
    ids = {r["SecurityGroupRuleId"] for r in rules_of(ec2, gid)}
    assert rule["SecurityGroupRuleId"] in ids and len(ids) == 4  # 3 ingress + default egress
    by = lambda name, value: [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": name, "Values": [value]}])["SecurityGroups"]]
    assert gid in by("ip-permission.from-port", "443")
    assert gid in by("ip-permission.cidr", "10.0.0.0/8")
    assert gid in by("ip-permission.protocol", "tcp")


def test_duplicate_rules(ec2, vpc):
    gid, other = make_group(ec2, vpc), make_group(ec2, vpc)
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, "0.0.0.0/0")])
    cases = [
        (tcp(22, "0.0.0.0/0"), "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"),
        # a description does not make a different rule; 6 is tcp
        ({"IpProtocol": "6", "FromPort": 22, "ToPort": 22,
          "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "again"}]},
         "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"),
    ]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": other}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
         "IpRanges": [{"CidrIp": "10.0.0.0/24"}]},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "PrefixListIds": [{"PrefixListId": S3_PREFIX_LIST}]}])
    cases += [
        ({"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": other}]},
         f"peer: {other}, ALL, ALLOW"),
        ({"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
          "IpRanges": [{"CidrIp": "10.0.0.0/24"}]},
         "peer: 10.0.0.0/24, ICMP, type: ALL, code: ALL, ALLOW"),
        ({"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
          "PrefixListIds": [{"PrefixListId": S3_PREFIX_LIST}]},
         f"peer: {S3_PREFIX_LIST}, UDP, from port: 53, to port: 53, ALLOW"),
    ]
    for perm, text in cases:
        with pytest.raises(ClientError) as exc:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
        assert error_of(exc) == ("InvalidPermission.Duplicate",
                                 f'the specified rule "{text}" already exists')
    # The default egress rule, and a rule repeated inside one request.
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert error_of(exc) == ("InvalidPermission.Duplicate",
                             'the specified rule "peer: 0.0.0.0/0, ALL, ALLOW" already exists')
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            tcp(80, "1.2.3.0/24", "1.2.3.0/24")])
    assert error_of(exc)[0] == "InvalidPermission.Duplicate"
    assert 80 not in [p.get("FromPort") for p in group(ec2, gid)["IpPermissions"]]


def test_protocols_are_normalized(ec2, vpc):
    gid = make_group(ec2, vpc)
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "6", "FromPort": 80, "ToPort": 81, "IpRanges": [{"CidrIp": "1.0.0.0/8"}]},
        {"IpProtocol": "UDP", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "2.0.0.0/8"}]},
        {"IpProtocol": "1", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "3.0.0.0/8"}]},
        # all traffic and port-less protocols ignore ports
        {"IpProtocol": "-1", "FromPort": 5, "ToPort": 6, "IpRanges": [{"CidrIp": "4.0.0.0/8"}]},
        {"IpProtocol": "050", "FromPort": 5, "ToPort": 6,
         "IpRanges": [{"CidrIp": "5.0.0.0/8"}]},
        # host bits are dropped, as AWS does
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "6.1.2.3/8"}]},
    ])
    perms = {p["IpRanges"][0]["CidrIp"]: p for p in group(ec2, gid)["IpPermissions"]}
    assert (perms["1.0.0.0/8"]["IpProtocol"], perms["1.0.0.0/8"]["ToPort"]) == ("tcp", 81)
    assert perms["2.0.0.0/8"]["IpProtocol"] == "udp"
    assert (perms["3.0.0.0/8"]["IpProtocol"], perms["3.0.0.0/8"]["FromPort"],
            perms["3.0.0.0/8"]["ToPort"]) == ("icmp", 8, -1)
    assert perms["4.0.0.0/8"] == {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "4.0.0.0/8"}],
                                  "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
    assert perms["5.0.0.0/8"]["IpProtocol"] == "50" and "FromPort" not in perms["5.0.0.0/8"]
    assert "6.0.0.0/8" in perms
    rules = {r.get("CidrIpv4"): r for r in rules_of(ec2, gid)}
    assert (rules["4.0.0.0/8"]["FromPort"], rules["4.0.0.0/8"]["ToPort"]) == (-1, -1)


@pytest.mark.parametrize("perm,expected", [
    ({"IpProtocol": "all", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "Invalid value 'all' for IP protocol. Unknown protocol."),
    ({"IpProtocol": "esp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "Invalid value 'esp' for IP protocol. Unknown protocol."),
    ({"IpProtocol": "256", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "Invalid value '256' for IP protocol. Unknown protocol."),
    ({"IpProtocol": "tcp", "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "Invalid value for portRange. Must specify both from and to ports with TCP/UDP."),
    ({"IpProtocol": "tcp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "TCP/UDP (from) port (-1) out of range"),
    ({"IpProtocol": "udp", "FromPort": 1, "ToPort": 70000,
      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "TCP/UDP (to) port (70000) out of range"),
    ({"IpProtocol": "icmp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "Invalid value for portRange. Must specify both from and to ports with ICMP."),
    ({"IpProtocol": "icmp", "FromPort": 3, "ToPort": 65535,
      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "ICMP code (65535) out of range"),
    ({"IpProtocol": "icmp", "FromPort": 300, "ToPort": 1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     "ICMP type (300) out of range"),
    (tcp(22, "::/0"), "CIDR block ::/0 is malformed"),
    (tcp(22, "10.0.0.1"), "CIDR block 10.0.0.1 is malformed"),
    (tcp(22, "10.0.0.0/33"), "CIDR block 10.0.0.0/33 is malformed"),
    ({**tcp(22), "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "it's"}]},
     ("Invalid rule description. Valid descriptions are strings less than 256 characters from "
     "the following set: a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")),
])
def test_rule_validation(ec2, vpc, perm, expected):
    gid = make_group(ec2, vpc)
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    assert error_of(exc) == ("InvalidParameterValue", expected)
    assert group(ec2, gid)["IpPermissions"] == []


def test_reversed_port_range_is_refused(ec2, vpc):
    gid = make_group(ec2, vpc)
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(90, "0.0.0.0/0",
                                                                             to=80)])
    assert error_of(exc)[0] == "InvalidParameterValue"


def test_group_references(ec2, vpc):
    gid, app = make_group(ec2, vpc), make_group(ec2, vpc)
    out = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
        "UserIdGroupPairs": [{"GroupId": app, "Description": "app servers"}]}])
    rule = out["SecurityGroupRules"][0]
    owner = group(ec2, gid)["OwnerId"]
    assert rule["ReferencedGroupInfo"] == {"GroupId": app, "UserId": owner}
    assert rule["Description"] == "app servers"
    assert group(ec2, gid)["IpPermissions"][0]["UserIdGroupPairs"] == [
        {"Description": "app servers", "GroupId": app, "UserId": owner}]
    assert gid in [g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "ip-permission.group-id", "Values": [app]}])["SecurityGroups"]]

    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
            "IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}])
    assert error_of(exc) == ("InvalidGroup.NotFound",
                             "The security group 'sg-0123456789abcdef0' does not exist")
    elsewhere = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    foreign = make_group(ec2, elsewhere)
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
            "IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": foreign}]}])
    assert error_of(exc) == ("InvalidGroup.NotFound",
                             ("You have specified two resources that belong to different "
                             "networks."))


def test_prefix_lists(ec2, vpc):
    gid = make_group(ec2, vpc)
    out = ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "PrefixListIds": [{"PrefixListId": S3_PREFIX_LIST}]}])
    assert out["SecurityGroupRules"][0]["PrefixListId"] == S3_PREFIX_LIST
    perm = next(p for p in group(ec2, gid)["IpPermissionsEgress"] if p["IpProtocol"] == "tcp")
    assert perm["PrefixListIds"] == [{"PrefixListId": S3_PREFIX_LIST}]
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "PrefixListIds": [{"PrefixListId": "pl-0123abcd"}]}])
    assert error_of(exc) == ("InvalidPrefixListID.NotFound",
                             "The prefix list ID 'pl-0123abcd' does not exist")


def test_ipv6_ranges(ec2, vpc):
    gid = make_group(ec2, vpc)
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}], "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    [perm] = group(ec2, gid)["IpPermissions"]
    assert perm["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]
    assert perm["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]


def test_legacy_flat_parameters(ec2, vpc):
    gid, app = make_group(ec2, vpc), make_group(ec2, vpc, unique("app"))
    ec2.authorize_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=8080,
                                         ToPort=8081, CidrIp="192.0.2.0/24")
    [perm] = group(ec2, gid)["IpPermissions"]
    assert (perm["FromPort"], perm["ToPort"], perm["IpRanges"]) == (
        8080, 8081, [{"CidrIp": "192.0.2.0/24"}])
    # A source group alone grants ICMP, TCP and UDP from it.
    app_name = group(ec2, app)["GroupName"]
    ec2.authorize_security_group_ingress(GroupId=gid, SourceSecurityGroupName=app_name)
    got = {(p["IpProtocol"], p["FromPort"], p["ToPort"])
           for p in group(ec2, gid)["IpPermissions"] if p["UserIdGroupPairs"]}
    assert got == {("icmp", -1, -1), ("tcp", 0, 65535), ("udp", 0, 65535)}
    out = ec2.revoke_security_group_ingress(GroupId=gid, IpProtocol="tcp", FromPort=8080,
                                            ToPort=8081, CidrIp="192.0.2.0/24")
    assert out["Return"] is True
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, SourceSecurityGroupName=app_name,
                                             IpProtocol="tcp")
    assert error_of(exc)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid)
    assert error_of(exc) == ("MissingParameter",
                             "The request must contain the parameter ipPermissions")


def test_cli_flat_form(server, ec2, vpc):
    gid, other = make_group(ec2, vpc), make_group(ec2, vpc)
    out = server.aws("ec2", "authorize-security-group-ingress", "--group-id", gid,
                     "--protocol", "tcp", "--port", "3306", "--source-group", other)
    assert out["Return"] is True
    assert out["SecurityGroupRules"][0]["ReferencedGroupInfo"]["GroupId"] == other
    server.aws("ec2", "authorize-security-group-ingress", "--group-id", gid,
               "--protocol", "tcp", "--port", "22", "--cidr", "1.2.3.4/32")
    server.aws("ec2", "authorize-security-group-ingress", "--group-id", gid,
               "--protocol", "udp", "--port", "1000-2000", "--cidr", "10.0.0.0/16")
    server.aws("ec2", "authorize-security-group-ingress", "--group-id", gid,
               "--protocol", "all", "--cidr", "10.9.0.0/16")
    shown = server.aws("ec2", "describe-security-groups", "--group-ids", gid)
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p
             for p in shown["SecurityGroups"][0]["IpPermissions"]}
    assert perms[("tcp", 3306, 3306)]["UserIdGroupPairs"][0]["GroupId"] == other
    assert perms[("tcp", 22, 22)]["IpRanges"] == [{"CidrIp": "1.2.3.4/32"}]
    assert perms[("udp", 1000, 2000)]["IpRanges"] == [{"CidrIp": "10.0.0.0/16"}]
    assert perms[("-1", None, None)]["IpRanges"] == [{"CidrIp": "10.9.0.0/16"}]
    # The CLI reports AWS's duplicate error verbatim.
    proc = server.aws("ec2", "authorize-security-group-ingress", "--group-id", gid,
                      "--protocol", "tcp", "--port", "22", "--cidr", "1.2.3.4/32", check=False)
    assert proc.returncode != 0
    assert ('(InvalidPermission.Duplicate) when calling the AuthorizeSecurityGroupIngress '
            'operation: the specified rule "peer: 1.2.3.4/32, TCP, from port: 22, to port: 22, '
            'ALLOW" already exists') in proc.stderr
    server.aws("ec2", "revoke-security-group-ingress", "--group-id", gid,
               "--protocol", "tcp", "--port", "3306", "--source-group", other)
    rules = rules_of(ec2, gid)
    assert not any(r.get("ReferencedGroupInfo") for r in rules)


# ---- revoking --------------------------------------------------------------------------------


def test_revoke(ec2, vpc):
    gid = make_group(ec2, vpc)
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        tcp(22, "10.0.0.0/8", "192.168.0.0/16")])
    out = ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, "10.0.0.0/8")])
    assert out["Return"] is True
    assert [r["CidrIpv4"] for r in out["RevokedSecurityGroupRules"]] == ["10.0.0.0/8"]
    assert "UnknownIpPermissions" not in out
    # The rest of the merged permission stays.
    assert group(ec2, gid)["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "192.168.0.0/16"}]
    for perm in (tcp(22, "10.0.0.0/8"), tcp(23, "192.168.0.0/16")):
        with pytest.raises(ClientError) as exc:
            ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[perm])
        assert error_of(exc) == ("InvalidPermission.NotFound",
                                 "The specified rule does not exist in this security group.")
    # An ingress rule is not an egress rule.
    with pytest.raises(ClientError) as exc:
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[tcp(22, "192.168.0.0/16")])
    assert error_of(exc)[0] == "InvalidPermission.NotFound"


def test_revoke_by_rule_id_and_egress(ec2, vpc):
    gid = make_group(ec2, vpc)
    [egress] = [r for r in rules_of(ec2, gid) if r["IsEgress"]]
    with pytest.raises(ClientError) as exc:  # an egress rule id is unknown to ingress
        ec2.revoke_security_group_ingress(GroupId=gid,
                                          SecurityGroupRuleIds=[egress["SecurityGroupRuleId"]])
    assert error_of(exc)[0] == "InvalidSecurityGroupRuleId.NotFound"
    out = ec2.revoke_security_group_egress(GroupId=gid,
                                           SecurityGroupRuleIds=[egress["SecurityGroupRuleId"]])
    assert out["Return"] is True
    assert out["RevokedSecurityGroupRules"][0]["SecurityGroupRuleId"] == \
        egress["SecurityGroupRuleId"]
    assert group(ec2, gid)["IpPermissionsEgress"] == []
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[tcp(5432, "10.0.0.0/16")])
    assert group(ec2, gid)["IpPermissionsEgress"][0]["FromPort"] == 5432
    ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[tcp(5432, "10.0.0.0/16")])
    assert group(ec2, gid)["IpPermissionsEgress"] == []


def test_revoke_unknown_rule_in_default_vpc_reports_it(ec2):
    """Documented: in a default VPC a non-matching revoke is reported, not refused."""
    gid = ec2.create_security_group(GroupName=unique("dv"), Description="d")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, "10.0.0.0/8")])
    out = ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        tcp(22, "10.0.0.0/8"), tcp(25, "10.0.0.0/8")])
    assert out["Return"] is True
    assert [r["FromPort"] for r in out["RevokedSecurityGroupRules"]] == [22]
    assert out["UnknownIpPermissions"][0]["FromPort"] == 25
    assert group(ec2, gid)["IpPermissions"] == []
    ec2.delete_security_group(GroupId=gid)


# ---- rule records ----------------------------------------------------------------------------


def test_describe_security_group_rules(ec2, vpc):
    gid = make_group(ec2, vpc)
    out = ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[tcp(80, "0.0.0.0/0"), tcp(81, "0.0.0.0/0")],
        TagSpecifications=[{"ResourceType": "security-group-rule",
                            "Tags": [{"Key": "team", "Value": "web"}]}])
    ids = [r["SecurityGroupRuleId"] for r in out["SecurityGroupRules"]]
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=ids)["SecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in got] == ids
    rule = got[0]
    assert rule["Tags"] == [{"Key": "team", "Value": "web"}]
    assert rule["GroupOwnerId"] == group(ec2, gid)["OwnerId"]
    assert rule["SecurityGroupRuleArn"].endswith(f":security-group-rule/{ids[0]}")
    by_tag = ec2.describe_security_group_rules(Filters=[
        {"Name": "group-id", "Values": [gid]}, {"Name": "tag:team", "Values": ["web"]}])
    assert sorted(r["SecurityGroupRuleId"] for r in by_tag["SecurityGroupRules"]) == sorted(ids)
    by_id = ec2.describe_security_group_rules(Filters=[
        {"Name": "security-group-rule-id", "Values": [ids[1]]}])["SecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in by_id] == [ids[1]]
    pages = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}], MaxResults=5)
    assert len(pages["SecurityGroupRules"]) == 3 and "NextToken" not in pages
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_group_rules(SecurityGroupRuleIds=["sgr-0123456789abcdef0"])
    assert error_of(exc) == ("InvalidSecurityGroupRuleId.NotFound",
                             "The security group rule ID 'sgr-0123456789abcdef0' does not exist")


def test_modify_rules_and_descriptions(ec2, vpc):
    gid, app = make_group(ec2, vpc), make_group(ec2, vpc)
    [rule] = ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[tcp(80, "0.0.0.0/0")])["SecurityGroupRules"]
    rid = rule["SecurityGroupRuleId"]
    assert ec2.modify_security_group_rules(GroupId=gid, SecurityGroupRules=[{
        "SecurityGroupRuleId": rid, "SecurityGroupRule": {
            "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "ReferencedGroupId": app,
            "Description": "from app"}}])["Return"] is True
    [got] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert (got["FromPort"], got["ReferencedGroupInfo"]["GroupId"], got["Description"]) == (
        8080, app, "from app")
    assert "CidrIpv4" not in got
    assert group(ec2, gid)["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == app

    ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
        "UserIdGroupPairs": [{"GroupId": app, "Description": "renamed"}]}])
    assert group(ec2, gid)["IpPermissions"][0]["UserIdGroupPairs"][0]["Description"] == "renamed"
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=gid, SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": rid,
                                                     "Description": "by id"}])
    [got] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert got["Description"] == "by id"
    with pytest.raises(ClientError) as exc:
        ec2.modify_security_group_rules(GroupId=gid, SecurityGroupRules=[{
            "SecurityGroupRuleId": "sgr-0123456789abcdef0",
            "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}}])
    assert error_of(exc)[0] == "InvalidSecurityGroupRuleId.NotFound"


def test_rule_quota(ec2, vpc):
    gid = make_group(ec2, vpc)
    cidrs = [f"10.0.{i}.0/24" for i in range(61)]
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, *cidrs)])
    assert error_of(exc) == ("RulesPerSecurityGroupLimitExceeded",
                             "The maximum number of rules per security group has been reached.")
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, *cidrs[:60])])
    assert len(group(ec2, gid)["IpPermissions"][0]["IpRanges"]) == 60


@pytest.mark.parametrize("name, value, code", [
    ("group-id", "not-a-group", "InvalidGroupId.Malformed"),
    ("group-id", "sg-", "InvalidGroupId.Malformed"),
    ("security-group-rule-id", "rule-1", "InvalidSecurityGroupRuleId.Malformed"),
])
def test_rules_with_a_malformed_id_filter(ec2, name, value, code):
    """Issue 12: AWS refuses a malformed id in the filter rather than answering []."""
    with pytest.raises(ClientError) as exc:
        ec2.describe_security_group_rules(Filters=[{"Name": name, "Values": [value]}])
    assert error_of(exc) == (code, f'Invalid id: "{value}"')


def test_rules_with_a_well_formed_unknown_id_filter_match_nothing(ec2):
    assert ec2.describe_security_group_rules(Filters=[
        {"Name": "group-id", "Values": ["sg-0123456789abcdef0"]}])["SecurityGroupRules"] == []


def test_security_group_rules_can_be_tagged(ec2, vpc):
    """Issue 12: CreateTags takes sgr- ids; the tags show in DescribeSecurityGroupRules and
    DescribeTags (resource type security-group-rule), and DeleteTags removes them."""
    gid = make_group(ec2, vpc)
    [rule] = ec2.authorize_security_group_ingress(
        GroupId=gid, IpPermissions=[tcp(443, "10.0.0.0/8")])["SecurityGroupRules"]
    rid = rule["SecurityGroupRuleId"]
    ec2.create_tags(Resources=[rid, gid], Tags=[{"Key": "team", "Value": "web"}])
    [shown] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert shown["Tags"] == [{"Key": "team", "Value": "web"}]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
    assert tags == [{"Key": "team", "Value": "web", "ResourceId": rid,
                     "ResourceType": "security-group-rule"}]
    by_type = ec2.describe_tags(Filters=[
        {"Name": "resource-type", "Values": ["security-group-rule"]},
        {"Name": "key", "Values": ["team"]}])["Tags"]
    assert rid in {t["ResourceId"] for t in by_type}
    assert group(ec2, gid)["Tags"] == [{"Key": "team", "Value": "web"}]
    # the rule keeps its tags through a change of the group's other rules
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(22, "10.0.0.0/8")])
    [shown] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert shown["Tags"] == [{"Key": "team", "Value": "web"}]
    ec2.delete_tags(Resources=[rid], Tags=[{"Key": "team"}])
    [shown] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert not shown.get("Tags")


def test_tagging_an_unknown_rule(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.create_tags(Resources=["sgr-0123456789abcdef0"], Tags=[{"Key": "k", "Value": "v"}])
    assert error_of(exc) == ("InvalidSecurityGroupRuleId.NotFound",
                             "The security group rule ID 'sgr-0123456789abcdef0' does not exist")


def test_ipv6_rules(ec2, vpc):
    """Issue 12: Ipv6Ranges are kept and shown in both forms."""
    gid = make_group(ec2, vpc)
    out = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "anyone"}],
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])["SecurityGroupRules"]
    assert sorted(r.get("CidrIpv6", r.get("CidrIpv4")) for r in out) == ["0.0.0.0/0", "::/0"]
    [perm] = group(ec2, gid)["IpPermissions"]
    assert perm["Ipv6Ranges"] == [{"CidrIpv6": "::/0", "Description": "anyone"}]
    assert perm["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    [v6] = [r for r in rules_of(ec2, gid) if not r["IsEgress"] and "CidrIpv6" in r]
    assert v6["CidrIpv6"] == "::/0" and v6["FromPort"] == 443
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    assert group(ec2, gid)["IpPermissions"][0]["Ipv6Ranges"] == []


def test_rule_tags_of_another_type_are_refused(ec2, vpc):
    gid = make_group(ec2, vpc)
    with pytest.raises(ClientError) as exc:
        ec2.authorize_security_group_ingress(
            GroupId=gid, IpPermissions=[tcp(80, "10.0.0.0/8")],
            TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "k"}]}])
    message = "'security-group' is not a valid taggable resource type for this operation."
    assert error_of(exc) == ("InvalidParameter", message)
    assert group(ec2, gid)["IpPermissions"] == []
