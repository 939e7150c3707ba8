"""DynamoDB's expression language: condition, key condition, filter, update and projection
expressions — one tokenizer, one recursive-descent parser, evaluation against stored items.

Names (`#n`) and values (`:v`) are resolved while parsing, so an undefined one is the request's
error whatever the item holds (as DynamoDB checks expressions before evaluating them); the
parser records which were used, for the "unused in expressions" check.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from vpclocal.services.dynamodb import values as V
from vpclocal.services.dynamodb.values import validation

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<alias>\#[A-Za-z0-9_]+)
  | (?P<value>:[A-Za-z0-9_]+)
  | (?P<number>[0-9]+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|<=|>=|[=<>()\[\],.+\-])
""", re.VERBOSE)
KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN"}
COMPARATORS = {"=", "<>", "<", "<=", ">", ">="}
CONDITION_FUNCTIONS = {"attribute_exists", "attribute_not_exists", "attribute_type",
                       "begins_with", "contains"}
TYPE_NAMES = {"S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"}
# Words an expression may not name an attribute by (AWS's list, in a data file of its own)
RESERVED_WORDS = frozenset(
    word for line in (Path(__file__).parent / "reserved_words.txt").read_text().splitlines()
    if not line.startswith("#") for word in line.split())


@dataclass
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass
class Context:
    """The request's ExpressionAttributeNames/Values and which of them were used."""

    names: dict
    values: dict
    used_names: set = field(default_factory=set)
    used_values: set = field(default_factory=set)

    def check_unused(self) -> None:
        unused = sorted(set(self.names) - self.used_names)
        if unused:
            raise validation("Value provided in ExpressionAttributeNames unused in expressions:"
                             f" keys: {{{', '.join(unused)}}}")
        unused = sorted(set(self.values) - self.used_values)
        if unused:
            raise validation("Value provided in ExpressionAttributeValues unused in "
                             f"expressions: keys: {{{', '.join(unused)}}}")


def tokenize(text: str, label: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if found is None:
            raise validation(f"Invalid {label}: Syntax error; token: \"{text[pos]}\", "
                             f"near: \"{text[max(pos - 1, 0):pos + 2].strip()}\"")
        kind = found.lastgroup
        if kind != "space":
            word = found.group()
            if kind == "name" and word.upper() in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, word, pos, found.end()))
        pos = found.end()
    return tokens


# ---- AST (tuples) -------------------------------------------------------------------------------
# ("path", [name | index...]) ("value", av) ("size", path) ("cmp", op, a, b)
# ("between", a, lo, hi) ("in", a, [b...]) ("func", name, [args]) ("and"|"or", a, b) ("not", a)


