"""The background work of a stack operation: resources created, updated, replaced and
deleted in dependency order (independent ones concurrently), the events CloudFormation
writes for each, and the rollback of a failed create or update."""

from __future__ import annotations

import asyncio
import copy
import logging
import traceback

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso
from vpclocal.services.cloudformation import dynamic, schemas, stacks
from vpclocal.services.cloudformation.plan import Plan
from vpclocal.services.cloudformation.resources import HANDLERS
from vpclocal.services.cloudformation.resources.base import Env, HandlerError, NeedsReplacement
from vpclocal.services.cloudformation.stacks import STACKS

log = logging.getLogger("vpclocal.cloudformation")


class Failed(Exception):
    def __init__(self, names: list[str], verb: str) -> None:
        super().__init__(names)
        self.names = names
        self.verb = verb


def reason_of(exc: BaseException) -> str:
    if getattr(exc, "handler_message", None):
        return exc.handler_message
    if isinstance(exc, ServiceError | HandlerError):
        return str(exc.message if isinstance(exc, ServiceError) else exc)
    log.error("resource handler failed: %s", traceback.format_exc())
    return "Internal Failure"


class Run:
    """One stack operation's run: the app, the stack and the resources as they stand."""

    def __init__(self, app, region: str, account: str, stack_id: str, access_key: str = ""):
        self.app = app
        self.region = region
        self.account = account
        self.stack_id = stack_id
        self.access_key = access_key
        stack = app.store.view(region).get(STACKS, stack_id)
        self.stack_name = stack["StackName"]
        self.current: dict[str, dict] = copy.deepcopy(stack.get("_Resources") or {})
        self.replaced: list[dict] = []  # old physical resources an update replaced
        self.created: list[str] = []  # logical IDs this run created
        self.imports: set[str] = set()

    # ---- store --------------------------------------------------------------------------

    def _write(self, logical: str | None, status: str | None = None, reason: str | None = None,
               record: dict | None = None, props: dict | None = None) -> None:
        with self.app.store.transaction(self.region) as tx:
            stack = tx.edit(STACKS, self.stack_id)
            if logical is not None:
                if record is None:
                    stack["_Resources"].pop(logical, None)
                else:
                    stack["_Resources"][logical] = copy.deepcopy(record)
                if status is not None:
                    rec = record or {}
                    stacks.add_event(tx, stack, logical, rec.get("PhysicalResourceId", ""),
                                     rec.get("ResourceType", ""), status, reason, props)

    def purge(self) -> None:
        """Forget every resource record (a rolled back create keeps none)."""
        with self.app.store.transaction(self.region) as tx:
            tx.edit(STACKS, self.stack_id)["_Resources"] = {}

    def _event(self, logical: str, record: dict, status: str, reason: str | None = None,
               props: dict | None = None) -> None:
        record.update(ResourceStatus=status, Timestamp=now_iso())
        if reason is None:
            record.pop("ResourceStatusReason", None)
        else:
            record["ResourceStatusReason"] = reason
        self._write(logical, status, reason, record, props)

    def status(self, status: str, reason: str | None = None, **fields) -> None:
        with self.app.store.transaction(self.region) as tx:
            stacks.set_status(tx, self.stack_id, status, reason)
            stack = tx.edit(STACKS, self.stack_id)
            stack.update(fields)

    def env(self, logical: str) -> Env:
        return Env(self.app, self.region, self.account, self.stack_name, self.stack_id, logical,
                   self.access_key)

    # ---- evaluation -------------------------------------------------------------------------

    def bind(self, plan: Plan) -> None:
        ev = plan.evaluator
        ev.ref = lambda name: self.current[name]["PhysicalResourceId"]

        def getatt(name, attr):
            attrs = self.current[name].get("_Attrs") or {}
            if attr not in attrs:
                raise HandlerError(f"Template error: resource {name} does not support "
                                   f"attribute type {attr} in Fn::GetAtt")
            return attrs[attr]

        def import_value(name):
            found = stacks.exports(self.app.store.view(self.region)).get(name)
            if found is None:
                raise HandlerError(f"No export named {name} found")
            self.imports.add(name)
            return found[0]

        ev.getatt = getatt
        ev.import_value = import_value

    # ---- converging on a plan ---------------------------------------------------------------

    async def converge(self, plan: Plan, verb: str, rolling_back: bool = False) -> None:
        """Make each planned resource match the plan, dependencies first; Failed names the
        resources that could not (after the ones already running finish)."""
        self.bind(plan)
        pending = list(plan.order)
        done: set[str] = set()
        running: dict[asyncio.Task, str] = {}
        failed: list[str] = []
        while pending or running:
            if not failed:
                for name in list(pending):
                    if plan.deps[name] <= done:
                        pending.remove(name)
                        running[asyncio.ensure_future(self._one(plan, name))] = name
            if not running:
                break
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                name = running.pop(task)
                if task.result():
                    done.add(name)
                else:
                    failed.append(name)
        if failed:
            raise Failed(failed, verb)

    async def _one(self, plan: Plan, name: str) -> bool:
        spec = plan.resources[name]
        kind = spec["Type"]
        old = self.current.get(name)
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler = dynamic.Resolving(handler, lambda: self.app.store.view(self.region))
        verb = "UPDATE" if old is not None else "CREATE"
        try:
            props = plan.evaluator.resolve(spec.get("Properties") or {})
        except (ServiceError, HandlerError) as exc:
            record = old or {"LogicalResourceId": name, "ResourceType": kind,
                             "PhysicalResourceId": ""}
            self._event(name, dict(record), f"{verb}_FAILED", reason_of(exc))
            return False
        if old is not None and old["ResourceType"] == kind and old.get("_Props") == props \
                and old["ResourceStatus"].endswith("_COMPLETE"):
            return True  # nothing changed
        if handler is None:
            record = {"LogicalResourceId": name, "ResourceType": kind, "PhysicalResourceId": ""}
            self._event(name, record, "CREATE_IN_PROGRESS", props=props)
            self._event(name, record, "CREATE_FAILED", f"Unsupported resource type {kind}: "
                        "vpclocal has no handler for it")
            if old is not None:
                self.current[name] = old
                self._write(name, record=old)
            return False
        meta = {"_Deps": sorted(plan.deps[name]), "_DeletionPolicy": spec.get("DeletionPolicy"),
                "_UpdateReplacePolicy": spec.get("UpdateReplacePolicy")}
        if old is None or old.get("ResourceStatus") in ("CREATE_FAILED", "DELETE_COMPLETE"):
            return await self._create(name, kind, handler, props, meta)
        record = dict(old, **meta)
        self._event(name, record, "UPDATE_IN_PROGRESS", props=props)
        env = self.env(name)
        try:
            if old["ResourceType"] != kind or schemas.replaces(kind, old["_Props"], props):
                raise NeedsReplacement
            physical, attrs = await handler.update(env, old["PhysicalResourceId"],
                                                   old.get("_Attrs") or {}, old["_Props"], props)
        except NeedsReplacement:
            return await self._replace(name, kind, handler, props, meta, old)
        except Exception as exc:  # noqa: BLE001 - the handler's failure is the resource's
            self._event(name, record, "UPDATE_FAILED", reason_of(exc))
            return False
        record.update(PhysicalResourceId=physical, _Attrs=attrs, _Props=props)
        self.current[name] = record
        self._event(name, record, "UPDATE_COMPLETE")
        return True

    async def _create(self, name, kind, handler, props, meta) -> bool:
        record = {"LogicalResourceId": name, "ResourceType": kind, "PhysicalResourceId": "",
                  **meta}
        self._event(name, record, "CREATE_IN_PROGRESS", props=props)
        try:
            missing = schemas.missing_required(kind, name, props)
            if missing:
                raise HandlerError(missing)
            physical, attrs = await handler.create(self.env(name), props)
        except Exception as exc:  # noqa: BLE001
            self._event(name, record, "CREATE_FAILED", reason_of(exc))
            return False
        record.update(PhysicalResourceId=physical, _Attrs=attrs, _Props=props)
        self._event(name, record, "CREATE_IN_PROGRESS", "Resource creation Initiated")
        self.current[name] = record
        self.created.append(name)
        self._event(name, record, "CREATE_COMPLETE")
        return True

    async def _replace(self, name, kind, handler, props, meta, old) -> bool:
        record = {"LogicalResourceId": name, "ResourceType": kind,
                  "PhysicalResourceId": old["PhysicalResourceId"], **meta}
        self._event(name, record, "UPDATE_IN_PROGRESS", "Requested update requires the "
                    "creation of a new physical resource; hence creating one.", props)
        try:
            physical, attrs = await handler.create(self.env(name), props)
        except Exception as exc:  # noqa: BLE001
            self._event(name, dict(record), "UPDATE_FAILED", reason_of(exc))
            return False
        record.update(PhysicalResourceId=physical, _Attrs=attrs, _Props=props)
        self.current[name] = record
        self.replaced.append(old)
        self._event(name, record, "UPDATE_IN_PROGRESS", "Resource creation Initiated")
        self._event(name, record, "UPDATE_COMPLETE")
        return True

    # ---- deleting -----------------------------------------------------------------------

    async def delete_all(self, names: list[str], records: dict[str, dict] | None = None,
                         keep_records: bool = False) -> list[str]:
        """Delete resources, dependents first; the names that failed to delete."""
        records = records if records is not None else self.current
        todo = {n for n in names if n in records}
        failed: list[str] = []
        while todo:
            wave = [n for n in todo if not any(n in (records[o].get("_Deps") or [])
                                               for o in todo if o != n)]
            if not wave:
                wave = list(todo)
            results = await asyncio.gather(*(self._delete(n, records[n]) for n in wave))
            for name, ok in zip(wave, results, strict=True):
                todo.discard(name)
                if not ok:
                    failed.append(name)
                    # what it depends on stays too: it is still in use
                    todo -= set(records[name].get("_Deps") or [])
                elif not keep_records:
                    records.pop(name, None)
        return failed

    async def _delete(self, name: str, record: dict, write: bool = True) -> bool:
        record = dict(record)
        handler = HANDLERS.get(record["ResourceType"])
        if record.get("_DeletionPolicy") == "Retain" or record.get("_Retain"):
            self._event(name, record, "DELETE_SKIPPED")
            self._write(name)
            return True
        if handler is None or not record.get("PhysicalResourceId") or \
                record.get("ResourceStatus") == "CREATE_FAILED":
            self._event(name, record, "DELETE_COMPLETE")
            self._write(name)
            return True
        self._event(name, record, "DELETE_IN_PROGRESS")
        try:
            await handler.delete(self.env(name), record["PhysicalResourceId"],
                                 record.get("_Attrs") or {}, record.get("_Props") or {})
        except Exception as exc:  # noqa: BLE001
            self._event(name, record, "DELETE_FAILED", reason_of(exc))
            return False
        self._event(name, record, "DELETE_COMPLETE")
        if write:
            self._write(name)
        return True

    async def delete_replaced(self) -> None:
        for old in self.replaced:
            record = dict(old, _Retain=old.get("_UpdateReplacePolicy") == "Retain")
            name = old["LogicalResourceId"]
            await self._delete(name, record, write=False)
            self._write(name, record=self.current.get(name))
        self.replaced = []

    # ---- outputs ----------------------------------------------------------------------

    def outputs(self, plan: Plan) -> list[dict]:
        out = []
        taken = stacks.exports(self.app.store.view(self.region))
        for key, spec in plan.outputs().items():
            item = {"OutputKey": key, "OutputValue": _text(plan.evaluator.resolve(spec["Value"]))}
            if spec.get("Description"):
                item["Description"] = spec["Description"]
            export = (spec.get("Export") or {}).get("Name")
            if export is not None:
                export = _text(plan.evaluator.resolve(export))
                owner = taken.get(export)
                if owner is not None and owner[1] != self.stack_id:
                    owner_name = self.app.store.view(self.region).get(
                        STACKS, owner[1])["StackName"]
                    raise HandlerError(f"Export with name {export} is already exported by "
                                       f"stack {owner_name}")
                item["ExportName"] = export
            out.append(item)
        return out


