"""The `rest-json` protocol (Lambda): operations by method + URI template, JSON bodies.

Routing and the members bound to the URI, query string, headers and status code are
`RestProtocol`'s (protocols/rest.py); here: JSON bodies and Lambda's error documents.
"""

from __future__ import annotations

import json

from botocore.model import OperationModel, ServiceModel, Shape

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import BadValue, HttpResponse
from vpclocal.protocols.document import BadDocument, from_document, load_json, to_document
from vpclocal.protocols.json_rpc import bad_signature_region, error_shape_for
from vpclocal.protocols.rest import RestProtocol


class RestJsonProtocol(RestProtocol):
    name = "rest-json"
    validation_code = "ValidationException"

    def unknown_operation(self, name: str) -> ServiceError:
        return ServiceError(f"No operation matches {name}.", code="UnknownOperationException",
                            status=404)

    def bad_region(self, region: str, expected: str) -> ServiceError:
        return bad_signature_region(region)

    def body_params(self, body: bytes, shape: Shape, payload: str | None) -> dict:
        document = self._json(body)
        if payload:
            if document == {}:  # clients send {} when the payload member is absent
                return {}
            return {payload: from_document(document, shape.members[payload], payload)}
        if not isinstance(document, dict):
            raise BadValue("")
        return from_document(document, shape)

    def bad_body(self, exc: BadValue) -> ServiceError:
        where = f" at '{exc.args[0]}'" if exc.args and exc.args[0] else ""
        return ServiceError(f"Unexpected value type in payload{where}",
                            code="SerializationException")

    @staticmethod
    def _json(body: bytes):
        try:
            return load_json(body)
        except BadDocument as exc:
            raise ServiceError(f"Could not parse request body into json: {exc}",
                               code="SerializationException") from None
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
        response = HttpResponse(status, headers)
        for name, member, value in self.bound_output(shape, result, response):
            if name == payload:
                if member.type_name in ("blob", "string"):
                    raw_payload = value.encode() if isinstance(value, str) else bytes(value)
                else:
                    body_doc = to_document(value, member)
            else:
                body_doc[member.serialization.get("name", name)] = to_document(value, member)
        status = response.status
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
