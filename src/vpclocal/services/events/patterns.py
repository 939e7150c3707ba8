"""EventBridge's event pattern language: validation with AWS's messages, and matching.

    compiled = compile_pattern('{"source": ["shop"], "detail": {"n": [{"numeric": [">", 5]}]}}')
    matches(compiled, event)  # event: a dict in the shape EventBridge delivers

A pattern is a JSON object whose leaves are arrays of match values: strings, numbers, true,
false, null (exact matches), or one-key objects: prefix, suffix (a string, or
{"equals-ignore-case": s}), anything-but (a value, a list of strings or of numbers, or
{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}), numeric ([op, n] or
[">"|">=", n, "<"|"<=", m]), exists (true/false), equals-ignore-case, wildcard, cidr. "$or"
takes an array of at least two patterns. An event matches when every field of the pattern
matches; a field whose event value is an array matches when any element does.

The pattern is read as a stream of tokens, in the order AWS's rule compiler reads it, so the
first problem found is the one AWS reports, with the position Jackson (its JSON parser) gives:
"Event pattern is not valid. Reason: <why>\n at [Source: (String)"<pattern>"; line: L,
column: C]".
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from vpclocal.errors import ServiceError

OR = "$or"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_SOURCE_LIMIT = 500  # Jackson quotes at most this many characters of the source


class PatternError(Exception):
    def __init__(self, reason: str, end: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.end = end  # offset just after the token being read (None: no location)


def invalid(text: str, exc: PatternError) -> ServiceError:
    """AWS's InvalidEventPatternException for a pattern that does not compile."""
    message = f"Event pattern is not valid. Reason: {exc.reason}"
    if exc.end is not None:
        before = text[:exc.end]
        line = before.count("\n") + 1
        column = exc.end - (before.rfind("\n") + 1) + 1
        quoted = text[:_SOURCE_LIMIT]
        more = len(text) - len(quoted)
        cut = f"[truncated {more} chars]" if more > 0 else ""
        message += f'\n at [Source: (String)"{quoted}"{cut}; line: {line}, column: {column}]'
    return ServiceError(message, code="InvalidEventPatternException")


# ---- tokens --------------------------------------------------------------------------------

@dataclass
class Token:
    """A token and where Jackson's parser stands while it is the current one: after a string
    value's opening quote (its text is read lazily: `text_end` once it is), and after a field
    name, past the colon and the first character of its value (the whole value if a number
    or a literal), which Jackson reads ahead."""

    kind: str  # { } [ ] field string number true false null
    value: object
    end: int
    text_end: int = 0


def _tokens(text: str) -> Iterator[Token]:
    """JSON tokens with their end offsets; syntax errors raise when they are reached."""
    stack: list[str] = []  # "{" or "["
    pos = 0
    expect = "value"  # value | key | after (a comma or the end of the container) | done
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            if expect == "done":
                return
            raise PatternError("Unexpected end-of-input: expected close marker for "
                               + ("Object" if stack and stack[-1] == "{" else "Array"), pos)
        c = text[pos]
        if expect == "done":
            raise PatternError(f"Unexpected character ('{c}' (code {ord(c)})): expected a "
                               "valid value", pos + 1)
        if expect == "after":
            if c == ",":
                pos += 1
                expect = "key" if stack[-1] == "{" else "value"
                continue
            closer = "}" if stack[-1] == "{" else "]"
            if c != closer:
                what = "Object" if closer == "}" else "Array"
                raise PatternError(f"Unexpected character ('{c}' (code {ord(c)})): was "
                                   f"expecting comma to separate {what} entries", pos + 1)
            stack.pop()
            pos += 1
            expect = "after" if stack else "done"
            yield Token(closer, None, pos)
            continue
        if expect == "key":
            if c == "}" and _only_space_since(text, pos, "{"):
                stack.pop()
                pos += 1
                expect = "after" if stack else "done"
                yield Token("}", None, pos)
                continue
            if c != '"':
                raise PatternError(f"Unexpected character ('{c}' (code {ord(c)})): was "
                                   "expecting double-quote to start field name", pos + 1)
            name, pos = _string(text, pos)
            while pos < n and text[pos] in " \t\r\n":
                pos += 1
            if pos >= n or text[pos] != ":":
                got = text[pos] if pos < n else "end-of-input"
                raise PatternError(f"Unexpected character ('{got}'): was expecting a colon to "
                                   "separate field name and value", min(pos + 1, n))
            pos += 1
            expect = "value"
            yield Token("field", name, _lookahead(text, pos))
            continue
        # a value
        if c in "{[":
            stack.append(c)
            pos += 1
            expect = "key" if c == "{" else "value"
            yield Token(c, None, pos)
            continue
        if c == "]" and stack and stack[-1] == "[" and _only_space_since(text, pos, "["):
            stack.pop()
            pos += 1
            expect = "after" if stack else "done"
            yield Token("]", None, pos)
            continue
        if c in "]},:":
            raise PatternError(f"Unexpected character ('{c}' (code {ord(c)})): expected a "
                               "value", pos + 1)
        if c == '"':
            opened = pos + 1
            value, pos = _string(text, pos)
            expect = "after" if stack else "done"
            yield Token("string", value, opened, pos)
            continue
        elif c == "-" or c.isdigit():
            found = _NUMBER.match(text, pos)
            if found is None:
                raise PatternError("Unexpected character ('-' (code 45)) in numeric value: "
                                   "expected digit (0-9) to follow minus sign, for valid "
                                   "numeric value", pos + 1)
            pos = found.end()
            literal = found.group()
            value = float(literal) if (found.group(1) or found.group(2)) else int(literal)
            kind = "number"
        else:
            for word, val in (("true", True), ("false", False), ("null", None)):
                if text.startswith(word, pos):
                    pos += len(word)
                    kind, value = word, val
                    break
            else:
                word = re.match(r"[^\s,:\[\]{}\"]*", text[pos:]).group() or c
                raise PatternError(f"Unrecognized token '{word}': was expecting (JSON String, "
                                   "Number, Array, Object or token 'null', 'true' or 'false')",
                                   pos + len(word))
        expect = "after" if stack else "done"
        yield Token(kind, value, pos)