class Parser:
    def __init__(self, text: str, label: str, ctx: Context) -> None:
        if not text.strip():
            raise validation(f"Invalid {label}: The expression can not be empty;")
        self.text = text
        self.label = label
        self.ctx = ctx
        self.tokens = tokenize(text, label)
        self.pos = 0

    # -- helpers
    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def error(self, token: Token | None = None):
        token = token if token is not None else self.peek()
        if token is None:
            last = self.tokens[-1] if self.tokens else None
            near = self.text[last.start:].strip() if last else ""
            return validation(f"Invalid {self.label}: Syntax error; token: \"<EOF>\", "
                              f"near: \"{near}\"")
        index = self.tokens.index(token)
        first = self.tokens[max(index - 1, 0)]
        last = self.tokens[min(index + 1, len(self.tokens) - 1)]
        return validation(f"Invalid {self.label}: Syntax error; token: \"{token.text}\", "
                          f"near: \"{self.text[first.start:last.end]}\"")

    def take(self, kind: str | None = None, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind) or \
                (text and token.text.upper() != text):
            raise self.error()
        self.pos += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text.upper() == text and token.kind != "alias"

    def done(self) -> None:
        if self.peek() is not None:
            raise self.error()

    # -- names and values
    def name(self, token: Token) -> str:
        if token.kind == "alias":
            if token.text not in self.ctx.names:
                raise validation(f"Invalid {self.label}: An expression attribute name used in "
                                 f"the document path is not defined; attribute name: "
                                 f"{token.text}")
            self.ctx.used_names.add(token.text)
            return self.ctx.names[token.text]
        if token.text.upper() in RESERVED_WORDS:
            raise validation(f"Invalid {self.label}: Attribute name is a reserved keyword; "
                             f"reserved keyword: {token.text}")
        return token.text

    def value(self, token: Token) -> dict:
        if token.text not in self.ctx.values:
            raise validation(f"Invalid {self.label}: An expression attribute value used in "
                             f"expression is not defined; attribute value: {token.text}")
        self.ctx.used_values.add(token.text)
        return self.ctx.values[token.text]

    # -- grammar
    def path(self) -> tuple:
        token = self.peek()
        if token is None or token.kind not in ("name", "alias"):
            raise self.error()
        self.pos += 1
        parts: list = [self.name(token)]
        while True:
            if self.at("."):
                self.pos += 1
                token = self.peek()
                if token is None or token.kind not in ("name", "alias", "keyword"):
                    raise self.error()
                self.pos += 1
                parts.append(self.name(token))
            elif self.at("["):
                self.pos += 1
                parts.append(int(self.take("number").text))
                self.take(text="]")
            else:
                return ("path", parts)

    def operand(self) -> tuple:
        token = self.peek()
        if token is None:
            raise self.error()
        if token.kind == "value":
            self.pos += 1
            return ("value", self.value(token))
        if token.kind == "name" and token.text == "size" and self.peek(1) is not None \
                and self.peek(1).text == "(":
            self.pos += 2
            inner = self.path()
            self.take(text=")")
            return ("size", inner)
        if token.kind == "name" and self.peek(1) is not None and self.peek(1).text == "(":
            raise validation(f"Invalid {self.label}: The function is not allowed to be used "
                             f"this way in an expression; function: {token.text}")
        return self.path()

    def condition(self) -> tuple:
        node = self.conjunction()
        while self.at("OR"):
            self.pos += 1
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple:
        node = self.negation()
        while self.at("AND"):
            self.pos += 1
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple:
        if self.at("NOT"):
            self.pos += 1
            return ("not", self.negation())
        return self.predicate()

    def predicate(self) -> tuple:
        token = self.peek()
        if token is None:
            raise self.error()
        if token.text == "(":
            self.pos += 1
            node = self.condition()
            self.take(text=")")
            return node
        if token.kind == "name" and token.text in CONDITION_FUNCTIONS and \
                self.peek(1) is not None and self.peek(1).text == "(":
            self.pos += 2
            args = [self.operand()]
            while self.at(","):
                self.pos += 1
                args.append(self.operand())
            self.take(text=")")
            return self.function(token.text, args)
        left = self.operand()
        token = self.peek()
        if token is not None and token.text in COMPARATORS:
            self.pos += 1
            return ("cmp", token.text, left, self.operand())
        if self.at("BETWEEN"):
            self.pos += 1
            low = self.operand()
            self.take(text="AND")
            return ("between", left, low, self.operand())
        if self.at("IN"):
            self.pos += 1
            self.take(text="(")
            options = [self.operand()]
            while self.at(","):
                self.pos += 1
                options.append(self.operand())
            self.take(text=")")
            return ("in", left, options)
        raise self.error()

    def function(self, name: str, args: list) -> tuple:
        wanted = 1 if name in ("attribute_exists", "attribute_not_exists") else 2
        if len(args) != wanted:
            raise validation(f"Invalid {self.label}: Incorrect number of operands for operator "
                             f"or function; operator or function: {name}, number of operands: "
                             f"{len(args)}")
        if args[0][0] != "path":
            raise validation(f"Invalid {self.label}: Operator or function requires a document "
                             f"path; operator or function: {name}")
        if name == "attribute_type":
            kind = args[1][1] if args[1][0] == "value" else None
            if kind is None or kind.get("S") not in TYPE_NAMES:
                shown = kind.get("S") if kind else ""
                raise validation(f"Invalid {self.label}: Invalid attribute type name found; "
                                 f"type: {shown}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}")
        return ("func", name, args)


def parse_condition(text: str, label: str, ctx: Context) -> tuple:
    parser = Parser(text, label, ctx)
    node = parser.condition()
    parser.done()
    _check_between(node, label)
    return node


def _check_between(node: tuple, label: str) -> None:
    if node[0] in ("and", "or"):
        _check_between(node[1], label)
        _check_between(node[2], label)
    elif node[0] == "not":
        _check_between(node[1], label)
    elif node[0] == "between" and node[2][0] == node[3][0] == "value":
        low, high = node[2][1], node[3][1]
        order = V.compare(low, high)
        if order is not None and order > 0:
            raise validation(f"Invalid {label}: The BETWEEN operator requires upper bound to be "
                             "greater than or equal to lower bound; lower bound operand: "
                             f"AttributeValue: {_show(low)}, upper bound operand: "
                             f"AttributeValue: {_show(high)}")


