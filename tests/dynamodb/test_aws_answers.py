"""DynamoDB answers as AWS gives them (issue 12): table ARNs as TableName, the table name's
constraints, the 1 MB page and 16 MB batch limits, consistent reads on a GSI, reserved words,
overlapping projections, and the stream and encryption a table is created with."""

from __future__ import annotations

import json

import pytest

from tests.dynamodb.test_dynamodb import make_table
from tests.errors import error


@pytest.fixture(scope="module")
def ddb(server):
    return server.client("dynamodb")


def arn_of(ddb, name: str) -> str:
    return ddb.describe_table(TableName=name)["Table"]["TableArn"]


def test_table_arn_wherever_a_table_name_is_taken(ddb):
    name = make_table(ddb)
    arn = arn_of(ddb, name)
    assert ddb.describe_table(TableName=arn)["Table"]["TableName"] == name
    ddb.put_item(TableName=arn, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}})
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"][
        "v"] == {"S": "x"}
    ddb.update_item(TableName=arn, Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "y"}})
    assert ddb.get_item(TableName=arn, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"][
        "v"] == {"S": "y"}
    assert ddb.query(TableName=arn, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "a"}})["Count"] == 1
    assert ddb.scan(TableName=arn)["Count"] == 1
    ddb.batch_write_item(RequestItems={arn: [
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": "2"}}}}]})
    got = ddb.batch_get_item(RequestItems={arn: {"Keys": [
        {"pk": {"S": "a"}, "sk": {"N": "1"}}, {"pk": {"S": "b"}, "sk": {"N": "2"}}]}})
    assert sorted(i["pk"]["S"] for i in got["Responses"][arn]) == ["a", "b"]
    ddb.delete_item(TableName=arn, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert ddb.scan(TableName=name)["Count"] == 1
    elsewhere = arn.replace(":us-east-1:", ":us-west-2:")
    err = error(ddb.describe_table, TableName=elsewhere)
    assert err["Code"] == "ResourceNotFoundException"
    assert ddb.delete_table(TableName=arn)["TableDescription"]["TableName"] == name
    assert name not in ddb.list_tables()["TableNames"]


@pytest.mark.parametrize("name,constraint", [
    ("ab", "Member must have length greater than or equal to 3"),
    ("a" * 256, "Member must have length less than or equal to 255"),
    ("bad name!", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
])
def test_table_name_constraints(ddb, name, constraint):
    for call, extra in ((ddb.describe_table, {}),
                        (ddb.get_item, {"Key": {"pk": {"S": "a"}}}),
                        (ddb.create_table, {
                            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                            "AttributeDefinitions": [{"AttributeName": "pk",
                                                      "AttributeType": "S"}],
                            "BillingMode": "PAY_PER_REQUEST"})):
        err = error(call, TableName=name, **extra)
        assert (err["Code"], err["Message"]) == (
            "ValidationException",
            (f"1 validation error detected: Value '{name}' at 'tableName' failed to satisfy "
            f"constraint: {constraint}"))


def _fill(ddb, table: str, count: int, size: int) -> None:
    payload = "x" * size
    for number in range(count):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": str(number)},
                                            "data": {"S": payload}})


@pytest.mark.parametrize("operation", ["query", "scan"])
def test_a_page_stops_at_1_mb_read(ddb, operation):
    table = make_table(ddb)
    _fill(ddb, table, 30, 100 * 1024)  # 3 MB
    args = {"TableName": table}
    if operation == "query":
        args.update(KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p"}})
    call = getattr(ddb, operation)
    first = call(**args)
    assert 9 <= first["Count"] <= 11  # 1 MB of ~100 KB items
    assert first["LastEvaluatedKey"] == {k: first["Items"][-1][k] for k in ("pk", "sk")}
    seen, start = [], None
    while True:
        page = call(**args, **({"ExclusiveStartKey": start} if start else {}))
        assert len(json.dumps(page["Items"])) < 1.2 * 1024 * 1024
        seen += [int(i["sk"]["N"]) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert sorted(seen) == list(range(30))


def test_batch_get_answers_at_most_16_mb(ddb):
    table = make_table(ddb)
    _fill(ddb, table, 45, 390 * 1024)  # 17.1 MB
    keys = [{"pk": {"S": "p"}, "sk": {"N": str(n)}} for n in range(45)]
    got = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    answered = got["Responses"][table]
    left = got["UnprocessedKeys"][table]["Keys"]
    assert answered and left
    assert sum(len(i["data"]["S"]) for i in answered) <= 16 * 1024 * 1024
    assert len(answered) + len(left) == 45
    rest = ddb.batch_get_item(RequestItems=got["UnprocessedKeys"])
    assert rest["UnprocessedKeys"] == {}
    numbers = [int(i["sk"]["N"]) for i in answered + rest["Responses"][table]]
    assert sorted(numbers) == list(range(45))


def test_consistent_read_on_a_global_secondary_index(ddb):
    table = make_table(ddb, more_attrs=[{"AttributeName": "g", "AttributeType": "S"}],
                       GlobalSecondaryIndexes=[{
                           "IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                           "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    query = {"TableName": table, "IndexName": "by-g", "KeyConditionExpression": "g = :g",
             "ExpressionAttributeValues": {":g": {"S": "x"}}}
    for call, args in ((ddb.query, query), (ddb.scan, {"TableName": table,
                                                        "IndexName": "by-g"})):
        err = error(call, ConsistentRead=True, **args)
        assert (err["Code"], err["Message"]) == (
            "ValidationException", ("Consistent reads are not supported on global secondary "
            "indexes"))
        assert call(ConsistentRead=False, **args)["Count"] == 0
    assert ddb.scan(TableName=table, ConsistentRead=True)["Count"] == 0


def test_reserved_words_in_expressions(ddb):
    table = make_table(ddb)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "status": {"S": "new"}})
    cases = [
        (ddb.get_item, {"Key": key, "ProjectionExpression": "Status"},
         "ProjectionExpression", "Status"),
        (ddb.update_item, {"Key": key, "UpdateExpression": "SET status = :v",
                           "ExpressionAttributeValues": {":v": {"S": "old"}}},
         "UpdateExpression", "status"),
        (ddb.put_item, {"Item": key, "ConditionExpression": "attribute_exists(size)"},
         "ConditionExpression", "size"),
        (ddb.scan, {"FilterExpression": "status = :v",
                    "ExpressionAttributeValues": {":v": {"S": "new"}}},
         "FilterExpression", "status"),
    ]
    for call, args, label, word in cases:
        err = error(call, TableName=table, **args)
        assert (err["Code"], err["Message"]) == (
            "ValidationException",
            f"Invalid {label}: Attribute name is a reserved keyword; reserved keyword: {word}")
    # an expression attribute name stands in for the word
    item = ddb.get_item(TableName=table, Key=key, ProjectionExpression="#s",
                        ExpressionAttributeNames={"#s": "status"})["Item"]
    assert item == {"status": {"S": "new"}}


@pytest.mark.parametrize("expression,message", [
    ("a, a", ("overlap with each other; must remove or rewrite one of these paths; "
             "path one: [a], path two: [a]")),
    ("a, #a", ("overlap with each other; must remove or rewrite one of these paths; "
              "path one: [a], path two: [a]")),
    ("a.b, a", ("overlap with each other; must remove or rewrite one of these paths; "
               "path one: [a, b], path two: [a]")),
    ("a.b, #a[1]", ("conflict with each other; must remove or rewrite one of these paths; "
                   "path one: [a, b], path two: [a, [1]]")),
])
def test_overlapping_projection_paths(ddb, expression, message):
    table = make_table(ddb, range_type=None)
    names = {"#a": "a"} if "#a" in expression else {}
    err = error(ddb.get_item, TableName=table, Key={"pk": {"S": "missing"}},
                ProjectionExpression=expression,
                **({"ExpressionAttributeNames": names} if names else {}))
    assert (err["Code"], err["Message"]) == (
        "ValidationException", f"Invalid ProjectionExpression: Two document paths {message}")


@pytest.mark.parametrize("args", [
    {"FilterExpression": "(a = :v"},
    {"FilterExpression": "a = :v)"},
    {"FilterExpression": "((a = :v) AND (b = :v)"},
    {"FilterExpression": "attribute_exists(a))"},
    {"FilterExpression": "a IN (:v"},
])
def test_unbalanced_parentheses(ddb, args):
    table = make_table(ddb, range_type=None)
    err = error(ddb.scan, TableName=table, ExpressionAttributeValues={":v": {"S": "x"}}, **args)
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith("Invalid FilterExpression: Syntax error; token: ")


def test_stream_and_encryption_are_described(ddb):
    table = make_table(ddb, StreamSpecification={"StreamEnabled": True,
                                                 "StreamViewType": "NEW_AND_OLD_IMAGES"},
                       SSESpecification={"Enabled": True})
    described = ddb.describe_table(TableName=table)["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True,
                                                 "StreamViewType": "NEW_AND_OLD_IMAGES"}
    label = described["LatestStreamLabel"]
    assert described["LatestStreamArn"] == f"{described['TableArn']}/stream/{label}"
    assert label.startswith(described["CreationDateTime"].strftime("%Y-%m-%dT"))
    sse = described["SSEDescription"]
    assert (sse["Status"], sse["SSEType"]) == ("ENABLED", "KMS")
    assert sse["KMSMasterKeyArn"].startswith("arn:aws:kms:us-east-1:000000000000:key/")
    own = make_table(ddb, SSESpecification={"Enabled": True, "SSEType": "KMS",
                                            "KMSMasterKeyId": "alias/mine"})
    assert ddb.describe_table(TableName=own)["Table"]["SSEDescription"]["KMSMasterKeyArn"] == \
        "arn:aws:kms:us-east-1:000000000000:alias/mine"
    plain = ddb.describe_table(TableName=make_table(ddb))["Table"]
    assert "SSEDescription" not in plain and "LatestStreamArn" not in plain