def _lookahead(text: str, pos: int) -> int:
    """Where Jackson stands after reading a field name whose value starts at or after pos."""
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    if pos >= len(text):
        return pos
    number = _NUMBER.match(text, pos)
    if number is not None:
        return number.end()
    for word in ("true", "false", "null"):
        if text.startswith(word, pos):
            return pos + len(word)
    return pos + 1


def _only_space_since(text: str, pos: int, opener: str) -> bool:
    back = pos - 1
    while back >= 0 and text[back] in " \t\r\n":
        back -= 1
    return back >= 0 and text[back] == opener


def _string(text: str, pos: int) -> tuple[str, int]:
    """The JSON string starting at text[pos] (a quote) and the offset after it."""
    end = pos + 1
    while True:
        end = text.find('"', end)
        if end < 0:
            raise PatternError("Unexpected end-of-input: was expecting closing quote for a "
                               "string value", len(text))
        backslashes = 0
        while text[end - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            break
        end += 1
    try:
        return json.loads(text[pos:end + 1]), end + 1
    except ValueError:
        raise PatternError("Unrecognized character escape", end + 1) from None


# ---- the compiler --------------------------------------------------------------------------

Rule = dict  # path (tuple of field names) -> list of matchers (kind, argument)


class _Compiler:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.last: Token | None = None

    def next(self) -> Token:
        self.last = next(self.tokens)
        return self.last

    def fail(self, reason: str, read: bool = False):
        """Refuse the pattern where the parser stands (past the current string's text if it
        was read)."""
        last = self.last
        end = 0 if last is None else (last.text_end if read and last.text_end else last.end)
        raise PatternError(reason, end)

    def compile(self) -> list[Rule]:
        try:
            first = self.next()
        except StopIteration:
            raise PatternError("No content to map due to end-of-input", 0) from None
        if first.kind != "{":
            self.fail("Filter is not an object")
        rules: list[Rule] = [{}]
        self.object(rules, (), inside_or=False)
        for _ in self.tokens:  # what follows the pattern must still be JSON
            pass
        return rules

    def object(self, rules: list[Rule], path: tuple, inside_or: bool) -> None:
        present = False
        while (token := self.next()).kind != "}":
            present = True
            name = token.value
            if name == OR:
                self.or_relationship(rules, path)
                continue
            value = self.next()
            if value.kind == "{":
                self.object(rules, path + (name,), inside_or)
            elif value.kind == "[":
                matchers = self.values()
                for rule in rules:
                    rule[path + (name,)] = matchers
            else:
                self.fail(f'"{name}" must be an object or an array')
        if not present:
            self.fail("Empty objects are not allowed")

    def or_relationship(self, rules: list[Rule], path: tuple) -> None:
        current = [dict(rule) for rule in rules]
        rules.clear()
        if self.next().kind != "[":
            self.fail(f"It must be an Array followed with {OR}.")
        count = 0
        while (token := self.next()).kind != "]":
            count += 1
            if token.kind != "{":
                self.fail(f"Only JSON object is allowed in array of {OR} relationship.")
            branch = [dict(rule) for rule in current] or [{}]
            self.object(branch, path, inside_or=True)
            rules.extend(branch)
        if count < 2:
            self.fail(f"There must have at least 2 Objects in {OR} relationship.")

    def values(self) -> list:
        matchers = []
        while (token := self.next()).kind != "]":
            if token.kind == "{":
                matchers.append(self.match_expression())
            elif token.kind in ("string", "number", "true", "false", "null"):
                matchers.append(("exact", token.value))
            else:
                self.fail("Match value must be String, number, true, false, or null")
        if not matchers:
            self.fail("Empty arrays are not allowed")
        return matchers

    def close(self, reason: str = "Only one key allowed in match expression") -> None:
        if self.next().kind != "}":
            self.fail(reason)

    def string_of(self, what: str) -> str:
        token = self.next()
        if token.kind != "string":
            self.fail(f"{what} match pattern must be a string")
        return token.value

    def match_expression(self):
        token = self.next()
        if token.kind != "field":
            self.fail("Match expression name not found")
        kind = token.value
        if kind in ("prefix", "suffix"):
            value = self.next()
            if value.kind == "{":
                key = self.next()
                if key.kind != "field" or key.value != "equals-ignore-case":
                    self.fail(f"Unsupported {kind} pattern: {key.value}")
                text = self.string_of("equals-ignore-case")
                self.close()
                self.close()
                return (kind + "-ignore-case", text.lower())
            if value.kind != "string":
                self.fail(f"{kind} match pattern must be a string")
            self.close()
            return (kind, value.value)
        if kind in ("equals-ignore-case", "wildcard"):
            text = self.string_of(kind)
            if kind == "wildcard":
                self.check_wildcard(text)
            self.close()
            return (kind, text.lower() if kind == "equals-ignore-case" else _wildcard(text))
        if kind == "exists":
            value = self.next()
            if value.kind not in ("true", "false"):
                self.fail("exists match pattern must be either true or false.")
            self.close()
            return ("exists", value.value)
        if kind == "numeric":
            if self.next().kind != "[":
                self.fail("Value of numeric must be an array.")
            ranges = self.numeric()
            self.close("Too many elements in numeric expression")
            return ("numeric", ranges)
        if kind == "cidr":
            text = self.string_of("prefix")
            network = _cidr(text)
            self.close()
            return ("cidr", network)
        if kind == "anything-but":
            return self.anything_but()
        self.fail(f"Unrecognized match type {kind}")

    def check_wildcard(self, text: str) -> None:
        for i in range(1, len(text)):
            if text[i] == "*" and text[i - 1] == "*" and (i < 2 or text[i - 2] != "\\"):
                self.fail(f"Consecutive wildcard characters at pos {i}")

    def numeric(self) -> tuple:
        token = self.next()
        if token.kind != "string":
            self.fail(f"Invalid member in numeric match: {_text(token)}")
        op = token.value
        value = self.next()
        if op not in ("=", ">", ">=", "<", "<="):
            self.fail(f"Unrecognized numeric range operator: {op}")
        if value.kind != "number":
            self.fail(f"Value of {'equals' if op == '=' else op} must be numeric")
        low = value.value
        if op in ("=", "<", "<="):
            if self.next().kind != "]":
                self.fail("Too many elements in numeric expression")
            return ((op, low),)
        token = self.next()
        if token.kind == "]":
            return ((op, low),)
        if token.kind != "string":
            self.fail(f"Bad value in numeric range: {_text(token)}")
        top_op = token.value
        if top_op not in ("<", "<="):
            self.fail(f"Bad numeric range operator: {top_op}", read=True)
        top = self.next()
        if top.kind != "number":
            self.fail(f"Value of {top_op} must be numeric")
        if self.next().kind != "]":
            self.fail("Too many terms in numeric range expression")
        if top.value < low or (top.value == low and (op == ">" or top_op == "<")):
            self.fail("Bottom must be less than top")
        return ((op, low), (top_op, top.value))

    def anything_but(self):
        token = self.next()
        variant = ""
        if token.kind == "{":
            key = self.next()
            if key.kind != "field":
                self.fail("Anything-But expression name not found")
            variant = key.value
            if variant not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
                self.fail(f"Unsupported anything-but pattern: {variant}")
            token = self.next()
        if token.kind not in ("[", "string", "number"):
            self.fail("Value of anything-but must be an array or single string/number value.")
        if token.kind == "[":
            values = []
            kinds = set()
            while (item := self.next()).kind != "]":
                if variant and item.kind != "string":
                    self.fail(f"Inside anything-but/{variant} list, number|start|null|boolean "
                              "is not supported.")
                if item.kind not in ("string", "number"):
                    self.fail("Inside anything but list, start|null|boolean is not supported.")
                kinds.add(item.kind)
                values.append(item.value)
            if not variant and len(kinds) != 1:
                self.fail("Inside anything but list, either all values are number or string, "
                          "mixed type is not supported")
        else:
            if variant and token.kind != "string":
                self.fail(f"Inside anything-but/{variant} list, number|start|null|boolean is "
                          "not supported.")
            values = [token.value]
        if variant in ("prefix", "suffix") and any(v == "" for v in values):
            self.fail("Null prefix/suffix not allowed", read=True)
        if variant == "wildcard":
            for value in values:
                self.check_wildcard(value)
        self.close("Too many elements in numeric expression")
        if variant:
            self.close("Too many elements in numeric expression")
        if variant == "equals-ignore-case":
            values = [v.lower() for v in values]
        elif variant == "wildcard":
            values = [_wildcard(v) for v in values]
        return ("anything-but" + (f"-{variant}" if variant else ""), values)


def _text(token: Token) -> str:
    if token.kind in ("string", "number", "field"):
        return str(token.value)
    return {"true": "true", "false": "false", "null": "null"}.get(token.kind, token.kind)


def _wildcard(text: str) -> re.Pattern:
    parts = re.split(r"(\\\*|\*)", text)
    body = "".join(".*" if p == "*" else re.escape("*") if p == "\\*" else re.escape(p)
                   for p in parts)
    return re.compile(body, re.DOTALL)


def _cidr(text: str):
    if text.count("/") != 1:
        raise PatternError("Malformed CIDR, one '/' required")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PatternError(f"Invalid CIDR: {text}") from None


def compile_pattern(text: str) -> list[Rule]:
    """The pattern as a list of alternative rules; InvalidEventPatternException if invalid."""
    try:
        return _Compiler(text).compile()
    except PatternError as exc:
        raise invalid(text, exc) from None
    except RecursionError:
        raise invalid(text, PatternError("the pattern is nested too deeply")) from None


# ---- matching ------------------------------------------------------------------------------

def _leaves(value, path: tuple) -> list:
    """The leaf values at a path; arrays on the way (and at the end) count element-wise."""
    found = []

    def walk(node, rest):
        if isinstance(node, list):
            for item in node:
                walk(item, rest)
            return
        if not rest:
            if not isinstance(node, dict):
                found.append(node)
            return
        if isinstance(node, dict) and rest[0] in node:
            walk(node[rest[0]], rest[1:])

    walk(value, path)
    return found


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_COMPARE = {"=": lambda a, b: a == b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


def _same(value, wanted) -> bool:
    if _is_number(wanted):
        return _is_number(value) and value == wanted
    if wanted is None or isinstance(wanted, bool):
        return value is wanted
    return value == wanted


def _matches_value(matcher, value) -> bool:
    kind, arg = matcher
    text = value if isinstance(value, str) else None
    if kind == "exact":
        return _same(value, arg)
    if kind == "prefix":
        return text is not None and text.startswith(arg)
    if kind == "suffix":
        return text is not None and text.endswith(arg)
    if kind == "prefix-ignore-case":
        return text is not None and text.lower().startswith(arg)
    if kind == "suffix-ignore-case":
        return text is not None and text.lower().endswith(arg)
    if kind == "equals-ignore-case":
        return text is not None and text.lower() == arg
    if kind == "wildcard":
        return text is not None and arg.fullmatch(text) is not None
    if kind == "numeric":
        return _is_number(value) and all(_COMPARE[op](value, bound) for op, bound in arg)
    if kind == "cidr":
        try:
            return text is not None and ipaddress.ip_address(text) in arg
        except ValueError:
            return False
    if kind == "anything-but":
        return not any(_same(value, v) for v in arg)
    if text is None:  # the anything-but variants on strings: other values pass
        return True
    if kind == "anything-but-prefix":
        return not any(text.startswith(v) for v in arg)
    if kind == "anything-but-suffix":
        return not any(text.endswith(v) for v in arg)
    if kind == "anything-but-equals-ignore-case":
        return text.lower() not in arg
    if kind == "anything-but-wildcard":
        return not any(p.fullmatch(text) for p in arg)
    return False


def _field_matches(matchers: list, leaves: list) -> bool:
    for matcher in matchers:
        if matcher[0] == "exists":
            if bool(leaves) == matcher[1]:
                return True
        elif any(_matches_value(matcher, value) for value in leaves):
            return True
    return False


def matches(rules: list[Rule], event: dict) -> bool:
    """Whether an event (a dict) matches a compiled pattern."""
    return any(all(_field_matches(matchers, _leaves(event, path))
                   for path, matchers in rule.items()) for rule in rules)
