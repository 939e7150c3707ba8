"""CloudWatch Logs filter patterns, compiled to a predicate over a message.

Supported: terms (`ERROR`), quoted phrases (`"user login"`), optional terms (`?ERROR ?WARN`:
at least one), exclusions (`-DEBUG`), and JSON patterns (`{ $.level = "error" && $.ms > 100 }`
with = != < <= > >=, `*` wildcards in strings, IS NULL / IS TRUE / IS FALSE, EXISTS,
NOT EXISTS, && || and parentheses). Terms are case-sensitive substrings, as in AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from vpclocal.errors import ServiceError

Predicate = Callable[[str], bool]


def invalid(pattern: str) -> ServiceError:
    # AWS's wording for a pattern it cannot parse (InvalidParameterException)
    return ServiceError("Invalid filter pattern", code="InvalidParameterException")


def compile_pattern(pattern: str | None) -> Predicate:
    text = (pattern or "").strip()
    if not text or text == '""':
        return lambda message: True
    if text.startswith("{"):
        return _json_pattern(text)
    if text.startswith("["):
        raise ServiceError("vpclocal does not support space-delimited filter patterns yet.",
                           code="InvalidParameterException")
    return _term_pattern(text)


# ---- terms -------------------------------------------------------------------------------

_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _term_pattern(text: str) -> Predicate:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        found = _TERM.match(text, pos)
        if found is None:
            raise invalid(text)
        sign, quoted, bare = found.groups()
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        if '"' in (bare or ""):
            raise invalid(text)
        {"": required, "?": optional, "-": excluded}[sign].append(term)
        pos = found.end()

    def match(message: str) -> bool:
        return (all(t in message for t in required)
                and (not optional or any(t in message for t in optional))
                and not any(t in message for t in excluded))
    return match


# ---- JSON --------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r"""\s*(?:
    (?P<sel>\$(?:\.[A-Za-z0-9_\-@]+|\[\d+\]|\.\*)*)
  | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<kw>IS\s+NULL|IS\s+TRUE|IS\s+FALSE|NOT\s+EXISTS|EXISTS)\b
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w*])
  | (?P<word>[^\s()&|=!<>"]+)
)""", re.VERBOSE)

_MISSING = object()


def _tokens(body: str, whole: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    body = body.rstrip()
    while pos < len(body):
        found = _JSON_TOKEN.match(body, pos)
        if found is None or found.end() == pos:
            raise invalid(whole)
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        pos = found.end()
    return out


def _json_pattern(text: str) -> Predicate:
    if not text.endswith("}"):
        raise invalid(text)
    tokens = _tokens(text[1:-1], text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise invalid(text)
        pos += 1
        return tokens[pos - 1]

    def expr():
        parts = [conj()]
        while peek() == ("op", "||"):
            take()
            parts.append(conj())
        return parts[0] if len(parts) == 1 else lambda doc: any(f(doc) for f in parts)

    def conj():
        parts = [atom()]
        while peek() == ("op", "&&"):
            take()
            parts.append(atom())
        return parts[0] if len(parts) == 1 else lambda doc: all(f(doc) for f in parts)

    def atom():
        kind, value = take()
        if (kind, value) == ("op", "("):
            inner = expr()
            if take() != ("op", ")"):
                raise invalid(text)
            return inner
        if kind != "sel":
            raise invalid(text)
        path = re.findall(r"\.([^.\[]+)|\[(\d+)\]", value[1:])
        kind2, op = take()
        if kind2 == "kw":
            return _keyword(path, " ".join(op.split()))
        if kind2 != "op" or op not in _COMPARE:
            raise invalid(text)
        vkind, raw = take()
        if vkind not in ("str", "num", "word"):
            raise invalid(text)
        return _comparison(path, op, vkind, raw, text)

    predicate = expr()
    if pos != len(tokens):
        raise invalid(text)

    def match(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        return bool(predicate(doc))
    return match


def _resolve(doc, path: list[tuple[str, str]]):
    for key, index in path:
        if key == "*":
            continue  # `$.*` style wildcards: treated as the object itself
        if index:
            if not isinstance(doc, list) or int(index) >= len(doc):
                return _MISSING
            doc = doc[int(index)]
        else:
            if not isinstance(doc, dict) or key not in doc:
                return _MISSING
            doc = doc[key]
    return doc


def _keyword(path, keyword: str):
    checks = {
        "IS NULL": lambda v: v is None,
        "IS TRUE": lambda v: v is True,
        "IS FALSE": lambda v: v is False,
        "EXISTS": lambda v: v is not _MISSING,
        "NOT EXISTS": lambda v: v is _MISSING,
    }[keyword]
    return lambda doc: checks(_resolve(doc, path))


_COMPARE = {"=", "!=", "<", "<=", ">", ">="}
_NUMERIC = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__,
            "=": float.__eq__, "!=": float.__ne__}


def _comparison(path, op: str, kind: str, raw: str, whole: str):
    if kind == "num":
        number = float(raw)

        def numeric(doc) -> bool:
            value = _resolve(doc, path)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                # a string field compared with = to a number still matches its text
                return op in ("=", "!=") and isinstance(value, str) and (
                    (value == raw) == (op == "="))
            return _NUMERIC[op](float(value), number)
        return numeric
    if op not in ("=", "!="):
        raise invalid(whole)  # strings only compare for equality
    literal = json.loads(raw) if kind == "str" else raw
    regex = re.compile("^" + ".*".join(map(re.escape, literal.split("*"))) + "$", re.DOTALL)

    def string(doc) -> bool:
        value = _resolve(doc, path)
        if value is _MISSING or isinstance(value, (dict, list)):
            return op == "!=" and value is not _MISSING
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        else:
            text = str(value)
        return bool(regex.match(text)) == (op == "=")
    return string
