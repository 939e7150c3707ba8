"""The `json` protocol (CloudWatch Logs, DynamoDB): POST with X-Amz-Target, JSON both ways."""

from __future__ import annotations

import json

from botocore.model import OperationModel, ServiceModel, Shape

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import (
    BadValue,
    HttpRequest,
    HttpResponse,
    Protocol,
)
from vpclocal.protocols.document import BadDocument, from_document, load_json, to_document


def bad_signature_region(region: str) -> ServiceError:
    """A credential scoped to no region, as AWS's JSON and REST-JSON services answer it (the
    code of their signature errors; the message the query services' one)."""
    return ServiceError(f"Credential should be scoped to a valid region, not '{region}'. ",
                        code="InvalidSignatureException", status=403)


def unreadable(exc: BadDocument) -> ServiceError:
    """A body no service would read (nested too deeply, a lone surrogate): the wording is
    vpclocal's, the code the one AWS's JSON services answer an unparsable body with."""
    return ServiceError(f"The request body could not be read: {exc}.",
                        code="SerializationException")


def error_shape_for(service: ServiceModel, code: str) -> Shape | None:
    """The model's error shape a code belongs to (by name or by its query-compatible code)."""
    for shape in service.error_shapes:
        if shape.name == code or shape.metadata.get("error", {}).get("code") == code:
            return shape
    return None


def query_error_header(service: ServiceModel, error: ServiceError) -> dict[str, str]:
    """awsQueryCompatible services also send the query code, which clients match exceptions
    by. A provider may raise with either the shape's name or its query code."""
    if "awsQueryCompatible" not in service.metadata:
        return {}
    shape = error_shape_for(service, error.code)
    code = shape.error_code if shape is not None else error.code
    fault = "Sender" if error.sender_fault else "Receiver"
    return {"x-amzn-query-error": f"{code};{fault}"}


class JsonProtocol(Protocol):
    name = "json"
    validation_code = "ValidationException"

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        target = request.headers.get("x-amz-target", "")
        prefix, _, op = target.rpartition(".")
        if prefix == service.metadata.get("targetPrefix"):
            return op or None
        return target or None  # another service's target: no operation of this one

    def unknown_operation(self, name: str) -> ServiceError:
        return ServiceError(f"Operation {name} is not supported.",
                            code="UnknownOperationException")

    def bad_region(self, region: str, expected: str) -> ServiceError:
        return bad_signature_region(region)

    def decode(self, body: bytes):
        if not body.strip():
            return {}
        try:
            return load_json(body)
        except BadDocument as exc:
            raise unreadable(exc) from None
        except ValueError:
            raise ServiceError("Start of structure or map found where not expected.",
                               code="SerializationException") from None

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict:
        document = self.decode(request.body)
        shape = operation.input_shape
        if shape is None:
            return {}
        return self.read_input(document, shape, operation.service_model)

    def read_input(self, document, shape: Shape, service: ServiceModel) -> dict:
        try:
            if not isinstance(document, dict):  # the input is a structure: null, [] or 1 not
                raise BadValue("")
            params = from_document(document, shape)
        except BadValue as exc:
            where = f" at '{exc.args[0]}'" if exc.args and exc.args[0] else ""
            raise ServiceError(f"Unexpected value type in payload{where}",
                               code="SerializationException") from None
        self.validate(params, shape, service)
        return params

    def content_type(self, service: ServiceModel) -> str:
        return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        shape = operation.output_shape
        document = to_document(result, shape) if shape is not None else {}
        return HttpResponse(
            200,
            {"content-type": self.content_type(operation.service_model),
             "x-amzn-requestid": request_id},
            json.dumps(document, separators=(",", ":")).encode(),
        )

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        shape = error_shape_for(service, error.code)
        body = {"__type": shape.name if shape is not None else error.code,
                "message": error.message, **error.extra}
        headers = {"content-type": self.content_type(service), "x-amzn-requestid": request_id,
                   **query_error_header(service, error), **error.headers}
        return HttpResponse(error.status, headers, json.dumps(body).encode())
