"""The `query` protocol (IAM, STS, RDS, ElastiCache) and its `ec2` dialect.

Requests are form-encoded (`Action=...&Filter.1.Name=...`); responses and errors are XML.
Names, list wrappers and flattening all come from the botocore shapes.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import (
    BadValue,
    HttpRequest,
    HttpResponse,
    Protocol,
    format_timestamp,
    scalar_from_text,
)

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


# Characters XML 1.0 cannot carry at all (even as references): shown as U+FFFD. A carriage
# return is legal but parsers turn it into a line feed, so it travels as a reference.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\r\ud800-\udfff\ufffe\uffff]")


def _xml_unsafe(found: re.Match) -> str:
    return "&#13;" if found.group() == "\r" else "\ufffd"


def xml_escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    if not (text.isascii() and text.isprintable()):  # the common case skips the regex
        text = _XML_UNSAFE.sub(_xml_unsafe, text)
    return text


def _form_tree(pairs: list[tuple[str, str]]) -> dict:
    """`Filter.1.Value.2=x` -> {"Filter": {"1": {"Value": {"2": "x"}}}}."""
    tree: dict = {}
    for key, value in pairs:
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if parts[-1] not in node:  # a nested value wins over a bare one
            node[parts[-1]] = value
    return tree


class QueryProtocol(Protocol):
    name = "query"
    validation_code = "ValidationError"

    def __init__(self) -> None:
        self._plans: dict = {}

    # ---- request ----------------------------------------------------------------------------

    def _params(self, request: HttpRequest) -> list[tuple[str, str]]:
        pairs = [(k, v) for k, values in request.query.items() for v in values]
        if request.body:
            pairs += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return pairs

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        for key, value in self._params(request):
            if key == "Action":
                return value
        return None

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict:
        tree = _form_tree(self._params(request))
        shape = operation.input_shape
        if shape is None:
            return {}
        params = self._from_tree(tree, shape, "")
        self.validate(params, shape, operation.service_model)
        return params

    def member_name(self, shape: Shape, default: str) -> str:
        return shape.serialization.get("name", default)

    def list_items(self, node, shape: Shape):
        if shape.serialization.get("flattened"):
            return node
        if not isinstance(node, dict):
            return node
        return node.get(shape.member.serialization.get("name", "member"), {})

    def _from_tree(self, node, shape: Shape, path: str):
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(node, dict):
                raise self.bad_value(path, node)
            out = {}
            for name, member in shape.members.items():
                key = self.member_name(member, name)
                if key in node:
                    out[name] = self._from_tree(node[key], member, f"{path}.{key}".lstrip("."))
            return out
        if kind == "list":
            items = self.list_items(node, shape)
            if items == "" or items is None:
                return []
            if not isinstance(items, dict):
                raise self.bad_value(path, items)
            ordered = sorted(items.items(), key=lambda kv: _index(kv[0]))
            return [self._from_tree(v, shape.member, f"{path}.{k}") for k, v in ordered]
        if kind == "map":
            entries = node if shape.serialization.get("flattened") else (
                node.get("entry", {}) if isinstance(node, dict) else {})
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            out = {}
            for _, entry in sorted(entries.items(), key=lambda kv: _index(kv[0])):
                if isinstance(entry, dict) and key_name in entry:
                    out[entry[key_name]] = self._from_tree(
                        entry.get(value_name, ""), shape.value, path)
            return out
        if isinstance(node, dict):
            raise self.bad_value(path, "")
        try:
            return scalar_from_text(node, shape)
        except BadValue:
            raise self.bad_value(path, node) from None

    def missing_operation(self, request: HttpRequest) -> ServiceError:
        # MissingAction (400) is in AWS's common errors of the query APIs; the wording is ours
        return ServiceError("The request must contain the parameter Action",
                            code="MissingAction")

    def bad_value(self, path: str, value) -> ServiceError:
        # A value that does not parse as its type; AWS's exact wording for this is unconfirmed
        return ServiceError(
            f"1 validation error detected: Value '{value}' at '{_member_path(path)}' failed to "
            "satisfy constraint: Member must be of the right type", code=self.validation_code)

    # ---- response ---------------------------------------------------------------------------

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        name = operation.name
        ns = operation.service_model.metadata.get("xmlNamespace", "")
        out = [_XML_HEAD, f'<{name}Response xmlns="{ns}">']
        shape = operation.output_shape
        wrapper = shape.serialization.get("resultWrapper") if shape is not None else None
        if shape is not None:
            if wrapper:
                out.append(f"<{wrapper}>")
            self.members_xml(out, result, shape)
            if wrapper:
                out.append(f"</{wrapper}>")
        out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>")
        out.append(f"</{name}Response>")
        return self.xml_response(200, out)

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        ns = service.metadata.get("xmlNamespace", "")
        kind = "Sender" if error.sender_fault else "Receiver"
        body = [
            _XML_HEAD, f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type>',
            f"<Code>{xml_escape(error.code)}</Code>",
            f"<Message>{xml_escape(error.message)}</Message>",
            "</Error>", f"<RequestId>{request_id}</RequestId></ErrorResponse>",
        ]
        return self.xml_response(error.status, body, error.headers)

    @staticmethod
    def xml_response(status: int, parts: list[str], headers=None) -> HttpResponse:
        head = {"content-type": "text/xml"}
        if headers:
            head.update(headers)
        return HttpResponse(status, head, "".join(parts).encode())

    # Serializing walks a plan per structure and list shape, built once from the botocore
    # shape: member names, ready-made tags and kinds, so the hot loop does no model lookups.
    omit_when_empty: frozenset[str] = frozenset()

    def _plan(self, shape: Shape) -> tuple:
        cached = self._plans.get(id(shape))
        if cached is not None and cached[0] is shape:
            return cached[1]
        plan = []
        for name, member in shape.members.items():
            tag = member.serialization.get("name", name)
            plan.append((name, f"<{tag}>", f"</{tag}>", _KINDS.get(member.type_name, _SCALAR),
                         member, name in self.omit_when_empty, tag))
        self._plans[id(shape)] = (shape, tuple(plan))  # holding the shape keeps its id unique
        return self._plans[id(shape)][1]

    def _list_plan(self, shape: Shape, tag: str) -> tuple:
        cached = self._plans.get((id(shape), tag))
        if cached is not None and cached[0] is shape:
            return cached[1]
        member = shape.member
        flat = bool(shape.serialization.get("flattened"))
        item_tag = member.serialization.get("name", tag if flat else "member")
        plan = (flat, f"<{item_tag}>", f"</{item_tag}>", _KINDS.get(member.type_name, _SCALAR),
                member, item_tag)
        self._plans[(id(shape), tag)] = (shape, plan)
        return plan

    def members_xml(self, out: list[str], value: dict, shape: Shape) -> None:
        get = value.get
        append = out.append
        for name, open_tag, close_tag, kind, member, omit, tag in self._plan(shape):
            item = get(name)
            if item is None or (omit and not item):
                continue
            if kind is _STRING:
                append(open_tag + xml_escape(item if item.__class__ is str else str(item))
                       + close_tag)
            elif kind is _BOOLEAN:
                append(open_tag + ("true" if item else "false") + close_tag)
            elif kind is _NUMBER:
                append(open_tag + str(item) + close_tag)
            elif kind is _STRUCTURE:
                append(open_tag)
                self.members_xml(out, item, member)
                append(close_tag)
            else:
                self.value_xml(out, item, member, tag)

    def value_xml(self, out: list[str], value, shape: Shape, tag: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            out.append(f"<{tag}>")
            self.members_xml(out, value, shape)
            out.append(f"</{tag}>")
        elif kind == "list":
            flat, open_item, close_item, item_kind, member, item_tag = self._list_plan(shape, tag)
            append = out.append
            if not flat:
                append(f"<{tag}>")
            if item_kind is _STRUCTURE:
                for item in value:
                    append(open_item)
                    self.members_xml(out, item, member)
                    append(close_item)
            elif item_kind is _STRING:
                for item in value:
                    append(open_item + xml_escape(item if item.__class__ is str else str(item))
                           + close_item)
            else:
                for item in value:
                    self.value_xml(out, item, member, item_tag)
            if not flat:
                append(f"</{tag}>")
        elif kind == "map":
            map_xml(out, value, shape, tag, self.value_xml)
        else:
            out.append(f"<{tag}>{scalar_to_text(value, shape)}</{tag}>")


_STRING, _BOOLEAN, _NUMBER, _SCALAR, _STRUCTURE, _LIST, _MAP = (
    "string", "boolean", "number", "scalar", "structure", "list", "map")
_KINDS = {"string": _STRING, "boolean": _BOOLEAN, "integer": _NUMBER, "long": _NUMBER,
          "float": _NUMBER, "double": _NUMBER, "structure": _STRUCTURE, "list": _LIST,
          "map": _MAP}


def map_xml(out: list[str], value: dict, shape: Shape, tag: str, element, xmlns: str = "") -> None:
    """A map as `<tag><entry><key/><value/></entry>...</tag>` (flattened: one `<tag>` per
    entry); `element(out, value, shape, tag)` writes each key and value (query and rest-xml)."""
    key_tag = shape.key.serialization.get("name", "key")
    value_tag = shape.value.serialization.get("name", "value")
    flat = shape.serialization.get("flattened")
    if not flat:
        out.append(f"<{tag}{xmlns}>")
    for key, item in value.items():
        out.append(f"<{tag}>" if flat else "<entry>")
        element(out, key, shape.key, key_tag)
        element(out, item, shape.value, value_tag)
        out.append(f"</{tag}>" if flat else "</entry>")
    if not flat:
        out.append(f"</{tag}>")


def scalar_to_text(value, shape: Shape) -> str:
    """A scalar as XML text (query and rest-xml)."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, shape, "iso8601"))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    return xml_escape(value if isinstance(value, str) else str(value))


