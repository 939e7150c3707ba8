"""What a target receives: the event itself, or its Input, InputPath or InputTransformer.

JSON paths are the simple ones EventBridge takes: `$`, `$.detail.name`, `$.resources[0]`.
An InputTemplate's `<name>` placeholders take the values its InputPathsMap selects (and the
predefined aws.events.* ones): inside a JSON string the value's text, elsewhere its JSON.
"""

from __future__ import annotations

import json
import re

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
MISSING = object()


def valid_path(path: str) -> bool:
    if not path.startswith("$"):
        return False
    rest = path[1:]
    pos = 0
    while pos < len(rest):
        found = _STEP.match(rest, pos)
        if found is None:
            return False
        pos = found.end()
    return True


def select(event, path: str):
    """The value a JSON path selects, or MISSING."""
    node = event
    for key, index in _STEP.findall(path[1:]):
        if key:
            if not isinstance(node, dict) or key not in node:
                return MISSING
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return MISSING
            node = node[int(index)]
    return node


def _inside_string(template: str, pos: int) -> bool:
    """Whether position pos of a JSON template is inside a string literal."""
    inside = False
    i = 0
    while i < pos:
        c = template[i]
        if c == "\\" and inside:
            i += 2
            continue
        if c == '"':
            inside = not inside
        i += 1
    return inside


def transform(target: dict, event: dict, rule_arn: str, rule_name: str) -> bytes:
    """The payload a target receives for an event."""
    if "Input" in target:
        return target["Input"].encode()
    if target.get("InputPath"):
        value = select(event, target["InputPath"])
        return json.dumps(None if value is MISSING else value).encode()
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event).encode()
    values = {name: select(event, path)
              for name, path in (transformer.get("InputPathsMap") or {}).items()}
    values.update({"aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule_name,
                   "aws.events.event": event, "aws.events.event.json": event,
                   "aws.events.event.ingestion-time": event.get("time")})
    template = transformer["InputTemplate"]

    def fill(found: re.Match) -> str:
        name = found.group(1)
        if name not in values:
            return found.group(0)
        value = values[name]
        if value is MISSING:
            value = None
        if _inside_string(template, found.start()):
            text = value if isinstance(value, str) else json.dumps(value)
            return json.dumps(text)[1:-1]
        return json.dumps(value)

    return _PLACEHOLDER.sub(fill, template).encode()