def _text(value) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plan(run: Run, doc: dict, values: dict) -> Plan:
    return Plan(doc, values, run.region, run.account, run.stack_name, run.stack_id)


async def create(app, region, account, stack_id, access_key="") -> None:
    run = Run(app, region, account, stack_id, access_key)
    stack = app.store.view(region).get(STACKS, stack_id)
    try:
        plan = _plan(run, stack["_Processed"], stack["_Values"])
        await run.converge(plan, "create")
        outputs = run.outputs(plan)
    except (Failed, HandlerError, ServiceError) as exc:
        await _rollback_create(run, stack, exc)
        return
    run.status("CREATE_COMPLETE", Outputs=outputs, _Imports=sorted(run.imports))


def _failure_reason(exc, verb: str) -> str:
    if isinstance(exc, Failed):
        return f"The following resource(s) failed to {exc.verb}: [{', '.join(exc.names)}]. "
    return str(exc.message if isinstance(exc, ServiceError) else exc) + ". "


async def _rollback_create(run: Run, stack: dict, exc) -> None:
    reason = _failure_reason(exc, "create")
    if stack.get("DisableRollback"):
        run.status("CREATE_FAILED", reason)
        return
    run.status("ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
    failed = await run.delete_all(list(run.current))
    if not failed:
        run.purge()
    if failed:
        run.status("ROLLBACK_FAILED", f"The following resource(s) failed to delete: "
                   f"[{', '.join(failed)}]. ")
    else:
        run.status("ROLLBACK_COMPLETE")


async def update(app, region, account, stack_id, access_key="") -> None:
    """Move the stack from its `_Previous` template and values to the current ones."""
    run = Run(app, region, account, stack_id, access_key)
    stack = app.store.view(region).get(STACKS, stack_id)
    before = dict(run.current)
    try:
        plan = _plan(run, stack["_Processed"], stack["_Values"])
        await run.converge(plan, "update")
        outputs = run.outputs(plan)
    except (Failed, HandlerError, ServiceError) as exc:
        await _rollback_update(run, stack, before, exc)
        return
    run.status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    await run.delete_replaced()
    removed = [n for n in run.current if n not in plan.resources]
    await run.delete_all(removed)
    run.status("UPDATE_COMPLETE", Outputs=outputs, _Imports=sorted(run.imports))


async def _rollback_update(run: Run, stack: dict, before: dict, exc) -> None:
    run.status("UPDATE_ROLLBACK_IN_PROGRESS", _failure_reason(exc, "update"))
    previous = stack["_Previous"]
    created = [n for n in run.created if n not in before]
    # a replaced resource goes back to its old physical resource; the new one is deleted
    replacements = []
    for old in run.replaced:
        name = old["LogicalResourceId"]
        replacements.append(dict(run.current[name]))
        run.current[name] = old
        run._write(name, record=old)
    run.replaced = []
    try:
        plan = _plan(run, previous["_Processed"], previous["_Values"])
        run.created = []
        await run.converge(plan, "update")
        outputs = run.outputs(plan)
    except (Failed, HandlerError, ServiceError) as again:
        run.status("UPDATE_ROLLBACK_FAILED", _failure_reason(again, "update"))
        return
    run.status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    for record in replacements:
        await run._delete(record["LogicalResourceId"], record, write=False)
        name = record["LogicalResourceId"]
        run._write(name, record=run.current.get(name))
    await run.delete_all([n for n in run.current if n not in plan.resources or n in created])
    run.status("UPDATE_ROLLBACK_COMPLETE", Outputs=outputs, _Processed=previous["_Processed"],
               _Values=previous["_Values"], _Template=previous["_Template"],
               Parameters=previous["Parameters"])


async def delete(app, region, account, stack_id, access_key="") -> None:
    run = Run(app, region, account, stack_id, access_key)
    failed = await run.delete_all(list(run.current))
    if failed:
        run.status("DELETE_FAILED", f"The following resource(s) failed to delete: "
                   f"[{', '.join(sorted(failed))}]. ")
    else:
        run.status("DELETE_COMPLETE", Outputs=[], _Imports=[])
