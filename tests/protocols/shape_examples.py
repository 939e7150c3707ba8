"""Example values generated from botocore shapes, for round-trip tests of every operation.

`Examples(...).value(shape)` builds a value that satisfies the shape's constraints (required
members, min/max lengths and ranges, enums and — where Python's `re` understands it — the
pattern), so that it passes both botocore's client-side validation and our server-side one.
Recursive shapes are cut off after a depth limit.
"""

from __future__ import annotations

import datetime as dt
import re
from re import _constants as sre_c
from re import _parser as sre_parse

from botocore.model import Shape

# Text that exercises escaping in XML and JSON and non-ASCII encoding.
RICH_TEXT = "v<&>\"'é"
PLAIN_TEXT = "ex"
# Milliseconds survive every body encoding; HTTP-date headers carry whole seconds.
STAMP = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
STAMP_SECONDS = STAMP.replace(microsecond=0)
BLOB = b"\x00\xffblob\n"

_CANDIDATE_CHARS = "a0Az_-.:/ b1"


def _in_set(char: str, items) -> bool:
    code = ord(char)
    hit = False
    negate = False
    for op, av in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            hit = hit or code == av
        elif op is sre_c.RANGE:
            hit = hit or av[0] <= code <= av[1]
        elif op is sre_c.CATEGORY:
            hit = hit or bool(re.fullmatch(_CATEGORY_RE.get(av, "(?!)"), char))
    return hit != negate


_CATEGORY_RE = {
    sre_c.CATEGORY_DIGIT: r"\d", sre_c.CATEGORY_NOT_DIGIT: r"\D",
    sre_c.CATEGORY_WORD: r"\w", sre_c.CATEGORY_NOT_WORD: r"\W",
    sre_c.CATEGORY_SPACE: r"\s", sre_c.CATEGORY_NOT_SPACE: r"\S",
}


def _first_char(items) -> str | None:
    for char in _CANDIDATE_CHARS:
        if _in_set(char, items):
            return char
    for op, av in items:  # a set of only unusual characters: take its first member
        if op is sre_c.LITERAL:
            return chr(av)
        if op is sre_c.RANGE:
            return chr(av[0])
    return None


def _from_tree(tree, reps: int) -> str | None:
    out = []
    for op, av in tree:
        if op is sre_c.LITERAL:
            out.append(chr(av))
        elif op is sre_c.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op is sre_c.ANY:
            out.append("a")
        elif op is sre_c.IN:
            char = _first_char(av)
            if char is None:
                return None
            out.append(char)
        elif op is sre_c.CATEGORY:
            char = _first_char([(op, av)])
            if char is None:
                return None
            out.append(char)
        elif op is sre_c.BRANCH:  # the first alternative that yields a non-empty text
            texts = [_from_tree(alternative, reps) for alternative in av[1]]
            texts = [t for t in texts if t is not None]
            if not texts:
                return None
            out.append(next((t for t in texts if t), texts[0]))
        elif op is sre_c.SUBPATTERN:
            text = _from_tree(av[3], reps)
            if text is None:
                return None
            out.append(text)
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            count = max(low, min(high, reps))
            for _ in range(count):
                text = _from_tree(sub, reps)
                if text is None:
                    return None
                out.append(text)
        elif op in (sre_c.AT, sre_c.ASSERT, sre_c.ASSERT_NOT):
            continue
        else:
            return None
    return "".join(out)


_regex_cache: dict[tuple, str | None] = {}


def text_for_pattern(pattern: str, low: int, high: int) -> str | None:
    """A short string that fully matches `pattern` with a length in [low, high], or None."""
    key = (pattern, low, high)
    if key in _regex_cache:
        return _regex_cache[key]
    found = None
    try:
        compiled = re.compile(pattern)
        tree = sre_parse.parse(pattern)
    except (re.error, ValueError, OverflowError):
        compiled = tree = None
    if tree is not None:
        for reps in (1, 2, 3, 0, low, high, 5, 8, 12, 20, 32, 64, 128):
            text = _from_tree(tree, reps)
            if text is not None and low <= len(text) <= high and compiled.fullmatch(text):
                found = text
                break
    _regex_cache[key] = found
    return found


def _is_empty(value) -> bool:
    if isinstance(value, dict):
        return not value
    if isinstance(value, list):
        return all(_is_empty(v) for v in value)
    return False


def _distinct_keys(first: str, shape: Shape, wanted: int) -> list[str]:
    """`wanted` different map keys that still fit the key shape's pattern and length."""
    keys = [first]
    pattern = shape.metadata.get("pattern")
    high = shape.metadata.get("max", 1 << 20)
    for suffix in "bcdefghij0123456789":
        if len(keys) >= wanted:
            break
        for candidate in (first + suffix, suffix + first, first[:-1] + suffix):
            if candidate in keys or not 0 < len(candidate) <= high:
                continue
            try:
                if pattern and not re.fullmatch(pattern, candidate):
                    continue
            except re.error:
                pass
            keys.append(candidate)
            break
    return keys


