"""The gateway: one ASGI app for every service, and the server's lifecycle.

A request is routed to a service by its SigV4 credential scope (or X-Amz-Target / path when
unsigned), to an operation by its protocol, parsed and answered through botocore's model.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import json
import logging
import re
import signal
import time
import traceback
import zlib
from dataclasses import replace
from urllib.parse import parse_qs

import botocore.session
from botocore.model import ServiceModel

from vpclocal import admin
from vpclocal.config import Config
from vpclocal.errors import ServiceError
from vpclocal.fabric import interface_endpoints, relay
from vpclocal.ids import request_id as new_request_id
from vpclocal.network import hosts
from vpclocal.protocols import PROTOCOLS, HttpRequest, HttpResponse
from vpclocal.protocols.rest_xml import bucket_from_host
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.ec2.defaults import ensure_region
from vpclocal.services.iam import authorization
from vpclocal.services.registry import PROVIDERS
from vpclocal.store import Store

log = logging.getLogger("vpclocal")


_CREDENTIAL = re.compile(r"Credential=([^/]*)/[^/]*/([^/]*)/([^/]*)/")
# Unsigned (or SigV2-signed) requests S3 recognizes by their Host or signature form.
_S3_HOST = re.compile(r"(^|\.)s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?(:\d+)?$")


class App:
    """The ASGI application; owns the store and one provider per service."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        if store is None:
            config.data_dir.mkdir(parents=True, exist_ok=True)
            store = Store(config.data_dir / "state.db")
        self.store = store
        # IAM decides what issued credentials may do (VPCLOCAL_IAM=off: every key is root's)
        self.authorizer = authorization.Authorizer(self) if authorization.enforced() else None
        if config.internet_hosts:  # from the config file: declared at every start
            with store.transaction(hosts.SCOPE) as tx:
                for host in config.internet_hosts:
                    hosts.put(tx, host)
        # the fabric (vpclocal.fabric.service): with --no-fabric only its sandbox, where each
        # function runs in a namespace of its own (never in the server's network)
        from vpclocal.fabric.service import FabricService
        from vpclocal.services.logs import api as logs_api

        host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
        self.fabric = FabricService(
            store, (host, config.port), config.data_dir,
            flow_log_interval=config.flow_log_interval, vpc=config.fabric,
            deliver=lambda region, group, stream, events: logs_api.put_events(
                self, region, group, stream, events))
        session = botocore.session.get_session()
        self.providers: dict[str, Provider] = {}
        self.models: dict[str, ServiceModel] = {}
        for signing_name, target in PROVIDERS.items():
            module, _, cls = target.partition(":")
            provider_cls = getattr(importlib.import_module(module), cls)
            model = session.get_service_model(provider_cls.service_name)
            self.providers[signing_name] = provider_cls(self)
            self.models[signing_name] = model
        # the home region starts as a new account does, with its default VPC (built into the
        # fabric at start); other regions get theirs with their first request
        ctx = RequestContext(config.account_id, config.region, "", "ec2", "", self)
        with store.transaction(config.region) as tx:
            ensure_region(tx, ctx)
        self._by_target = {m.metadata.get("targetPrefix"): name for name, m in self.models.items()
                           if m.metadata.get("targetPrefix")}
        self._by_version = {m.api_version: name for name, m in self.models.items()}
        # a region name, as botocore's partitions define them (us-east-1, cn-north-1,
        # us-gov-west-1...): a SigV4 scope naming anything else is refused
        self._region_name = re.compile("|".join(
            f"(?:{p['regionRegex']})" for p in session.get_data("partitions")["partitions"]),
            re.ASCII)
        # per service, the operations whose clients may gzip the request body
        self._compressed = {
            name: {op for op in m.operation_names if "gzip" in (
                m.operation_model(op).request_compression or {}).get("encodings", [])}
            for name, m in self.models.items()}

    def provider(self, signing_name: str) -> Provider:
        return self.providers[signing_name]

    # ---- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        raw_path = scope.get("raw_path")
        client = scope.get("client")
        request = HttpRequest(scope["method"], scope["path"], query, headers, body,
                              raw_path=raw_path.decode("latin-1") if raw_path else None,
                              client=tuple(client) if client else None)
        try:
            response = await self.handle(request)
        except Exception:  # noqa: BLE001 - handle() answers errors itself: a bug before routing
            log.error("internal error: %s", traceback.format_exc())
            response = _plain_error(500, "InternalError", "An internal error has occurred.")
        headers = [(k.encode("latin-1"), v.encode("latin-1"))
                   for k, v in response.headers.items() if k.lower() != "content-length"]
        # A HEAD response names the length of what GET would send (S3's HeadObject), no body.
        length = next((v for k, v in response.headers.items() if k.lower() == "content-length"),
                      None) if request.method == "HEAD" else None
        headers.append((b"content-length", (length or str(len(response.body))).encode()))
        await send({"type": "http.response.start", "status": response.status,
                    "headers": headers})
        await send({"type": "http.response.body",
                    "body": b"" if request.method == "HEAD" else response.body})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # before Lambda, which places functions in it
                await asyncio.to_thread(self.fabric.start, loop=asyncio.get_running_loop())
                print(f"vpclocal: {self.fabric.summary()}", flush=True)
                for provider in self.providers.values():
                    await provider.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for provider in self.providers.values():
                    await provider.stop()
                self.fabric.stop()
                self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---- routing ----------------------------------------------------------------------------

    def _route(self, request: HttpRequest) -> tuple[str | None, str, str]:
        """(signing name, region, access key) for a request."""
        auth = request.headers.get("authorization", "")
        found = _CREDENTIAL.search(auth)
        if found is None and "X-Amz-Credential" in request.query:
            found = re.match(r"([^/]*)/[^/]*/([^/]*)/([^/]*)/",
                             request.query["X-Amz-Credential"][0] + "/")
        if found is not None:
            key, region, service = found.groups()
            return service, region, key  # checked by handle()
        if auth.startswith("AWS "):  # S3's SigV2: "AWS <access key>:<signature>"
            return "s3", self.config.region, auth[4:].partition(":")[0].strip()
        if "AWSAccessKeyId" in request.query:  # S3's SigV2 presigned URL
            return "s3", self.config.region, request.query["AWSAccessKeyId"][0]
        if _S3_HOST.search(request.headers.get("host", "")):
            return "s3", self.config.region, ""
        target = request.headers.get("x-amz-target", "").rpartition(".")[0]
        if target in self._by_target:
            return self._by_target[target], self.config.region, ""
        version = (parse_qs(request.body.decode("latin-1")).get("Version")
                   or request.query.get("Version") or [""])[0]
        if version in self._by_version:
            return self._by_version[version], self.config.region, ""
        if self._is_s3(request):
            return "s3", self.config.region, ""
        return None, self.config.region, ""

    def _is_s3(self, request: HttpRequest) -> bool:
        """Whether an unsigned request that names no target or API version is S3's: its Host
        names a bucket (virtual-host style), or S3's REST routes take its method and path
        (path style: `/`, `/bucket`, `/bucket/key`) and no other REST service's do."""
        s3 = PROTOCOLS["rest-xml"]
        if bucket_from_host(request.headers.get("host", "")) is not None:
            return True
        for name, model in self.models.items():
            if name != "s3" and model.protocol in ("rest-json", "rest-xml") and \
                    PROTOCOLS[model.protocol].operation_name(request, model):
                return False
        return s3.operation_name(request, self.models["s3"]) is not None

    def _decompressed(self, request: HttpRequest, signing_name: str) -> HttpRequest:
        """The request with a gzip body unwrapped, where the model says clients compress it for
        the wire (the `requestcompression` trait: CloudWatch's PutMetricData). Any other body
        stays as sent: an S3 object's Content-Encoding describes the object itself."""
        encodings = [e.strip().lower()
                     for e in request.headers.get("content-encoding", "").split(",")]
        compressed = self._compressed[signing_name]
        if encodings[-1] != "gzip" or not compressed:
            return request
        try:
            body = gzip.decompress(request.body)
        except (OSError, EOFError, zlib.error):
            return request  # left as sent: the protocol reports the malformed body
        headers = dict(request.headers)
        if encodings[:-1]:
            headers["content-encoding"] = ",".join(encodings[:-1])
        else:
            del headers["content-encoding"]
        plain = replace(request, body=body, headers=headers)
        protocol = PROTOCOLS[_protocol_of(plain, self.models[signing_name])]
        name = protocol.operation_name(protocol.prepare(plain), self.models[signing_name])
        return plain if name in compressed else request

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/_vpclocal/"):
            return admin.handle(self, request)
        rid = new_request_id()
        signing_name, region, access_key = self._route(request)
        if signing_name is None:
            return _plain_error(400, "UnknownService",
                                "vpclocal could not tell the service of this request: it has no "
                                "SigV4 credential scope, known X-Amz-Target or API Version.")
        if signing_name not in self.providers:
            return _plain_error(400, "UnknownService",
                                f"vpclocal does not serve the service '{signing_name}'.")
        model = self.models[signing_name]
        protocol = PROTOCOLS[_protocol_of(request, model)]
        provider = self.providers[signing_name]
        try:
            if not self._region_name.fullmatch(region):
                raise protocol.bad_region(region, self.config.region)
            if not access_key and provider.signed_only:
                raise ServiceError("Access Denied", code="AccessDenied", status=403)
            request = self._decompressed(request, signing_name)
            protocol = PROTOCOLS[_protocol_of(request, model)]
            request = protocol.prepare(request)
            name = protocol.operation_name(request, model)
            if not name:
                raise protocol.missing_operation(request)
            method = provider.method_for(name) if name in model.operation_names else None
            if method is None:
                raise protocol.unknown_operation(name)
            operation = model.operation_model(name)
            params = protocol.parse(request, operation)
            ctx = RequestContext(self.config.account_id, region, rid, signing_name, name, self,
                                 access_key=access_key)
            origin = relay.origin(request.client)
            if origin is not None and origin.endpoint is not None:
                interface_endpoints.record(self.fabric.endpoint_calls, origin, signing_name,
                                           name, time.time())
            if self.authorizer is not None and access_key:
                self.authorizer.authorize(ctx, provider.service_name, params, request.client,
                                          origin)
            if _is_async(method):
                result = await method(ctx, params)
            else:
                with self.store.transaction(provider.scope(ctx)) as tx:
                    ctx.tx = tx
                    provider.prepare(ctx)
                    result = method(ctx, params)
            response = protocol.serialize(operation, result or {}, rid)
            _check_sendable(response)
            return response
        except ServiceError as exc:
            error = exc
        except Exception:  # noqa: BLE001 - a bug of ours: answer like AWS's InternalError
            log.error("internal error in %s: %s", signing_name, traceback.format_exc())
            error = _internal_error()
        return _error_response(protocol, model, error, rid)


