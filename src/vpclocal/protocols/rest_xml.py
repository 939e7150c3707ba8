"""The `rest-xml` protocol (S3): operations by method + URI (+ the query keys and headers that
tell apart operations sharing a URI), members in labels, query, headers and XML bodies.

S3 adds two things no other protocol has, both undone in `prepare` before routing:
- virtual-host addressing: the bucket may travel in the Host (`bucket.localhost:4566`,
  `bucket.s3.us-east-1.amazonaws.com`); the request is rewritten to path style;
- aws-chunked bodies (`Content-Encoding: aws-chunked`, `x-amz-content-sha256:
  STREAMING-...`): the chunks are joined and the trailer (a checksum) becomes a header.

Errors are S3's `<Error><Code/><Message/>...<RequestId/></Error>` documents.
"""

from __future__ import annotations

import base64
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import quote

from botocore.model import OperationModel, ServiceModel, Shape

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import (
    BadValue,
    HttpRequest,
    HttpResponse,
    scalar_from_text,
)
from vpclocal.protocols.query import map_xml, scalar_to_text, xml_escape
from vpclocal.protocols.rest import RestProtocol, Route

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

# The root element S3 names each response document (the model does not carry it).
ROOT_ELEMENTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketEncryption": "ServerSideEncryptionConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
}

# Hosts that carry the bucket (virtual-host style): `<bucket>.<one of these>`.
_VHOST = re.compile(
    r"^(?P<bucket>.+?)\.(?:localhost|s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?"
    r"|s3\.localhost\.localstack\.cloud)$")
_CHUNK_SIZE = re.compile(rb"^([0-9a-fA-F]+)(?:;[^\r\n]*)?$")


