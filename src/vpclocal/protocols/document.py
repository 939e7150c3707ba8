"""Shape-guided conversion between Python values and JSON-like documents.

The json, rest-json and rpc-v2-cbor protocols carry the same document model and differ only in
how timestamps and blobs travel; each protocol passes its own encoders.
"""

from __future__ import annotations

import base64
import json
import re

from botocore.model import Shape

from vpclocal.protocols.base import BadValue, format_timestamp, in_range, to_datetime

# How deep a request document may nest. AWS does not publish its parsers' limit (Jackson, which
# many of its services use, stops at 1,000 levels); vpclocal stops at 256: deeper than any
# served model's shapes reach (DynamoDB's 32 levels of attribute values take 66), shallow enough
# for the shape-guided walks that follow, which recurse once per level.
MAX_NESTING = 256
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BadDocument(ValueError):
    """A request document no service would read: too deeply nested, or a string holding a
    lone UTF-16 surrogate (JSON's "\\ud800"), which no store, log or reply can encode."""


def load_json(body: bytes):
    """The JSON document of a request body; ValueError when it is not JSON, BadDocument when
    it is JSON no service would read."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise BadDocument(f"the document is nested deeper than {MAX_NESTING} levels") from None
    # cheap tests first: a document this deep holds this many brackets, a lone surrogate an
    # escape of one
    deep = body.count(b"[") + body.count(b"{") > MAX_NESTING
    check_document(document, deep=deep, strings=bool(_SURROGATE_ESCAPE.search(body)))
    return document


def check_document(document, *, deep: bool = True, strings: bool = False) -> None:
    """Raise BadDocument for a document nested deeper than MAX_NESTING levels (`deep`) or, with
    `strings`, holding a lone surrogate in a string or key."""
    if not deep and not strings:
        return
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if strings and any(_lone_surrogate(k) for k in value):
                raise BadDocument("a string holds a lone UTF-16 surrogate")
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            if strings and isinstance(value, str) and _lone_surrogate(value):
                raise BadDocument("a string holds a lone UTF-16 surrogate")
            continue
        if deep and depth > MAX_NESTING:
            raise BadDocument(f"the document is nested deeper than {MAX_NESTING} levels")
        stack.extend((child, depth + 1) for child in children)


def _lone_surrogate(text) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    except AttributeError:  # not a string (a CBOR key may be a number)
        pass
    return False


def _key(shape: Shape, name: str) -> str:
    return shape.serialization.get("name", name)


def to_document(value, shape: Shape, *, timestamp="unixTimestamp", raw_blobs=False):
    """Render a provider's result for the wire; keys not in the shape are left out."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None and member.serialization.get("location") is None:
                out[_key(member, name)] = to_document(
                    item, member, timestamp=timestamp, raw_blobs=raw_blobs)
        return out
    if kind == "list":
        return [to_document(v, shape.member, timestamp=timestamp, raw_blobs=raw_blobs)
                for v in value]
    if kind == "map":
        return {k: to_document(v, shape.value, timestamp=timestamp, raw_blobs=raw_blobs)
                for k, v in value.items()}
    if kind == "timestamp":
        if timestamp == "datetime":
            return to_datetime(value)
        return format_timestamp(value, shape, timestamp)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return raw if raw_blobs else base64.b64encode(raw).decode()
    return value


_TYPES = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
}


def from_document(value, shape: Shape, path: str = ""):
    """Read a request document; raises BadValue(path) where a value has the wrong type."""
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            raise BadValue(path)
        out = {}
        for name, member in shape.members.items():
            key = _key(member, name)
            if key in value and value[key] is not None:
                out[name] = from_document(value[key], member, f"{path}.{key}".lstrip("."))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise BadValue(path)
        return [from_document(v, shape.member, path) for v in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise BadValue(path)
        return {k: from_document(v, shape.value, path) for k, v in value.items()}
    if kind == "timestamp":
        try:
            return to_datetime(value)
        except (ValueError, TypeError, OverflowError):
            raise BadValue(path) from None
    if kind == "blob":
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise BadValue(path) from None
    if kind in ("float", "double") and value in ("NaN", "Infinity", "-Infinity"):
        return float(value)  # how the JSON protocols write what JSON has no number for
    expected = _TYPES.get(kind)
    if expected and (not isinstance(value, expected)
                     or (kind != "boolean" and isinstance(value, bool))):
        raise BadValue(path)
    if kind in INTEGER_KINDS and not in_range(value, kind):
        raise BadValue(path)
    if kind in ("float", "double") and isinstance(value, int):
        try:
            return float(value)  # a JSON integer beyond a double's range (1 and 400 zeros)
        except OverflowError:
            raise BadValue(path) from None
    return value


INTEGER_KINDS = ("integer", "long")