def _internal_error() -> ServiceError:
    return ServiceError("An internal error has occurred.", code="InternalError", status=500,
                        sender_fault=False)


def _error_response(protocol, model: ServiceModel, error: ServiceError, rid: str
                    ) -> HttpResponse:
    """The error in the protocol's shape, whatever it holds: when it cannot be written (a
    header no HTTP response can carry, a value the encoding refuses), the protocol's
    InternalError; plain JSON only if even that fails."""
    for candidate in (error, _internal_error()):
        try:
            response = protocol.serialize_error(model, candidate, rid)
            _check_sendable(response)
            return response
        except Exception:  # noqa: BLE001
            log.error("unwritable error %r: %s", candidate, traceback.format_exc())
    return _plain_error(500, "InternalError", "An internal error has occurred.")


def _check_sendable(response: HttpResponse) -> None:
    """Raise ValueError when a header of the response cannot go on the wire: HTTP/1.1 carries
    Latin-1 and no line breaks or NULs (uvicorn would answer a plain-text 500 or drop the
    connection)."""
    for name, value in response.headers.items():
        if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
            raise ValueError(f"header {name!r} cannot be sent: {value!r}")
        (name + value).encode("latin-1")  # UnicodeEncodeError is a ValueError


def _protocol_of(request: HttpRequest, model: ServiceModel) -> str:
    """The protocol this request speaks: a service may offer several (CloudWatch: cbor, json,
    query) and each client picks its own."""
    offered = model.metadata.get("protocols") or [model.protocol]
    if len(offered) > 1:
        if "smithy-protocol" in request.headers and "smithy-rpc-v2-cbor" in offered:
            return "smithy-rpc-v2-cbor"
        if "x-amz-target" in request.headers and "json" in offered:
            return "json"
        if "query" in offered and (b"Action=" in request.body or "Action" in request.query):
            return "query"
        return model.resolved_protocol
    return model.protocol


def _is_async(method) -> bool:
    return getattr(method, "__code__", None) is not None and bool(method.__code__.co_flags & 0x80)


def _plain_error(status: int, code: str, message: str) -> HttpResponse:
    body = json.dumps({"__type": code, "message": message}).encode()
    return HttpResponse(status, {"content-type": "application/json"}, body)


def serve(config: Config) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM; say so when it stops."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            if not self.should_exit:  # the first signal: a second one forces the exit
                print(f"vpclocal: {signal.Signals(sig).name}: stopping", flush=True)
            super().handle_exit(sig, frame)
            # uvicorn raises the signal again once it has stopped (a KeyboardInterrupt
            # traceback for SIGINT): a stop asked for is a normal end here
            self._captured_signals.clear()

    app = App(config)
    server = Server(uvicorn.Config(
        app, host=config.host, port=config.port, loop="uvloop", http="httptools",
        lifespan="on", log_level="warning", access_log=False))
    server.run()
    if server.started:
        print(f"vpclocal: stopped (state kept in {config.data_dir})", flush=True)
