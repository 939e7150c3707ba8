"""DynamoDB against a real server: boto3 and the aws CLI, expressions, errors, restart."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import Server
from tests.errors import error


@pytest.fixture(scope="module")
def ddb(server):
    return server.client("dynamodb")


def make_table(ddb, *, range_type: str | None = "N", **extra) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": range_type})
    attrs += extra.pop("more_attrs", [])
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs,
                     BillingMode="PAY_PER_REQUEST", **extra)
    return name


def test_table_lifecycle(ddb):
    name = f"life-{uuid.uuid4().hex[:6]}"
    created = ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    assert created["TableDescription"]["TableStatus"] == "CREATING"
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE" and table["ItemCount"] == 0
    assert table["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert name in ddb.list_tables()["TableNames"]
    err = error(ddb.create_table, TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST")
    assert (err["Code"], err["Message"]) == ("ResourceInUseException",
                                             f"Table already exists: {name}")
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    err = error(ddb.describe_table, TableName=name)
    assert (err["Code"], err["Message"]) == (
        "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found")


def test_create_table_validation(ddb):
    err = error(ddb.create_table, TableName="v1-table",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST")
    assert err["Message"] == ("One or more parameter values were invalid: Some index key "
                              "attributes are not defined in AttributeDefinitions. Keys: [id], "
                              "AttributeDefinitions: [other]")
    err = error(ddb.create_table, TableName="v2-table",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                      {"AttributeName": "x", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST")
    assert err["Message"] == ("One or more parameter values were invalid: Number of attributes "
                              "in KeySchema does not exactly match number of attributes defined "
                              "in AttributeDefinitions")
    err = error(ddb.create_table, TableName="v3-table", KeySchema=[
        {"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    assert err["Message"] == ("One or more parameter values were invalid: ReadCapacityUnits and "
                              "WriteCapacityUnits must both be specified when BillingMode is "
                              "PROVISIONED")
    # botocore's model leaves the key schema and attributes optional
    err = error(ddb.create_table, TableName="v4-table", BillingMode="PAY_PER_REQUEST")
    assert (err["Code"], err["Message"]) == (
        "ValidationException", ("2 validation errors detected: Value null at "
        "'attributeDefinitions' failed to satisfy constraint: Member must not be null; Value "
        "null at 'keySchema' failed to satisfy constraint: Member must not be null"))


def test_put_get_delete_items(ddb):
    table = make_table(ddb)
    item = {"pk": {"S": "a"}, "sk": {"N": "1.50"}, "bin": {"B": b"\x00\xff"},
            "m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]}}},
            "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["1", "2.0"]}}
    ddb.put_item(TableName=table, Item=item)
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "1.5"}})["Item"]
    assert got["sk"] == {"N": "1.5"} and got["bin"] == {"B": b"\x00\xff"}
    assert got["m"] == item["m"]
    projected = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "1.5"}},
                             ProjectionExpression="#m.l[0], ss",
                             ExpressionAttributeNames={"#m": "m"})["Item"]
    assert projected == {"m": {"M": {"l": {"L": [{"S": "x"}]}}}, "ss": item["ss"]}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"N": "1"}})
    old = ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "1.5"}},
                          ReturnValues="ALL_OLD")["Attributes"]
    assert old["pk"] == {"S": "a"}
    assert "Item" not in ddb.get_item(TableName=table,
                                      Key={"pk": {"S": "a"}, "sk": {"N": "1.5"}})


def test_item_errors(ddb):
    table = make_table(ddb)
    err = error(ddb.get_item, TableName=table, Key={"pk": {"S": "a"}})
    assert (err["Code"], err["Message"]) == ("ValidationException",
                                             "The provided key element does not match the schema")
    err = error(ddb.put_item, TableName=table, Item={"pk": {"S": "a"}})
    assert err["Message"] == ("One or more parameter values were invalid: Missing the key sk in "
                              "the item")
    err = error(ddb.put_item, TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "x"}})
    assert err["Message"] == ("One or more parameter values were invalid: Type mismatch for key "
                              "sk expected: N actual: S")
    err = error(ddb.put_item, TableName=table, Item={"pk": {"S": ""}, "sk": {"N": "1"}})
    assert err["Message"] == ("One or more parameter values are not valid. The AttributeValue "
                              "for a key attribute cannot contain an empty string value. Key: pk")
    err = error(ddb.put_item, TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "abc"}})
    assert err["Message"] == "The parameter cannot be converted to a numeric value: abc"
    err = error(ddb.put_item, TableName="missing-table", Item={"pk": {"S": "a"}})
    assert (err["Code"], err["Message"]) == ("ResourceNotFoundException",
                                             "Requested resource not found")
    err = error(ddb.put_item, TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}},
                ReturnValues="ALL_NEW")
    assert err["Message"] == "ReturnValues can only be ALL_OLD or NONE"


def test_conditions(ddb):
    table = make_table(ddb)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "n": {"N": "5"}},
                 ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as exc:
        ddb.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert exc.value.response["Error"]["Message"] == "The conditional request failed"
    assert exc.value.response["Item"]["n"] == {"N": "5"}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET n = n - :one",
                    ConditionExpression="n > :four AND attribute_exists(n)",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":four": {"N": "4"}})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.delete_item(TableName=table, Key=key, ConditionExpression="n BETWEEN :a AND :b",
                        ExpressionAttributeValues={":a": {"N": "10"}, ":b": {"N": "20"}})
    err = error(ddb.put_item, TableName=table, Item=key, ConditionExpression="n = :missing")
    assert err["Message"] == ("Invalid ConditionExpression: An expression attribute value used "
                              "in expression is not defined; attribute value: :missing")
    err = error(ddb.put_item, TableName=table, Item=key, ConditionExpression="#x = :v",
                ExpressionAttributeValues={":v": {"S": "1"}})
    assert err["Message"] == ("Invalid ConditionExpression: An expression attribute name used in "
                              "the document path is not defined; attribute name: #x")
    err = error(ddb.put_item, TableName=table, Item=key, ConditionExpression="n = :v",
                ExpressionAttributeValues={":v": {"S": "1"}, ":w": {"S": "2"}})
    assert err["Message"] == ("Value provided in ExpressionAttributeValues unused in expressions:"
                              " keys: {:w}")
    err = error(ddb.put_item, TableName=table, Item=key, ConditionExpression="n = = :v",
                ExpressionAttributeValues={":v": {"S": "1"}})
    assert err["Message"].startswith('Invalid ConditionExpression: Syntax error; token: "="')


def test_update_expressions(ddb):
    table = make_table(ddb)
    key = {"pk": {"S": "u"}, "sk": {"N": "1"}}
    err = error(ddb.update_item, TableName=table, Key=key, UpdateExpression="SET info.a = :v",
                ExpressionAttributeValues={":v": {"S": "x"}})
    assert err["Message"] == ("The document path provided in the update expression is invalid "
                              "for update")
    # a nested SET needs its parent map: create it first
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET info = :m",
                    ExpressionAttributeValues={":m": {"M": {}}})
    out = ddb.update_item(
        TableName=table, Key=key,
        UpdateExpression="SET c = if_not_exists(c, :zero) + :one, l = list_append(:l, :l), "
                         "info.#n = :name ADD tags :t",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"},
                                   ":l": {"L": [{"S": "x"}]}, ":t": {"SS": ["a", "b"]},
                                   ":name": {"S": "n"}},
        ReturnValues="ALL_NEW")["Attributes"]
    assert out["c"] == {"N": "1"} and out["l"] == {"L": [{"S": "x"}, {"S": "x"}]}
    assert out["info"] == {"M": {"name": {"S": "n"}}} and sorted(out["tags"]["SS"]) == ["a", "b"]
    out = ddb.update_item(TableName=table, Key=key,
                          UpdateExpression="REMOVE l ADD c :two DELETE tags :a",
                          ExpressionAttributeValues={":two": {"N": "2"}, ":a": {"SS": ["a"]}},
                          ReturnValues="UPDATED_NEW")["Attributes"]
    assert out == {"c": {"N": "3"}, "tags": {"SS": ["b"]}}
    err = error(ddb.update_item, TableName=table, Key=key, UpdateExpression="SET pk = :v",
                ExpressionAttributeValues={":v": {"S": "x"}})
    assert err["Message"] == ("One or more parameter values were invalid: Cannot update "
                              "attribute pk. This attribute is part of the key")
    err = error(ddb.update_item, TableName=table, Key=key, UpdateExpression="ADD info :v",
                ExpressionAttributeValues={":v": {"S": "x"}})
    assert err["Message"] == ("Invalid UpdateExpression: Incorrect operand type for operator or "
                              "function; operator: ADD, operand type: STRING")


def test_remove_list_elements_by_their_indexes_before_the_update(ddb):
    table = make_table(ddb)
    key = {"pk": {"S": "l"}, "sk": {"N": "1"}}

    def numbers(*values):
        return {"L": [{"N": str(v)} for v in values]}

    ddb.put_item(TableName=table, Item={**key, "l": numbers(1, 2, 3, 4, 5),
                                        "m": {"M": {"l": numbers(1, 2, 3, 4, 5)}}})
    new = ddb.update_item(TableName=table, Key=key,
                          UpdateExpression="REMOVE l[0], l[1], l[2], m.l[4], m.l[0]",
                          ReturnValues="ALL_NEW")["Attributes"]
    assert new["l"] == numbers(4, 5) and new["m"] == {"M": {"l": numbers(2, 3, 4)}}
    # SET and REMOVE in one expression: both name positions in the item as it was
    new = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET l[1] = :v REMOVE l[0]",
                          ExpressionAttributeValues={":v": {"N": "9"}},
                          ReturnValues="ALL_NEW")["Attributes"]
    assert new["l"] == numbers(9)


def test_updated_values_are_only_the_updated_paths(ddb):
    table = make_table(ddb)
    key = {"pk": {"S": "u"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "top": {"S": "t"}, "other": {"S": "o"},
                                        "m": {"M": {"a": {"N": "1"}, "b": {"N": "2"}}}})

    def update(expression, mode):
        values = {"ExpressionAttributeValues": {":v": {"N": "7"}}} if ":v" in expression else {}
        return ddb.update_item(TableName=table, Key=key, UpdateExpression=expression,
                               ReturnValues=mode, **values).get("Attributes")

    assert update("SET m.a = :v, top = :v", "UPDATED_OLD") == {
        "m": {"M": {"a": {"N": "1"}}}, "top": {"S": "t"}}
    assert update("SET m.b = :v", "UPDATED_NEW") == {"m": {"M": {"b": {"N": "7"}}}}
    assert update("REMOVE m.a", "UPDATED_OLD") == {"m": {"M": {"a": {"N": "7"}}}}
    assert update("REMOVE m.b", "UPDATED_NEW") is None  # nothing left at the updated path


def test_query(ddb):
    table = make_table(ddb)
    for i in range(12):
        ddb.put_item(TableName=table, Item={"pk": {"S": "q"}, "sk": {"N": str(i)},
                                            "even": {"BOOL": i % 2 == 0}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"N": "1"}})
    values = {":p": {"S": "q"}}

    def keys(**kw):
        result = ddb.query(TableName=table, ExpressionAttributeValues={**values,
                                                                        **kw.pop("extra", {})},
                           **kw)
        return [int(i["sk"]["N"]) for i in result.get("Items", [])], result

    assert keys(KeyConditionExpression="pk = :p")[0] == list(range(12))  # numeric order
    assert keys(KeyConditionExpression="pk = :p AND sk < :n",
                extra={":n": {"N": "3"}})[0] == [0, 1, 2]
    assert keys(KeyConditionExpression="pk = :p AND sk >= :n",
                extra={":n": {"N": "10"}})[0] == [10, 11]
    assert keys(KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                extra={":a": {"N": "2"}, ":b": {"N": "4"}}, ScanIndexForward=False)[0] == [4, 3, 2]
    found, result = keys(KeyConditionExpression="pk = :p", FilterExpression="even = :t",
                         extra={":t": {"BOOL": True}}, Limit=5)
    assert found == [0, 2, 4] and result["ScannedCount"] == 5
    assert result["LastEvaluatedKey"] == {"pk": {"S": "q"}, "sk": {"N": "4"}}
    found, _ = keys(KeyConditionExpression="pk = :p", ExclusiveStartKey=result[
        "LastEvaluatedKey"], Limit=3)
    assert found == [5, 6, 7]
    _, counted = keys(KeyConditionExpression="pk = :p", Select="COUNT")
    assert counted["Count"] == 12 and "Items" not in counted
    paginator = ddb.get_paginator("query")
    pages = list(paginator.paginate(TableName=table, KeyConditionExpression="pk = :p",
                                    ExpressionAttributeValues=values,
                                    PaginationConfig={"PageSize": 5}))
    assert sum(p["Count"] for p in pages) == 12
    err = error(ddb.query, TableName=table, KeyConditionExpression="sk = :n",
                ExpressionAttributeValues={":n": {"N": "1"}})
    assert err["Message"] == "Query condition missed key schema element: pk"
    err = error(ddb.query, TableName=table, KeyConditionExpression="pk = :p",
                FilterExpression="sk > :n",
                ExpressionAttributeValues={":p": {"S": "q"}, ":n": {"N": "1"}})
    assert err["Message"] == ("Filter Expression can only contain non-primary key attributes: "
                              "Primary key attribute: sk")


def test_query_string_range_and_begins_with(ddb):
    table = make_table(ddb, range_type="S")
    for sk in ("order#1", "order#2", "profile", "order#10"):
        ddb.put_item(TableName=table, Item={"pk": {"S": "u"}, "sk": {"S": sk}})
    result = ddb.query(TableName=table, KeyConditionExpression="pk = :p AND begins_with(sk, :o)",
                       ExpressionAttributeValues={":p": {"S": "u"}, ":o": {"S": "order#"}})
    assert [i["sk"]["S"] for i in result["Items"]] == ["order#1", "order#10", "order#2"]


def test_global_secondary_index(ddb):
    table = make_table(ddb, more_attrs=[{"AttributeName": "email", "AttributeType": "S"}],
                       GlobalSecondaryIndexes=[{
                           "IndexName": "by-email",
                           "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                           "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    ddb.put_item(TableName=table, Item={"pk": {"S": "1"}, "sk": {"N": "1"},
                                        "email": {"S": "a@x"}, "other": {"S": "o"}})
    indexes = ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    assert [i["IndexStatus"] for i in indexes] == ["ACTIVE"]  # CreateTable answered CREATING
    ddb.put_item(TableName=table, Item={"pk": {"S": "2"}, "sk": {"N": "1"}})
    result = ddb.query(TableName=table, IndexName="by-email",
                       KeyConditionExpression="email = :e",
                       ExpressionAttributeValues={":e": {"S": "a@x"}})
    assert result["Items"] == [{"pk": {"S": "1"}, "sk": {"N": "1"}, "email": {"S": "a@x"}}]


def test_scan_and_batches(ddb):
    table = make_table(ddb, range_type=None)
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}}} for i in range(20)]})
    result = ddb.scan(TableName=table, FilterExpression="n >= :ten",
                      ExpressionAttributeValues={":ten": {"N": "10"}})
    assert result["Count"] == 10 and result["ScannedCount"] == 20
    seen, start = [], None
    while True:
        page = ddb.scan(TableName=table, Limit=7, **({"ExclusiveStartKey": start} if start else {}))
        seen += [i["pk"]["S"] for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert sorted(seen) == sorted(f"k{i}" for i in range(20)) and len(seen) == 20
    got = ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "k1"}},
                                                            {"pk": {"S": "missing"}}]}})
    assert got["Responses"][table] == [{"pk": {"S": "k1"}, "n": {"N": "1"}}]
    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": {"S": "k1"}}}}]})
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 19


def test_aws_cli(server):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = server.aws("dynamodb", "create-table", "--table-name", name,
                         "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                         "AttributeName=sk,AttributeType=S",
                         "--key-schema", "AttributeName=pk,KeyType=HASH",
                         "AttributeName=sk,KeyType=RANGE",
                         "--billing-mode", "PAY_PER_REQUEST")
    assert created["TableDescription"]["TableStatus"] == "CREATING"
    proc = server.aws("dynamodb", "wait", "table-exists", "--table-name", name, check=False)
    assert proc.returncode == 0, proc.stderr
    for sk in ("a", "b", "c"):
        server.aws("dynamodb", "put-item", "--table-name", name, "--item",
                   json.dumps({"pk": {"S": "x"}, "sk": {"S": sk}, "v": {"N": "1"}}))
    result = server.aws("dynamodb", "query", "--table-name", name,
                        "--key-condition-expression", "pk = :p AND sk > :s",
                        "--expression-attribute-values",
                        json.dumps({":p": {"S": "x"}, ":s": {"S": "a"}}))
    assert [i["sk"]["S"] for i in result["Items"]] == ["b", "c"]
    assert server.aws("dynamodb", "scan", "--table-name", name)["Count"] == 3
    proc = server.aws("dynamodb", "put-item", "--table-name", name, "--item",
                      json.dumps({"pk": {"S": "x"}, "sk": {"S": "a"}}),
                      "--condition-expression", "attribute_not_exists(pk)", check=False)
    assert proc.returncode != 0 and "ConditionalCheckFailedException" in proc.stderr


def test_items_survive_a_restart(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        ddb = srv.client("dynamodb")
        table = make_table(ddb)
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": "1"},
                                            "b": {"B": b"\x01"}})
        srv.stop(sig=9)
        srv.start()
        got = ddb.get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"N": "1"}})["Item"]
        assert got["b"] == {"B": b"\x01"}
        assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == 1
    finally:
        srv.stop()
