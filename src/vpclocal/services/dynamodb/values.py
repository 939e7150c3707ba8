"""DynamoDB attribute values: checking, the stored form, ordering and sizes.

Items are kept in their JSON wire form (`{"S": "x"}`, `{"N": "1.5"}`...) with binary values as
base64 text, so a record is JSON-native; numbers are normalized and compare as decimals.
"""

from __future__ import annotations

import base64
import decimal
from decimal import Decimal

from vpclocal.errors import ServiceError

TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_CONTEXT = decimal.Context(prec=38, Emin=-129, Emax=126,
                           traps=[decimal.InvalidOperation, decimal.Overflow])
_SET_NAMES = {"SS": "string", "NS": "number", "BS": "binary"}


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationException")


def number(text: str) -> Decimal:
    try:
        value = _CONTEXT.create_decimal(text.strip())
    except (decimal.InvalidOperation, decimal.Overflow, AttributeError):
        raise validation(f"The parameter cannot be converted to a numeric value: {text}") \
            from None
    if not value.is_finite():
        raise validation(f"The parameter cannot be converted to a numeric value: {text}")
    return value


def number_text(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(_CONTEXT), "f")


def _b64(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def stored(value: dict) -> dict:
    """A request's AttributeValue (blobs as bytes) checked and in the stored form."""
    if not isinstance(value, dict) or not value:
        raise validation("Supplied AttributeValue is empty, must contain exactly one of the "
                         "supported datatypes")
    if len(value) > 1:
        raise validation("Supplied AttributeValue has more than one datatypes set, must "
                         "contain exactly one of the supported datatypes")
    (kind, inner), = value.items()
    if kind == "N":
        return {"N": number_text(number(inner))}
    if kind == "B":
        return {"B": _b64(inner)}
    if kind in _SET_NAMES:
        if not inner:
            raise validation("One or more parameter values were invalid: An "
                             f"{_SET_NAMES[kind]} set  may not be empty")
        items = [number_text(number(v)) for v in inner] if kind == "NS" else \
            [_b64(v) for v in inner]
        if len(set(items)) != len(items):
            shown = ", ".join(str(v) for v in inner)
            raise validation("One or more parameter values were invalid: Input collection "
                             f"[{shown}] contains duplicates.")
        return {kind: items}
    if kind == "M":
        return {"M": {k: stored(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [stored(v) for v in inner]}
    return {kind: inner}


def stored_item(item: dict) -> dict:
    return {name: stored(value) for name, value in item.items()}


def wire(value: dict) -> dict:
    """The stored form as the serializer wants it (blobs as bytes)."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": {k: wire(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [wire(v) for v in inner]}
    return value


def wire_item(item: dict | None) -> dict | None:
    return None if item is None else {name: wire(value) for name, value in item.items()}


def kind_of(value: dict) -> str:
    return next(iter(value))


def sort_key(value: dict):
    """Order of key values: numbers numerically, strings by UTF-8 bytes, binary by bytes."""
    kind, inner = next(iter(value.items()))
    if kind == "N":
        return Decimal(inner)
    if kind == "S":
        return inner.encode("utf-8")
    if kind == "B":
        return base64.b64decode(inner)
    return inner


def equal(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return False
    ka, kb = kind_of(a), kind_of(b)
    if ka != kb:
        return False
    if ka == "N":
        return Decimal(a["N"]) == Decimal(b["N"])
    if ka == "NS":
        return {Decimal(v) for v in a["NS"]} == {Decimal(v) for v in b["NS"]}
    if ka in ("SS", "BS"):
        return set(a[ka]) == set(b[ka])
    if ka == "M":
        return a["M"].keys() == b["M"].keys() and all(equal(v, b["M"][k])
                                                      for k, v in a["M"].items())
    if ka == "L":
        return len(a["L"]) == len(b["L"]) and all(equal(x, y) for x, y in zip(a["L"], b["L"]))
    return a[ka] == b[kb]


def compare(a: dict | None, b: dict | None) -> int | None:
    """-1/0/1 for two scalars of one orderable type (N, S, B); None when they do not compare."""
    if a is None or b is None:
        return None
    ka, kb = kind_of(a), kind_of(b)
    if ka != kb or ka not in ("N", "S", "B"):
        return None
    x, y = sort_key(a), sort_key(b)
    return (x > y) - (x < y)


def size(value: dict) -> int:
    """Bytes a value counts for (DynamoDB's item size rules, approximately)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("SS", "NS", "BS"):
        return sum(size({kind[0]: v}) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(size(v) + 1 for v in inner)
    return 1


def item_size(item: dict) -> int:
    return sum(len(name.encode("utf-8")) + size(value) for name, value in item.items())
