"""Malformed requests against every operation vpclocal serves: never a 5xx, never a dropped
connection, always an error in the protocol's own shape.

For each served operation (botocore's model; the operations a provider implements) and each
protocol its service speaks, a seeded sample of requests built from the input shape, each with
one member (or the whole body) replaced by something malformed: a wrong type, a number or a
timestamp out of range, null where a value is expected, an empty structure, a lone surrogate,
control or non-Latin-1 characters, nesting 1,200 levels deep. botocore's own serializer writes
the request with a marker where the bad value goes (any member, any location); the marker is
then replaced by the bad value in the encoding of the place it landed (a JSON or CBOR body, a
form body, an XML body, the URI, the query string, a header): raw text no serializer writes.

VPCLOCAL_FUZZ_SEED picks another sample, VPCLOCAL_FUZZ_PER_OPERATION a larger one (the
defaults keep the run well under a minute).
"""

from __future__ import annotations

import datetime as dt
import http.client
import importlib
import json
import os
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import botocore.session
import cbor2
import pytest
from botocore import xform_name
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.serialize import SERIALIZERS

from tests.conftest import served
from vpclocal.server import PROVIDERS

SEED = int(os.environ.get("VPCLOCAL_FUZZ_SEED", "20260512"))
PER_OPERATION = int(os.environ.get("VPCLOCAL_FUZZ_PER_OPERATION", "20"))
MARK = "FUZZMARK"
HOLE = object()  # where a request's malformed value goes
MAX_DEPTH = 3  # how deep into an input shape members are picked
DEEP = 1200  # nesting levels of the deep values


def _provider_classes() -> dict:
    """botocore's service name -> the class of the provider serving it."""
    out = {}
    for target in PROVIDERS.values():
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module), name)
        out[cls.service_name] = cls
    return out


PROVIDER_CLASSES = _provider_classes()


# ---- the malformed values ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """One malformed value: as JSON text, as CBOR bytes and as raw text (for a form, URI,
    query string, header or XML element); None where it has no such form."""

    label: str
    json: str | None = None
    cbor: bytes | None = None
    text: str | None = None


def bad(label: str, value, text: str | None = None, json_text: str | None = None) -> Bad:
    """A Bad whose JSON and CBOR forms are `value`'s own."""
    return Bad(label, json_text or json.dumps(value), cbor2.dumps(value), text)


SURROGATE_CBOR = b"\x63\xed\xa0\x80"  # a CBOR text string of a lone surrogate's bytes
NUMBERS = [
    bad("1e300", 1e300, "1e300"),
    bad("infinite", float("inf"), "inf", json_text="1e400"),
    bad("-1e20", -1e20, "-1e20"),
    bad("20 digits", 10 ** 20 - 1, "99999999999999999999"),
    bad("-20 digits", 1 - 10 ** 20, "-99999999999999999999"),
    bad("negative", -1, "-1"),
    bad("zero", 0, "0"),
    bad("NaN", float("nan"), "NaN", json_text="NaN"),
    bad("fraction", 1.5, "1.5"),
    bad("text", "x", "x"),
    bad("null", None),
    bad("list", []),
]
TIMESTAMPS = [
    bad("1e300", 1e300, "1e300"),
    bad("infinite", float("inf"), "inf", json_text="1e400"),
    bad("-1e20", -1e20, "-1e20"),
    bad("20 digits", 10 ** 20 - 1, "99999999999999999999"),
    bad("before year 1", -62135596801, "-62135596801"),
    bad("year 10000", "10000-01-01T00:00:00Z", "10000-01-01T00:00:00Z"),
    bad("text", "x", "x"),
    bad("empty", "", ""),
    bad("null", None),
    bad("object", {}),
]
STRINGS = [
    Bad("lone surrogate", '"\\ud800"', SURROGATE_CBOR, "\ud800"),
    bad("NUL", "a\x00b", "a\x00b"),
    bad("control", "a\r\nb", "a\r\nb"),
    bad("non-Latin-1", "\u0100\u4e2d", "\u0100\u4e2d"),
    bad("empty", "", ""),
    bad("number", 1),
    bad("null", None),
    bad("object", {}),
    bad("deep", [], json_text="[" * DEEP + "]" * DEEP),
]
BOOLEANS = [bad("text", "true", "maybe"), bad("number", 1, ""), bad("null", None)]
BLOBS = [bad("bad base64", "!!!", "!!!"), bad("number", 1), bad("null", None)]
LISTS = [
    bad("null", None),
    bad("null item", [None]),
    bad("text", "x", "x"),
    bad("object", {}),
    Bad("deep", "[" * DEEP + "]" * DEEP, b"\x81" * DEEP + b"\x80"),
]
MAPS = [
    bad("null", None),
    bad("null value", {"k": None}),
    bad("list", []),
    bad("text", "x", "x"),
    Bad("surrogate key", '{"\\ud800": "x"}', b"\xa1" + SURROGATE_CBOR + b"\x61x"),
]
STRUCTURES = [
    bad("null", None),
    bad("empty", {}, ""),
    bad("list", []),
    bad("text", "x", "x"),
    Bad("deep", '{"a":' * DEEP + "{}" + "}" * DEEP, b"\xa1\x61a" * DEEP + b"\xa0"),
]
BY_TYPE = {"integer": NUMBERS, "long": NUMBERS, "float": NUMBERS, "double": NUMBERS,
           "timestamp": TIMESTAMPS, "string": STRINGS, "boolean": BOOLEANS, "blob": BLOBS,
           "list": LISTS, "map": MAPS, "structure": STRUCTURES}
