"""Shape-guided conversion between Python values and JSON-like documents.

The json, rest-json and rpc-v2-cbor protocols carry the same document model and differ only in
how timestamps and blobs travel; each protocol passes its own encoders.
"""

from __future__ import annotations

import base64

from botocore.model import Shape

from vpclocal.protocols.base import BadValue, format_timestamp, to_datetime


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
    expected = _TYPES.get(kind)
    if expected and (not isinstance(value, expected)
                     or (kind != "boolean" and isinstance(value, bool))):
        raise BadValue(path)
    return value
