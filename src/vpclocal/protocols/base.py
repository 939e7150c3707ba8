"""What every wire protocol shares: the HTTP exchange, scalar coercion and input validation."""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field

from botocore.model import OperationModel, ServiceModel, Shape

from vpclocal.errors import ServiceError


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class HttpResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Protocol:
    """One wire protocol: find the operation, parse its input, serialize output and errors."""

    name = ""

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        raise NotImplementedError

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict:
        raise NotImplementedError

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        raise NotImplementedError

    def unknown_operation(self, name: str) -> ServiceError:
        return ServiceError(
            f"The action {name} is not valid for this web service.", code="InvalidAction"
        )


# ---- timestamps -------------------------------------------------------------------------------


def now_iso() -> str:
    """The store's timestamp format: ISO 8601, UTC, milliseconds."""
    return to_iso(dt.datetime.now(dt.timezone.utc))


def to_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    text = str(value).strip()
    try:
        return dt.datetime.fromtimestamp(float(text), dt.timezone.utc)
    except ValueError:
        pass
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def to_iso(value) -> str:
    stamp = to_datetime(value).astimezone(dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def to_epoch(value) -> float:
    return round(to_datetime(value).timestamp(), 3)


def to_http_date(value) -> str:
    return to_datetime(value).strftime("%a, %d %b %Y %H:%M:%S GMT")


def format_timestamp(value, shape: Shape, default: str):
    fmt = shape.serialization.get("timestampFormat", default)
    if fmt == "unixTimestamp":
        return to_epoch(value)
    if fmt == "rfc822":
        return to_http_date(value)
    return to_iso(value)


# ---- scalars from text (query strings, headers, URI labels) ----------------------------------


class BadValue(ValueError):
    """A value that does not fit its shape's type."""


def scalar_from_text(text: str, shape: Shape):
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise BadValue(text)
            return lowered == "true"
        if kind == "timestamp":
            return to_datetime(text)
        if kind == "blob":
            return base64.b64decode(text)
    except (ValueError, TypeError) as exc:
        raise BadValue(text) from exc
    return text


# ---- input validation, as AWS's smithy services phrase it ----------------------------------------


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _java_repr(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_java_repr(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_repr(v)}" for k, v in value.items()) + "}"
    return str(value)


_pattern_cache: dict[str, re.Pattern] = {}


def validation_problems(value, shape: Shape, path: str = "") -> list[str]:
    """Every constraint `value` breaks, in AWS's words ("Value 'x' at 'a.b' failed to ...")."""
    problems: list[str] = []
    _check(value, shape, path, problems)
    return problems


def _check(value, shape: Shape, path: str, out: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return
        for name in shape.required_members:
            if value.get(name) is None:
                where = f"{path}.{_camel(name)}" if path else _camel(name)
                out.append(f"Value null at '{where}' failed to satisfy constraint: "
                           "Member must not be null")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                where = f"{path}.{_camel(name)}" if path else _camel(name)
                _check(value[name], member, where, out)
        return
    shown = _java_repr(value)
    fail = f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must "
    if kind in ("string", "list", "map", "blob"):
        size = len(value) if hasattr(value, "__len__") else 0
        if "min" in meta and size < meta["min"]:
            out.append(fail + f"have length greater than or equal to {meta['min']}")
        if "max" in meta and size > meta["max"]:
            out.append(fail + f"have length less than or equal to {meta['max']}")
    if kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if "min" in meta and value < meta["min"]:
            out.append(fail + f"have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(fail + f"have value less than or equal to {meta['max']}")
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            out.append(fail + "satisfy enum value set: [" + ", ".join(shape.enum) + "]")
        pattern = meta.get("pattern")
        if pattern:
            compiled = _pattern_cache.get(pattern)
            if compiled is None:
                try:
                    compiled = _pattern_cache[pattern] = re.compile(pattern)
                except re.error:  # a Java-only construct: AWS's own check; skip ours
                    compiled = _pattern_cache[pattern] = re.compile(".*", re.S)
            if not compiled.fullmatch(value):
                out.append(fail + f"satisfy regular expression pattern: {pattern}")
    if kind == "list" and isinstance(value, list):
        member = shape.member
        if member.type_name == "structure":
            for i, item in enumerate(value, 1):
                _check(item, member, f"{path}.{i}.member", out)
        else:
            inner: list[str] = []
            for item in value:
                _check(item, member, path, inner)
            if inner:
                reasons = sorted({p.split("Member must ", 1)[1] for p in inner})
                out.append(fail + "satisfy constraint: ["
                           + ", ".join("Member must " + r for r in reasons) + "]")
    if kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            _check(item, shape.value, f"{path}.{key}", out)


def validation_message(problems: list[str]) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(problems)
