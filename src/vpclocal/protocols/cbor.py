"""Smithy RPC v2 CBOR (CloudWatch in current botocore): POST /service/S/operation/Op, CBOR."""

from __future__ import annotations

import cbor2
from botocore.model import OperationModel, ServiceModel

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import HttpRequest, HttpResponse
from vpclocal.protocols.document import MAX_NESTING, BadDocument, check_document, to_document
from vpclocal.protocols.json_rpc import (
    JsonProtocol,
    error_shape_for,
    query_error_header,
    unreadable,
)

_HEADERS = {"content-type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}


class CborProtocol(JsonProtocol):
    name = "smithy-rpc-v2-cbor"

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        parts = request.path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "service" and parts[2] == "operation":
            return parts[3]
        return None

    def decode(self, body: bytes):
        if not body:
            return {}
        try:
            document = cbor2.loads(body)
            check_document(document, deep=len(body) > MAX_NESTING)  # a level takes a byte
        except BadDocument as exc:
            raise unreadable(exc) from None
        except RecursionError:
            raise unreadable(BadDocument(f"the document is nested deeper than {MAX_NESTING} "
                                         "levels")) from None
        except (cbor2.CBORDecodeError, ValueError, EOFError):
            raise ServiceError("Unable to parse the CBOR request body.",
                               code="SerializationException") from None
        return document

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        shape = operation.output_shape
        document = (to_document(result, shape, timestamp="datetime", raw_blobs=True)
                    if shape is not None else {})
        return HttpResponse(200, {**_HEADERS, "x-amzn-requestid": request_id},
                            cbor2.dumps(document, datetime_as_timestamp=True))

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        shape = error_shape_for(service, error.code)
        name = shape.name if shape is not None else error.code
        namespace = service.metadata.get("targetPrefix", "")
        body = {"__type": f"{namespace}#{name}" if namespace else name,
                "message": error.message, **error.extra}
        headers = {**_HEADERS, "x-amzn-requestid": request_id,
                   **query_error_header(service, error), **error.headers}
        return HttpResponse(error.status, headers, cbor2.dumps(body))
