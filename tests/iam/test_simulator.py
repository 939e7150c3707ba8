"""IAM's policy simulator (issue 13): SimulatePrincipalPolicy, SimulateCustomPolicy and
GetContextKeysFor*Policy answered by the evaluator that decides requests, in AWS's shapes (the
statement positions below are the ones AWS answered for the same policy texts)."""

from __future__ import annotations

import json

from tests.conftest import unique
from tests.iam.test_authorization import ACCOUNT, Session, allow, deny, policy, refused

ADMIN_PRETTY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}, indent=2)
# the AWS CLI's own example policy (one statement object), with a date condition
CLI_EXAMPLE = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
               '"Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":'
               '"2018-08-16T12:00:00Z"}}}}')


def custom(server, policies, actions, **extra) -> list[dict]:
    return server.client("iam").simulate_custom_policy(
        PolicyInputList=policies, ActionNames=actions, **extra)["EvaluationResults"]


def position(line, column) -> dict:
    return {"Line": line, "Column": column}


def test_allowed_implicit_and_explicit_deny_with_statement_positions(server):
    compact = json.dumps({"Version": "2012-10-17", "Statement": [
        allow("s3:*"), deny("s3:DeleteBucket")]}, separators=(",", ":"))
    results = custom(server, [ADMIN_PRETTY, compact],
                     ["ec2:DescribeVpcs", "s3:DeleteBucket"])
    assert [r["EvalActionName"] for r in results] == ["ec2:DescribeVpcs", "s3:DeleteBucket"]
    allowed, denied = results
    assert allowed["EvalDecision"] == "allowed" and allowed["EvalResourceName"] == "*"
    # AWS's answer for AdministratorAccess's text: line 3 column 17 to line 8 column 6
    assert allowed["MatchedStatements"] == [{
        "SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy",
        "StartPosition": position(3, 17), "EndPosition": position(8, 6)}]
    assert allowed["MissingContextValues"] == []
    assert "ResourceSpecificResults" not in allowed and "EvalDecisionDetails" not in allowed
    # the deny is the only statement reported, from right after the previous statement
    first_end = compact.index("},{") + 2
    assert denied["EvalDecision"] == "explicitDeny"
    assert denied["MatchedStatements"] == [{
        "SourcePolicyId": "PolicyInputList.2", "SourcePolicyType": "IAM Policy",
        "StartPosition": position(1, first_end),
        "EndPosition": position(1, len(compact) - 1)}]  # right after its `}`, before `]}`
    nothing = custom(server, [compact], ["ec2:DescribeVpcs"])[0]
    assert nothing["EvalDecision"] == "implicitDeny" and nothing["MatchedStatements"] == []


def test_the_cli_simulates_a_custom_policy_as_in_awss_example(server):
    out = server.aws("iam", "simulate-custom-policy", "--policy-input-list", CLI_EXAMPLE,
                     "--action-names", "dynamodb:CreateBackup")
    result = out["EvaluationResults"][0]
    # a simulation sees only the context entries it is given: without aws:CurrentTime the
    # condition does not hold, and the key is reported missing, as AWS does
    assert result["EvalActionName"] == "dynamodb:CreateBackup"
    assert result["EvalDecision"] == "implicitDeny"
    assert result["MissingContextValues"] == ["aws:CurrentTime"]
    keys = server.aws("iam", "get-context-keys-for-custom-policy", "--policy-input-list",
                      CLI_EXAMPLE.replace('"Resource":"*"', '"Resource":"arn:aws:dynamodb:'
                                          'us-west-2:123456789012:table/${aws:username}"'))
    assert keys["ContextKeyNames"] == ["aws:username", "aws:CurrentTime"]
    unconditional = CLI_EXAMPLE.replace("DateGreaterThan", "StringEquals").replace(
        "2018-08-16T12:00:00Z", "now")
    out = server.aws("iam", "simulate-custom-policy", "--policy-input-list", unconditional,
                     "--action-names", "dynamodb:CreateBackup", "--context-entries",
                     "ContextKeyName=aws:CurrentTime,ContextKeyValues=now,ContextKeyType=string")
    assert out["EvaluationResults"][0]["MatchedStatements"] == [{
        "SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy",
        "StartPosition": position(1, 38), "EndPosition": position(1, 147)}]