# whole bodies, in place of a JSON (or CBOR) or XML document
BODIES = {
    "json": [b"[" * 100_000, b'{"a":' * DEEP + b"{}" + b"}" * DEEP, b"null", b"[]",
             b'{"\\ud800": 1}'],
    "cbor": [b"\x81" * 100_000, b"\xa1\x61a" * DEEP + b"\xa0", b"\xf6", b"\x80"],
    "xml": [b"<a>" * DEEP + b"</a>" * DEEP, b"<a>&#xD800;</a>", b"<a>"],
}


# ---- requests --------------------------------------------------------------------------------


def marked_serializer(protocol: str):
    """botocore's serializer for `protocol`, writing MARK wherever a parameter is HOLE (in a
    body, the URI, the query string or a header) without looking at its type."""
    base = SERIALIZERS[protocol]

    class Marked(base):
        def _serialize(self, *args):
            if protocol == "rest-xml":  # (shape, params, xmlnode, name)
                if args[1] is HOLE:
                    ET.SubElement(args[2], args[3]).text = MARK
                    return
            elif args[1] is HOLE:  # (serialized, value, shape, key/prefix)
                args[0][args[3] if len(args) > 3 else None] = MARK
                return
            super()._serialize(*args)

        def _serialize_data_item(self, serialized, value, shape, key=None):  # CBOR
            if value is HOLE:
                serialized.extend(cbor2.dumps(MARK))
                return
            super()._serialize_data_item(serialized, value, shape, key)

        def _serialize_body_params(self, params, shape):
            if params is HOLE and protocol == "rest-json":
                return json.dumps(MARK)
            return super()._serialize_body_params(params, shape)

        def _partition_parameters(self, partitioned, name, value, members):
            member = members[name]
            where = member.serialization.get("location")
            key = member.serialization.get("name", name)
            if where is None or not holds_hole(value):
                return super()._partition_parameters(partitioned, name, value, members)
            if where == "uri":
                partitioned["uri_path_kwargs"][key] = MARK
            elif where == "querystring":
                partitioned["query_string_kwargs"][key if member.type_name != "map"
                                                   else "fuzz"] = MARK
            elif where == "header":
                partitioned["headers"][key] = MARK
            elif where == "headers":
                partitioned["headers"][key + "fuzz"] = MARK

    return Marked()


def holds_hole(value) -> bool:
    if isinstance(value, list):
        return any(holds_hole(v) for v in value)
    if isinstance(value, dict):
        return any(holds_hole(v) for v in value.values())
    return value is HOLE


