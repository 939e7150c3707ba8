"""The AWS FIS provider: experiment templates, and experiments that act on the real system.

An experiment runs as a task on the server's loop: its targets are resolved (by ARN, tags or
filters), it goes running, and its actions run in the order their startAfter lists give.
An action with effects puts them in force before it reports `running`, and removes them
before it reports `completed` (or `stopped`), so what GetExperiment says is what the system
does:

- aws:network:disrupt-connectivity: the target subnets go into the fabric's disrupted set
  (fabric.service.DISRUPTIONS) with what their scope denies (scopes.py: everything for
  `all`, else the CIDRs of other AZs' subnets, a prefix list, S3's or DynamoDB's addresses),
  compiled as network ACL entries denying it both ways and applied by the same reconciler as
  every other change; the action waits until the kernel reflects it. A
  disruption the fabric cannot apply fails the action and the experiment, with the reason.
- aws:lambda:invocation-add-delay / invocation-error: fault records the Lambda invoke path
  samples (faults.py).
  A Multi-AZ DB instance whose primary is in a subnet cut off (scope `all`) fails over, and
  gets its standby back when the subnet is restored (the RDS provider's subnets_disrupted /
  subnets_restored hooks).
- aws:rds:reboot-db-instances: the RDS provider's own reboot (the engine restarts), through a
  Multi-AZ failover with forceFailover.
- aws:fis:wait: nothing but its duration.

Stop conditions: a template's `aws:cloudwatch:alarm` conditions name CloudWatch alarms
(vpclocal.services.cloudwatch.alarms) that must exist when the experiment starts; while it
runs, one of them in ALARM (already at the start, or moving there) stops it as StopExperiment
does, with the reason "Experiment stopped by stop condition.".

Durations run on vpclocal's clock (vpclocal.clock): the real clock, which `vpclocal clock
advance` moves forward, ending actions early. StopExperiment ends the running actions
(`stopped`), cancels those not yet started, and the experiment ends `stopped`. A server that
stops while an experiment runs removes its effects at the next start and fails it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from vpclocal import clock
from vpclocal.errors import ServiceError
from vpclocal.fabric.service import DISRUPTIONS
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.cloudwatch.alarms import ALARMS
from vpclocal.services.events.model import page
from vpclocal.services.fis import faults, model, scopes, targets
from vpclocal.services.fis.model import ACTIONS, EXPERIMENTS, TEMPLATES, TERMINAL, validation

log = logging.getLogger("vpclocal.fis")

ALARM_SOURCE = "aws:cloudwatch:alarm"
STOP_SOURCES = ("none", ALARM_SOURCE)
ALARM_ARN = re.compile(r"arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)")
# unconfirmed wording: AWS's reason for a stop condition's stop was not found in a primary source
STOPPED_BY_CONDITION = "Experiment stopped by stop condition."


class _Failed(Exception):
    pass


class FisProvider(Provider):
    service_name = "fis"

    def __init__(self, app) -> None:
        super().__init__(app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        self._stop: dict[str, asyncio.Event] = {}
        self._wake: set[asyncio.Event] = set()  # waiters on the clock
        self.timeline: dict[str, list[tuple[str, float]]] = {}  # eid -> (event, perf time)
        self._conditions: dict[str, set[str]] = {}  # running eid -> its stop alarms' ARNs
        self._regions: dict[str, str] = {}  # launched eid -> its region
        self._stopped_by: dict[str, str] = {}  # eid -> the alarm ARN that stopped it

    # ---- templates -----------------------------------------------------------------------

    def _checked(self, p: dict, old: dict | None) -> dict:
        """The template fields a Create/Update request gives, checked as FIS checks them."""
        tgts = p.get("targets") if p.get("targets") is not None else (old or {}).get(
            "targets", {})
        acts = p.get("actions") if p.get("actions") is not None else (old or {}).get(
            "actions", {})
        for name, t in tgts.items():
            if t["resourceType"] not in targets.KINDS:
                raise validation(f"Target resource type {t['resourceType']} is not supported.")
            if t.get("resourceArns") and t.get("resourceTags"):
                raise validation("You cannot specify both resource ARNs and resource tags for "
                                 f"target {name}.")
            try:
                model.selection(t["selectionMode"])
            except ValueError:
                raise validation(f"Invalid selection mode {t['selectionMode']} for target "
                                 f"{name}.") from None
            unexpected = [k for k in t.get("parameters") or {}
                          if k not in targets.PARAMETERS.get(t["resourceType"], {})]
            if unexpected:
                raise validation(f"Unexpected parameter \"{unexpected[0]}\" "
                                 f"found in target {name}.")
        for name, a in acts.items():
            spec = ACTIONS.get(a["actionId"])
            if spec is None:
                raise validation(f"Action type {a['actionId']} is not supported.")
            for key, tname in (a.get("targets") or {}).items():
                if key not in spec.targets:
                    raise validation(f"Unexpected target \"{key}\" found in action {name}.")
                if tname not in tgts:
                    raise validation(f"Target {tname} referenced in action {name} does not "
                                     "exist.")
                if tgts[tname]["resourceType"] != spec.targets[key]:
                    raise validation(f"Target {tname} of action {name} must be of resource "
                                     f"type {spec.targets[key]}.")
            for key in spec.targets:
                if key not in (a.get("targets") or {}):
                    raise validation(f"Action {name} is missing required target {key}.")
            for pname, value in (a.get("parameters") or {}).items():
                model.check_parameter(a["actionId"], pname, value)
            for pname, pspec in spec.parameters.items():
                if pspec.required and pname not in (a.get("parameters") or {}):
                    raise validation(f"Action {name} is missing required parameter "
                                     f"{pname}.")
            for before in a.get("startAfter") or ():
                if before not in acts or before == name:
                    raise validation(f"Action {before} in startAfter of action {name} does "
                                     "not exist.")
        _acyclic(acts)
        used = {t for a in acts.values() for t in (a.get("targets") or {}).values()}
        for name in tgts:
            if name not in used:
                raise validation(f"Target {name} is not referenced by any action.")
        conditions = p.get("stopConditions") if p.get("stopConditions") is not None else (
            old or {}).get("stopConditions", [])
        for c in conditions:
            if c["source"] not in STOP_SOURCES:
                raise validation(f"Stop condition source {c['source']} is not supported.")
            if c["source"] == "none" and c.get("value"):
                raise validation("A stop condition with source none takes no value.")
            if c["source"] == ALARM_SOURCE and not ALARM_ARN.fullmatch(c.get("value") or ""):
                raise validation(f"The value of a stop condition with source {ALARM_SOURCE} "
                                 "must be a CloudWatch alarm ARN (arn:aws:cloudwatch:region:"
                                 f"account:alarm:name), not \"{c.get('value') or ''}\".")
        return {"targets": tgts, "actions": acts,
                "stopConditions": [{k: v for k, v in c.items() if v is not None}
                                   for c in conditions]}

    def create_experiment_template(self, ctx, p):
        fields = self._checked(p, None)
        now = time.time()
        tid = model.new_id("EXT", 14)
        record = {"id": tid, "arn": model.template_arn(ctx.region, ctx.account_id, tid),
                  "description": p["description"], **fields, "creationTime": now,
                  "lastUpdateTime": now, "roleArn": p["roleArn"],
                  "experimentOptions": {"accountTargeting": "single-account",
                                        "emptyTargetResolutionMode": "fail",
                                        **(p.get("experimentOptions") or {})},
                  "targetAccountConfigurationsCount": 0, "_Tags": dict(p.get("tags") or {})}
        for extra in ("logConfiguration", "experimentReportConfiguration"):
            if p.get(extra) is not None:
                record[extra] = p[extra]
        ctx.tx.put(TEMPLATES, tid, record)
        return {"experimentTemplate": model.public(record)}

    def get_experiment_template(self, ctx, p):
        return {"experimentTemplate": model.public(model.get_template(ctx.tx, p["id"]))}

    def update_experiment_template(self, ctx, p):
        old = model.get_template(ctx.tx, p["id"])
        record = dict(old, **self._checked(p, old), lastUpdateTime=time.time())
        for extra in ("description", "roleArn", "logConfiguration",
                      "experimentReportConfiguration"):
            if p.get(extra) is not None:
                record[extra] = p[extra]
        if p.get("experimentOptions") is not None:
            record["experimentOptions"] = dict(old["experimentOptions"], **p["experimentOptions"])
        ctx.tx.put(TEMPLATES, p["id"], record)
        return {"experimentTemplate": model.public(record)}

    def delete_experiment_template(self, ctx, p):
        record = model.get_template(ctx.tx, p["id"])
        ctx.tx.delete(TEMPLATES, p["id"])
        return {"experimentTemplate": model.public(record)}

    def list_experiment_templates(self, ctx, p):
        records = sorted(ctx.tx.values(TEMPLATES), key=lambda r: r["id"])
        shown, token = page(records, lambda r: r["id"], p.get("nextToken"), p.get("maxResults"))
        return {"experimentTemplates": [
            {k: model.public(r)[k] for k in ("id", "arn", "description", "creationTime",
                                               "lastUpdateTime", "tags")} for r in shown],
                "nextToken": token}

    # ---- tags ----------------------------------------------------------------------------

    def _tagged(self, ctx, arn: str) -> tuple[str, str]:
        prefix = f"arn:aws:fis:{ctx.region}:{ctx.account_id}:"
        kind, _, rid = arn[len(prefix):].partition("/") if arn.startswith(prefix) else ("", "",
                                                                                         "")
        store_kind = {"experiment-template": TEMPLATES, "experiment": EXPERIMENTS}.get(kind)
        if store_kind is None or ctx.tx.get(store_kind, rid) is None:
            raise model.not_found(f"Resource {arn} not found.")
        return store_kind, rid

    def tag_resource(self, ctx, p):
        kind, rid = self._tagged(ctx, p["resourceArn"])
        ctx.tx.edit(kind, rid)["_Tags"].update(p["tags"])
        return {}

    def untag_resource(self, ctx, p):
        kind, rid = self._tagged(ctx, p["resourceArn"])
        tags = ctx.tx.edit(kind, rid)["_Tags"]
        for key in p.get("tagKeys") or ():
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, ctx, p):
        kind, rid = self._tagged(ctx, p["resourceArn"])
        return {"tags": dict(ctx.tx.get(kind, rid)["_Tags"])}

    # ---- experiments ---------------------------------------------------------------------

    def start_experiment(self, ctx, p):
        for record in ctx.tx.values(EXPERIMENTS):  # idempotent by client token
            if record.get("_ClientToken") == p["clientToken"]:
                if record["experimentTemplateId"] != p["experimentTemplateId"]:
                    raise model.conflict("The client token was already used for another "
                                         "request.")
                return {"experiment": model.public(record)}
        template = model.get_template(ctx.tx, p["experimentTemplateId"])
        for c in template["stopConditions"]:
            if c["source"] == ALARM_SOURCE and self._alarm(c["value"]) is None:
                raise validation(f"The stop condition alarm {c['value']} does not exist.")
        eid = model.new_id("EXP", 15)
        now = time.time()
        mode = (p.get("experimentOptions") or {}).get("actionsMode", "run-all")
        record = {
            "id": eid, "arn": model.experiment_arn(ctx.region, ctx.account_id, eid),
            "experimentTemplateId": template["id"], "roleArn": template["roleArn"],
            "state": {"status": "initiating", "reason": "Experiment is initiating."},
            "targets": template["targets"],
            "actions": {name: dict(a, state={"status": "pending", "reason": "Initial state"})
                        for name, a in template["actions"].items()},
            "stopConditions": template["stopConditions"], "creationTime": now,
            "experimentOptions": dict(template["experimentOptions"], actionsMode=mode),
            "targetAccountConfigurationsCount": 0,
            "_Tags": dict(p.get("tags") or {}), "_ClientToken": p["clientToken"],
            "_Account": ctx.account_id}
        for extra in ("logConfiguration", "experimentReportConfiguration"):
            if template.get(extra) is not None:
                record[extra] = template[extra]
        ctx.tx.put(EXPERIMENTS, eid, record)
        region = ctx.region
        self.timeline[eid] = [("start", time.perf_counter())]
        ctx.tx.after_commit(lambda: self._launch(region, eid))
        return {"experiment": model.public(record)}

    def get_experiment(self, ctx, p):
        return {"experiment": model.public(model.get_experiment(ctx.tx, p["id"]))}

    def list_experiments(self, ctx, p):
        records = ctx.tx.values(EXPERIMENTS)
        if p.get("experimentTemplateId"):
            records = [r for r in records
                       if r["experimentTemplateId"] == p["experimentTemplateId"]]
        records = sorted(records, key=lambda r: r["id"])
        shown, token = page(records, lambda r: r["id"], p.get("nextToken"), p.get("maxResults"))
        return {"experiments": [
            {k: model.public(r)[k] for k in ("id", "arn", "experimentTemplateId", "state",
                                               "creationTime", "tags", "experimentOptions")}
            for r in shown], "nextToken": token}

    def list_experiment_resolved_targets(self, ctx, p):
        record = model.get_experiment(ctx.tx, p["experimentId"])
        resolved = record.get("_Resolved") or {}
        wanted = p.get("targetName")
        if wanted and wanted not in record["targets"]:
            raise validation(f"Target {wanted} does not exist in experiment "
                             f"{p['experimentId']}.")
        rows = [{"resourceType": record["targets"][name]["resourceType"],
                 "targetName": name, "targetInformation": {"arn": arn}}
                for name, found in sorted(resolved.items()) if not wanted or name == wanted
                for arn in found]
        shown, token = page(rows, lambda r: f"{r['targetName']}|{r['targetInformation']['arn']}",
                            p.get("nextToken"), p.get("maxResults"))
        return {"resolvedTargets": shown, "nextToken": token}

    def stop_experiment(self, ctx, p):
        record = model.get_experiment(ctx.tx, p["id"])
        if record["state"]["status"] in TERMINAL or record["state"]["status"] == "stopping":
            return {"experiment": model.public(record)}
        record = ctx.tx.edit(EXPERIMENTS, p["id"])
        record["state"] = {"status": "stopping", "reason": "Stopping Experiment."}
        eid = p["id"]
        ctx.tx.after_commit(lambda: self._signal_stop(eid))
        return {"experiment": model.public(record)}

    # ---- actions and targets the service offers ------------------------------------------

    def list_actions(self, ctx, p):
        rows = [{"id": aid, "arn": f"arn:aws:fis:{ctx.region}::action/{aid}",
                 "description": a.description,
                 "targets": {k: {"resourceType": v} for k, v in a.targets.items()}, "tags": {}}
                for aid, a in sorted(ACTIONS.items())]
        shown, token = page(rows, lambda r: r["id"], p.get("nextToken"), p.get("maxResults"))
        return {"actions": shown, "nextToken": token}

    def get_action(self, ctx, p):
        a = ACTIONS.get(p["id"])
        if a is None:
            raise model.not_found(f"Action {p['id']} not found.")
        return {"action": {
            "id": p["id"], "arn": f"arn:aws:fis:{ctx.region}::action/{p['id']}",
            "description": a.description,
            "parameters": {k: {"description": k, "required": v.required}
                           for k, v in a.parameters.items()},
            "targets": {k: {"resourceType": v} for k, v in a.targets.items()}, "tags": {}}}

    def list_target_resource_types(self, ctx, p):
        rows = [{"resourceType": t, "description": t} for t in model.RESOURCE_TYPES]
        shown, token = page(rows, lambda r: r["resourceType"], p.get("nextToken"),
                            p.get("maxResults"))
        return {"targetResourceTypes": shown, "nextToken": token}

    # ---- running -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._recover()
        cloudwatch = self.app.providers.get("monitoring")
        if cloudwatch is not None:
            cloudwatch.alarm_listeners.append(self._alarm_changed)

    # ---- stop conditions -----------------------------------------------------------------

    def _alarm(self, arn: str) -> dict | None:
        found = ALARM_ARN.fullmatch(arn)
        if found is None:
            return None
        region, _, name = found.groups()
        alarm = self.app.store.view(region).get(ALARMS, name)
        return alarm if alarm is not None and alarm["AlarmArn"] == arn else None

    def _alarm_changed(self, region: str, alarm: dict) -> None:
        """A CloudWatch alarm changed state (on any thread): the experiments it guards stop
        when it is in ALARM."""
        if alarm["StateValue"] != "ALARM" or self._loop is None:
            return
        arn = alarm["AlarmArn"]
        self._loop.call_soon_threadsafe(lambda: [
            self._condition_met(eid, arn) for eid, arns in list(self._conditions.items())
            if arn in arns])

    def _condition_met(self, eid: str, arn: str) -> None:
        if eid in self._stopped_by or eid not in self._conditions:
            return
        self._stopped_by[eid] = arn
        region = self._regions[eid]

        def stopping(r):
            if r["state"]["status"] not in TERMINAL:
                r["state"] = {"status": "stopping", "reason": "Stopping Experiment."}
        self._edit(region, eid, stopping)
        self._signal_stop(eid)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        self._tasks.clear()

    def clock_moved(self) -> None:
        for event in list(self._wake):
            event.set()

    def _launch(self, region: str, eid: str) -> None:
        self._regions[eid] = region
        loop = self._loop or asyncio.get_event_loop()
        self._stop[eid] = asyncio.Event()
        self._tasks[eid] = loop.create_task(self._run(region, eid))

    def _signal_stop(self, eid: str) -> None:
        event = self._stop.get(eid)
        if event is not None:
            event.set()

    def _recover(self) -> None:
        """What a stopped server left: experiments it ran fail, their effects removed."""
        store = self.app.store
        with store.transaction(clock.SCOPE):
            regions = set(store.scopes(EXPERIMENTS)) | set(store.scopes(DISRUPTIONS)) | set(
                store.scopes(faults.LAMBDA_FAULTS))
        for region in regions:
            with store.transaction(region) as tx:
                for key in list(tx.all(DISRUPTIONS)):
                    tx.delete(DISRUPTIONS, key)
                for key in list(tx.all(faults.LAMBDA_FAULTS)):
                    tx.delete(faults.LAMBDA_FAULTS, key)
                for eid, record in list(tx.all(EXPERIMENTS).items()):
                    if record["state"]["status"] not in TERMINAL:
                        self._end(tx.edit(EXPERIMENTS, eid), "failed",
                                  "vpclocal stopped while the experiment ran; its effects were "
                                  "removed at the next start.")

    def _edit(self, region: str, eid: str, change) -> dict:
        with self.app.store.transaction(region) as tx:
            record = tx.edit(EXPERIMENTS, eid)
            change(record)
            return record

    def _action_state(self, region: str, eid: str, name: str, status: str, reason: str,
                      **times) -> None:
        def change(record):
            action = record["actions"][name]
            action["state"] = {"status": status, "reason": reason}
            action.update(times)
        self._edit(region, eid, change)

    @staticmethod
    def _end(record: dict, status: str, reason: str, code: str | None = None) -> None:
        now = time.time()
        record["state"] = {"status": status, "reason": reason}
        if code:
            record["state"]["error"] = {"code": code}
        record["endTime"] = now
        for action in record["actions"].values():
            if action["state"]["status"] == "pending":
                action["state"] = {"status": "cancelled",
                                   "reason": "Experiment ended before the action started."}

    async def _run(self, region: str, eid: str) -> None:
        try:
            await self._execute(region, eid)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug of ours: the experiment fails, its effects are removed
            log.exception("experiment %s", eid)
            self._cleanup(region, eid)
            self._edit(region, eid, lambda r: self._end(
                r, "failed", "An internal error occurred while running the experiment.",
                "InternalError"))
        finally:
            self._tasks.pop(eid, None)
            self._stop.pop(eid, None)
            self._conditions.pop(eid, None)
            self._stopped_by.pop(eid, None)
            self._regions.pop(eid, None)

    async def _execute(self, region: str, eid: str) -> None:
        record = self.app.store.view(region).get(EXPERIMENTS, eid)
        view = self.app.store.view(region)
        resolved: dict[str, list[str]] = {}
        try:
            for name, target in record["targets"].items():
                found = targets.arns(target["resourceType"],
                                     targets.resolve(view, name, target))
                if not found and record["experimentOptions"].get(
                        "emptyTargetResolutionMode", "fail") == "fail":
                    raise targets.Unresolved(f"Target resolution returned empty set for "
                                             f"target {name}.")
                resolved[name] = found
        except targets.Unresolved as exc:
            reason = str(exc)
            self._edit(region, eid, lambda r: self._end(r, "failed", reason,
                                                        "TargetResolutionFailed"))
            return

        def running(r):
            r["_Resolved"] = resolved
            if r["state"]["status"] == "initiating":
                r["state"] = {"status": "running", "reason": "Experiment is running."}
            r["startTime"] = time.time()
        record = self._edit(region, eid, running)
        stop = self._stop[eid]
        alarms = {c["value"] for c in record["stopConditions"] if c["source"] == ALARM_SOURCE}
        if alarms:
            self._conditions[eid] = alarms
            for arn in sorted(alarms):  # one already in ALARM stops it at once
                alarm = self._alarm(arn)
                if alarm is not None and alarm["StateValue"] == "ALARM":
                    self._condition_met(eid, arn)
                    break
        if record["experimentOptions"].get("actionsMode") == "skip-all":
            def skip(r):
                for a in r["actions"].values():
                    a["state"] = {"status": "skipped", "reason": "Action was skipped."}
            self._edit(region, eid, skip)
        else:
            await self._actions(region, eid, record, resolved, stop)
        final = self.app.store.view(region).get(EXPERIMENTS, eid)
        statuses = [a["state"]["status"] for a in final["actions"].values()]
        if "failed" in statuses:
            failed = next(a for a in final["actions"].values()
                          if a["state"]["status"] == "failed")
            self._edit(region, eid, lambda r: self._end(r, "failed", failed["state"]["reason"],
                                                        "ActionFailed"))
        elif stop.is_set():
            reason = STOPPED_BY_CONDITION if eid in self._stopped_by else "Experiment stopped."
            self._edit(region, eid, lambda r: self._end(r, "stopped", reason))
        else:
            self._edit(region, eid, lambda r: self._end(r, "completed",
                                                        "Experiment completed."))
        self.timeline.setdefault(eid, []).append(("end", time.perf_counter()))

    async def _actions(self, region, eid, record, resolved, stop: asyncio.Event) -> None:
        done: dict[str, asyncio.Future] = {n: asyncio.get_running_loop().create_future()
                                           for n in record["actions"]}
        abort = asyncio.Event()  # an action failed: the others end

        async def one(name: str, action: dict) -> None:
            try:
                for before in action.get("startAfter") or ():
                    if not await done[before]:
                        return  # a predecessor did not complete: this one never starts
                if stop.is_set() or abort.is_set():
                    return
                ok = await self._action(region, eid, name, action, resolved, stop, abort)
                if not ok:
                    abort.set()
                done[name].set_result(ok)
            finally:
                if not done[name].done():
                    done[name].set_result(False)

        await asyncio.gather(*(one(n, a) for n, a in record["actions"].items()))

    async def _action(self, region, eid, name, action, resolved, stop, abort) -> bool:
        """Run one action: True when it completed."""
        aid = action["actionId"]
        params = action.get("parameters") or {}
        arns = sorted({a for t in (action.get("targets") or {}).values()
                       for a in resolved.get(t, [])})
        seconds = model.duration(params["duration"]) if "duration" in params else 0.0
        self._action_state(region, eid, name, "initiating", "Action is initiating.")
        try:
            undo = await self._apply(region, eid, name, aid, params, arns)
        except _Failed as exc:
            self._action_state(region, eid, name, "failed", str(exc), startTime=time.time(),
                               endTime=time.time())
            return False
        self._action_state(region, eid, name, "running", "Action is running.",
                           startTime=time.time())
        self.timeline.setdefault(eid, []).append((f"{name}:running", time.perf_counter()))
        ended = await self._hold(seconds, stop, abort)
        try:
            if undo is not None:
                await undo()
        except _Failed as exc:
            self._action_state(region, eid, name, "failed", str(exc), endTime=time.time())
            return False
        self.timeline.setdefault(eid, []).append((f"{name}:ended", time.perf_counter()))
        if ended:
            self._action_state(region, eid, name, "completed", "Action was completed.",
                               endTime=time.time())
            return True
        self._action_state(region, eid, name, "stopped", "Action was stopped.",
                           endTime=time.time())
        return False

    async def _hold(self, seconds: float, stop: asyncio.Event, abort: asyncio.Event) -> bool:
        """Wait out a duration on vpclocal's clock: True when it passed, False when the
        experiment stopped (or another action failed) first."""
        end = clock.now(self.app.store) + seconds
        wake = asyncio.Event()
        self._wake.add(wake)
        try:
            while True:
                if stop.is_set() or abort.is_set():
                    return False
                left = end - clock.now(self.app.store)
                if left <= 0:
                    return True
                waits = [asyncio.ensure_future(e.wait()) for e in (stop, abort, wake)]
                await asyncio.wait(waits, timeout=left,
                                                return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
                wake.clear()
        finally:
            self._wake.discard(wake)

    async def _apply(self, region, eid, name, aid, params, arns):
        """Put an action's effects in force; a coroutine function that removes them (or
        None). Raises _Failed with the reason when they cannot be."""
        store = self.app.store
        if aid == "aws:fis:wait":
            return None
        if aid == "aws:network:disrupt-connectivity":
            scope = params.get("scope", "all")
            subnets = [arn.rpartition("/")[2] for arn in arns]
            view = store.view(region)
            try:
                denied = {s: scopes.denied(view, region, scope, params, s) for s in subnets}
            except scopes.Unsupported as exc:
                raise _Failed(str(exc)) from None
            fabric = self.app.fabric
            if not fabric.vpc or not fabric.running:
                raise _Failed("The subnets cannot be disrupted: vpclocal's fabric is not "
                              f"running ({fabric.reason or 'the server runs --no-fabric'}).")
            keys = [f"{eid}|{name}|{s}" for s in subnets]
            with store.transaction(region) as tx:
                for key, subnet in zip(keys, subnets, strict=True):
                    row = {"SubnetId": subnet, "Scope": scope, "ExperimentId": eid}
                    if denied[subnet] is not None:
                        row["Cidrs"] = denied[subnet]
                    tx.put(DISRUPTIONS, key, row)

            async def converge(what: str) -> None:
                if not await asyncio.to_thread(fabric.wait_applied):
                    raise _Failed(f"The fabric could not {what} the disruption: "
                                  f"{fabric.failed or fabric.last_error or fabric.reason or 'it did not converge in time'}")

            async def undo() -> None:
                with store.transaction(region) as tx:
                    for key in keys:
                        tx.delete(DISRUPTIONS, key)
                await converge("remove")
                if scope == "all":
                    await self.app.provider("rds").subnets_restored(region, subnets)

            try:
                await converge("apply")
            except _Failed:
                with store.transaction(region) as tx:
                    for key in keys:
                        tx.delete(DISRUPTIONS, key)
                raise
            if scope == "all":
                await self.app.provider("rds").subnets_disrupted(region, subnets)
            return undo
        if aid in ("aws:lambda:invocation-add-delay", "aws:lambda:invocation-error"):
            percent = int(params.get("invocationPercentage", "100"))
            kind = faults.DELAY if aid.endswith("add-delay") else faults.ERROR
            rows = [faults.record(eid, name, faults.unqualified(arn), kind, percent,
                                  int(params.get("startupDelayMilliseconds", "1000")),
                                  params.get("preventExecution") == "true") for arn in arns]
            with store.transaction(region) as tx:
                for key, row in rows:
                    tx.put(faults.LAMBDA_FAULTS, key, row)

            async def undo_faults() -> None:
                with store.transaction(region) as tx:
                    for key, _row in rows:
                        tx.delete(faults.LAMBDA_FAULTS, key)
            return undo_faults
        if aid == "aws:rds:reboot-db-instances":
            rds = self.app.provider("rds")
            record = store.view(region).get(EXPERIMENTS, eid)
            ctx = RequestContext(record["_Account"], region, "", "rds", "RebootDBInstance",
                                 self.app)
            for arn in arns:
                try:
                    await rds.reboot_db_instance(ctx, {
                        "DBInstanceIdentifier": arn.rpartition(":")[2],
                        "ForceFailover": params.get("forceFailover") == "true"})
                except ServiceError as exc:
                    raise _Failed(f"Rebooting {arn} failed: {exc.code}: {exc.message}") from None
            return None
        raise _Failed(f"Action {aid} is not supported.")

    def _cleanup(self, region: str, eid: str) -> None:
        with self.app.store.transaction(region) as tx:
            for kind in (DISRUPTIONS, faults.LAMBDA_FAULTS):
                for key, row in list(tx.all(kind).items()):
                    if row.get("ExperimentId") == eid:
                        tx.delete(kind, key)


def _acyclic(actions: dict) -> None:
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 1:
            raise validation("The startAfter of the actions form a cycle.")
        if state.get(name) == 2:
            return
        state[name] = 1
        for before in actions[name].get("startAfter") or ():
            visit(before)
        state[name] = 2

    for name in actions:
        visit(name)