def test_each_resource_has_its_result_and_resource_specific_result(server):
    bucket = unique("sim")
    mine, other = f"arn:aws:s3:::{bucket}/mine/k", f"arn:aws:s3:::{bucket}/other/k"
    results = custom(server, [policy(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/mine/*"))],
                     ["s3:GetObject"], ResourceArns=[mine, other])
    assert [(r["EvalResourceName"], r["EvalDecision"]) for r in results] == [
        (mine, "allowed"), (other, "implicitDeny")]
    for r in results:
        assert r["EvalDecisionDetails"] == {}
        assert r["ResourceSpecificResults"] == [{
            "EvalResourceName": r["EvalResourceName"],
            "EvalResourceDecision": r["EvalDecision"],
            "MatchedStatements": r["MatchedStatements"], "MissingContextValues": []}]
    assert results[0]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"


def test_a_permissions_boundary_caps_the_simulation(server):
    results = custom(server, [policy(allow("s3:*"))], ["s3:GetObject", "s3:PutObject"],
                     PermissionsBoundaryPolicyInputList=[policy(allow("s3:GetObject"))])
    get, put = results
    assert get["EvalDecision"] == "allowed"
    assert get["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert put["EvalDecision"] == "implicitDeny"
    assert put["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    denied = custom(server, [policy(allow("s3:*"))], ["s3:PutObject"],
                    PermissionsBoundaryPolicyInputList=[policy(allow("s3:*"),
                                                               deny("s3:PutObject"))])[0]
    assert denied["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyId"] for m in denied["MatchedStatements"]] == [
        "PermissionsBoundaryPolicyInputList.1"]
    assert "PermissionsBoundaryDecisionDetail" not in custom(
        server, [policy(allow("s3:*"))], ["s3:PutObject"])[0]


def test_a_resource_policy_allows_and_denies_the_caller_it_names(server):
    bucket = unique("sim")
    caller = f"arn:aws:iam::{ACCOUNT}:user/{unique('caller')}"
    resource_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/secret"})
    ok, secret = custom(server, [policy(allow("ec2:DescribeVpcs"))], ["s3:GetObject"],
                        ResourceArns=[f"arn:aws:s3:::{bucket}/k", f"arn:aws:s3:::{bucket}/secret"],
                        ResourcePolicy=resource_policy, CallerArn=caller)
    assert ok["EvalDecision"] == "allowed"
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in ok["MatchedStatements"]] \
        == [("ResourcePolicy", "Resource Policy")]
    assert secret["EvalDecision"] == "explicitDeny"
    assert secret["MatchedStatements"][0]["StartPosition"] == \
        ok["MatchedStatements"][0]["EndPosition"]  # the second statement of the same text
    # another caller is not named: nothing allows it
    stranger = custom(server, [policy(allow("ec2:DescribeVpcs"))], ["s3:GetObject"],
                      ResourceArns=[f"arn:aws:s3:::{bucket}/k"], ResourcePolicy=resource_policy,
                      CallerArn=f"arn:aws:iam::{ACCOUNT}:user/{unique('other')}")[0]
    assert stranger["EvalDecision"] == "implicitDeny"


def test_context_entries_meet_conditions_and_missing_ones_are_listed(server):
    locked = policy(allow("s3:GetObject", "*",
                          Condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}))

    def run(*entries):
        return custom(server, [locked], ["s3:GetObject"], ContextEntries=[
            {"ContextKeyName": "aws:SourceVpce", "ContextKeyValues": [value],
             "ContextKeyType": "string"} for value in entries])[0]

    missing = run()
    assert missing["EvalDecision"] == "implicitDeny"
    assert missing["MissingContextValues"] == ["aws:SourceVpce"]
    through = run("vpce-1a2b3c4d")
    assert through["EvalDecision"] == "allowed" and through["MissingContextValues"] == []
    elsewhere = run("vpce-99999999")
    assert elsewhere["EvalDecision"] == "implicitDeny" and elsewhere["MissingContextValues"] == []
    # keys of statements about other actions are not missing for this one
    assert custom(server, [locked], ["ec2:DescribeVpcs"])[0]["MissingContextValues"] == []


def test_a_users_simulation_includes_its_groups_policies_via_the_cli(server):
    iam = server.client("iam")
    user, group = unique("user"), unique("group")
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="list", PolicyDocument=policy(
        allow("s3:ListBucket")))
    iam.put_group_policy(GroupName=group, PolicyName="items", PolicyDocument=policy(
        allow("dynamodb:GetItem")))
    guard = unique("guard")
    guard_arn = iam.create_policy(PolicyName=guard, PolicyDocument=policy(
        deny("s3:DeleteBucket"), allow("s3:DeleteBucket")))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=guard_arn)
    out = server.aws("iam", "simulate-principal-policy", "--policy-source-arn", arn,
                     "--action-names", "s3:ListBucket", "dynamodb:GetItem", "s3:DeleteBucket",
                     "sqs:SendMessage")
    decided = {r["EvalActionName"]: (r["EvalDecision"],
                                     [m["SourcePolicyId"] for m in r["MatchedStatements"]])
               for r in out["EvaluationResults"]}
    assert decided == {
        "s3:ListBucket": ("allowed", [f"user_{user}_list"]),
        "dynamodb:GetItem": ("allowed", [f"group_{group}_items"]),
        "s3:DeleteBucket": ("explicitDeny", [guard]),
        "sqs:SendMessage": ("implicitDeny", []),
    }
    # the group alone has no user policy
    group_arn = iam.get_group(GroupName=group)["Group"]["Arn"]
    alone = iam.simulate_principal_policy(PolicySourceArn=group_arn,
                                          ActionNames=["s3:ListBucket", "dynamodb:GetItem"])
    assert [r["EvalDecision"] for r in alone["EvaluationResults"]] == ["implicitDeny", "allowed"]
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=arn, PolicyInputList=[
        policy(allow("s3:*", "*", Condition={"Bool": {"aws:SecureTransport": "true"}}))])
    assert keys["ContextKeyNames"] == ["aws:SecureTransport"]


def test_a_roles_boundary_and_extra_policies_count(server):
    iam = server.client("iam")
    s = Session(server, allow(["ec2:*", "s3:*"]))
    boundary = iam.create_policy(PolicyName=unique("boundary"), PolicyDocument=policy(
        allow("s3:*")))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=s.role, PermissionsBoundary=boundary)
    results = iam.simulate_principal_policy(
        PolicySourceArn=s.arn, ActionNames=["s3:ListBucket", "ec2:DescribeVpcs", "sqs:ListQueues"],
        PolicyInputList=[policy(allow("sqs:ListQueues"))])["EvaluationResults"]
    assert [(r["EvalDecision"], r["PermissionsBoundaryDecisionDetail"]) for r in results] == [
        ("allowed", {"AllowedByPermissionsBoundary": True}),
        ("implicitDeny", {"AllowedByPermissionsBoundary": False}),
        ("implicitDeny", {"AllowedByPermissionsBoundary": False})]
    assert results[0]["MatchedStatements"][0]["SourcePolicyId"] == f"role_{s.role}_p"
    # a boundary passed in replaces the role's
    replaced = iam.simulate_principal_policy(
        PolicySourceArn=s.arn, ActionNames=["ec2:DescribeVpcs"],
        PermissionsBoundaryPolicyInputList=[policy(allow("ec2:*"))])["EvaluationResults"][0]
    assert replaced["EvalDecision"] == "allowed"
    # the gateway agrees with the simulator
    assert refused(lambda: s.client("ec2").describe_vpcs())[0] == "UnauthorizedOperation"
    assert isinstance(s.client("s3").list_buckets()["Buckets"], list)


def test_results_page_with_max_items_and_marker(server):
    iam = server.client("iam")
    actions = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
    first = iam.simulate_custom_policy(PolicyInputList=[policy(allow("s3:*"))],
                                       ActionNames=actions, MaxItems=2)
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 2
    rest = iam.simulate_custom_policy(PolicyInputList=[policy(allow("s3:*"))],
                                      ActionNames=actions, MaxItems=2, Marker=first["Marker"])
    assert rest["IsTruncated"] is False and "Marker" not in rest
    assert [r["EvalActionName"] for r in first["EvaluationResults"] + rest[
        "EvaluationResults"]] == actions
    paginated = iam.get_paginator("simulate_custom_policy").paginate(
        PolicyInputList=[policy(allow("s3:*"))], ActionNames=actions,
        PaginationConfig={"PageSize": 1})
    assert [r["EvalActionName"] for page in paginated for r in page["EvaluationResults"]] \
        == actions


def test_errors_are_awss(server):
    iam = server.client("iam")
    missing = unique("role")
    assert refused(lambda: iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/{missing}", ActionNames=["s3:GetObject"])
    ) == ("NoSuchEntity", f"The role with name {missing} cannot be found.", 404)
    user = unique("user")
    assert refused(lambda: iam.get_context_keys_for_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/{user}"))[:2] == (
        "NoSuchEntity", f"The user with name {user} cannot be found.")
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/some-role/session"
    assert refused(lambda: iam.simulate_principal_policy(
        PolicySourceArn=session, ActionNames=["s3:GetObject"])) == (
        "InvalidInput",
        f"Invalid Entity Arn: {session} does not clearly define entity type and name.", 400)
    assert refused(lambda: iam.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::123456789012:role/elsewhere",
        ActionNames=["s3:GetObject"]))[:2] == (
        "InvalidInput", (f"Invalid Policy Source Arn: caller's account {ACCOUNT} does not "
                         "have access to policies in account 123456789012"))
    code, _, status = refused(lambda: custom(server, ["{not json"], ["s3:GetObject"]))
    assert (code, status) == ("InvalidInput", 400)
    assert refused(lambda: custom(server, [policy(allow("s3:*"))], ["kms:Decrypt"],
                                  ResourceArns=["14a050d4-021e-4efe-84bb-0871bf6d0fda"])) == (
        "InvalidInput", ("ResourceNames are not in a valid ARN format: "
                         "14a050d4-021e-4efe-84bb-0871bf6d0fda."), 400)
    assert refused(lambda: custom(server, [policy(allow("s3:*"))], ["s3:GetObject"],
                                  ResourceOwner="123456789012"))[:2] == (
        "InvalidInput", "'123456789012' is not a valid as a Resource Owner.")
    cli = server.aws("iam", "simulate-principal-policy", "--policy-source-arn", session,
                     "--action-names", "s3:GetObject", check=False)
    assert cli.returncode != 0 and "(InvalidInput)" in cli.stderr


def test_a_session_may_simulate_only_the_principals_its_policy_names(server):
    s = Session(server)
    iam = server.client("iam")
    iam.put_role_policy(RoleName=s.role, PolicyName="p", PolicyDocument=policy(
        allow("iam:SimulatePrincipalPolicy", s.arn)))
    other = Session(server)
    mine = s.client("iam")
    own = mine.simulate_principal_policy(PolicySourceArn=s.arn, ActionNames=[
        "iam:SimulatePrincipalPolicy"], ResourceArns=["*", s.arn])["EvaluationResults"]
    assert [r["EvalDecision"] for r in own] == ["implicitDeny", "allowed"]  # only on itself
    code, message, _ = refused(lambda: mine.simulate_principal_policy(
        PolicySourceArn=other.arn, ActionNames=["s3:GetObject"]))
    assert code == "AccessDenied"
    assert f"iam:SimulatePrincipalPolicy on resource: {other.arn}" in message
