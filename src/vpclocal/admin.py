"""vpclocal's own endpoints under /_vpclocal/: health, the reachability query, the fabric's
status, the simulated internet's declared hosts, the doctor's findings and the bill, and the
console that shows them."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from vpclocal.fabric.relay import from_fabric
from vpclocal.network import UnknownComponentError, hosts
from vpclocal.protocols import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from vpclocal.server import App


def _json(status: int, body) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def health(app: App, request: HttpRequest) -> HttpResponse:
    services = sorted(app.models[name].service_name for name in app.providers)
    fabric = app.fabric.health()
    body = {"status": "degraded" if fabric["degraded"] else "running", "services": services,
            "fabric": fabric}
    runtime = next((p.runtime() for p in app.providers.values()
                    if getattr(p, "service_name", "") == "lambda"), None)
    if runtime is not None and runtime.launch is not None:
        body["lambda"] = {"isolation": runtime.isolation()}
    return _json(200, body)


def reach(app: App, request: HttpRequest) -> HttpResponse:
    """POST {"source", "destination", "protocol"?, "port"?, "region"?} -> the analysis."""
    from vpclocal.services.ec2.network_insights import reach as run

    try:
        query = json.loads(request.body or b"{}")
        region = query.get("region") or app.config.region
        port = query.get("port")
        result = run(app.store.view(region), query["source"], query["destination"],
                     query.get("protocol") or "tcp", int(port) if port is not None else None)
    except KeyError as exc:
        return _json(400, {"error": f"missing field {exc.args[0]}"})
    except (UnknownComponentError, ValueError) as exc:
        return _json(400, {"error": str(exc)})
    return _json(200, result.to_dict())


def why(app: App, request: HttpRequest) -> HttpResponse:
    """POST {"principal", "action", "resource"?, "region"?, "context"?} -> IAM's decision
    and what made it (iam/authorization.py)."""
    from vpclocal.services.iam.authorization import explain

    try:
        query = json.loads(request.body or b"{}")
        context = (query.get("context") or {}) if isinstance(query, dict) else None
        if not isinstance(context, dict):
            return _json(400, {"error": "the query must be a JSON object, its context an "
                                        "object of condition keys"})
        result = explain(app, str(query["principal"]), str(query["action"]),
                         str(query.get("resource") or "*"), query.get("region") or "", context)
    except KeyError as exc:
        return _json(400, {"error": f"missing field {exc.args[0]}"})
    except ValueError as exc:
        return _json(400, {"error": str(exc)})
    return _json(200, result)


def doctor(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/doctor?region=R: the guide's checklist over the region's current state
    (doctor/)."""
    from vpclocal.doctor import Account, run

    region = (request.query.get("region") or [""])[0] or app.config.region
    findings = run(Account(app.store.view(region), region, evidence(app)))
    return _json(200, {"region": region, "findings": [f.to_dict() for f in findings]})


def evidence(app: App):
    """What this server saw since it started, for the doctor's run-time checks."""
    from vpclocal.doctor import Evidence

    runtime = app.providers["lambda"].started_runtime()
    published, flows = app.fabric.published, app.fabric.flow_logs
    return Evidence(
        processed=flows.measured(time.time()) if flows is not None else {},
        invocations={k: list(v) for k, v in runtime.invocations.items()} if runtime else {},
        blocked={k: dict(v) for k, v in runtime.blocked.items()} if runtime else {},
        connections={k: list(v) for k, v in published.connections.items()} if published
        else {})


