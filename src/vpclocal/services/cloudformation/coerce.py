"""Template values to the types an operation's input shape wants: templates write "5" and
"true" where the API takes an integer or a boolean (CloudFormation converts them likewise)."""

from __future__ import annotations

from botocore.model import Shape


def coerce(value, shape: Shape | None):
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: coerce(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [coerce(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {str(k): coerce(v, shape.value) for k, v in value.items()}
    if kind in ("integer", "long") and isinstance(value, str | float) \
            and not isinstance(value, bool):
        try:
            return int(float(value))
        except ValueError:
            return value
    if kind in ("float", "double") and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    return value