def _show(value: dict) -> str:
    kind, inner = next(iter(value.items()))
    return f"{{{kind}:{inner}}}"


# ---- evaluation ---------------------------------------------------------------------------------


def resolve(item: dict, parts: list) -> dict | None:
    """The value at a document path, or None."""
    current: dict | None = {"M": item}
    for part in parts:
        if current is None:
            return None
        if isinstance(part, int):
            items = current.get("L")
            current = items[part] if items is not None and part < len(items) else None
        else:
            members = current.get("M")
            current = members.get(part) if members is not None else None
    return current


def operand_value(node: tuple, item: dict) -> dict | None:
    kind = node[0]
    if kind == "value":
        return node[1]
    if kind == "path":
        return resolve(item, node[1])
    if kind == "size":
        value = resolve(item, node[1][1])
        if value is None:
            return None
        vkind, inner = next(iter(value.items()))
        if vkind == "S":
            return {"N": str(len(inner))}
        if vkind == "B":
            return {"N": str(len(V.sort_key(value)))}
        if vkind in ("SS", "NS", "BS", "L", "M"):
            return {"N": str(len(inner))}
        return None
    raise AssertionError(node)


def evaluate(node: tuple, item: dict) -> bool:
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], item) and evaluate(node[2], item)
    if kind == "or":
        return evaluate(node[1], item) or evaluate(node[2], item)
    if kind == "not":
        return not evaluate(node[1], item)
    if kind == "cmp":
        left, right = operand_value(node[2], item), operand_value(node[3], item)
        op = node[1]
        if op == "=":
            return V.equal(left, right)
        if op == "<>":
            return left is not None and right is not None and not V.equal(left, right)
        order = V.compare(left, right)
        if order is None:
            return False
        return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]
    if kind == "between":
        value = operand_value(node[1], item)
        low = V.compare(value, operand_value(node[2], item))
        high = V.compare(value, operand_value(node[3], item))
        return low is not None and high is not None and low >= 0 and high <= 0
    if kind == "in":
        value = operand_value(node[1], item)
        return any(V.equal(value, operand_value(option, item)) for option in node[2])
    if kind == "func":
        return _function(node[1], node[2], item)
    raise AssertionError(node)


def _function(name: str, args: list, item: dict) -> bool:
    target = operand_value(args[0], item)
    if name == "attribute_exists":
        return target is not None
    if name == "attribute_not_exists":
        return target is None
    other = operand_value(args[1], item)
    if target is None or other is None:
        return False
    if name == "attribute_type":
        return V.kind_of(target) == other.get("S")
    tkind, okind = V.kind_of(target), V.kind_of(other)
    if name == "begins_with":
        if tkind != okind or tkind not in ("S", "B"):
            return False
        return V.sort_key(target).startswith(V.sort_key(other))
    if name == "contains":
        if tkind == "S" and okind == "S":
            return other["S"] in target["S"]
        if tkind == "B" and okind == "B":
            return V.sort_key(other) in V.sort_key(target)
        if tkind in ("SS", "NS", "BS") and okind == tkind[0]:
            return any(V.equal({okind: v}, other) for v in target[tkind])
        if tkind == "L":
            return any(V.equal(v, other) for v in target["L"])
        return False
    raise AssertionError(name)


# ---- projection ---------------------------------------------------------------------------------


def parse_projection(text: str, ctx: Context) -> list[list]:
    parser = Parser(text, "ProjectionExpression", ctx)
    paths = [parser.path()[1]]
    while parser.at(","):
        parser.pos += 1
        paths.append(parser.path()[1])
    parser.done()
    _check_overlap(paths, "ProjectionExpression")
    return paths


def project(item: dict, paths: list[list]) -> dict:
    out: dict = {}
    for parts in paths:
        value = resolve(item, parts)
        if value is None:
            continue
        _place(out, parts, value)
    return out


def _place(out: dict, parts: list, value: dict) -> None:
    """Put `value` at `parts` in a projected item (list indexes are compacted, as DynamoDB
    does)."""
    node: dict = {"M": out}
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(part, int):
            items = node.setdefault("L", [])
            if last:
                items.append(value)
                return
            items.append({})
            node = items[-1]
            nxt = parts[i + 1]
            node.setdefault("L" if isinstance(nxt, int) else "M", [] if isinstance(nxt, int)
                            else {})
        else:
            members = node.setdefault("M", {})
            if last:
                members[part] = value
                return
            nxt = parts[i + 1]
            child = members.setdefault(part, {"L": []} if isinstance(nxt, int) else {"M": {}})
            node = child


# ---- update expressions -------------------------------------------------------------------------


CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")


def parse_update(text: str, ctx: Context) -> list[tuple]:
    """[(clause, path parts, value node or None)] in the order given."""
    label = "UpdateExpression"
    parser = Parser(text, label, ctx)
    actions: list[tuple] = []
    seen: set[str] = set()
    while parser.peek() is not None:
        token = parser.take()
        clause = token.text.upper()
        if clause not in CLAUSES or token.kind != "name":
            raise parser.error(token)
        if clause in seen:
            raise validation(f'Invalid {label}: The "{clause}" section can only be used once in '
                             "an update expression;")
        seen.add(clause)
        while True:
            path = parser.path()[1]
            if clause == "SET":
                parser.take(text="=")
                actions.append((clause, path, _set_value(parser)))
            elif clause in ("ADD", "DELETE"):
                token = parser.peek()
                if token is None or token.kind != "value":
                    raise parser.error()
                parser.pos += 1
                actions.append((clause, path, ("value", parser.value(token))))
            else:
                actions.append((clause, path, None))
            if parser.at(","):
                parser.pos += 1
                continue
            break
    _check_overlap([a[1] for a in actions], label)
    return actions


def _set_value(parser: Parser) -> tuple:
    left = _set_operand(parser)
    if parser.at("+") or parser.at("-"):
        op = parser.take().text
        return ("plus" if op == "+" else "minus", left, _set_operand(parser))
    return left


def _set_operand(parser: Parser) -> tuple:
    token = parser.peek()
    if token is not None and token.kind == "name" and token.text in \
            ("if_not_exists", "list_append") and parser.peek(1) is not None and \
            parser.peek(1).text == "(":
        parser.pos += 2
        first = _set_value(parser)
        parser.take(text=",")
        second = _set_value(parser)
        parser.take(text=")")
        if token.text == "if_not_exists" and first[0] != "path":
            raise validation("Invalid UpdateExpression: Operator or function requires a "
                             "document path; operator or function: if_not_exists")
        return (token.text, first, second)
    return parser.operand()


def _show_path(parts: list) -> str:
    return "[" + ", ".join(f"[{p}]" if isinstance(p, int) else p for p in parts) + "]"


def _check_overlap(paths: list[list], label: str) -> None:
    """Document paths of one expression (a projection, an update's targets) must neither
    overlap (one the other's prefix, or the same) nor conflict (one a map member where the other
    is a list element); every pair is checked for overlap first."""
    pairs = [(first, second) for i, first in enumerate(paths) for second in paths[i + 1:]]
    for first, second in pairs:
        short = min(len(first), len(second))
        if first[:short] == second[:short]:
            raise validation(f"Invalid {label}: Two document paths overlap with each other; "
                             "must remove or rewrite one of these paths; path one: "
                             f"{_show_path(first)}, path two: {_show_path(second)}")
    for first, second in pairs:
        common = next(i for i, (a, b) in enumerate(zip(first, second)) if a != b)
        if isinstance(first[common], int) != isinstance(second[common], int):
            raise validation(f"Invalid {label}: Two document paths conflict with each other; "
                             "must remove or rewrite one of these paths; path one: "
                             f"{_show_path(first)}, path two: {_show_path(second)}")


def _operand_type(value: dict) -> str:
    return {"S": "STRING", "N": "NUMBER", "B": "BINARY", "SS": "SS", "NS": "NS", "BS": "BS",
            "M": "MAP", "L": "LIST", "BOOL": "BOOLEAN", "NULL": "NULL"}[V.kind_of(value)]


def _update_value(node: tuple, item: dict) -> dict:
    kind = node[0]
    if kind in ("plus", "minus"):
        left, right = _update_value(node[1], item), _update_value(node[2], item)
        for operand in (left, right):
            if V.kind_of(operand) != "N":
                raise validation("Invalid UpdateExpression: Incorrect operand type for operator "
                                 f"or function; operator or function: {'+' if kind == 'plus' else '-'}"
                                 f", operand type: {_operand_type(operand)}")
        a, b = Decimal(left["N"]), Decimal(right["N"])
        return {"N": V.number_text(a + b if kind == "plus" else a - b)}
    if kind == "if_not_exists":
        current = resolve(item, node[1][1])
        return current if current is not None else _update_value(node[2], item)
    if kind == "list_append":
        left, right = _update_value(node[1], item), _update_value(node[2], item)
        for operand in (left, right):
            if V.kind_of(operand) != "L":
                raise validation("Invalid UpdateExpression: Incorrect operand type for operator "
                                 "or function; operator or function: list_append, operand type:"
                                 f" {_operand_type(operand)}")
        return {"L": left["L"] + right["L"]}
    value = operand_value(node, item)
    if value is None:
        raise validation("The provided expression refers to an attribute that does not exist "
                         "in the item")
    return value


