"""What the two REST protocols (rest-json for Lambda, rest-xml for S3) share: routing by method +
URI template, and the members bound to the URI, query string, headers and status code.

Each protocol subclasses `RestProtocol` with its own route class (S3's also tells operations
apart by required query keys and headers) and its own body: `body_params` reads a request body
(JSON or XML) and `bad_body` words a value that does not fit its shape.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
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
    """An operation's `http.requestUri` as a regex over the path, plus its static `?x=y` parts;
    `specificity` orders routes so the most literal one is tried first."""

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


class RestProtocol(Protocol):
    """Routing and the HTTP-bound members; subclasses read and write the body."""

    route_class: type[Route] = Route
    lower_header_names = True  # response headers in lower case (S3: as the model spells them)

    def __init__(self) -> None:
        self._routes: dict[str, list[Route]] = {}

    def routes(self, service: ServiceModel) -> list[Route]:
        key = service.service_name
        if key not in self._routes:
            routes = [self.route_class(service.operation_model(n))
                      for n in service.operation_names]
            routes.sort(key=lambda r: r.specificity, reverse=True)
            self._routes[key] = routes
        return self._routes[key]

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        for route in self.routes(service):
            if route.match(request) is not None:
                return route.operation.name
        return None

    # ---- request ----------------------------------------------------------------------------

    def body_params(self, body: bytes, shape: Shape, payload: str | None) -> dict:
        """The members a (non-blank) body carries: the structure `payload` names, or else
        the shape's unbound members."""
        raise NotImplementedError

    def bad_body(self, exc: BadValue) -> ServiceError:
        """The error for a value that does not fit its shape."""
        raise NotImplementedError

    def bad_argument(self, name: str, text: str | None, member: Shape,
                     exc: BadValue) -> ServiceError:
        """The error for a URI label, query parameter or header (`name` on the wire, `text`
        as sent) that does not fit its member's shape; by default the body's."""
        return self.bad_body(exc)

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict:
        shape = operation.input_shape
        if shape is None:
            return {}
        route = next(r for r in self.routes(operation.service_model) if r.operation is operation)
        labels = Route.match(route, request) or {}  # the operation is found: the URI alone
        params: dict = {}
        payload = shape.serialization.get("payload")
        body_members = False
        for name, member in shape.members.items():
            where = member.serialization.get("location")
            key = member.serialization.get("name", name)
            text = None
            try:
                if where == "uri":
                    if key in labels:
                        text = labels[key]
                        params[name] = scalar_from_text(text, member)
                elif where == "querystring":
                    if member.type_name == "map":
                        params[name] = {k: v[0] for k, v in request.query.items()}
                    elif member.type_name == "list" and key in request.query:
                        params[name] = [scalar_from_text(text := v, member.member)
                                        for v in request.query[key]]
                    elif key in request.query:
                        text = request.query[key][0]
                        params[name] = scalar_from_text(text, member)
                elif where == "header":
                    text = request.headers.get(key.lower())
                    if text is not None:
                        params[name] = header_value(text, member)
                elif where == "headers":
                    prefix = key.lower()
                    found = {k[len(prefix):]: v for k, v in request.headers.items()
                             if k.startswith(prefix)}
                    if found:
                        params[name] = found
                elif where is None and name != payload:
                    body_members = True
            except BadValue as exc:
                raise self.bad_argument(key, text, member, exc) from None
        try:
            kind = shape.members[payload].type_name if payload else None
            if kind == "blob":
                if request.body:
                    params[payload] = request.body
            elif kind == "string":
                if request.body:
                    params[payload] = request.body.decode("utf-8", "replace")
            elif (payload or body_members) and request.body.strip():
                params.update(self.body_params(request.body, shape, payload))
        except BadValue as exc:
            raise self.bad_body(exc) from None
        self.validate(params, shape, operation.service_model)
        return params

    # ---- response ---------------------------------------------------------------------------

    def bound_output(self, shape: Shape, result: dict,
                     response: HttpResponse) -> Iterator[tuple[str, Shape, object]]:
        """Write the result's members bound to the status code and headers into `response`, in
        the model's order; yield the others (the body's) as they come."""
        case = str.lower if self.lower_header_names else str
        for name, member in shape.members.items():
            value = result.get(name)
            if value is None:
                continue
            where = member.serialization.get("location")
            key = member.serialization.get("name", name)
            if where is None:
                yield name, member, value
            elif where == "statusCode":
                response.status = int(value)
            elif where == "header":
                response.headers[case(key)] = header_text(value, member)
            elif where == "headers":
                for k, v in value.items():
                    response.headers[case(key + k)] = str(v)
