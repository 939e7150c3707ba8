"""Invoke: run a function version in an execution environment (vpclocal.runtime).

RequestResponse waits for the result (200), Event queues the invocation durably in the store
and answers 202 (a worker runs it, retrying function errors twice with backoff, and picks up
what a restart left queued), DryRun only checks (204). Logs and AWS/Lambda metrics go to the
in-process CloudWatch Logs and CloudWatch APIs. Provisioned concurrency configs are kept ready
by a reconcile loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import time

from vpclocal.errors import ServiceError
from vpclocal.runtime import FunctionSpec, Runtime, RuntimeConfig, Throttled, Unplaceable
from vpclocal.runtime.types import Result
from vpclocal.services.cloudwatch import api as metrics_api
from vpclocal.services.fis import faults
from vpclocal.services.iam.common import SCOPE as IAM_SCOPE
from vpclocal.services.iam.roles import role_by_arn
from vpclocal.services.lambda_ import model
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.logs import api as logs_api
from vpclocal.services.sts.sessions import SESSIONS, new_credentials

log = logging.getLogger("vpclocal.lambda")

EVENTS = "lambda.event_queue"  # queued Event invocations, keyed by request id
EVENTS_SCOPE = "global"  # one queue for every region: a restart finds it in one place
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 256 * 1024  # AWS's documented limit for Event invocations
EVENT_RETRIES = 2  # AWS retries a failed asynchronous invocation twice
MAX_EVENT_AGE = 6 * 3600  # throttled events are retried for up to 6 hours, like AWS
CREDENTIAL_SECONDS = 12 * 3600
PROVISION_EVERY = 1.0
# queued events run at most this many at a time (AWS's pollers also pace a burst)
EVENT_CONCURRENCY = int(os.environ.get("VPCLOCAL_LAMBDA_EVENT_CONCURRENCY", "32"))


def _retry_delay(attempt: int) -> float:
    # AWS waits 1 minute, then 2; locally the same shape in seconds (configurable)
    base = float(os.environ.get("VPCLOCAL_LAMBDA_RETRY_SECONDS", "1"))
    return base * 2 ** (attempt - 1)


def _invalid_content(message: str) -> ServiceError:
    return ServiceError(message, code="InvalidRequestContentException", status=400)


def _throttled(exc: Throttled) -> ServiceError:
    return ServiceError("Rate Exceeded.", code="TooManyRequestsException", status=429,
                        headers={"Retry-After": "1"}, Reason=exc.reason)


class InvokeOperations:
    _runtime: Runtime | None = None
    _started: asyncio.Future | None = None

    # ---- lifecycle (called from LambdaProvider.start / stop) ------------------------------

    def started_runtime(self) -> Runtime | None:
        """The runtime, if any function has run (runtime() makes it)."""
        return self._runtime

    def runtime(self) -> Runtime:
        if self._runtime is None:
            config = self.app.config
            host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
            self._runtime = Runtime(RuntimeConfig(
                data_dir=config.data_dir.resolve(),
                endpoint_url=f"http://{host}:{config.port}",
                write_logs=lambda region, group, stream, events: logs_api.put_events(
                    self.app, region, group, stream, events),
                write_metrics=lambda region, points: metrics_api.put_datapoints(
                    self.app, region, "AWS/Lambda", points),
                credentials=self._credentials))
            self._specs: dict[tuple, tuple[dict, FunctionSpec]] = {}
            self._event_wake = asyncio.Event()
            self._events_running: set[str] = set()
            self._loops: list[asyncio.Task] = []
        return self._runtime

    async def start_runtime(self) -> None:
        if self._started is None:
            self._started = asyncio.ensure_future(self._start_runtime())
        await asyncio.shield(self._started)

    async def _start_runtime(self) -> None:
        runtime = self.runtime()
        await runtime.start()
        print(f"vpclocal: {runtime.isolation()}", flush=True)  # said once, at start
        authorizer = getattr(self.app, "authorizer", None)
        if authorizer is not None:  # calls IAM denies a function show in its log
            authorizer.denied.append(runtime.note)
        _protect_data_dir(self.app.config.data_dir, runtime)
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._event_worker()),
                       loop.create_task(self._provision_loop())]

    async def stop_runtime(self) -> None:
        if self._started is None:
            return
        await asyncio.shield(self._started)
        for task in self._loops:
            task.cancel()
        await self.runtime().stop()
        self._runtime = self._started = None

    async def _network_caught_up(self) -> None:
        """With the fabric, a function meets every network change made before its invoke."""
        fabric = getattr(self.app, "fabric", None)
        if fabric is not None:
            await fabric.caught_up()

    # ---- the operation -------------------------------------------------------------------

    async def invoke(self, ctx, p):
        if self._started is None or not self._started.done():
            await self.start_runtime()  # e.g. an App served without its lifespan start
        kind = p.get("InvocationType") or "RequestResponse"
        payload = p.get("Payload") or b""
        view = self.app.store.view(ctx.region)
        record, version = model.resolve(view, p["FunctionName"], p.get("Qualifier"),
                                        ctx.account_id)
        model.invocable(record)
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            raise ServiceError(f"Request must be smaller than {limit} bytes for the "
                               "InvokeFunction operation", code="RequestTooLargeException",
                               status=413)
        if payload.strip():
            try:
                json.loads(payload)
            except ValueError:
                raise _invalid_content("Could not parse request body into json: Could not "
                                       "parse payload into json: Unexpected character") from None
            except RecursionError:  # ~1,000 levels deep: where AWS's parser stops too
                raise _invalid_content("Could not parse request body into json: Could not "
                                       "parse payload into json: the document is nested too "
                                       "deeply") from None
        client_context = None
        if p.get("ClientContext"):
            try:
                client_context = base64.b64decode(p["ClientContext"], validate=True).decode()
                json.loads(client_context)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise _invalid_content("Client context must be a valid Base64-encoded JSON "
                                       "object.") from None
        if kind == "DryRun":
            return {"StatusCode": 204}
        name, qualifier = model.split_name(p["FunctionName"], p.get("Qualifier"))
        if kind == "Event":
            self._enqueue(ctx, name, qualifier, payload, client_context)
            return {"StatusCode": 202}
        spec = self._spec(ctx.region, ctx.account_id, record, version)
        await self._network_caught_up()
        try:
            result = await self._faulted(view, spec, lambda **more: self.runtime().invoke(
                spec, payload, request_id=ctx.request_id, client_context=client_context,
                invoked_arn=model.function_arn(ctx.region, ctx.account_id, name, qualifier),
                log_tail=p.get("LogType") == "Tail",
                reserved=model.reserved_concurrency(view, name), **more))
        except Throttled as exc:
            raise _throttled(exc) from None
        except Unplaceable as exc:
            raise lambda_error("not_ready", why=str(exc)) from None
        out = {"StatusCode": 200, "ExecutedVersion": version, "Payload": result.payload}
        if result.function_error:
            out["FunctionError"] = result.function_error
        if p.get("LogType") == "Tail":
            out["LogResult"] = result.log_tail
        return out

    async def _faulted(self, view, spec: FunctionSpec, run) -> Result:
        """Run an invocation (`run()`) through the FIS faults in force for its function
        (services/fis/faults.py): a delay before it runs, an error instead of its result (or
        instead of running it, with preventExecution)."""
        fault = faults.sample(view, faults.unqualified(spec.arn))
        if not fault.any:
            return await run()
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault.error and fault.prevent_execution:
            # it never runs, but fails as an invocation: Lambda counts it (Invocations, Errors)
            telemetry = self.runtime().telemetry
            telemetry.metric(spec.region, spec.name, "Invocations", 1)
            telemetry.metric(spec.region, spec.name, "Errors", 1)
            return Result(faults.error_payload(), function_error="Unhandled", status="error")
        result = await run(injected_error=fault.error)
        if fault.error:
            result.payload, result.function_error = faults.error_payload(), "Unhandled"
            result.status = "error"
        return result

    def _spec(self, region: str, account: str, record: dict, version: str) -> FunctionSpec:
        """The runtime's view of a configuration record (cached while the record lives)."""
        key = (region, record["FunctionName"], version)
        cached = self._specs.get(key)
        if cached is not None and cached[0] is record:
            return cached[1]
        variables = (record.get("Environment") or {}).get("Variables") or {}
        spec = FunctionSpec(
            name=record["FunctionName"],
            arn=model.function_arn(region, account, record["FunctionName"]),
            runtime=record.get("Runtime") or "",
            handler=record.get("Handler") or "",
            code_path=record["_CodePath"],
            code_sha=record["CodeSha256"],
            version=version,
            region=region,
            memory_mb=int(record.get("MemorySize") or 128),
            storage_mb=int((record.get("EphemeralStorage") or {}).get("Size") or 512),
            timeout_s=int(record.get("Timeout") or 3),
            environment=tuple(sorted(variables.items())),
            role=record.get("Role") or "",
            log_group=(record.get("LoggingConfig") or {}).get("LogGroup") or "",
            revision=record.get("RevisionId") or "")
        self._specs[key] = (record, spec)
        return spec

    def _credentials(self, spec: FunctionSpec) -> dict[str, str]:
        """Temporary credentials of the execution role: an STS session like AssumeRole's."""
        account = spec.arn.split(":")[4]
        credentials = new_credentials(CREDENTIAL_SECONDS)
        with self.app.store.transaction(IAM_SCOPE) as tx:
            role = role_by_arn(tx, spec.role) if spec.role else None
            role_name = role["RoleName"] if role else spec.role.rsplit("/", 1)[-1] or "lambda"
            role_id = role["RoleId"] if role else "AROA" + "A" * 17
            tx.put(SESSIONS, credentials["AccessKeyId"], dict(
                credentials, AssumedRoleId=f"{role_id}:{spec.name}",
                Arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{spec.name}",
                Account=account, RoleArn=spec.role), scope=IAM_SCOPE)
        return credentials

    # ---- Event invocations ---------------------------------------------------------------

    def _enqueue(self, ctx, name: str, qualifier: str | None, payload: bytes,
                 client_context: str | None) -> None:
        self.queue_event(ctx.region, ctx.account_id, ctx.request_id, name, qualifier, payload,
                         client_context)

    def queue_event(self, region: str, account: str, request_id: str, name: str,
                    qualifier: str | None, payload: bytes,
                    client_context: str | None = None) -> None:
        """Queue an asynchronous (Event) invocation durably, as Invoke's Event type does: what
        other services (EventBridge) call to invoke a function. Runs on the server's loop."""
        self.runtime()
        now = time.time()
        item = {"RequestId": request_id, "Region": region, "Account": account,
                "FunctionName": name, "Qualifier": qualifier,
                "Payload": base64.b64encode(payload).decode(), "ClientContext": client_context,
                "Attempt": 0, "Queued": now, "NotBefore": now}
        with self.app.store.transaction(EVENTS_SCOPE) as tx:
            tx.put(EVENTS, request_id, item)
        self._event_wake.set()

    async def _event_worker(self) -> None:
        """Start every due queued event; sleep until the next one is due or a new one comes."""
        while True:
            self._event_wake.clear()
            now = time.time()
            next_due = None
            for item in self.app.store.view(EVENTS_SCOPE).values(EVENTS):
                rid = item["RequestId"]
                if rid in self._events_running:
                    continue
                if item["NotBefore"] <= now:
                    if len(self._events_running) >= EVENT_CONCURRENCY:
                        continue  # woken again when one finishes
                    self._events_running.add(rid)
                    task = asyncio.get_running_loop().create_task(self._run_event(item))
                    task.add_done_callback(lambda _, rid=rid: self._event_done(rid))
                else:
                    next_due = min(next_due or item["NotBefore"], item["NotBefore"])
            timeout = None if next_due is None else max(next_due - time.time(), 0.01)
            try:
                await asyncio.wait_for(self._event_wake.wait(), timeout)
            except TimeoutError:
                pass

    def _event_done(self, rid: str) -> None:
        self._events_running.discard(rid)
        self._event_wake.set()

    async def _run_event(self, item: dict) -> None:
        region, account = item["Region"], item["Account"]
        view = self.app.store.view(region)
        try:
            record, version = model.resolve(view, item["FunctionName"], item["Qualifier"],
                                            account)
            model.invocable(record)
        except ServiceError as exc:
            if exc.status == 409:  # Pending: try again shortly
                return self._requeue(item, time.time() + 1, item["Attempt"])
            return self._dequeue(item)  # the function is gone: so is its event
        spec = self._spec(region, account, record, version)
        await self._network_caught_up()
        try:
            result = await self._faulted(view, spec, lambda **more: self.runtime().invoke(
                spec, base64.b64decode(item["Payload"]), request_id=item["RequestId"],
                client_context=item.get("ClientContext"),
                invoked_arn=model.function_arn(region, account, item["FunctionName"],
                                               item["Qualifier"]),
                reserved=model.reserved_concurrency(view, item["FunctionName"]), **more))
        except (Throttled, Unplaceable):  # AWS retries both for the event's maximum age
            if time.time() - item["Queued"] > MAX_EVENT_AGE:
                return self._dequeue(item)
            return self._requeue(item, time.time() + 1, item["Attempt"])
        except Exception:  # a bug of ours must not wedge the queue
            log.exception("event invocation %s failed", item["RequestId"])
            return self._dequeue(item)
        attempt = item["Attempt"] + 1
        if result.function_error and attempt <= EVENT_RETRIES:
            return self._requeue(item, time.time() + _retry_delay(attempt), attempt)
        # success, or retries exhausted (destinations and DLQs are not implemented)
        return self._dequeue(item)

    def _requeue(self, item: dict, not_before: float, attempt: int) -> None:
        with self.app.store.transaction(EVENTS_SCOPE) as tx:
            if tx.get(EVENTS, item["RequestId"]) is not None:
                tx.put(EVENTS, item["RequestId"], dict(item, NotBefore=not_before,
                                                       Attempt=attempt))

    def _dequeue(self, item: dict) -> None:
        with self.app.store.transaction(EVENTS_SCOPE) as tx:
            if tx.get(EVENTS, item["RequestId"]) is not None:
                tx.delete(EVENTS, item["RequestId"])

    # ---- provisioned concurrency ---------------------------------------------------------

    async def _provision_loop(self) -> None:
        while True:
            try:
                self.reconcile_provisioned()
            except Exception:
                log.exception("provisioned concurrency")
            await asyncio.sleep(PROVISION_EVERY)

    def reconcile_provisioned(self) -> None:
        """Keep every provisioned concurrency config's environments ready."""
        runtime = self.runtime()
        store = self.app.store
        wanted: dict[FunctionSpec, int] = {}
        # scopes() walks the store's maps: hold its lock, the telemetry thread may write
        with store.transaction(EVENTS_SCOPE):
            regions = store.scopes(model.FUNCTIONS)
        for region in regions:
            view = store.view(region)
            for name in view.all(model.FUNCTIONS):
                for qualifier, count in model.provisioned_concurrency(view, name).items():
                    try:
                        if not qualifier.isdigit():
                            alias = view.get(model.ALIASES, f"{name}:{qualifier}")
                            qualifier = alias["FunctionVersion"] if alias else qualifier
                        version = model.get_version(view, name, qualifier)
                    except ServiceError:
                        continue
                    spec = self._spec(region, self.app.config.account_id, version, qualifier)
                    wanted[spec] = wanted.get(spec, 0) + count
        kept = runtime.provisioned()
        for spec in kept:
            if spec not in wanted:
                runtime.provision(spec, 0)
        for spec, count in wanted.items():
            if kept.get(spec) != count:
                runtime.provision(spec, count)

    def provisioned_available(self, region: str, name: str, version: str) -> int:
        """How many provisioned environments of a version are initialized now."""
        if self._runtime is None:
            return 0
        record = model.get_version(self.app.store.view(region), name, version)
        return self._runtime.provisioned_ready(
            self._spec(region, self.app.config.account_id, record, version))


def _protect_data_dir(data_dir, runtime: Runtime) -> None:
    """Function code may read its extracted package under the data directory, not the store."""
    launch = runtime.launch
    if launch is None or launch.uid is None or not launch.can_reach(data_dir):
        return
    os.chmod(data_dir, 0o711)  # enterable, not listable
    for path in data_dir.glob("state.db*"):
        os.chmod(path, 0o600)
