"""What every wire protocol shares: the HTTP exchange, scalar coercion and input validation."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import re
from dataclasses import dataclass, field

from botocore.model import OperationModel, ServiceModel, Shape

from vpclocal.errors import ServiceError


@dataclass
class HttpRequest:
    method: str
    path: str  # percent-decoded, as ASGI gives it
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    # The path as sent, still percent-encoded: a URI label may hold an encoded "/" (%2F), which
    # only the raw path keeps apart from the path's own slashes. None when unknown.
    raw_path: str | None = None
    client: tuple[str, int] | None = None  # the connection's peer (ASGI's `client`)


@dataclass
class HttpResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Protocol:
    """One wire protocol: find the operation, parse its input, serialize output and errors."""

    name = ""

    def prepare(self, request: HttpRequest) -> HttpRequest:
        """The request as the protocol routes it (S3: virtual-host style to path style, an
        aws-chunked body joined). Most protocols take it as it is."""
        return request

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

    def missing_operation(self, request: HttpRequest) -> ServiceError:
        """A request that names no operation at all."""
        return self.unknown_operation(f"{request.method} {request.path}")

    def bad_region(self, region: str, expected: str) -> ServiceError:
        """The error for a SigV4 credential scoped to something no region is named. AWS's
        query services answer it so (STS and IAM, seen in public issue threads); EC2's answer
        is unconfirmed and taken to be the same."""
        return ServiceError(f"Credential should be scoped to a valid region, not '{region}'. ",
                            code="SignatureDoesNotMatch", status=403)

    validation_code = "ValidationException"

    def validate(self, params: dict, shape: Shape, service: ServiceModel) -> None:
        """Raise the service's validation error when `params` break the shape's constraints."""
        problems = validation_problems(
            params, shape, list_members_not_null=service.service_name in LIST_MEMBERS_NOT_NULL)
        if problems:
            raise ServiceError(validation_message(problems),
                               code=validation_code(service, self.validation_code))


# ---- timestamps -------------------------------------------------------------------------------


def now_iso() -> str:
    """The store's timestamp format: ISO 8601, UTC, milliseconds."""
    return to_iso(dt.datetime.now(dt.UTC))


def to_datetime(value) -> dt.datetime:
    """A timestamp (datetime, epoch seconds, ISO 8601 or HTTP-date text) as an aware datetime;
    ValueError for one no datetime holds (before year 1, after 9999, infinite, not a number),
    whatever the platform's own error for it (OverflowError, OSError)."""
    try:
        return _to_datetime(value)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp out of range: {value!r}") from exc


def _to_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    text = str(value).strip()
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(text)  # HTTP-date (rfc822) headers
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def to_iso(value) -> str:
    stamp = to_datetime(value).astimezone(dt.UTC)
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


# The range of the model's integer types (Smithy: 32- and 64-bit signed).
INTEGER_BITS = {"integer": 31, "long": 63}


def in_range(number: int, kind: str) -> bool:
    bound = 1 << INTEGER_BITS[kind]
    return -bound <= number < bound


def scalar_from_text(text: str, shape: Shape):
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            number = int(text)
            if not in_range(number, kind):
                raise BadValue(text)
            return number
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
#
# The wording follows messages AWS services return (seen in public issue threads):
#   1 validation error detected: Value null at 'roleName' failed to satisfy constraint:
#     Member must not be null
#   Value 'x' at 'roleName' failed to satisfy constraint: Member must have length less than or
#     equal to 64   (also "greater than or equal to", "have value ...", "satisfy regular
#     expression pattern: P", "satisfy enum value set: [a, b]")
#   Value '[a, b]' at 'cors.allowMethods' failed to satisfy constraint: Member must satisfy
#     constraint: [Member must have length less than or equal to 6, Member must have length
#     greater than or equal to 0, Member must satisfy regular expression pattern: .*]
#     (a list of scalars: every constraint of the member, in this order, once for the list)
#   Value '{k=v}' at 'physicalTableMap' failed to satisfy constraint: Map keys must satisfy
#     constraint: [...]   and   ... Map value must satisfy constraint: [...]
#   Value at 'environment.variables' failed ...   (a sensitive value is not shown)
#   Value '' at 'logGroupNamePrefix' ... pattern ...; Value '' at 'logGroupNamePrefix' ...
#     length ...   (a value breaking several rules: the pattern first)
# Lists of structures continue the path as 'topicsConfig.2.member.definition'.

# The error code a service answers a constraint violation with, where it is not the protocol's
# default (query: ValidationError, json and rest-json: ValidationException). CloudWatch Logs
# answers InvalidParameterException; CloudWatch's ValidationException shape travels as
# ValidationError through its query-compatible header.
VALIDATION_CODES = {"logs": "InvalidParameterException"}
# Services whose list-member constraint lists end with "Member must not be null" (Lambda:
# "... [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]").
LIST_MEMBERS_NOT_NULL = frozenset({"lambda"})


def validation_code(service: ServiceModel, default: str) -> str:
    return VALIDATION_CODES.get(service.service_name, default)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _java_repr(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_java_repr(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_repr(v)}" for k, v in value.items()) + "}"
    return str(value)


_pattern_cache: dict[str, re.Pattern | None] = {}


