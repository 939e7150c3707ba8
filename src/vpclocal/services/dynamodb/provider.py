"""The DynamoDB provider: tables, items, queries and scans, batch reads and writes.

Tables are records of `dynamodb_tables`; the items of a table are records of
`dynamodb_items/<table>`, keyed by their primary key (canonical JSON), holding the item in the
stored form of `values.py`. A table and its indexes are ACTIVE as soon as they exist
(CreateTable answers CREATING, as AWS does, and the next DescribeTable ACTIVE), so waiters
return at once.

Messages follow DynamoDB's as seen in public issue threads; where a wording is not confirmed
the line says so.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
import zlib

import botocore.session

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso, validation_message, validation_problems
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.dynamodb import expressions as E
from vpclocal.services.dynamodb import values as V
from vpclocal.services.dynamodb.values import validation

TABLES = "dynamodb_tables"
MAX_ITEM_BYTES = 400 * 1024
# A Query or Scan stops once it has read 1 MB; a BatchGetItem answers at most 16 MB, leaving the
# other keys in UnprocessedKeys.
MAX_PAGE_BYTES = 1024 * 1024
MAX_BATCH_GET_BYTES = 16 * 1024 * 1024
# A table's name: the model's TableName shape (3-255 characters of [a-zA-Z0-9_.-]); the TableName
# parameters themselves take a table's ARN as well, so their shape no longer says so.
TABLE_NAME = botocore.session.get_session().get_service_model("dynamodb").shape_for("TableName")
_TABLE_ARN = re.compile(r"^arn:aws[a-z-]*:dynamodb:([^:]*):(\d*):table/([^/]*)$")
NOT_FOUND = "Requested resource not found"
KEY_MISMATCH = "The provided key element does not match the schema"


def items_kind(table: str) -> str:
    return f"dynamodb_items/{table}"


def not_found(message: str = NOT_FOUND) -> ServiceError:
    return ServiceError(message, code="ResourceNotFoundException")


def condition_failed(old: dict | None, p: dict) -> ServiceError:
    extra = {}
    if old is not None and p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
        extra["Item"] = old  # the stored form is the wire form (blobs as base64)
    return ServiceError("The conditional request failed", code="ConditionalCheckFailedException",
                        **extra)


class Schema:
    """The key attributes of a table or index and their types."""

    def __init__(self, key_schema: list[dict], types: dict[str, str]) -> None:
        self.hash = next(k["AttributeName"] for k in key_schema if k["KeyType"] == "HASH")
        ranges = [k["AttributeName"] for k in key_schema if k["KeyType"] == "RANGE"]
        self.range = ranges[0] if ranges else None
        self.types = types

    @property
    def names(self) -> list[str]:
        return [self.hash] + ([self.range] if self.range else [])


class Table:
    def __init__(self, record: dict) -> None:
        self.record = record
        self.name = record["TableName"]
        self.types = {a["AttributeName"]: a["AttributeType"]
                      for a in record["AttributeDefinitions"]}
        self.schema = Schema(record["KeySchema"], self.types)

    def index(self, name: str) -> tuple[Schema, dict]:
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for index in self.record.get(kind) or []:
                if index["IndexName"] == name:
                    return Schema(index["KeySchema"], self.types), index
        raise validation(f"The table does not have the specified index: {name}")

    def key_of(self, item: dict) -> dict:
        return {name: item[name] for name in self.schema.names}

    def item_id(self, key: dict) -> str:
        return json.dumps([key[name] for name in self.schema.names], separators=(",", ":"))

    def check_key(self, key: dict, *, message: str = KEY_MISMATCH) -> dict:
        """A Key parameter: exactly the key attributes, of their types."""
        key = V.stored_item(key)
        if set(key) != set(self.schema.names):
            raise validation(message)
        for name in self.schema.names:
            if V.kind_of(key[name]) != self.types[name]:
                raise validation(message)
            self._not_empty(name, key[name])
        return key

    @staticmethod
    def _not_empty(name: str, value: dict) -> None:
        kind = V.kind_of(value)
        if kind in ("S", "B") and value[kind] == "":
            noun = "string" if kind == "S" else "binary"
            raise validation("One or more parameter values are not valid. The AttributeValue "
                             f"for a key attribute cannot contain an empty {noun} value. "
                             f"Key: {name}")

    def check_item(self, item: dict) -> dict:
        item = V.stored_item(item)
        for name in self.schema.names:
            if name not in item:
                raise validation("One or more parameter values were invalid: Missing the key "
                                 f"{name} in the item")
            self._check_type(name, item[name])
        for index in (self.record.get("GlobalSecondaryIndexes") or []) + \
                (self.record.get("LocalSecondaryIndexes") or []):
            for key in index["KeySchema"]:
                name = key["AttributeName"]
                if name in item:
                    self._check_type(name, item[name], index["IndexName"])
        if V.item_size(item) > MAX_ITEM_BYTES:
            raise validation("Item size has exceeded the maximum allowed size")
        return item

    def _check_type(self, name: str, value: dict, index: str | None = None) -> None:
        actual = V.kind_of(value)
        expected = self.types[name]
        if actual != expected:
            if index:
                raise validation("One or more parameter values were invalid: Type mismatch for "
                                 f"Index Key {name} Expected: {expected} Actual: {actual} "
                                 f"IndexName: {index}")
            raise validation("One or more parameter values were invalid: Type mismatch for key "
                             f"{name} expected: {expected} actual: {actual}")
        self._not_empty(name, value)


def _context(p: dict, expressions: tuple[str, ...]) -> E.Context | None:
    """The names/values of a request, checked as DynamoDB checks them."""
    names, values = p.get("ExpressionAttributeNames"), p.get("ExpressionAttributeValues")
    used = [e for e in expressions if p.get(e) is not None]
    if names is not None and not names:
        raise validation("ExpressionAttributeNames must not be empty")
    if values is not None and not values:
        raise validation("ExpressionAttributeValues must not be empty")
    if not used:
        if names is not None:
            raise validation("ExpressionAttributeNames can only be specified when using "
                             "expressions")
        if values is not None:
            raise validation("ExpressionAttributeValues can only be specified when using "
                             "expressions")
        return None
    return E.Context(names or {}, {k: V.stored(v) for k, v in (values or {}).items()})


_LEGACY = {"Expected": "Expected", "AttributesToGet": "AttributesToGet",
           "KeyConditions": "KeyConditions", "QueryFilter": "QueryFilter",
           "ScanFilter": "ScanFilter", "AttributeUpdates": "AttributeUpdates",
           "ConditionalOperator": "ConditionalOperator"}


def _no_legacy(p: dict, supported: tuple[str, ...] = ()) -> None:
    # The legacy (non-expression) parameters are not implemented, except AttributesToGet.
    for name in _LEGACY:
        if p.get(name) is not None and name not in supported:
            raise validation(f"vpclocal does not implement the legacy parameter {name}; use "
                             "the expression parameters instead")


class DynamoDbProvider(Provider):
    service_name = "dynamodb"

    # ---- helpers ----------------------------------------------------------------------------

    @staticmethod
    def table_name(ctx: RequestContext, value: str) -> str | None:
        """The table a TableName parameter names (a name, or a table's ARN), checked against the
        TableName shape as AWS checks it ("1 validation error detected: Value 'ab' at
        'tableName' failed to satisfy constraint: ..."); None for another region's or
        account's table."""
        found = _TABLE_ARN.match(value)
        name = found.group(3) if found else value
        problems = validation_problems(name, TABLE_NAME, "tableName")
        if problems:
            raise validation(validation_message(problems))
        if found and (found.group(1), found.group(2)) != (ctx.region, ctx.account_id):
            return None
        return name

    def table(self, ctx: RequestContext, value: str, *, detailed: bool = False) -> Table:
        """The table a TableName parameter names; ResourceNotFoundException (`detailed`: with
        the table's name, as DescribeTable and DeleteTable word it) when there is none."""
        name = self.table_name(ctx, value)
        record = ctx.tx.get(TABLES, name) if name is not None else None
        if record is None:
            raise not_found(f"Requested resource not found: Table: {name or value} not found"
                            if detailed else NOT_FOUND)
        return Table(record)

    def arn(self, ctx: RequestContext, name: str) -> str:
        return f"arn:aws:dynamodb:{ctx.region}:{ctx.account_id}:table/{name}"

    def describe(self, ctx: RequestContext, record: dict) -> dict:
        # a copy to the indexes' own dicts: the counts below (and CreateTable's CREATING) are
        # this answer's, never written into the stored record
        out = copy.deepcopy({k: v for k, v in record.items() if not k.startswith("_")})
        items = ctx.tx.all(items_kind(record["TableName"]))
        out["ItemCount"] = len(items)
        out["TableSizeBytes"] = sum(V.item_size(i) for i in items.values())
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for index in out.get(kind) or []:
                schema = Schema(index["KeySchema"], {})
                present = [i for i in items.values() if all(n in i for n in schema.names)]
                index["ItemCount"] = len(present)
                index["IndexSizeBytes"] = sum(V.item_size(i) for i in present)
                if kind == "GlobalSecondaryIndexes":
                    # built at once, as the table is (tables stored by earlier versions kept
                    # CREATING in their record)
                    index["IndexStatus"] = "ACTIVE"
        return out

    # ---- tables -----------------------------------------------------------------------------

    def create_table(self, ctx, p):
        name = self.table_name(ctx, p["TableName"])
        if name is None:  # wording unconfirmed
            raise validation("A table can only be created in the region and account the "
                             "request is sent to")
        if ctx.tx.get(TABLES, name) is not None:
            raise ServiceError(f"Table already exists: {name}", code="ResourceInUseException")
        # botocore's model leaves these two optional; a table cannot be made without them
        # (worded as the model's required members are, unconfirmed for these)
        absent = [f"Value null at '{key[0].lower() + key[1:]}' failed to satisfy constraint: "
                  "Member must not be null" for key in ("AttributeDefinitions", "KeySchema")
                  if p.get(key) is None]
        if absent:
            raise validation(validation_message(absent))
        definitions = p["AttributeDefinitions"]
        defined = [d["AttributeName"] for d in definitions]
        key_names = [k["AttributeName"] for k in p["KeySchema"]]
        hashes = [k for k in p["KeySchema"] if k["KeyType"] == "HASH"]
        if len(hashes) != 1 or p["KeySchema"][0]["KeyType"] != "HASH" or len(p["KeySchema"]) > 2 \
                or (len(p["KeySchema"]) == 2 and p["KeySchema"][1]["KeyType"] != "RANGE"):
            # wording unconfirmed
            raise validation("1 validation error detected: Invalid KeySchema: The first "
                             "KeySchemaElement is not a HASH key type")
        indexes = (p.get("GlobalSecondaryIndexes") or []) + (p.get("LocalSecondaryIndexes") or [])
        for index in indexes:
            key_names += [k["AttributeName"] for k in index["KeySchema"]]
        missing = [n for n in dict.fromkeys(key_names) if n not in defined]
        if missing:
            raise validation("One or more parameter values were invalid: Some index key "
                             "attributes are not defined in AttributeDefinitions. Keys: "
                             f"[{', '.join(missing)}], AttributeDefinitions: "
                             f"[{', '.join(defined)}]")
        if set(defined) - set(key_names):
            raise validation("One or more parameter values were invalid: Number of attributes "
                             "in KeySchema does not exactly match number of attributes defined "
                             "in AttributeDefinitions")
        mode = p.get("BillingMode") or "PROVISIONED"
        throughput = p.get("ProvisionedThroughput")
        if mode == "PROVISIONED" and throughput is None:
            raise validation("One or more parameter values were invalid: ReadCapacityUnits and "
                             "WriteCapacityUnits must both be specified when BillingMode is "
                             "PROVISIONED")
        if mode == "PAY_PER_REQUEST" and throughput is not None:
            raise validation("One or more parameter values were invalid: Neither "
                             "ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                             "BillingMode is PAY_PER_REQUEST")
        now = now_iso()
        record = {
            "TableName": name, "TableArn": self.arn(ctx, name), "TableId": str(uuid.uuid4()),
            "AttributeDefinitions": definitions, "KeySchema": p["KeySchema"],
            "TableStatus": "ACTIVE", "CreationDateTime": now,
            "ProvisionedThroughput": self._throughput(throughput),
            "DeletionProtectionEnabled": bool(p.get("DeletionProtectionEnabled")),
        }
        if mode == "PAY_PER_REQUEST":
            record["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST",
                                            "LastUpdateToPayPerRequestDateTime": now}
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(kind):
                record[kind] = [self._index(ctx, name, index, kind, mode) for index in p[kind]]
        stream = p.get("StreamSpecification") or {}
        if stream.get("StreamEnabled"):
            label = now.removesuffix("Z")  # 2024-01-31T12:00:00.000
            record.update(StreamSpecification=stream, LatestStreamLabel=label,
                          LatestStreamArn=f"{record['TableArn']}/stream/{label}")
        sse = p.get("SSESpecification") or {}
        if sse.get("Enabled"):
            record["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS",
                                        "KMSMasterKeyArn": self._kms_key(ctx, sse)}
        if p.get("Tags"):
            record["_Tags"] = p["Tags"]
        ctx.tx.put(TABLES, name, record)
        out = self.describe(ctx, record)
        out["TableStatus"] = "CREATING"
        for kind in ("GlobalSecondaryIndexes",):
            for index in out.get(kind) or []:
                index["IndexStatus"] = "CREATING"
        return {"TableDescription": out}

    @staticmethod
    def _kms_key(ctx: RequestContext, sse: dict) -> str:
        """The ARN of the KMS key a table is encrypted with: the one asked for (an ARN, a key
        id or an alias), else the account's AWS managed key aws/dynamodb."""
        key = sse.get("KMSMasterKeyId") or str(uuid.uuid5(
            uuid.NAMESPACE_URL, f"kms:{ctx.region}:{ctx.account_id}:alias/aws/dynamodb"))
        if key.startswith("arn:"):
            return key
        prefix = f"arn:aws:kms:{ctx.region}:{ctx.account_id}"
        return f"{prefix}:{key}" if key.startswith("alias/") else f"{prefix}:key/{key}"

    @staticmethod
    def _throughput(throughput: dict | None) -> dict:
        return {"NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": (throughput or {}).get("ReadCapacityUnits", 0),
                "WriteCapacityUnits": (throughput or {}).get("WriteCapacityUnits", 0)}

    def _index(self, ctx, table: str, index: dict, kind: str, mode: str) -> dict:
        out = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"],
               "Projection": index["Projection"],
               "IndexArn": f"{self.arn(ctx, table)}/index/{index['IndexName']}"}
        if kind == "GlobalSecondaryIndexes":
            out["IndexStatus"] = "ACTIVE"
            out["ProvisionedThroughput"] = self._throughput(
                index.get("ProvisionedThroughput") if mode == "PROVISIONED" else None)
        return out

    def describe_table(self, ctx, p):
        table = self.table(ctx, p["TableName"], detailed=True)
        return {"Table": self.describe(ctx, table.record)}

    def list_tables(self, ctx, p):
        names = sorted(ctx.tx.all(TABLES))
        start = p.get("ExclusiveStartTableName")
        if start:
            names = [n for n in names if n > start]
        limit = p.get("Limit") or 100
        out = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        return out

    def delete_table(self, ctx, p):
        table = self.table(ctx, p["TableName"], detailed=True)
        name = table.name
        if table.record.get("DeletionProtectionEnabled"):
            # wording unconfirmed
            raise validation("Resource cannot be deleted as it is currently protected against "
                             "deletion. Disable deletion protection first.")
        out = self.describe(ctx, table.record)
        out["TableStatus"] = "DELETING"
        kind = items_kind(name)
        for item_id in list(ctx.tx.all(kind)):
            ctx.tx.delete(kind, item_id)
        ctx.tx.delete(TABLES, name)
        return {"TableDescription": out}

    # ---- single items -----------------------------------------------------------------------

    def _write_start(self, ctx, p: dict) -> tuple[Table, E.Context | None]:
        """PutItem's and DeleteItem's first checks: the table, ReturnValues, the expression
        attributes of the ConditionExpression."""
        _no_legacy(p)
        table = self.table(ctx, p["TableName"])
        if p.get("ReturnValues") not in (None, "NONE", "ALL_OLD"):
            raise validation("ReturnValues can only be ALL_OLD or NONE")
        return table, _context(p, ("ConditionExpression",))

    @staticmethod
    def _conditional_read(ctx, p: dict, table: Table, key: dict,
                          ectx: E.Context | None) -> tuple[str, str, dict | None]:
        """Parse the ConditionExpression (after which every expression name and value must have
        been used), read the item at `key` and check the condition on it: (the items' record
        kind, the item's id, the item or None)."""
        condition = None
        if p.get("ConditionExpression") is not None:
            condition = E.parse_condition(p["ConditionExpression"], "ConditionExpression", ectx)
        if ectx:
            ectx.check_unused()
        kind = items_kind(table.name)
        item_id = table.item_id(key)
        old = ctx.tx.get(kind, item_id)
        if condition is not None and not E.evaluate(condition, old or {}):
            raise condition_failed(old, p)
        return kind, item_id, old

    def _written(self, p: dict, table: Table, old: dict | None) -> dict:
        """A write's answer: its consumed capacity, and the old item for ReturnValues ALL_OLD."""
        out = self._consumed(p, table.name, 1.0)
        if p.get("ReturnValues") == "ALL_OLD" and old is not None:
            out["Attributes"] = V.wire_item(old)
        return out

    @staticmethod
    def _consumed(p: dict, table: str, units: float) -> dict:
        if p.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            return {"ConsumedCapacity": {"TableName": table, "CapacityUnits": units}}
        return {}

    def put_item(self, ctx, p):
        table, ectx = self._write_start(ctx, p)
        item = table.check_item(p["Item"])
        kind, item_id, old = self._conditional_read(ctx, p, table, table.key_of(item), ectx)
        ctx.tx.put(kind, item_id, item)
        return self._written(p, table, old)

    def get_item(self, ctx, p):
        _no_legacy(p, ("AttributesToGet",))
        table = self.table(ctx, p["TableName"])
        ectx = _context(p, ("ProjectionExpression",))
        paths = self._projection(p, ectx)
        key = table.check_key(p["Key"])
        item = ctx.tx.get(items_kind(table.name), table.item_id(key))
        out = self._consumed(p, table.name, 0.5)
        if item is not None:
            out["Item"] = V.wire_item(E.project(item, paths) if paths else item)
        return out

    @staticmethod
    def _projection(p: dict, ectx: E.Context | None) -> list | None:
        if p.get("AttributesToGet") is not None:
            if p.get("ProjectionExpression") is not None:
                raise validation("Can not use both expression and non-expression parameters in "
                                 "the same request: Non-expression parameters: "
                                 "{AttributesToGet} Expression parameters: "
                                 "{ProjectionExpression}")
            return [[name] for name in p["AttributesToGet"]]
        paths = None
        if p.get("ProjectionExpression") is not None:
            paths = E.parse_projection(p["ProjectionExpression"], ectx)
        if ectx:
            ectx.check_unused()
        return paths

    def delete_item(self, ctx, p):
        table, ectx = self._write_start(ctx, p)
        key = table.check_key(p["Key"])
        kind, item_id, old = self._conditional_read(ctx, p, table, key, ectx)
        if old is not None:
            ctx.tx.delete(kind, item_id)
        return self._written(p, table, old)

    def update_item(self, ctx, p):
        _no_legacy(p)
        table = self.table(ctx, p["TableName"])
        mode = p.get("ReturnValues") or "NONE"
        ectx = _context(p, ("UpdateExpression", "ConditionExpression"))
        key = table.check_key(p["Key"])
        actions = []
        if p.get("UpdateExpression") is not None:
            actions = E.parse_update(p["UpdateExpression"], ectx)
        for name in E.top_level_names(actions):
            if name in table.schema.names:
                raise validation(f"One or more parameter values were invalid: Cannot update "
                                 f"attribute {name}. This attribute is part of the key")
        kind, item_id, old = self._conditional_read(ctx, p, table, key, ectx)
        new = E.apply_update(old if old is not None else dict(key), actions)
        new = table.check_item(V.wire_item(new))
        ctx.tx.put(kind, item_id, new)
        out = self._written(p, table, old)  # ALL_OLD
        if mode == "ALL_NEW":
            out["Attributes"] = V.wire_item(new)
        elif mode in ("UPDATED_OLD", "UPDATED_NEW"):
            picked = E.project((old or {}) if mode == "UPDATED_OLD" else new,
                               E.updated_paths(actions))
            if picked:
                out["Attributes"] = V.wire_item(picked)
        return out

    # ---- queries and scans ------------------------------------------------------------------

    def _key_condition(self, node: tuple, schema: Schema) -> tuple[tuple, tuple | None]:
        """(hash condition, range condition or None) from a KeyConditionExpression."""
        parts = [node[1], node[2]] if node[0] == "and" else [node]
        hash_cond = range_cond = None
        for part in parts:
            if part[0] == "cmp":
                target = part[2] if part[2][0] == "path" else part[3]
            elif part[0] == "between" or (part[0] == "func" and part[1] == "begins_with"):
                target = part[1] if part[0] == "between" else part[2][0]
            else:
                raise validation("Invalid operator used in KeyConditionExpression: "
                                 f"{part[0].upper()}")
            if target[0] != "path" or len(target[1]) != 1:
                raise validation("Query key condition not supported")
            name = target[1][0]
            if name == schema.hash and part[0] == "cmp" and part[1] == "=" and hash_cond is None:
                hash_cond = part
            elif name == schema.range and range_cond is None and part[1] != "<>":
                range_cond = part
            else:
                raise validation("Query key condition not supported")
        if hash_cond is None:
            raise validation(f"Query condition missed key schema element: {schema.hash}")
        return hash_cond, range_cond

    def _start(self, table: Table, schema: Schema, p: dict) -> dict | None:
        start = p.get("ExclusiveStartKey")
        if start is None:
            return None
        start = V.stored_item(start)
        wanted = set(table.schema.names) | set(schema.names)
        if set(start) != wanted or any(V.kind_of(start[n]) != table.types[n] for n in wanted):
            raise validation("The provided starting key is invalid: The provided key element "
                             "does not match the schema")
        return start

    @staticmethod
    def _order(table: Table, schema: Schema, item: dict) -> tuple:
        if schema.range:
            return (V.sort_key(item[schema.range]), table.item_id(table.key_of(item)))
        return (table.item_id(table.key_of(item)),)

    def _page(self, table: Table, schema: Schema, items: list[dict], p: dict,
              forward: bool = True) -> tuple[list[dict], dict | None]:
        """Order, skip past ExclusiveStartKey, cut at Limit; (page, LastEvaluatedKey)."""
        items.sort(key=lambda i: self._order(table, schema, i), reverse=not forward)
        start = self._start(table, schema, p)
        if start is not None:
            mark = self._order(table, schema, start)
            items = [i for i in items if (self._order(table, schema, i) > mark) == forward
                     and self._order(table, schema, i) != mark]
        # the page ends at Limit items, or at the item with which 1 MB has been read
        limit = p.get("Limit")
        end = len(items) if limit is None else min(len(items), limit)
        read = 0
        for number, item in enumerate(items[:end], 1):
            read += V.item_size(item)
            if read >= MAX_PAGE_BYTES:
                end = number
                break
        if end < len(items) or end == limit:
            items = items[:end]
            last = items[-1] if items else None
            names = dict.fromkeys(table.schema.names + schema.names)
            return items, {n: V.wire(last[n]) for n in names} if last else None
        return items, None

    def _finish(self, table: Table, p: dict, page: list[dict], last: dict | None,
                ectx: E.Context | None, filter_node: tuple | None,
                index: dict | None, paths: list | None) -> dict:
        matched = [i for i in page if filter_node is None or E.evaluate(filter_node, i)]
        out = {"Count": len(matched), "ScannedCount": len(page)}
        select = p.get("Select")
        if select == "COUNT":
            pass
        else:
            shown = []
            for item in matched:
                if paths:
                    item = E.project(item, paths)
                elif index is not None and select != "ALL_ATTRIBUTES":
                    item = self._index_projection(table, index, item)
                shown.append(V.wire_item(item))
            out["Items"] = shown
        if last is not None:
            out["LastEvaluatedKey"] = last
        out.update(self._consumed(p, table.name, max(0.5, len(page) * 0.5)))
        return out

    @staticmethod
    def _index_projection(table: Table, index: dict, item: dict) -> dict:
        projection = index.get("Projection") or {}
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return item
        keep = set(table.schema.names) | {k["AttributeName"] for k in index["KeySchema"]}
        if kind == "INCLUDE":
            keep |= set(projection.get("NonKeyAttributes") or [])
        return {k: v for k, v in item.items() if k in keep}

    def _filter(self, p: dict, ectx, schema_names: list[str]) -> tuple | None:
        if p.get("FilterExpression") is None:
            return None
        node = E.parse_condition(p["FilterExpression"], "FilterExpression", ectx)
        return node

    def _select_checks(self, p: dict) -> None:
        if p.get("Select") == "SPECIFIC_ATTRIBUTES" and not p.get("ProjectionExpression") \
                and not p.get("AttributesToGet"):
            raise validation("1 validation error detected: Select type SPECIFIC_ATTRIBUTES "
                             "requires either ProjectionExpression or AttributesToGet")  # unconfirmed
        if p.get("Select") not in (None, "SPECIFIC_ATTRIBUTES") and (
                p.get("ProjectionExpression") or p.get("AttributesToGet")):
            raise validation("Cannot specify the AttributesToGet when choosing to get "
                             f"{p['Select']}")  # DynamoDB's wording for AttributesToGet

    def _read_target(self, ctx, p: dict) -> tuple[Table, Schema, dict | None]:
        """What a Query or Scan reads: (the table, the key schema, the index or None)."""
        _no_legacy(p, ("AttributesToGet",))
        table = self.table(ctx, p["TableName"])
        if p.get("IndexName"):
            schema, index = table.index(p["IndexName"])
            if p.get("ConsistentRead") and index in (
                    table.record.get("GlobalSecondaryIndexes") or []):
                raise validation("Consistent reads are not supported on global secondary "
                                 "indexes")
            return table, schema, index
        return table, table.schema, None

    def query(self, ctx, p):
        table, schema, index = self._read_target(ctx, p)
        if p.get("KeyConditionExpression") is None:
            raise validation("Either the KeyConditions or KeyConditionExpression parameter must "
                             "be specified in the request.")
        self._select_checks(p)
        ectx = _context(p, ("KeyConditionExpression", "FilterExpression",
                            "ProjectionExpression"))
        node = E.parse_condition(p["KeyConditionExpression"], "KeyConditionExpression", ectx)
        hash_cond, range_cond = self._key_condition(node, schema)
        filter_node = self._filter(p, ectx, schema.names)
        if filter_node is not None:
            used = _paths(filter_node)
            for name in table.schema.names + schema.names:
                if name in used:
                    raise validation("Filter Expression can only contain non-primary key "
                                     f"attributes: Primary key attribute: {name}")
        paths = self._projection(p, ectx)
        hash_value = hash_cond[3][1] if hash_cond[3][0] == "value" else hash_cond[2][1]
        if V.kind_of(hash_value) != table.types[schema.hash]:
            raise validation("One or more parameter values were invalid: Condition parameter "
                             "type does not match schema type")
        candidates = [i for i in ctx.tx.all(items_kind(table.name)).values()
                      if all(n in i for n in schema.names) and V.equal(i[schema.hash], hash_value)
                      and (range_cond is None or E.evaluate(range_cond, i))]
        page, last = self._page(table, schema, candidates, p, p.get("ScanIndexForward", True))
        return self._finish(table, p, page, last, ectx, filter_node, index, paths)

    def scan(self, ctx, p):
        table, schema, index = self._read_target(ctx, p)
        self._select_checks(p)
        segment, total = p.get("Segment"), p.get("TotalSegments")
        if (segment is None) != (total is None):
            raise validation("The TotalSegments parameter is required but was not present in "
                             "the request when Segment parameter is present")  # unconfirmed
        if total is not None and segment >= total:
            raise validation(f"The Segment parameter is zero-based and must be less than "
                             f"parameter TotalSegments: Segment: {segment} is not less than "
                             f"TotalSegments: {total}")
        ectx = _context(p, ("FilterExpression", "ProjectionExpression"))
        filter_node = self._filter(p, ectx, [])
        paths = self._projection(p, ectx)
        items = [i for i in ctx.tx.all(items_kind(table.name)).values()
                 if all(n in i for n in schema.names)]
        if total is not None:
            items = [i for i in items if zlib.crc32(table.item_id(table.key_of(i)).encode())
                     % total == segment]
        # a scan's order is the table's, whatever the index: by primary key
        page, last = self._page(table, Schema(table.record["KeySchema"], table.types)
                                if index is None else schema, items, p)
        return self._finish(table, p, page, last, ectx, filter_node, index, paths)

    # ---- batches ----------------------------------------------------------------------------

    def batch_write_item(self, ctx, p):
        requests = p["RequestItems"]
        count = sum(len(v) for v in requests.values())
        if count > 25:
            raise validation("1 validation error detected: Value at 'requestItems' failed to "
                             "satisfy constraint: Map value must satisfy constraint: [Member "
                             "must have length less than or equal to 25, Member must have "
                             "length greater than or equal to 1]")
        seen = set()
        writes = []
        for name, entries in requests.items():
            table = self.table(ctx, name)
            for entry in entries:
                if ("PutRequest" in entry) == ("DeleteRequest" in entry):
                    raise validation("Supplied AttributeValue has more than one datatypes set, "
                                     "must contain exactly one of the supported datatypes")
                if "PutRequest" in entry:
                    item = table.check_item(entry["PutRequest"]["Item"])
                    item_id = table.item_id(table.key_of(item))
                else:
                    item = None
                    item_id = table.item_id(table.check_key(entry["DeleteRequest"]["Key"]))
                if (name, item_id) in seen:
                    raise validation("Provided list of item keys contains duplicates")
                seen.add((name, item_id))
                writes.append((table.name, item_id, item))
        for name, item_id, item in writes:
            if item is None:
                ctx.tx.delete(items_kind(name), item_id)
            else:
                ctx.tx.put(items_kind(name), item_id, item)
        return {"UnprocessedItems": {}}

    def batch_get_item(self, ctx, p):
        responses = {}
        unprocessed = {}
        count = size = 0
        full = False
        for name, request in p["RequestItems"].items():
            table = self.table(ctx, name)
            ectx = _context(request, ("ProjectionExpression",))
            paths = self._projection(request, ectx)
            found = []
            seen = set()
            for key in request["Keys"]:
                count += 1
                item_id = table.item_id(table.check_key(key))
                if item_id in seen:
                    raise validation("Provided list of item keys contains duplicates")
                seen.add(item_id)
                item = None if full else ctx.tx.get(items_kind(table.name), item_id)
                if item is not None:
                    item = E.project(item, paths) if paths else item
                    full = size + V.item_size(item) > MAX_BATCH_GET_BYTES
                if full:  # the answer is full: this key and the next are for another call
                    unprocessed.setdefault(name, {**request, "Keys": []})["Keys"].append(key)
                elif item is not None:
                    size += V.item_size(item)
                    found.append(V.wire_item(item))
            responses[name] = found
        if count > 100:
            raise validation("Too many items requested for the BatchGetItem call")
        return {"Responses": responses, "UnprocessedKeys": unprocessed}


def _paths(node: tuple) -> set[str]:
    """Top-level attribute names a condition refers to."""
    if node[0] == "path":
        return {node[1][0]}
    if node[0] == "value":
        return set()
    if node[0] == "size":
        return _paths(node[1])
    out: set[str] = set()
    for part in node[1:]:
        if isinstance(part, tuple):
            out |= _paths(part)
        elif isinstance(part, list):
            for sub in part:
                if isinstance(sub, tuple):
                    out |= _paths(sub)
    return out