def _parent(item: dict, parts: list) -> dict | None:
    """The container value holding the last element of `parts`."""
    if len(parts) == 1:
        return {"M": item}
    return resolve(item, parts[:-1])


INVALID_PATH = "The document path provided in the update expression is invalid for update"


def _assign(item: dict, parts: list, value: dict) -> None:
    parent = _parent(item, parts)
    last = parts[-1]
    if isinstance(last, int):
        if parent is None or "L" not in parent:
            raise validation(INVALID_PATH)
        items = parent["L"]
        if last < len(items):
            items[last] = value
        else:
            items.append(value)
    else:
        if parent is None or "M" not in parent:
            raise validation(INVALID_PATH)
        parent["M"][last] = value


def _remove(item: dict, parts: list) -> None:
    parent = _parent(item, parts)
    last = parts[-1]
    if parent is None:
        return
    if isinstance(last, int):
        if "L" in parent and last < len(parent["L"]):
            del parent["L"][last]
    elif "M" in parent:
        parent["M"].pop(last, None)


def _remove_elements(item: dict, paths: list[list]) -> None:
    """REMOVE of list elements: every index names a position in the list as it was before the
    update (REMOVE l[0], l[1] on [a, b, c] leaves [c]), so all the lists are found first and
    each loses its elements from the highest index down."""
    doomed: dict[int, tuple[list, set[int]]] = {}
    for parts in paths:
        parent = _parent(item, parts)
        if parent is not None and "L" in parent and parts[-1] < len(parent["L"]):
            doomed.setdefault(id(parent["L"]), (parent["L"], set()))[1].add(parts[-1])
    for items, indexes in doomed.values():
        for index in sorted(indexes, reverse=True):
            del items[index]


def apply_update(item: dict, actions: list[tuple]) -> dict:
    """A new item with the actions applied (values computed against the old item)."""
    old = item
    new = copy.deepcopy(item)
    elements = []  # list elements to remove, once every other action is done
    for clause, parts, node in actions:
        if clause == "SET":
            _assign(new, parts, _update_value(node, old))
        elif clause == "REMOVE" and isinstance(parts[-1], int):
            elements.append(parts)
        elif clause == "REMOVE":
            _remove(new, parts)
        elif clause == "ADD":
            value = node[1]
            current = resolve(new, parts)
            kind = V.kind_of(value)
            if kind not in ("N", "SS", "NS", "BS") or (
                    current is not None and V.kind_of(current) != kind):
                bad = value if kind not in ("N", "SS", "NS", "BS") else current
                raise validation("Invalid UpdateExpression: Incorrect operand type for operator "
                                 f"or function; operator: ADD, operand type: "
                                 f"{_operand_type(bad)}")
            if current is None:
                _assign(new, parts, value)
            elif kind == "N":
                _assign(new, parts, {"N": V.number_text(Decimal(current["N"])
                                                        + Decimal(value["N"]))})
            else:
                merged = list(current[kind]) + [v for v in value[kind] if not any(
                    V.equal({kind[0]: v}, {kind[0]: c}) for c in current[kind])]
                _assign(new, parts, {kind: merged})
        elif clause == "DELETE":
            value = node[1]
            kind = V.kind_of(value)
            current = resolve(new, parts)
            if kind not in ("SS", "NS", "BS") or (
                    current is not None and V.kind_of(current) != kind):
                bad = value if kind not in ("SS", "NS", "BS") else current
                raise validation("Invalid UpdateExpression: Incorrect operand type for operator "
                                 f"or function; operator: DELETE, operand type: "
                                 f"{_operand_type(bad)}")
            if current is None:
                continue
            kept = [c for c in current[kind] if not any(
                V.equal({kind[0]: c}, {kind[0]: v}) for v in value[kind])]
            if kept:
                _assign(new, parts, {kind: kept})
            else:
                _remove(new, parts)
    _remove_elements(new, elements)
    return new


def top_level_names(actions: list[tuple]) -> set[str]:
    return {parts[0] for _, parts, _ in actions}


def updated_paths(actions: list[tuple]) -> list[list]:
    """The document paths an update writes: what ReturnValues UPDATED_OLD / UPDATED_NEW show
    (a nested SET m.a returns {m: {a: ...}}, not m's other members)."""
    return [parts for _, parts, _ in actions]