class Examples:
    """Builds example values for shapes.

    `rich` puts characters that need escaping into unconstrained strings; `max_depth` bounds how
    deep optional members are followed; `wire_stamps` picks whole-second timestamps where a
    member travels as an HTTP-date header.
    """

    def __init__(self, *, rich: bool = True, max_depth: int = 5, list_size: int = 2) -> None:
        self.rich = rich
        self.max_depth = max_depth
        self.list_size = list_size
        self._flip = False
        self.unmatched: list[str] = []  # patterns no example could be generated for

    def value(self, shape: Shape, depth: int = 0, stack: tuple = ()):
        kind = shape.type_name
        handler = getattr(self, "_" + kind)
        return handler(shape, depth, stack)

    # ---- aggregates ---------------------------------------------------------------------

    def _structure(self, shape, depth, stack):
        if shape.name in stack and depth > 1:
            return {}
        stack = stack + (shape.name,)
        members = shape.members
        if shape.metadata.get("union") and members:
            name, member = next(iter(members.items()))
            return {name: self.value(member, depth + 1, stack)}
        out = {}
        required = set(shape.required_members)
        for name, member in members.items():
            if member.serialization.get("eventstream") or member.metadata.get("eventstream"):
                continue
            recursive = (member.type_name == "structure" and member.name in stack) or (
                member.type_name == "list" and member.member.name in stack)
            if name not in required and (depth >= self.max_depth or recursive):
                continue
            where = member.serialization.get("location")
            if where == "statusCode":
                out[name] = 200
            elif where == "header" and member.type_name == "timestamp":
                out[name] = STAMP_SECONDS
            elif where in ("header", "headers", "uri", "querystring"):
                out[name] = self._wire_safe(member, depth + 1, stack)
            else:
                value = self.value(member, depth + 1, stack)
                if name not in required and _is_empty(value):
                    continue  # an empty structure has no wire form in the query protocols
                out[name] = value
        if not out and members:  # an empty structure would vanish on the query wire
            for name, member in members.items():
                if member.name not in stack and not member.serialization.get("eventstream"):
                    out[name] = self.value(member, depth + 1, stack)
                    break
        return out

    def _wire_safe(self, shape, depth, stack):
        rich, self.rich = self.rich, False
        try:
            return self.value(shape, depth, stack)
        finally:
            self.rich = rich

    def _list(self, shape, depth, stack):
        meta = shape.metadata
        size = max(meta.get("min", 0), min(meta.get("max", self.list_size), self.list_size))
        if depth >= self.max_depth:
            size = max(meta.get("min", 0), min(size, 1))
        items = []
        for i in range(size):
            item = self.value(shape.member, depth + 1, stack)
            if isinstance(item, str) and i and shape.member.enum and len(shape.member.enum) > i:
                item = shape.member.enum[i]
            items.append(item)
        return items

    def _map(self, shape, depth, stack):
        wanted = max(shape.metadata.get("min", 1), 1 if depth >= self.max_depth else 2)
        keys = list(shape.key.enum[:wanted]) or _distinct_keys(
            self.value(shape.key, depth + 1, stack), shape.key, wanted)
        return {key: self.value(shape.value, depth + 1, stack) for key in keys}

    # ---- scalars ------------------------------------------------------------------------

    def _string(self, shape, depth, stack):
        meta = shape.metadata
        if shape.enum:
            return shape.enum[0]
        low = meta.get("min", 0)
        high = meta.get("max", 1 << 20)
        pattern = meta.get("pattern")
        if pattern:
            text = text_for_pattern(pattern, max(low, 1) if low else 0, high)
            if text is None:
                text = text_for_pattern(pattern, low, high)
            if text is not None:
                return text
            self.unmatched.append(pattern)
        base = RICH_TEXT if self.rich else PLAIN_TEXT
        text = base
        while len(text) < low:
            text += base
        return text[:high] if high >= 1 else text

    def _integer(self, shape, depth, stack):
        meta = shape.metadata
        low, high = meta.get("min"), meta.get("max")
        value = 7
        if low is not None:
            value = max(value, int(low))
        if high is not None:
            value = min(value, int(high))
        return value

    def _long(self, shape, depth, stack):
        meta = shape.metadata
        low, high = meta.get("min"), meta.get("max")
        value = 1 << 40
        if high is not None:
            value = min(value, int(high))
        if low is not None:
            value = max(value, int(low))
        return value

    def _float(self, shape, depth, stack):
        meta = shape.metadata
        value = 2.5
        if "min" in meta:
            value = max(value, float(meta["min"]))
        if "max" in meta:
            value = min(value, float(meta["max"]))
        return value

    _double = _float

    def _boolean(self, shape, depth, stack):
        self._flip = not self._flip
        return self._flip

    def _timestamp(self, shape, depth, stack):
        if shape.serialization.get("timestampFormat") == "rfc822":
            return STAMP_SECONDS  # an HTTP-date carries whole seconds wherever it travels
        return STAMP

    def _blob(self, shape, depth, stack):
        return BLOB