def bucket_from_host(host: str) -> str | None:
    """The bucket a virtual-host-style Host names, or None (path style)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    found = _VHOST.match(name.lower())
    if found is None:
        return None
    bucket = found.group("bucket")
    # `s3.us-east-1.amazonaws.com` itself (and regional dashes) is no bucket
    if re.fullmatch(r"s3(?:[.-][a-z0-9-]+)?", bucket) and name.endswith("amazonaws.com"):
        return None
    return bucket


# The query parameters of SigV4 query authentication itself (a presigned URL's signature)
_QUERY_AUTH = {"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
               "x-amz-signedheaders", "x-amz-signature"}


def _hoist_presigned_headers(request: HttpRequest) -> HttpRequest:
    """A presigned URL carries the headers it was signed with as query parameters
    (`?x-amz-meta-owner=me`, `x-amz-server-side-encryption`...): S3 reads them as the request's
    headers. A header sent as well wins."""
    if not ("X-Amz-Signature" in request.query or "Signature" in request.query):
        return request
    hoisted = {key.lower(): values[0] for key, values in request.query.items()
               if key.lower().startswith("x-amz-") and key.lower() not in _QUERY_AUTH}
    if not hoisted:
        return request
    return replace(request, headers={**hoisted, **request.headers})


def decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """Join an aws-chunked body: `<hex>[;chunk-signature=..]\\r\\n<data>\\r\\n ... 0\\r\\n`
    followed by trailer lines `name:value\\r\\n` and a blank line. Raises ValueError."""
    out = bytearray()
    pos = 0
    while True:
        end = body.index(b"\r\n", pos)
        found = _CHUNK_SIZE.match(body[pos:end])
        if found is None:
            raise ValueError("bad chunk header")
        size = int(found.group(1), 16)
        pos = end + 2
        if size == 0:
            break
        out += body[pos:pos + size]
        if len(body) < pos + size:
            raise ValueError("short chunk")
        pos += size
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
    trailers = {}
    for line in body[pos:].split(b"\r\n"):
        name, sep, value = line.decode("latin-1").partition(":")
        if sep and name.strip().lower() != "x-amz-trailer-signature":
            trailers[name.strip().lower()] = value.strip()
    return bytes(out), trailers


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


class S3Route(Route):
    """A route that also requires the operation's required query members and headers: they
    tell UploadPart from PutObject, CopyObject from PutObject, ListParts from GetObject."""

    def __init__(self, operation: OperationModel) -> None:
        super().__init__(operation)
        self.query_members: list[str] = []
        self.header_members: list[str] = []
        shape = operation.input_shape
        if shape is not None:
            for name in shape.required_members:
                ser = shape.members[name].serialization
                if ser.get("location") == "querystring":
                    self.query_members.append(ser.get("name", name))
                elif ser.get("location") == "header":
                    self.header_members.append(ser.get("name", name).lower())
        self.specificity = (*self.specificity,
                            len(self.query_members) + len(self.header_members),
                            not operation.deprecated)

    def match(self, request: HttpRequest) -> dict[str, str] | None:
        if any(key not in request.query for key in self.query_members):
            return None
        if any(key not in request.headers for key in self.header_members):
            return None
        return super().match(request)


class RestXmlProtocol(RestProtocol):
    name = "rest-xml"
    route_class = S3Route
    lower_header_names = False

    # ---- request ----------------------------------------------------------------------------

    def prepare(self, request: HttpRequest) -> HttpRequest:
        request = _hoist_presigned_headers(request)
        bucket = bucket_from_host(request.headers.get("host", ""))
        if bucket is not None:
            raw = request.raw_path if request.raw_path is not None else quote(request.path)
            request = replace(request, path="/" + bucket + request.path,
                              raw_path="/" + quote(bucket) + raw)
        encoding = request.headers.get("content-encoding", "")
        sha = request.headers.get("x-amz-content-sha256", "")
        if "aws-chunked" in encoding or sha.startswith("STREAMING-"):
            try:
                body, trailers = decode_aws_chunked(request.body)
            except ValueError:
                raise ServiceError("An error occurred when parsing the HTTP request.",
                                   code="IncompleteBody") from None
            headers = {**request.headers, **trailers}
            rest = ",".join(p for p in encoding.split(",") if p.strip() and
                            p.strip() != "aws-chunked")
            if rest:
                headers["content-encoding"] = rest
            else:
                headers.pop("content-encoding", None)
            headers["content-length"] = str(len(body))
            request = replace(request, body=body, headers=headers)
        return request

    def unknown_operation(self, name: str) -> ServiceError:
        """An S3 operation vpclocal does not serve (yet): S3's own 501 NotImplemented."""
        return ServiceError(f"vpclocal does not implement the S3 operation {name}.",
                            code="NotImplemented", status=501)

    def bad_region(self, region: str, expected: str) -> ServiceError:
        # S3's answer to a credential scoped to another region, with the one it expects
        return ServiceError(f"The authorization header is malformed; the region '{region}' is "
                            f"wrong; expecting '{expected}'", code="AuthorizationHeaderMalformed",
                            Region=expected)

    def missing_operation(self, request: HttpRequest) -> ServiceError:
        return ServiceError("The specified method is not allowed against this resource.",
                            code="MethodNotAllowed", status=405)

    def validate(self, params: dict, shape: Shape, service: ServiceModel) -> None:
        """S3 checks most of its inputs operation by operation (InvalidArgument...); what the
        model says is checked here: the range of numbers in the query string and headers, the
        XML body's required elements, and the values `response-*` parameters put in headers."""
        for name, member in shape.members.items():
            value = params.get(name)
            wire = member.serialization.get("name", name)
            if value is None or member.serialization.get("location") not in (
                    "querystring", "header"):
                continue
            meta = member.metadata
            if member.type_name in ("integer", "long") and (
                    value < meta.get("min", value) or value > meta.get("max", value)):
                # S3's wording for max-keys ("Argument maxKeys must be an integer between 0
                # and 2147483647"), with the name as sent
                raise invalid_argument(f"Argument {wire} must be an integer between "
                                       f"{meta.get('min', 0)} and {meta.get('max', 2**31 - 1)}",
                                       wire, value)
            if wire.startswith("response-") and isinstance(value, str):
                if not _latin_1(value):
                    raise invalid_argument("Header value cannot be represented using "
                                           "ISO-8859-1.", wire, value)
                if _CONTROL.search(value):  # wording vpclocal's
                    raise invalid_argument("Header value cannot hold control characters.",
                                           wire, value)
        payload = shape.serialization.get("payload")
        if payload and shape.members[payload].type_name == "structure":
            if params.get(payload) is None:
                if payload in shape.required_members:
                    raise ServiceError("Request Body is empty",
                                       code="MissingRequestBodyError")
            elif _incomplete(params[payload], shape.members[payload]):
                raise self.bad_body()

    def bad_argument(self, name: str, text: str | None, member: Shape,
                     exc: BadValue) -> ServiceError:
        # wording vpclocal's (S3 words each argument's own: "Part number must be an integer
        # between 1 and 10000, inclusive"); the code and fields are S3's
        return invalid_argument(f"Invalid value for argument {name}", name, text)

    def body_params(self, body: bytes, shape: Shape, payload: str | None) -> dict:
        if payload:
            return {payload: from_xml(self._xml(body), shape.members[payload])}
        return from_xml(self._xml(body), shape)

    def bad_body(self, exc: BadValue | None = None) -> ServiceError:
        return ServiceError("The XML you provided was not well-formed or did not validate "
                            "against our published schema", code="MalformedXML")

    def _xml(self, body: bytes) -> ET.Element:
        try:
            return ET.fromstring(body)
        except ET.ParseError:
            raise self.bad_body() from None

    # ---- response ---------------------------------------------------------------------------

    def serialize(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        status = operation.http.get("responseCode", 200)
        headers = {"x-amz-request-id": request_id, "x-amz-id-2": host_id()}
        shape = operation.output_shape
        # a provider may answer another status than the model's (206 Partial Content, 204 of
        # PutBucketPolicy, which the model leaves at 200)
        status = (result or {}).get("_status", status)
        if shape is None:
            return HttpResponse(status, headers, b"")
        payload = shape.serialization.get("payload")
        response = HttpResponse(status, headers)
        body: bytes | None = None
        has_body_members = False
        for name, member, value in self.bound_output(shape, result, response):
            if name != payload:
                has_body_members = True
            elif member.type_name in ("blob", "string"):
                body = value.encode() if isinstance(value, str) else bytes(value)
            else:
                root = member.serialization.get("name", name)
                body = xml_document(root, value, member)
                headers["content-type"] = "application/xml"
        if operation.name == "GetBucketLocation":  # a bare root element with text
            text = xml_escape(result.get("LocationConstraint") or "")
            body = (f'{_XML_HEAD}<LocationConstraint xmlns="{S3_NS}">{text}'
                    "</LocationConstraint>").encode()
            headers["content-type"] = "application/xml"
        elif body is None and has_body_members:
            root = ROOT_ELEMENTS.get(operation.name) or re.sub(
                r"(Output|Result)$", "", shape.name)
            body = xml_document(root, result, shape)
            headers["content-type"] = "application/xml"
        response.body = body or b""
        return response

    def serialize_error(
        self, service: ServiceModel, error: ServiceError, request_id: str
    ) -> HttpResponse:
        if error.status == 304:  # Not Modified: no body at all
            return HttpResponse(304, {"x-amz-request-id": request_id, "x-amz-id-2": host_id(),
                                      **error.headers}, b"")
        parts = [_XML_HEAD, "<Error>", f"<Code>{xml_escape(error.code)}</Code>",
                 f"<Message>{xml_escape(error.message)}</Message>"]
        for key, value in error.extra.items():
            parts.append(f"<{key}>{xml_escape(str(value))}</{key}>")
        host = host_id()
        parts.append(f"<RequestId>{request_id}</RequestId><HostId>{host}</HostId></Error>")
        headers = {"content-type": "application/xml", "x-amz-request-id": request_id,
                   "x-amz-id-2": host, **error.headers}
        return HttpResponse(error.status, headers, "".join(parts).encode())


def invalid_argument(message: str, name: str, value) -> ServiceError:
    return ServiceError(message, code="InvalidArgument", ArgumentName=name,
                        ArgumentValue=value)


_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # a tab is a header's own


def _latin_1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _incomplete(value, shape: Shape) -> bool:
    """Whether an XML body's value lacks an element the model requires."""
    kind = shape.type_name
    if kind == "structure":
        return any(value.get(name) is None for name in shape.required_members) or any(
            _incomplete(value[name], member) for name, member in shape.members.items()
            if value.get(name) is not None)
    if kind == "list":
        return any(_incomplete(item, shape.member) for item in value)
    if kind == "map":
        return any(_incomplete(item, shape.value) for item in value.values()
                   if item is not None)
    return False


def host_id() -> str:
    """S3's x-amz-id-2: an opaque base64 token per response."""
    return base64.b64encode(secrets.token_bytes(48)).decode()


# ---- XML in -------------------------------------------------------------------------------------


def _children(elem: ET.Element, tag: str) -> list[ET.Element]:
    return [child for child in elem if _local(child.tag) == tag]


def from_xml(elem: ET.Element, shape: Shape):
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            ser = member.serialization
            tag = ser.get("name", name)
            if ser.get("xmlAttribute"):
                attr = tag.partition(":")[2] or tag
                for key, value in elem.attrib.items():
                    if _local(key) == attr:
                        out[name] = scalar_from_text(value, member)
                continue
            if member.type_name == "list" and ser.get("flattened"):
                items = _children(elem, tag)
                if items:
                    out[name] = [from_xml(item, member.member) for item in items]
                continue
            found = _children(elem, tag)
            if found:
                out[name] = from_xml(found[0], member)
        return out
    if kind == "list":
        tag = shape.member.serialization.get("name", "member")
        return [from_xml(item, shape.member) for item in _children(elem, tag)]
    if kind == "map":
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        entries = [elem] if shape.serialization.get("flattened") else _children(elem, "entry")
        out = {}
        for entry in entries:
            keys, values = _children(entry, key_tag), _children(entry, value_tag)
            if keys:
                out[keys[0].text or ""] = from_xml(values[0], shape.value) if values else None
        return out
    text = elem.text or ""
    if kind == "blob":
        try:
            return base64.b64decode(text)
        except ValueError:
            raise BadValue(text) from None
    if kind == "string":
        return text
    return scalar_from_text(text.strip(), shape)


# ---- XML out ------------------------------------------------------------------------------------


def xml_document(root: str, value: dict, shape: Shape) -> bytes:
    ns = shape.serialization.get("xmlNamespace", {}).get("uri", S3_NS)
    out = [_XML_HEAD]
    _element(out, value, shape, root, ns)
    return "".join(out).encode()


def _attributes(value: dict, shape: Shape) -> str:
    text = ""
    for name, member in shape.members.items():
        ser = member.serialization
        if ser.get("xmlAttribute") and value.get(name) is not None:
            tag = ser.get("name", name)
            if tag.startswith("xsi:"):
                text += f' xmlns:xsi="{XSI_NS}"'
            text += f' {tag}="{xml_escape(str(value[name]))}"'
    return text


def _element(out: list[str], value, shape: Shape, tag: str, ns: str | None = None) -> None:
    kind = shape.type_name
    xmlns = f' xmlns="{ns}"' if ns else ""
    if kind == "structure":
        out.append(f"<{tag}{xmlns}{_attributes(value, shape)}>")
        for name, member in shape.members.items():
            item = value.get(name)
            ser = member.serialization
            if item is None or ser.get("location") or ser.get("xmlAttribute"):
                continue
            child = ser.get("name", name)
            if member.type_name == "list" and ser.get("flattened"):
                for entry in item:
                    _element(out, entry, member.member, child)
            else:
                _element(out, item, member, child)
        out.append(f"</{tag}>")
    elif kind == "list":
        out.append(f"<{tag}{xmlns}>")
        item_tag = shape.member.serialization.get("name", "member")
        for entry in value:
            _element(out, entry, shape.member, item_tag)
        out.append(f"</{tag}>")
    elif kind == "map":
        map_xml(out, value, shape, tag, _element, xmlns)
    else:
        out.append(f"<{tag}{xmlns}>{scalar_to_text(value, shape)}</{tag}>")