def _member_path(wire: str) -> str:
    """`Tags.2.Key` (form keys, list wrappers already stripped) as AWS's validation messages
    name it: `tags.2.member.key`."""
    parts = wire.split(".")
    out = []
    for i, part in enumerate(parts):
        if part.isdigit():
            out.append(part + (".member" if i < len(parts) - 1 else ""))
        else:
            out.append(part[:1].lower() + part[1:])
    return ".".join(out)


def _index(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return 1 << 30


# EC2 leaves these out of a response when they are empty (an untagged VPC has no tagSet).
EC2_OMIT_WHEN_EMPTY = frozenset({"Tags", "TagSet", "Ipv6CidrBlockAssociationSet",
                                 "Ipv6Addresses"})


class Ec2Protocol(QueryProtocol):
    """EC2's dialect: capitalized locationNames on input, flat lists, its own envelope."""

    name = "ec2"
    validation_code = "InvalidParameterValue"

    omit_when_empty = EC2_OMIT_WHEN_EMPTY

    def member_name(self, shape: Shape, default: str) -> str:
        ser = shape.serialization
        if "queryName" in ser:
            return ser["queryName"]
        if "name" in ser:
            return ser["name"][0].upper() + ser["name"][1:]
        return default

    def list_items(self, node, shape: Shape):
        return node

    def validate(self, params: dict, shape: Shape, service: ServiceModel) -> None:
        # EC2 checks presence only; value rules live in each operation.
        for name in shape.required_members:
            if params.get(name) is None:
                key = self.member_name(shape.members[name], name)
                raise ServiceError(
                    f"The request must contain the parameter {key}", code="MissingParameter")
        # Page sizes are checked against the model's range, in EC2's words; where the model
        # gives no minimum, a page holds at least one item (vpclocal's bound: AWS documents
        # 5 for most of these).
        limit, member = params.get("MaxResults"), shape.members.get("MaxResults")
        if isinstance(limit, int) and member is not None:
            low, high = member.metadata.get("min", 1), member.metadata.get("max")
            if low is not None and limit < low:
                raise ServiceError(f"Value ( {limit} ) for parameter maxResults is invalid. "
                                   f"Expecting a value greater than {low}.",
                                   code="InvalidParameterValue")
            if high is not None and limit > high:  # wording by analogy with the minimum
                raise ServiceError(f"Value ( {limit} ) for parameter maxResults is invalid. "
                                   f"Expecting a value less than {high}.",
                                   code="InvalidParameterValue")

    def bad_value(self, path: str, value) -> ServiceError:
        # EC2 phrases bad values as "Value ( 3 ) for parameter maxResults is invalid. Expecting
        # a value greater than 5."; what follows "is invalid." for a type error is unconfirmed.
        name = ".".join(p[:1].lower() + p[1:] for p in path.split("."))
        return ServiceError(f"Value ( {value} ) for parameter {name} is invalid.",
                            code="InvalidParameterValue")

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        name = operation.name
        ns = operation.service_model.metadata.get("xmlNamespace", "").rstrip("/") + "/"
        out = [_XML_HEAD, f'<{name}Response xmlns="{ns}"><requestId>{request_id}</requestId>']
        if operation.output_shape is not None:
            self.members_xml(out, result, operation.output_shape)
        out.append(f"</{name}Response>")
        return self.xml_response(200, out)

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        body = [
            _XML_HEAD, "<Response><Errors><Error>",
            f"<Code>{xml_escape(error.code)}</Code>",
            f"<Message>{xml_escape(error.message)}</Message>",
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>",
        ]
        return self.xml_response(error.status, body, error.headers)
