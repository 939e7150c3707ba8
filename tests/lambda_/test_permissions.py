"""Function policies: AddPermission, RemovePermission, GetPolicy through boto3 and the aws CLI,
and the look-up the authorizer reads them with."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.errors import error_and_status
from tests.lambda_.conftest import ACCOUNT, arn, unique
from vpclocal.services.lambda_.permissions import function_policy
from vpclocal.store import Store

RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly"


def refused(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return error_and_status(exc)


def policy_of(lam, name: str, **kwargs) -> dict:
    return json.loads(lam.get_policy(FunctionName=name, **kwargs)["Policy"])


def test_add_permission_writes_aws_statements(lam, create):
    name = unique()
    create(name)
    added = lam.add_permission(FunctionName=name, StatementId="events", Action="lambda:InvokeFunction",
                               Principal="events.amazonaws.com", SourceArn=RULE)
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    events = {"Sid": "events", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
              "Action": "lambda:InvokeFunction", "Resource": arn(name),
              "Condition": {"ArnLike": {"AWS:SourceArn": RULE}}}
    assert json.loads(added["Statement"]) == events
    # AWS's compact JSON, keys in its order
    assert added["Statement"] == json.dumps(events, separators=(",", ":"))
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::my-bucket",
                       SourceAccount=ACCOUNT)
    lam.add_permission(FunctionName=arn(name), StatementId="xaccount", Action="lambda:*",
                       Principal="210987654321")
    lam.add_permission(FunctionName=name, StatementId="role", Action="lambda:GetFunction",
                       Principal="arn:aws:iam::210987654321:role/caller")
    lam.add_permission(FunctionName=name, StatementId="org", Action="lambda:InvokeFunction",
                       Principal="*", PrincipalOrgID="o-a1b2c3d4e5f")
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="alexa", Action="lambda:InvokeFunction",
                       Principal="alexa-appkit.amazon.com", EventSourceToken="amzn1.ask.skill.1")
    got = lam.get_policy(FunctionName=name)
    policy = json.loads(got["Policy"])
    assert got["Policy"] == json.dumps(policy, separators=(",", ":"))
    assert (policy["Version"], policy["Id"]) == ("2012-10-17", "default")
    assert list(policy) == ["Version", "Id", "Statement"]
    assert policy["Statement"] == [
        events,
        {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
         "Action": "lambda:InvokeFunction", "Resource": arn(name),
         "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                       "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}}},
        {"Sid": "xaccount", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "lambda:*",
         "Resource": arn(name)},
        {"Sid": "role", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::210987654321:role/caller"},
         "Action": "lambda:GetFunction", "Resource": arn(name)},
        {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
         "Resource": arn(name),
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5f"}}},
        {"Sid": "url", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
         "Resource": arn(name),
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
        {"Sid": "alexa", "Effect": "Allow", "Principal": {"Service": "alexa-appkit.amazon.com"},
         "Action": "lambda:InvokeFunction", "Resource": arn(name),
         "Condition": {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.1"}}},
    ]
    # adding a statement gives the function a new revision; GetPolicy answers it
    assert got["RevisionId"] == lam.get_function_configuration(FunctionName=name)["RevisionId"]


def test_remove_permission(lam, create):
    name = unique()
    create(name)
    for sid in ("one", "two"):
        lam.add_permission(FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com")
    removed = lam.remove_permission(FunctionName=name, StatementId="one")
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [s["Sid"] for s in policy_of(lam, name)["Statement"]] == ["two"]
    assert refused(lam.remove_permission, FunctionName=name, StatementId="one") == (
        "ResourceNotFoundException", "Statement one is not found in resource policy.", 404)
    lam.remove_permission(FunctionName=name, StatementId="two")
    # the last statement gone, the function has no policy
    assert refused(lam.get_policy, FunctionName=name) == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404)
    assert refused(lam.remove_permission, FunctionName=name, StatementId="two") == (
        "ResourceNotFoundException", "No policy is associated with the given resource.", 404)


def test_add_permission_errors(lam, create):
    name = unique()
    create(name)
    lam.add_permission(FunctionName=name, StatementId="sid", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com")
    assert refused(lam.add_permission, FunctionName=name, StatementId="sid",
                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com") == (
        "ResourceConflictException", ("The statement id (sid) provided already exists. Please "
        "provide a new statement id, or remove the existing statement."), 409)
    for principal in ("amazonaws.com", "nobody", "arn:aws:s3:::bucket", "12345"):
        assert refused(lam.add_permission, FunctionName=name, StatementId="p",
                       Action="lambda:InvokeFunction", Principal=principal) == (
            "InvalidParameterValueException", ("The provided principal was invalid. Please "
            "check the principal and try again."), 400), principal
    assert refused(lam.add_permission, FunctionName=name, StatementId="latest",
                   Action="lambda:InvokeFunction", Principal="sns.amazonaws.com",
                   Qualifier="$LATEST") == (
        "InvalidParameterValueException",
        "We currently do not support adding policies for $LATEST.", 400)
    missing = unique("missing")
    assert refused(lam.add_permission, FunctionName=missing, StatementId="x",
                   Action="lambda:InvokeFunction", Principal="sns.amazonaws.com") == (
        "ResourceNotFoundException", f"Function not found: {arn(missing)}", 404)
    assert refused(lam.get_policy, FunctionName=missing) == (
        "ResourceNotFoundException", f"Function not found: {arn(missing)}", 404)
    assert refused(lam.remove_permission, FunctionName=missing, StatementId="x")[0] == \
        "ResourceNotFoundException"
    assert refused(lam.add_permission, FunctionName=name, StatementId="x",
                   Action="lambda:InvokeFunction", Principal="sns.amazonaws.com",
                   Qualifier="7") == (
        "ResourceNotFoundException", f"Function not found: {arn(name, '7')}", 404)
    # the model's own constraints (StatementId's pattern)
    assert refused(lam.add_permission, FunctionName=name, StatementId="bad id!",
                   Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")[0] == \
        "ValidationException"


def test_revision_id_guards_the_policy(lam, create):
    name = unique()
    create(name)
    before = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    stale = "00000000-0000-0000-0000-000000000000"
    message = ("The Revision Id provided does not match the latest Revision Id. Call the "
               "GetFunction/GetAlias API to retrieve the latest Revision Id")
    assert refused(lam.add_permission, FunctionName=name, StatementId="a",
                   Action="lambda:InvokeFunction", Principal="sns.amazonaws.com",
                   RevisionId=stale) == ("PreconditionFailedException", message, 412)
    lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", RevisionId=before)
    after = lam.get_policy(FunctionName=name)["RevisionId"]
    assert after != before
    assert refused(lam.remove_permission, FunctionName=name, StatementId="a",
                   RevisionId=before) == ("PreconditionFailedException", message, 412)
    lam.remove_permission(FunctionName=name, StatementId="a", RevisionId=after)


def test_policy_size_limit(lam, create):
    name = unique()
    create(name)
    added = 0
    with pytest.raises(ClientError) as exc:
        while True:
            lam.add_permission(FunctionName=name, StatementId=f"s{added:03d}-" + "x" * 90,
                               Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                               SourceArn=f"{RULE}-{'y' * 200}-{added}")
            added += 1
    code, message, status = error_and_status(exc)
    size = len(lam.get_policy(FunctionName=name)["Policy"])
    assert size <= 20480 < size + 400  # the statement that did not fit was about 400 bytes
    assert (code, status) == ("PolicyLengthExceededException", 400)
    assert message.startswith("The final policy size (") and \
        message.endswith(") is bigger than the limit (20480).")
    assert int(message.split("(")[1].split(")")[0]) > 20480


def test_policies_of_versions_and_aliases(lam, create):
    name = unique()
    create(name)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName=name, StatementId="fn", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com")
    lam.add_permission(FunctionName=name, Qualifier="1", StatementId="v1",
                       Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    lam.add_permission(FunctionName=f"{name}:live", StatementId="fn",
                       Action="lambda:InvokeFunction", Principal="111122223333")
    alias = policy_of(lam, name, Qualifier="live")["Statement"]
    assert [(s["Sid"], s["Resource"]) for s in alias] == [("fn", arn(name, "live"))]
    assert [(s["Sid"], s["Resource"]) for s in policy_of(lam, f"{name}:1")["Statement"]] == [
        ("v1", arn(name, "1"))]
    assert [s["Resource"] for s in policy_of(lam, name)["Statement"]] == [arn(name)]
    # the alias's revision moved with its policy
    assert lam.get_policy(FunctionName=name, Qualifier="live")["RevisionId"] == \
        lam.get_alias(FunctionName=name, Name="live")["RevisionId"]
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert refused(lam.get_policy, FunctionName=name, Qualifier="live")[0] == \
        "ResourceNotFoundException"
    assert refused(lam.get_policy, FunctionName=name, Qualifier="nope") == (
        "ResourceNotFoundException", f"Function not found: {arn(name, 'nope')}", 404)


def test_deleting_the_function_deletes_its_policies(lam, create):
    name = unique()
    create(name)
    lam.publish_version(FunctionName=name)
    lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com")
    lam.add_permission(FunctionName=name, Qualifier="1", StatementId="a",
                       Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    lam.delete_function(FunctionName=name)
    create(name)
    lam.publish_version(FunctionName=name)
    for qualifier in ({}, {"Qualifier": "1"}):
        assert refused(lam.get_policy, FunctionName=name, **qualifier) == (
            "ResourceNotFoundException", "The resource you requested does not exist.", 404)


def test_function_policy_reads_what_the_server_stored(server, lam, create):
    name = unique()
    create(name)
    lam.publish_version(FunctionName=name)
    lam.add_permission(FunctionName=name, StatementId="fn", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=RULE)
    lam.add_permission(FunctionName=name, Qualifier="1", StatementId="v1",
                       Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    store = Store(server.data_dir / "state.db")  # what the server committed
    try:
        view = store.view("global")  # any view: the function reads the region's scope
        assert function_policy(view, "us-east-1", name, None) == \
            lam.get_policy(FunctionName=name)["Policy"]
        assert function_policy(view, "us-east-1", name, "$LATEST") == \
            lam.get_policy(FunctionName=name)["Policy"]
        assert function_policy(view, "us-east-1", arn(name), "1") == \
            lam.get_policy(FunctionName=name, Qualifier="1")["Policy"]
        assert function_policy(view, "us-east-1", arn(name, "1"), None) == \
            lam.get_policy(FunctionName=name, Qualifier="1")["Policy"]
        assert function_policy(view, "eu-west-1", name, None) is None
        assert function_policy(view, "us-east-1", unique("none"), None) is None
    finally:
        store.close()


def test_aws_cli_add_permission_and_get_policy(server, create):
    name = unique()
    create(name)
    added = server.aws("lambda", "add-permission", "--function-name", name,
                       "--statement-id", "sns", "--action", "lambda:InvokeFunction",
                       "--principal", "sns.amazonaws.com", "--source-arn",
                       f"arn:aws:sns:us-east-1:{ACCOUNT}:topic")
    statement = json.loads(added["Statement"])
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    got = server.aws("lambda", "get-policy", "--function-name", name)
    assert json.loads(got["Policy"])["Statement"] == [statement]
    assert got["RevisionId"]
    server.aws("lambda", "remove-permission", "--function-name", name, "--statement-id", "sns")
    missing = server.aws("lambda", "get-policy", "--function-name", name, check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
    assert "The resource you requested does not exist." in missing.stderr