def cost(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/cost?region=R&month=YYYY-MM: the month's AWS bill of the region as
    configured now, and the saving of each doctor fix (doctor/cost.py)."""
    from vpclocal.doctor import Account
    from vpclocal.doctor.cost import bill

    region = (request.query.get("region") or [""])[0] or app.config.region
    month = (request.query.get("month") or [""])[0] or None
    try:
        result = bill(Account(app.store.view(region), region, evidence(app)), month)
    except ValueError as exc:
        return _json(400, {"error": str(exc)})
    return _json(200, result.to_dict())


def console_page(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/console: the console's page (console/)."""
    from vpclocal import console

    body, kind = console.asset("index.html")
    return HttpResponse(200, {"content-type": kind, "cache-control": "no-store"}, body)


def console_static(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/console/static/<name>: the page's scripts and styles."""
    from vpclocal import console

    found = console.asset(request.path.rpartition("/")[2])
    if found is None:
        return _json(404, {"error": f"no such console file: {request.path}"})
    return HttpResponse(200, {"content-type": found[1], "cache-control": "no-store"}, found[0])


def console_topology(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/console/topology?region=R: the region's VPCs as the console draws them."""
    from vpclocal.console.topology import build

    region = (request.query.get("region") or [""])[0] or app.config.region
    return _json(200, build(app.store.view(region), region))


def console_flows(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/console/flows?region=R: the flows the fabric counted lately."""
    from vpclocal.console import live_flows

    region = (request.query.get("region") or [""])[0] or app.config.region
    vpcs = set(app.store.view(region).all("vpcs"))
    return _json(200, {"region": region, **live_flows(app.fabric, vpcs)})


def lambda_code(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/lambda/code/<sha256>.zip: a Lambda deployment package (Code.Location)."""
    from vpclocal.services.lambda_.code import code_dir

    name = request.path.rpartition("/")[2]
    path = code_dir(app) / name
    if not re.fullmatch(r"[0-9a-f]{64}\.zip", name) or not path.is_file():
        return _json(404, {"error": f"no such deployment package: {name}"})
    return HttpResponse(200, {"content-type": "application/zip"}, path.read_bytes())


def fabric(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/fabric: whether the fabric runs, how far it has applied the model."""
    service = getattr(app, "fabric", None)
    return _json(200, service.status() if service is not None else {"enabled": False})


def internet_list(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/internet: the declared hosts, by name."""
    found = app.store.view(hosts.SCOPE).all(hosts.KIND)
    return _json(200, {"Hosts": [found[name] for name in sorted(found)]})


def internet_add(app: App, request: HttpRequest) -> HttpResponse:
    """POST /_vpclocal/internet {"name", "address"?}: declare (or move) a host."""
    try:
        query = json.loads(request.body or b"{}")
    except ValueError as exc:
        return _json(400, {"error": f"the body is not JSON: {exc}"})
    try:
        if not isinstance(query, dict) or "name" not in query:
            return _json(400, {"error": "missing field name"})
        host = hosts.record(query["name"], query.get("address"))
    except hosts.HostError as exc:
        return _json(400, {"error": str(exc)})
    with app.store.transaction(hosts.SCOPE) as tx:
        hosts.put(tx, host)
    return _json(200, {"Host": host})


def internet_remove(app: App, request: HttpRequest) -> HttpResponse:
    """DELETE /_vpclocal/internet?name=NAME: forget a declared host."""
    name = (request.query.get("name") or [""])[0]
    if not name:
        return _json(400, {"error": "missing parameter name"})
    with app.store.transaction(hosts.SCOPE) as tx:
        found = hosts.remove(tx, name)
    if found is None:
        return _json(404, {"error": f"no declared internet host named '{name}' "
                                    "(vpclocal internet list shows them)"})
    return _json(200, {"Host": found})


def clock_now(app: App, request: HttpRequest) -> HttpResponse:
    """GET /_vpclocal/clock: the scheduler clock's time and how far it is ahead of the real
    one."""
    from vpclocal import clock

    return _json(200, _clock_state(app.store, clock))


def clock_move(app: App, request: HttpRequest) -> HttpResponse:
    """POST /_vpclocal/clock {"advance": "5m"} (or seconds as a number): move the scheduler
    clock forward; the schedules it passes fire before the answer."""
    from vpclocal import clock

    try:
        query = json.loads(request.body or b"{}")
    except ValueError as exc:
        return _json(400, {"error": f"the body is not JSON: {exc}"})
    if not isinstance(query, dict) or "advance" not in query:
        return _json(400, {"error": "missing field advance (a duration like 90s, 5m, 1h30m)"})
    value = query["advance"]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return _json(400, {"error": "advance is a duration like 90s, 5m, 1h30m, or seconds"})
    try:
        seconds = float(value) if not isinstance(value, str) else clock.duration(value)
        if not 0 <= seconds <= 10 * 365 * 86400:
            raise ValueError("the clock moves forward, by at most ten years at a time")
    except ValueError as exc:
        return _json(400, {"error": str(exc)})
    clock.advance(app.store, seconds)
    for provider in app.providers.values():
        moved = getattr(provider, "clock_moved", None)
        if moved is not None:
            moved()
    return _json(200, _clock_state(app.store, clock))


def _clock_state(store, clock) -> dict:
    import datetime as dt

    now = clock.now(store)
    return {"Now": dt.datetime.fromtimestamp(now, dt.UTC).isoformat().replace("+00:00", "Z"),
            "Epoch": now, "OffsetSeconds": clock.offset(store)}


ROUTES = {("GET", "/_vpclocal/health"): health, ("POST", "/_vpclocal/reach"): reach,
          ("POST", "/_vpclocal/why"): why,
          ("GET", "/_vpclocal/doctor"): doctor, ("GET", "/_vpclocal/cost"): cost,
          ("GET", "/_vpclocal/fabric"): fabric, ("GET", "/_vpclocal/internet"): internet_list,
          ("POST", "/_vpclocal/internet"): internet_add,
          ("DELETE", "/_vpclocal/internet"): internet_remove,
          ("GET", "/_vpclocal/clock"): clock_now, ("POST", "/_vpclocal/clock"): clock_move,
          ("GET", "/_vpclocal/console"): console_page,
          ("GET", "/_vpclocal/console/topology"): console_topology,
          ("GET", "/_vpclocal/console/flows"): console_flows}
PREFIX_ROUTES = {("GET", "/_vpclocal/lambda/code/"): lambda_code,
                 ("GET", "/_vpclocal/console/static/"): console_static}


# what code inside the fabric may still ask of vpclocal's own endpoints (through a relay):
# whether the server is up, and a deployment package by its hash (GetFunction's Code.Location)
FROM_FABRIC_ALLOWED = (("GET", "/_vpclocal/health"), ("GET", "/_vpclocal/lambda/code/"))


def handle(app: App, request: HttpRequest) -> HttpResponse:
    if from_fabric(request.client) and not any(
            request.method == m and request.path.startswith(p) for m, p in FROM_FABRIC_ALLOWED):
        # function code keeps the AWS APIs, as on AWS, but not the tool's controls: the
        # fabric's namespaces and PIDs, the simulated internet's hosts
        return _json(403, {"error": "vpclocal's own endpoints are not served to code running "
                                    "in the fabric"})
    handler = ROUTES.get((request.method, request.path)) or next(
        (h for (method, prefix), h in PREFIX_ROUTES.items()
         if method == request.method and request.path.startswith(prefix)), None)
    if handler is None:
        return _json(404, {"error": f"no such vpclocal endpoint: {request.method} {request.path}"})
    return handler(app, request)
