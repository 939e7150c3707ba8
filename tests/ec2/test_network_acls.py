"""Network ACLs: default and custom ACLs, numbered entries, subnet associations."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_of


def deny_all(egress: bool) -> dict:
    return {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress,
            "CidrBlock": "0.0.0.0/0"}


def allow_all(egress: bool) -> dict:
    return dict(deny_all(egress), RuleNumber=100, RuleAction="allow")


def acl_of(ec2, acl_id) -> dict:
    return ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]


def default_acl(ec2, vpc) -> dict:
    return ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]},
    ])["NetworkAcls"][0]


@pytest.fixture
def acl(ec2, vpc) -> str:
    return ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]


def entry(number=100, protocol="6", egress=False, action="allow", cidr="10.0.0.0/16", **kw):
    return dict(RuleNumber=number, Protocol=protocol, Egress=egress, RuleAction=action,
                CidrBlock=cidr, **kw)


def test_default_acl_of_a_new_vpc(ec2, vpc):
    acl = default_acl(ec2, vpc)
    assert acl["IsDefault"] is True and acl["NetworkAclId"].startswith("acl-")
    assert acl["Entries"] == [allow_all(True), deny_all(True), allow_all(False),
                              deny_all(False)]


def test_create_custom_acl(ec2, vpc):
    out = ec2.create_network_acl(VpcId=vpc, TagSpecifications=[
        {"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "private"}]}])
    acl = out["NetworkAcl"]
    assert acl["IsDefault"] is False and acl["VpcId"] == vpc
    assert acl["Entries"] == [deny_all(True), deny_all(False)]
    assert acl["Associations"] == [] and acl["Tags"] == [{"Key": "Name", "Value": "private"}]
    assert acl_of(ec2, acl["NetworkAclId"])["Entries"] == acl["Entries"]
    by = lambda name, value: [a["NetworkAclId"] for a in ec2.describe_network_acls(
        Filters=[{"Name": name, "Values": [value]}])["NetworkAcls"]]
    assert by("vpc-id", vpc) and acl["NetworkAclId"] in by("vpc-id", vpc)
    assert acl["NetworkAclId"] in by("default", "false")
    assert acl["NetworkAclId"] not in by("default", "true")
    assert by("network-acl-id", acl["NetworkAclId"]) == [acl["NetworkAclId"]]
    assert acl["NetworkAclId"] in by("tag:Name", "private")


def test_create_is_idempotent_with_a_client_token(ec2, vpc):
    first = ec2.create_network_acl(VpcId=vpc, ClientToken="tok-1")
    again = ec2.create_network_acl(VpcId=vpc, ClientToken="tok-1")
    assert first["NetworkAcl"]["NetworkAclId"] == again["NetworkAcl"]["NetworkAclId"]
    assert first["ClientToken"] == "tok-1"


def test_create_in_unknown_vpc(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl(VpcId="vpc-0123456789abcdef0")
    assert error_of(exc) == ("InvalidVpcID.NotFound",
                             "The vpc ID 'vpc-0123456789abcdef0' does not exist")


def test_entries(ec2, acl):
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(
        200, PortRange={"From": 1024, "To": 65535}))
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(
        100, PortRange={"From": 443, "To": 443}, cidr="10.0.1.5/24"))
    # The same number in the other direction is another entry.
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(100, "-1", egress=True,
                                                           PortRange={"From": 1, "To": 2}))
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(
        110, "1", action="deny", IcmpTypeCode={"Type": 8, "Code": -1}))
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(120, "50"))
    got = acl_of(ec2, acl)["Entries"]
    assert got == [
        {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": True,
         "CidrBlock": "10.0.0.0/16"},  # ports mean nothing for all traffic: dropped
        deny_all(True),
        {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": False,
         "CidrBlock": "10.0.1.0/24", "PortRange": {"From": 443, "To": 443}},
        {"RuleNumber": 110, "Protocol": "1", "RuleAction": "deny", "Egress": False,
         "CidrBlock": "10.0.0.0/16", "IcmpTypeCode": {"Type": 8, "Code": -1}},
        {"RuleNumber": 120, "Protocol": "50", "RuleAction": "allow", "Egress": False,
         "CidrBlock": "10.0.0.0/16"},
        {"RuleNumber": 200, "Protocol": "6", "RuleAction": "allow", "Egress": False,
         "CidrBlock": "10.0.0.0/16", "PortRange": {"From": 1024, "To": 65535}},
        deny_all(False),
    ]
    by = lambda name, value: [a["NetworkAclId"] for a in ec2.describe_network_acls(
        Filters=[{"Name": name, "Values": [value]}])["NetworkAcls"]]
    assert acl in by("entry.rule-number", "110")
    assert acl in by("entry.port-range.from", "1024")
    assert acl in by("entry.icmp.type", "8")
    assert acl in by("entry.protocol", "50")
    assert acl in by("entry.rule-action", "deny")
    assert acl in by("entry.cidr", "10.0.1.0/24")

    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId=acl, **entry(
            100, PortRange={"From": 80, "To": 80}))
    assert error_of(exc) == ("NetworkAclEntryAlreadyExists",
                             "The network acl entry identified by 100 already exists.")


@pytest.mark.parametrize("params,expected", [
    (entry(0, PortRange={"From": 1, "To": 2}),
     ("InvalidParameterValue",
      "Value (0) for parameter ruleNumber is invalid. Rulenumber must be in range 1..32766")),
    (entry(32767, "-1"),
     ("InvalidParameterValue",
      "Value (32767) for parameter ruleNumber is invalid. Rulenumber must be in range 1..32766")),
    (entry(40000, "-1"),
     ("InvalidParameterValue",
      "Value (40000) for parameter ruleNumber is invalid. Rulenumber must be in range 1..32766")),
    # The API takes protocol numbers only; the CLI translates names.
    (entry(protocol="tcp", PortRange={"From": 1, "To": 2}),
     ("InvalidParameterValue", "Invalid value 'tcp' for IP protocol. Unknown protocol.")),
    (entry(protocol="300"),
     ("InvalidParameterValue", "Invalid value '300' for IP protocol. Unknown protocol.")),
    (entry(), ("MissingParameter", "The request must contain the parameter portRange")),
    (entry(protocol="1"), ("MissingParameter",
                           "The request must contain the parameter icmpTypeCode")),
    (entry(PortRange={"From": 10, "To": 5}), ("InvalidParameterValue", None)),
    (entry(PortRange={"From": 1, "To": 70000}), ("InvalidParameterValue", None)),
    (entry(protocol="-1", action="permit"), ("InvalidParameterValue", None)),
    (entry(protocol="-1", cidr="10.0.0.0/40"),
     ("InvalidParameterValue",
      "Value (10.0.0.0/40) for parameter cidrBlock is invalid. This is not a valid CIDR block.")),
])
def test_entry_validation(ec2, acl, params, expected):
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId=acl, **params)
    code, message = error_of(exc)
    assert code == expected[0]
    if expected[1] is not None:
        assert message == expected[1]
    assert acl_of(ec2, acl)["Entries"] == [deny_all(True), deny_all(False)]


def test_replace_and_delete_entries(ec2, acl):
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(100, PortRange={"From": 22,
                                                                           "To": 22}))
    ec2.replace_network_acl_entry(NetworkAclId=acl, **entry(100, "17", action="deny",
                                                            cidr="0.0.0.0/0",
                                                            PortRange={"From": 53, "To": 53}))
    assert acl_of(ec2, acl)["Entries"][1] == {
        "RuleNumber": 100, "Protocol": "17", "RuleAction": "deny", "Egress": False,
        "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 53, "To": 53}}
    with pytest.raises(ClientError) as exc:  # entry 100 exists only for ingress
        ec2.replace_network_acl_entry(NetworkAclId=acl, **entry(100, "-1", egress=True))
    assert error_of(exc) == ("InvalidNetworkAclEntry.NotFound", "no egress entry with number 100")
    with pytest.raises(ClientError) as exc:  # the catch-all deny cannot be changed
        ec2.replace_network_acl_entry(NetworkAclId=acl, **entry(32767, "-1"))
    assert error_of(exc)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=32767, Egress=False)
    assert error_of(exc)[0] == "InvalidParameterValue"

    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False)
    assert acl_of(ec2, acl)["Entries"] == [deny_all(True), deny_all(False)]
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False)
    assert error_of(exc) == ("InvalidNetworkAclEntry.NotFound",
                             "no ingress entry with number 100")


def test_default_acl_entries_can_change(ec2, vpc):
    acl = default_acl(ec2, vpc)["NetworkAclId"]
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=True)
    assert acl_of(ec2, acl)["Entries"] == [deny_all(True), allow_all(False), deny_all(False)]


def test_cli_protocol_names(server, ec2, acl):
    server.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--ingress",
               "--rule-number", "100", "--protocol", "tcp", "--port-range", "From=22,To=22",
               "--cidr-block", "0.0.0.0/0", "--rule-action", "allow")
    server.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--egress",
               "--rule-number", "100", "--protocol", "all", "--cidr-block", "0.0.0.0/0",
               "--rule-action", "allow")
    shown = server.aws("ec2", "describe-network-acls", "--network-acl-ids", acl)
    entries = {(e["Egress"], e["RuleNumber"]): e for e in shown["NetworkAcls"][0]["Entries"]}
    assert entries[(False, 100)]["Protocol"] == "6"
    assert entries[(False, 100)]["PortRange"] == {"From": 22, "To": 22}
    assert entries[(True, 100)]["Protocol"] == "-1"
    proc = server.aws("ec2", "create-network-acl-entry", "--network-acl-id", acl, "--ingress",
                      "--rule-number", "100", "--protocol", "udp", "--port-range",
                      "From=53,To=53", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow",
                      check=False)
    assert proc.returncode != 0
    assert "The network acl entry identified by 100 already exists." in proc.stderr


def test_associations(ec2, vpc, acl):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
    found = ec2.describe_network_acls(Filters=[
        {"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    assert [a["NetworkAclId"] for a in found] == [default_acl(ec2, vpc)["NetworkAclId"]]
    [assoc] = [a for a in found[0]["Associations"] if a["SubnetId"] == subnet]

    new_id = ec2.replace_network_acl_association(
        AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl)["NewAssociationId"]
    assert new_id.startswith("aclassoc-") and new_id != assoc["NetworkAclAssociationId"]
    assert acl_of(ec2, acl)["Associations"] == [
        {"NetworkAclAssociationId": new_id, "NetworkAclId": acl, "SubnetId": subnet}]
    assert subnet not in [a["SubnetId"] for a in default_acl(ec2, vpc)["Associations"]]
    assert [a["NetworkAclId"] for a in ec2.describe_network_acls(Filters=[
        {"Name": "association.association-id", "Values": [new_id]}])["NetworkAcls"]] == [acl]

    with pytest.raises(ClientError) as exc:  # the old association is gone
        ec2.replace_network_acl_association(
            AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl)
    assert error_of(exc) == (
        "InvalidAssociationID.NotFound",
        f"The association ID '{assoc['NetworkAclAssociationId']}' does not exist")
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl(NetworkAclId=acl)
    assert error_of(exc) == ("DependencyViolation",
                             f"The networkAcl '{acl}' has dependencies and cannot be deleted.")

    other_vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_network_acl(VpcId=other_vpc)["NetworkAcl"]["NetworkAclId"]
    with pytest.raises(ClientError) as exc:
        ec2.replace_network_acl_association(AssociationId=new_id, NetworkAclId=foreign)
    assert error_of(exc)[0] == "InvalidParameterValue"

    back = ec2.replace_network_acl_association(
        AssociationId=new_id, NetworkAclId=default_acl(ec2, vpc)["NetworkAclId"])
    assert subnet in [a["SubnetId"] for a in default_acl(ec2, vpc)["Associations"]
                      if a["NetworkAclAssociationId"] == back["NewAssociationId"]]
    ec2.delete_network_acl(NetworkAclId=acl)
    with pytest.raises(ClientError) as exc:
        acl_of(ec2, acl)
    assert error_of(exc) == ("InvalidNetworkAclID.NotFound",
                             f"The networkAcl ID '{acl}' does not exist")


def test_deleting_a_subnet_drops_its_association(ec2, vpc, acl):
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.4.0/24")["Subnet"]["SubnetId"]
    [assoc] = [a for a in default_acl(ec2, vpc)["Associations"] if a["SubnetId"] == subnet]
    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"],
                                        NetworkAclId=acl)
    ec2.delete_subnet(SubnetId=subnet)
    assert acl_of(ec2, acl)["Associations"] == []
    ec2.delete_network_acl(NetworkAclId=acl)


def test_default_acl_cannot_be_deleted(ec2, vpc):
    acl = default_acl(ec2, vpc)["NetworkAclId"]
    with pytest.raises(ClientError) as exc:
        ec2.delete_network_acl(NetworkAclId=acl)
    assert error_of(exc) == ("InvalidParameterValue", f"cannot delete default network ACL {acl}")


def test_unknown_and_malformed_ids(ec2):
    with pytest.raises(ClientError) as exc:
        ec2.describe_network_acls(NetworkAclIds=["acl-0123456789abcdef0"])
    assert error_of(exc) == ("InvalidNetworkAclID.NotFound",
                             "The networkAcl ID 'acl-0123456789abcdef0' does not exist")
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId="nope", **entry(protocol="-1"))
    assert error_of(exc)[0] == "InvalidNetworkAclId.Malformed"


def test_describe_paginates(ec2, vpc):
    made = {ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"] for _ in range(5)}
    made.add(default_acl(ec2, vpc)["NetworkAclId"])
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}],
                                         MaxResults=5, **kw)
        seen += [a["NetworkAclId"] for a in page["NetworkAcls"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(made)


def test_entry_quota(ec2, acl):
    for number in range(1, 21):
        ec2.create_network_acl_entry(NetworkAclId=acl, **entry(number, "-1"))
    with pytest.raises(ClientError) as exc:
        ec2.create_network_acl_entry(NetworkAclId=acl, **entry(21, "-1"))
    assert error_of(exc)[0] == "NetworkAclEntryLimitExceeded"
    ec2.create_network_acl_entry(NetworkAclId=acl, **entry(21, "-1", egress=True))
