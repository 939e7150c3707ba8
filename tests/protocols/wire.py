"""Helpers shared by the protocol tests: botocore's wire form of a request as our gateway sees
it, and botocore's reading of our responses."""

from __future__ import annotations

import datetime as dt
import functools
import io
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.session
from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer

from vpclocal.protocols import PROTOCOLS, HttpRequest, HttpResponse

SERVICES = ["ec2", "iam", "sts", "rds", "elasticache", "logs", "lambda", "cloudwatch", "s3",
            "dynamodb"]
ENDPOINT = "http://127.0.0.1:4566"


@functools.cache
def session():
    return botocore.session.get_session()


@functools.cache
def model(service: str):
    return session().get_service_model(service)


@functools.cache
def client(service: str):
    return session().create_client(
        service, region_name="us-east-1", endpoint_url=ENDPOINT,
        aws_access_key_id="test", aws_secret_access_key="test")


def protocol_of(service: str):
    return PROTOCOLS[model(service).protocol]


# ---- helpers --------------------------------------------------------------------------------


def to_http_request(service: str, operation: str, params: dict, *,
                    validate: bool = True) -> HttpRequest:
    """What botocore would put on the wire, as the gateway hands it to a protocol
    (`validate=False` skips botocore's client-side checks, to send what AWS would refuse)."""
    op = model(service).operation_model(operation)
    serializer = create_serializer(model(service).protocol, include_validation=validate)
    request_dict = serializer.serialize_to_request(params, op)
    prepare_request_dict(request_dict, ENDPOINT)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray)):
        body = body.read()
    headers = {k.lower(): (v.decode("latin-1") if isinstance(v, bytes) else v)
               for k, v in prepared.headers.items()}
    # uvicorn hands the ASGI app a percent-decoded `path`, the `raw_path` and the raw query
    return HttpRequest(prepared.method, unquote(url.path),
                       parse_qs(url.query, keep_blank_values=True), headers, bytes(body),
                       raw_path=url.path)


def botocore_parse(service: str, operation: str | None, response: HttpResponse) -> dict:
    """What a client makes of our response (a blob payload arrives as a stream, as in
    botocore's endpoint)."""
    op = model(service).operation_model(operation) if operation else None
    body = response.body
    streaming = op is not None and op.has_streaming_output and response.status < 300
    if streaming:
        body = StreamingBody(io.BytesIO(body), len(body))
    parsed = create_parser(model(service).protocol).parse(
        {"status_code": response.status, "headers": HeadersDict(response.headers),
         "body": body}, op.output_shape if op is not None else None)
    parsed.pop("ResponseMetadata", None)
    if streaming:
        name = op.output_shape.serialization["payload"]
        parsed[name] = parsed[name].read()
    return parsed


def normalize(value):
    """Compare timestamps by instant (to the millisecond), blobs as bytes, floats loosely."""
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return ("ts", round(stamp.timestamp(), 3))
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