def sample(shape, depth: int = 0):
    """A value for a shape with just its required members (names all 'fuzz')."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 6:
            return {}
        return {name: sample(member, depth + 1) for name, member in shape.members.items()
                if name in shape.required_members}
    if kind == "list":
        return [sample(shape.member, depth + 1)] if shape.metadata.get("min") else []
    if kind == "map":
        return {}
    if kind == "string":
        return shape.enum[0] if shape.enum else "fuzz".ljust(int(shape.metadata.get("min", 0)),
                                                               "z")
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    return b"fuzz"


def with_hole(shape, path: tuple):
    """sample(shape), with HOLE at `path` (member names, "[]" for a list's item, "{}" for a
    map's value)."""
    if not path:
        return HOLE
    step, rest = path[0], path[1:]
    if shape.type_name == "list":
        return [with_hole(shape.member, rest)]
    if shape.type_name == "map":
        return {"k": with_hole(shape.value, rest)}
    out = sample(shape)
    out[step] = with_hole(shape.members[step], rest)
    return out


def targets(shape, path: tuple = ()):
    """(path, shape) of every member a malformed value may replace."""
    if path:
        yield path, shape
    if len(path) >= MAX_DEPTH:
        return
    kind = shape.type_name
    if kind == "structure":
        payload = shape.serialization.get("payload")
        for name, member in shape.members.items():
            if not (name == payload and member.type_name in ("blob", "string")):  # opaque
                yield from targets(member, (*path, name))
    elif kind == "list":
        yield from targets(shape.member, (*path, "[]"))
    elif kind == "map":
        yield from targets(shape.value, (*path, "{}"))


@dataclass
class Case:
    operation: str
    protocol: str
    what: str  # the member path and the malformed value, for the report
    method: str
    url: str  # path and query
    headers: dict
    body: bytes


def body_kind(protocol: str) -> str:
    return {"json": "json", "rest-json": "json", "smithy-rpc-v2-cbor": "cbor",
            "rest-xml": "xml"}.get(protocol, "form")


def encoded(value: Bad, where: str, protocol: str) -> bytes | str | None:
    """The malformed value as it replaces MARK in the body, the URL or a header."""
    if where == "body":
        kind = body_kind(protocol)
        if kind == "json":
            return value.json.encode() if value.json is not None else None
        if kind == "cbor":
            return value.cbor
        if value.text is None:
            return None
        raw = value.text.encode("utf-8", "surrogatepass")
        if kind == "xml":
            return escape(value.text).encode("utf-8", "surrogatepass")
        return quote(raw, safe="").encode()  # a form value
    if value.text is None:
        return None
    if where == "url":
        return quote(value.text.encode("utf-8", "surrogatepass"), safe="")
    if any(c in value.text for c in "\r\n\x00"):  # no HTTP client can send these in a header
        return None
    return value.text.encode("utf-8", "surrogatepass")


def build(service, operation, protocol: str, path: tuple | None, value: Bad | bytes,
          endpoint: str) -> Case | None:
    """The request with `value` at `path` (or, path None, `value` as the whole body)."""
    params = with_hole(operation.input_shape, path) if path else sample(operation.input_shape)
    request = marked_serializer(protocol).serialize_to_request(params, operation)
    prepare_request_dict(request, endpoint)
    prepared = create_request_object(request).prepare()
    url = urlsplit(prepared.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else bytes(body)
    headers = {k: v for k, v in prepared.headers.items()}
    if path is None:
        body = value
        what = f"body {value[:12]!r}... ({len(value)} bytes)"
    else:
        what = f"{'.'.join(path)} = {value.label}"
        marker = cbor2.dumps(MARK) if protocol == "smithy-rpc-v2-cbor" else (
            json.dumps(MARK).encode() if body_kind(protocol) == "json" else MARK.encode())
        if marker in body:
            replacement = encoded(value, "body", protocol)
            if replacement is None:
                return None
            body = body.replace(marker, replacement)
        elif MARK in target:
            replacement = encoded(value, "url", protocol)
            if replacement is None:
                return None
            target = target.replace(MARK, replacement)
        else:
            names = [k for k, v in headers.items() if MARK in str(v)]
            replacement = encoded(value, "header", protocol)
            if not names or replacement is None:
                return None
            for name in names:
                headers[name] = replacement
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/{service.signing_name}/"
        "aws4_request, SignedHeaders=host, Signature=" + "0" * 64)
    return Case(operation.name, protocol, what, prepared.method, target, headers, body)


def cases(service_name: str, endpoint: str, rng: random.Random) -> list[Case]:
    service = botocore.session.get_session().get_service_model(service_name)
    provider = PROVIDER_CLASSES[service_name]
    protocols = [p for p in service.metadata.get("protocols") or [service.protocol]
                 if p in SERIALIZERS]
    out = []
    for name in service.operation_names:
        if getattr(provider, xform_name(name), None) is None:
            continue  # not served
        operation = service.operation_model(name)
        for protocol in protocols:
            choices: list = []
            if operation.input_shape is not None:
                choices += [(path, value) for path, shape in targets(operation.input_shape)
                            for value in BY_TYPE.get(shape.type_name, [])]
            kind = body_kind(protocol)
            if kind != "form" and (kind != "xml" or _has_body(operation)):
                choices += [(None, body) for body in BODIES[kind]]
            rng.shuffle(choices)
            built = 0
            for path, value in choices:  # until PER_OPERATION have a form on this protocol
                case = build(service, operation, protocol, path, value, endpoint)
                if case is not None:
                    out.append(case)
                    built += 1
                    if built == PER_OPERATION:
                        break
    return out


def _has_body(operation) -> bool:
    shape = operation.input_shape
    if shape is None:
        return False
    payload = shape.serialization.get("payload")
    if payload:
        return shape.members[payload].type_name == "structure"
    return any(m.serialization.get("location") is None for m in shape.members.values())


# ---- answers -----------------------------------------------------------------------------------


def error_code(protocol: str, method: str, status: int, headers: dict, body: bytes) -> str:
    """The error code the protocol's error document names; raises when it is not one."""
    if protocol in ("ec2", "query", "rest-xml"):
        if protocol == "rest-xml" and (method == "HEAD" or status == 304) and not body:
            return str(status)  # S3 answers HEAD and 304 with no body
        root = ET.fromstring(body)
        local = {e.tag.rpartition("}")[2]: e.text for e in root.iter()}
        expected = {"ec2": "Response", "query": "ErrorResponse", "rest-xml": "Error"}[protocol]
        assert root.tag.rpartition("}")[2] == expected, root.tag
        return local["Code"]
    if protocol == "rest-json":
        json.loads(body)
        return headers["x-amzn-errortype"]
    document = cbor2.loads(body) if protocol == "smithy-rpc-v2-cbor" else json.loads(body)
    return document["__type"]


def send(port: int, case: Case) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(case.method, case.url, body=case.body, headers=case.headers)
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from served(tmp_path_factory, "fuzz")


@pytest.fixture(scope="module")
def resources(server):
    """Something for lists and reads to find: the 'fuzz' names every sample uses."""
    s3 = server.client("s3")
    s3.create_bucket(Bucket="fuzz")
    s3.put_object(Bucket="fuzz", Key="fuzz", Body=b"fuzz")
    server.client("dynamodb").create_table(
        TableName="fuzz", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    logs = server.client("logs")
    logs.create_log_group(logGroupName="fuzz")
    logs.create_log_stream(logGroupName="fuzz", logStreamName="fuzz")
    server.client("cloudwatch").put_metric_data(
        Namespace="fuzz", MetricData=[{"MetricName": "fuzz", "Value": 1}])
    server.client("iam").create_role(RoleName="fuzz", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    return server


@pytest.mark.parametrize("service_name", sorted(PROVIDER_CLASSES))
def test_malformed_requests_are_answered_in_the_protocols_shape(resources, service_name):
    rng = random.Random(f"{SEED}:{service_name}")
    failures = []
    for case in cases(service_name, resources.endpoint, rng):
        try:
            status, headers, body = send(resources.port, case)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{case.operation} [{case.protocol}] {case.what}: no answer ({exc!r})")
            continue
        if status >= 500:
            failures.append(f"{case.operation} [{case.protocol}] {case.what}: {status} "
                            f"{body[:200]!r}")
        elif status >= 400:
            try:
                assert error_code(case.protocol, case.method, status, headers, body)
            except Exception as exc:  # noqa: BLE001 - any way the document is not an error's
                failures.append(f"{case.operation} [{case.protocol}] {case.what}: {status} "
                                f"not an error document ({exc!r}): {body[:200]!r}")
    assert not failures, (f"seed {SEED}, {len(failures)} failures:\n" + "\n".join(failures))
