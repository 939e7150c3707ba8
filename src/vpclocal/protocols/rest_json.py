"""The `rest-json` protocol (Lambda): operations by method + URI template, JSON bodies.

Routes are compiled from each operation's `http.requestUri`; members bound to the URI, query
string, headers and status code are read and written from the shape's `location` traits.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import unquote

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
from vpclocal.protocols.document import from_document, to_document
from vpclocal.protocols.json_rpc import error_shape_for


def header_text(value, shape: Shape) -> str:
    """A member bound to an HTTP header, as text."""
    kind = shape.type_name
    if kind == "timestamp":
        return str(format_timestamp(value, shape, "rfc822"))
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "list":
        return ", ".join(header_text(v, shape.member) for v in value)
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    return str(value)


def header_value(text: str, shape: Shape):
    """A header's text as the member's value (the reverse of `header_text`)."""
    kind = shape.type_name
    if kind == "list":
        return [scalar_from_text(part.strip(), shape.member) for part in text.split(",")]
    if kind == "string" and shape.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text))
        except ValueError:
            raise BadValue(text) from None
    return scalar_from_text(text, shape)


class Route:
    def __init__(self, operation: OperationModel) -> None:
        self.operation = operation
        self.method = operation.http["method"]
        path, _, query = operation.http["requestUri"].partition("?")
        self.required_query = dict(
            (p.split("=", 1) + [""])[:2] for p in query.split("&") if p)  # static ?x=y parts
        pattern = ""
        literal = 0
        for piece in re.split(r"(\{[^}]+\})", path):
            if piece.startswith("{"):
                name = piece[1:-1]
                greedy = name.endswith("+")
                name = name.rstrip("+")
                pattern += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
            else:
                pattern += re.escape(piece)
                literal += len(piece)
        self.regex = re.compile(pattern.rstrip("/") + "/?$")
        self.specificity = (literal, len(self.required_query))

    def match(self, request: HttpRequest) -> dict[str, str] | None:
        if request.method != self.method:
            return None
        raw = request.raw_path
        found = self.regex.match(request.path if raw is None else raw)
        if found is None:
            return None
        for key, value in self.required_query.items():
            if key not in request.query or (value and request.query[key][0] != value):
                return None
        if raw is None:
            return found.groupdict()
        return {k: unquote(v) for k, v in found.groupdict().items()}


class RestJsonProtocol(Protocol):
    name = "rest-json"
    validation_code = "ValidationException"

    def __init__(self) -> None:
        self._routes: dict[str, list[Route]] = {}

    def routes(self, service: ServiceModel) -> list[Route]:
        key = service.service_name
        if key not in self._routes:
            routes = [Route(service.operation_model(n)) for n in service.operation_names]
            routes.sort(key=lambda r: r.specificity, reverse=True)
            self._routes[key] = routes
        return self._routes[key]

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        for route in self.routes(service):
            if route.match(request) is not None:
                return route.operation.name
        return None

    def unknown_operation(self, name: str) -> ServiceError:
        return ServiceError(f"No operation matches {name}.", code="UnknownOperationException",
                            status=404)

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict:
        shape = operation.input_shape
        if shape is None:
            return {}
        labels = next(r for r in self.routes(operation.service_model)
                      if r.operation is operation).match(request) or {}
        params: dict = {}
        body_members = {}
        payload = shape.serialization.get("payload")
        try:
            for name, member in shape.members.items():
                where = member.serialization.get("location")
                key = member.serialization.get("name", name)
                if where == "uri":
                    if key in labels:
                        params[name] = scalar_from_text(labels[key], member)
                elif where == "querystring":
                    if member.type_name == "list" and key in request.query:
                        params[name] = [scalar_from_text(v, member.member)
                                        for v in request.query[key]]
                    elif key in request.query:
                        params[name] = scalar_from_text(request.query[key][0], member)
                elif where == "header":
                    value = request.headers.get(key.lower())
                    if value is not None:
                        params[name] = header_value(value, member)
                elif where is None and name != payload:
                    body_members[name] = member
            if payload:
                member = shape.members[payload]
                if member.type_name == "blob":
                    if request.body:
                        params[payload] = request.body
                elif member.type_name == "string":
                    if request.body:
                        params[payload] = request.body.decode("utf-8", "replace")
                elif request.body.strip():
                    document = self._json(request.body)
                    if document != {}:  # clients send {} when the payload member is absent
                        params[payload] = from_document(document, member, payload)
            elif body_members and request.body.strip():
                document = self._json(request.body)
                if not isinstance(document, dict):
                    raise BadValue("")
                params.update(from_document(document, shape))
        except BadValue as exc:
            where = f" at '{exc.args[0]}'" if exc.args and exc.args[0] else ""
            raise ServiceError(f"Unexpected value type in payload{where}",
                               code="SerializationException") from None
        self.validate(params, shape, operation.service_model)
        return params

    @staticmethod
    def _json(body: bytes):
        try:
            return json.loads(body)
        except ValueError:
            raise ServiceError("Could not parse request body into json: Unexpected character",
                               code="SerializationException") from None

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        status = operation.http.get("responseCode", 200)
        headers = {"content-type": "application/json", "x-amzn-requestid": request_id}
        shape = operation.output_shape
        if shape is None:
            return HttpResponse(status, headers, b"")
        payload = shape.serialization.get("payload")
        body_doc = {}
        raw_payload = None
        for name, member in shape.members.items():
            value = result.get(name)
            if value is None:
                continue
            where = member.serialization.get("location")
            key = member.serialization.get("name", name)
            if where == "statusCode":
                status = int(value)
            elif where == "header":
                headers[key.lower()] = header_text(value, member)
            elif where == "headers":
                for k, v in value.items():
                    headers[(key + k).lower()] = str(v)
            elif name == payload:
                if member.type_name in ("blob", "string"):
                    raw_payload = value.encode() if isinstance(value, str) else bytes(value)
                else:
                    body_doc = to_document(value, member)
            elif where is None:
                body_doc[key] = to_document(value, member)
        if raw_payload is not None:
            return HttpResponse(status, headers, raw_payload)
        if payload and result.get(payload) is None:  # e.g. Invoke with InvocationType Event
            return HttpResponse(status, headers, b"")
        if status == 204 and not body_doc:
            return HttpResponse(status, headers, b"")
        return HttpResponse(status, headers, json.dumps(body_doc, separators=(",", ":")).encode())

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        shape = error_shape_for(service, error.code)
        message_key = "message"
        if shape is not None and "Message" in shape.members and "message" not in shape.members:
            message_key = "Message"
        body = {"Type": "User" if error.sender_fault else "Service",
                message_key: error.message, **error.extra}
        headers = {"content-type": "application/json", "x-amzn-requestid": request_id,
                   "x-amzn-errortype": error.code, **error.headers}
        return HttpResponse(error.status, headers, json.dumps(body).encode())