def _compiled(pattern: str) -> re.Pattern | None:
    """The pattern for Python's `re`, or None for Java-only syntax (\\p{L}...): AWS checks
    those; we accept the value."""
    if pattern not in _pattern_cache:
        try:
            _pattern_cache[pattern] = re.compile(pattern)
        except re.error:
            _pattern_cache[pattern] = None
    return _pattern_cache[pattern]


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _constraints(shape: Shape) -> list[str]:
    """Every constraint of a scalar shape, as AWS lists them for list members and map keys."""
    meta = shape.metadata
    kind = shape.type_name
    out = []
    if kind in ("string", "blob", "list", "map"):
        if "max" in meta:
            out.append(f"Member must have length less than or equal to {_number(meta['max'])}")
        if "min" in meta:
            out.append(f"Member must have length greater than or equal to {_number(meta['min'])}")
    elif kind in ("integer", "long", "float", "double"):
        if "max" in meta:
            out.append(f"Member must have value less than or equal to {_number(meta['max'])}")
        if "min" in meta:
            out.append(f"Member must have value greater than or equal to {_number(meta['min'])}")
    if kind == "string":
        if meta.get("pattern"):
            out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum:
            out.append("Member must satisfy enum value set: [" + ", ".join(shape.enum) + "]")
    return out


def _broken(value, shape: Shape) -> list[str]:
    """The constraints a scalar (or a list's or map's own size) breaks, pattern first."""
    meta = shape.metadata
    kind = shape.type_name
    out = []
    if kind == "string" and isinstance(value, str):
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            out.append(f"Member must satisfy regular expression pattern: {pattern}")
        if shape.enum and value not in shape.enum:
            out.append("Member must satisfy enum value set: [" + ", ".join(shape.enum) + "]")
    if kind in ("string", "blob", "list", "map") and hasattr(value, "__len__"):
        size = len(value)
        if "max" in meta and size > meta["max"]:
            out.append(f"Member must have length less than or equal to {_number(meta['max'])}")
        if "min" in meta and size < meta["min"]:
            out.append(f"Member must have length greater than or equal to {_number(meta['min'])}")
    if (kind in ("integer", "long", "float", "double") and isinstance(value, (int, float))
            and not isinstance(value, bool)):
        if "max" in meta and value > meta["max"]:
            out.append(f"Member must have value less than or equal to {_number(meta['max'])}")
        if "min" in meta and value < meta["min"]:
            out.append(f"Member must have value greater than or equal to {_number(meta['min'])}")
    return out


def _sensitive(shape: Shape) -> bool:
    if shape.metadata.get("sensitive"):
        return True
    kind = shape.type_name
    if kind == "list":
        return bool(shape.member.metadata.get("sensitive"))
    if kind == "map":
        return bool(shape.key.metadata.get("sensitive") or shape.value.metadata.get("sensitive"))
    return False


def validation_problems(value, shape: Shape, path: str = "", *,
                        list_members_not_null: bool = False) -> list[str]:
    """Every constraint `value` breaks, in AWS's words ("Value 'x' at 'a.b' failed to ...")."""
    problems: list[str] = []
    _check(value, shape, path, problems, list_members_not_null)
    return problems


def _check(value, shape: Shape, path: str, out: list[str], not_null: bool) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return
        required = shape.required_members
        for name, member in shape.members.items():
            item = value.get(name)
            where = f"{path}.{_camel(name)}" if path else _camel(name)
            if item is None:
                if name in required:
                    out.append(f"Value null at '{where}' failed to satisfy constraint: "
                               "Member must not be null")
            else:
                _check(item, member, where, out, not_null)
        return
    shown = f"Value at '{path}'" if _sensitive(shape) else f"Value '{_java_repr(value)}' at '{path}'"
    fail = f"{shown} failed to satisfy constraint: "
    out.extend(fail + reason for reason in _broken(value, shape))
    # No served model has a sparse list or map: a null in one (JSON's null) is refused.
    if kind == "list" and isinstance(value, list):
        member = shape.member
        if member.type_name in ("structure", "list", "map"):
            for i, item in enumerate(value, 1):
                if item is None:
                    out.append(f"Value null at '{path}.{i}.member' failed to satisfy "
                               "constraint: Member must not be null")
                else:
                    _check(item, member, f"{path}.{i}.member", out, not_null)
        elif any(item is None or _broken(item, member) for item in value):
            nulls = not_null or None in value
            rules = _constraints(member) + (["Member must not be null"] if nulls else [])
            out.append(fail + "Member must satisfy constraint: [" + ", ".join(rules) + "]")
    elif kind == "map" and isinstance(value, dict):
        if any(_broken(key, shape.key) for key in value):
            out.append(fail + "Map keys must satisfy constraint: ["
                       + ", ".join(_constraints(shape.key)) + "]")
        inner = shape.value
        if inner.type_name in ("structure", "list", "map"):
            for key, item in value.items():
                if item is None:
                    out.append(f"Value null at '{path}.{key}' failed to satisfy constraint: "
                               "Member must not be null")
                else:
                    _check(item, inner, f"{path}.{key}", out, not_null)
        elif any(item is None or _broken(item, inner) for item in value.values()):
            rules = _constraints(inner) + (
                ["Member must not be null"] if None in value.values() else [])
            out.append(fail + "Map value must satisfy constraint: [" + ", ".join(rules) + "]")


def validation_message(problems: list[str]) -> str:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(problems)
