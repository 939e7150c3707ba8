"""The CloudFormation provider: the API over stack and change set records; the work of each
stack operation runs in the background (deploy.py), as AWS answers at once."""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import urlparse

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso
from vpclocal.services.base import Provider
from vpclocal.services.cloudformation import (
    changesets,
    deploy,
    dynamic,
    parameters,
    sam,
    stacks,
)
from vpclocal.services.cloudformation import template as templates
from vpclocal.services.cloudformation.plan import Plan
from vpclocal.services.cloudformation.stacks import CHANGE_SETS, DELETED, EVENTS, STACKS

log = logging.getLogger("vpclocal.cloudformation")
_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
_IAM_TYPES = {"AWS::IAM::Role": "RoleName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
              "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
              "AWS::IAM::Policy": None, "AWS::IAM::InstanceProfile": "InstanceProfileName",
              "AWS::IAM::AccessKey": None, "AWS::IAM::UserToGroupAddition": None}
IN_PROGRESS_END = {"CREATE_IN_PROGRESS": "CREATE_FAILED", "DELETE_IN_PROGRESS": "DELETE_FAILED",
                   "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
                   "UPDATE_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
                   "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE",
                   "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
                   "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE"}


def invalid(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationError")


def _check_name(name: str) -> None:
    if not name or len(name) > 128 or not _NAME.fullmatch(name):
        raise invalid(f"1 validation error detected: Value '{name}' at 'stackName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[a-zA-Z][-a-zA-Z0-9]*")


class Prepared:
    """A template and parameter values checked for a stack: ready to plan."""

    def __init__(self, body: str, doc: dict, processed: dict, values: dict, raw: dict,
                 resolved: dict) -> None:
        self.body = body
        self.doc = doc
        self.processed = processed
        self.values = values
        self.raw = raw
        self.resolved = resolved  # the values read from Parameter Store


class CloudFormationProvider(Provider):
    service_name = "cloudformation"

    def __init__(self, app) -> None:
        super().__init__(app)
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        # an operation a stopped server left in progress ends as failed
        for region in self.app.store.scopes(STACKS):
            with self.app.store.transaction(region) as tx:
                for stack in list(tx.all(STACKS).values()):
                    self._end(tx, stack["StackId"], "vpclocal stopped during the operation")

    @staticmethod
    def _end(tx, stack_id: str, reason: str) -> None:
        """An operation that cannot go on ends as failed (never left in progress)."""
        stack = tx.get(STACKS, stack_id)
        end = IN_PROGRESS_END.get(stack["StackStatus"]) if stack else None
        if end is not None:
            stacks.set_status(tx, stack_id, end, reason)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, ctx, work, stack_id: str, after=None) -> None:
        app, region, account, key = self.app, ctx.region, ctx.account_id, ctx.access_key

        async def run():
            try:
                await work(app, region, account, stack_id, key)
                if after is not None:
                    after()
            except Exception:  # a bug of vpclocal's: the stack says so rather than hang
                log.exception("stack operation failed")
                with app.store.transaction(region) as tx:
                    self._end(tx, stack_id, "Internal Failure")

        def start():
            task = asyncio.get_running_loop().create_task(run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        ctx.tx.after_commit(start)

    # ---- templates ------------------------------------------------------------------------

    def _body(self, ctx, p, stack: dict | None = None) -> str:
        if p.get("UsePreviousTemplate"):
            if stack is None:
                raise invalid("UsePreviousTemplate can only be used with an existing stack")
            return stack["_Template"]
        if p.get("TemplateBody") is not None and p.get("TemplateURL") is not None:
            raise invalid("You cannot specify both TemplateURL and TemplateBody")
        if p.get("TemplateBody") is not None:
            return p["TemplateBody"]
        if p.get("TemplateURL") is not None:
            return self._from_s3(ctx, p["TemplateURL"])
        raise invalid("Either Template URL or Template Body must be specified.")

    def _from_s3(self, ctx, url: str) -> str:
        parsed = urlparse(url)
        host = parsed.hostname or ""
        path = parsed.path.lstrip("/")
        if ".s3" in host and not host.startswith("s3"):
            bucket, key = host.split(".s3", 1)[0], path
        else:
            bucket, _, key = path.partition("/")
        s3 = self.app.providers["s3"]
        from vpclocal.services.base import RequestContext
        sub = RequestContext(ctx.account_id, ctx.region, ctx.request_id, "s3", "GetObject",
                             self.app)
        try:
            with self.app.store.transaction(s3.scope(sub)) as tx:
                sub.tx = tx
                body = s3.get_object(sub, {"Bucket": bucket, "Key": key})["Body"]
        except ServiceError:
            raise invalid("TemplateURL must be a supported URL.") from None
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)

    def _prepare(self, ctx, p, stack: dict | None, name: str) -> Prepared:
        body = self._body(ctx, p, stack)
        doc = templates.parse(body)
        declared = doc.get("Parameters") or {}
        if not isinstance(declared, dict):
            raise invalid("Template format error: Every Parameters member must be an object.")
        parameters.check_declarations(declared)
        previous = stack.get("_Raw") if stack else None
        values = parameters.resolve(declared, p.get("Parameters") or [], previous)
        raw = parameters.raw_values(declared, p.get("Parameters") or [], previous)
        # read at every create and update (UsePreviousValue too), as AWS does
        resolved = parameters.from_parameter_store(ctx.tx, declared, values)
        region_values = dict(values, **{"AWS::Region": ctx.region, "AWS::AccountId":
                                        ctx.account_id, "AWS::StackName": name})
        processed = sam.expand(doc, region_values, ctx.region)
        templates.check(processed)
        dynamic.check(ctx.tx, processed.get("Resources"))
        # planning checks dependencies, conditions and cycles before anything is deployed
        Plan(processed, values, ctx.region, ctx.account_id, name, "")
        return Prepared(body, doc, processed, values, raw, resolved)

    def _capabilities(self, prepared: Prepared, given: list[str], direct: bool) -> None:
        given = set(given or [])
        if direct and sam.transforms(prepared.doc) and "CAPABILITY_AUTO_EXPAND" not in given:
            raise ServiceError("Requires capabilities : [CAPABILITY_AUTO_EXPAND]",
                               code="InsufficientCapabilitiesException")
        needed = _needed_capability(prepared.processed)
        if needed and needed not in given and not (
                needed == "CAPABILITY_IAM" and "CAPABILITY_NAMED_IAM" in given):
            raise ServiceError(f"Requires capabilities : [{needed}]",
                               code="InsufficientCapabilitiesException")

    # ---- stacks -------------------------------------------------------------------------

    def create_stack(self, ctx, p):
        name = p.get("StackName") or ""
        _check_name(name)
        if stacks.find(ctx.tx, name) is not None:
            raise ServiceError(f"Stack [{name}] already exists", code="AlreadyExistsException")
        prepared = self._prepare(ctx, p, None, name)
        self._capabilities(prepared, p.get("Capabilities"), direct=True)
        stack = self._new_stack(ctx, name, p, prepared)
        stack["StackStatus"] = "CREATE_IN_PROGRESS"
        ctx.tx.put(STACKS, stack["StackId"], stack)
        stacks.add_event(ctx.tx, stack, name, stack["StackId"], stacks.STACK_TYPE,
                         "CREATE_IN_PROGRESS", "User Initiated")
        self._spawn(ctx, deploy.create, stack["StackId"])
        return {"StackId": stack["StackId"]}

    def _new_stack(self, ctx, name: str, p: dict, prepared: Prepared) -> dict:
        stack_id = stacks.stack_arn(ctx.region, ctx.account_id, name)
        stack = {"StackId": stack_id, "StackName": name, "CreationTime": now_iso(),
                 "StackStatus": "REVIEW_IN_PROGRESS", "DisableRollback":
                 bool(p.get("DisableRollback")) or p.get("OnFailure") in ("DO_NOTHING",),
                 "NotificationARNs": p.get("NotificationARNs") or [],
                 "Capabilities": p.get("Capabilities") or [], "Tags": p.get("Tags") or [],
                 "RollbackConfiguration": {}, "EnableTerminationProtection":
                 bool(p.get("EnableTerminationProtection")),
                 "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
                 "_Resources": {}}
        if p.get("TimeoutInMinutes"):
            stack["TimeoutInMinutes"] = p["TimeoutInMinutes"]
        if p.get("RoleARN"):
            stack["RoleARN"] = p["RoleARN"]
        self._apply(stack, prepared)
        return stack

    @staticmethod
    def _apply(stack: dict, prepared: Prepared) -> None:
        declared = prepared.doc.get("Parameters") or {}
        stack.update(_Template=prepared.body, _Processed=prepared.processed,
                     _Values=prepared.values, _Raw=prepared.raw,
                     Parameters=parameters.described(declared, prepared.raw,
                                                     prepared.resolved))
        if prepared.doc.get("Description") is not None:
            stack["Description"] = str(prepared.doc["Description"])
        else:
            stack.pop("Description", None)

    def describe_stacks(self, ctx, p):
        name = p.get("StackName")
        if name:
            found = stacks.find(ctx.tx, name)
            if found is None:
                raise stacks.missing(name)
            chosen = [found]
        else:
            chosen = [s for s in ctx.tx.all(STACKS).values() if s["StackStatus"] != DELETED]
            chosen.sort(key=lambda s: s["CreationTime"], reverse=True)
        return {"Stacks": [stacks.public(s) for s in chosen]}

    def list_stacks(self, ctx, p):
        wanted = set(p.get("StackStatusFilter") or [])
        chosen = [s for s in ctx.tx.all(STACKS).values()
                  if not wanted or s["StackStatus"] in wanted]
        chosen.sort(key=lambda s: s["CreationTime"], reverse=True)
        return {"StackSummaries": [stacks.summary(s) for s in chosen]}

    def describe_stack_events(self, ctx, p):
        stack = stacks.get(ctx.tx, p.get("StackName") or "")
        events = (ctx.tx.get(EVENTS, stack["StackId"]) or {"Events": []})["Events"]
        return {"StackEvents": list(reversed(events))}

    def _resources(self, ctx, p) -> tuple[dict, list[dict]]:
        name = p.get("StackName")
        if name:
            stack = stacks.get(ctx.tx, name)
        elif p.get("PhysicalResourceId"):
            stack = next((s for s in ctx.tx.all(STACKS).values() if s["StackStatus"] != DELETED
                          and any(r.get("PhysicalResourceId") == p["PhysicalResourceId"]
                                  for r in s["_Resources"].values())), None)
            if stack is None:
                raise invalid(f"Stack for {p['PhysicalResourceId']} does not exist")
        else:
            raise invalid("Either StackName or PhysicalResourceId must be specified.")
        records = list(stack["_Resources"].values())
        if p.get("LogicalResourceId"):
            records = [r for r in records if r["LogicalResourceId"] == p["LogicalResourceId"]]
        if p.get("PhysicalResourceId"):
            records = [r for r in records
                       if r.get("PhysicalResourceId") == p["PhysicalResourceId"]]
        return stack, records

    def describe_stack_resources(self, ctx, p):
        stack, records = self._resources(ctx, p)
        return {"StackResources": [stacks.resource_public(stack, r) for r in records]}

    def describe_stack_resource(self, ctx, p):
        stack = stacks.get(ctx.tx, p.get("StackName") or "")
        record = stack["_Resources"].get(p.get("LogicalResourceId") or "")
        if record is None:
            raise invalid(f"Resource {p.get('LogicalResourceId')} does not exist for stack "
                          f"{p.get('StackName')}")
        return {"StackResourceDetail": stacks.resource_detail(stack, record)}

    def list_stack_resources(self, ctx, p):
        stack = stacks.get(ctx.tx, p.get("StackName") or "")
        return {"StackResourceSummaries": [stacks.resource_summary(r)
                                           for r in stack["_Resources"].values()]}

    def get_template(self, ctx, p):
        if p.get("ChangeSetName"):
            source = changesets.get(ctx.tx, p["ChangeSetName"], p.get("StackName"))
        else:
            source = stacks.find(ctx.tx, p.get("StackName") or "", deleted=True)
            if source is None:
                raise stacks.missing(p.get("StackName") or "")
        processed = p.get("TemplateStage") == "Processed"
        body = templates.dump(source["_Processed"]) if processed and sam.transforms(
            templates.parse(source["_Template"])) else source["_Template"]
        stages = ["Original", "Processed"]
        return {"TemplateBody": body, "StagesAvailable": stages}

    def validate_template(self, ctx, p):
        body = self._body(ctx, p)
        doc = templates.parse(body)
        declared = doc.get("Parameters") or {}
        if not isinstance(declared, dict):
            raise invalid("Template format error: Every Parameters member must be an object.")
        parameters.check_declarations(declared)
        processed = doc
        if not sam.transforms(doc):
            templates.check(doc)
        out = {"Parameters": [{k: v for k, v in item.items()
                               if k in ("ParameterKey", "DefaultValue", "NoEcho", "Description")}
                              for item in parameters.summary(declared)]}
        if doc.get("Description") is not None:
            out["Description"] = str(doc["Description"])
        needed = _needed_capability(processed)
        if needed:
            out["Capabilities"] = [needed]
            out["CapabilitiesReason"] = "The following resource(s) require capabilities: [" + \
                ", ".join(sorted({r["Type"] for r in (processed.get("Resources") or {}).values()
                                  if isinstance(r, dict) and r.get("Type") in _IAM_TYPES})) + "]"
        if sam.transforms(doc):
            out["DeclaredTransforms"] = sam.transforms(doc)
        return out

    def get_template_summary(self, ctx, p):
        if p.get("StackName"):
            stack = stacks.get(ctx.tx, p["StackName"])
            body = stack["_Template"]
        else:
            body = self._body(ctx, p)
        doc = templates.parse(body)
        declared = doc.get("Parameters") or {}
        parameters.check_declarations(declared)
        resources = doc.get("Resources") or {}
        out = {"Parameters": parameters.summary(declared),
               "ResourceTypes": sorted({r.get("Type") for r in resources.values()
                                        if isinstance(r, dict) and r.get("Type")}),
               "Version": str(doc.get("AWSTemplateFormatVersion", "2010-09-09")),
               "DeclaredTransforms": sam.transforms(doc)}
        if doc.get("Description") is not None:
            out["Description"] = str(doc["Description"])
        needed = _needed_capability(doc)
        if needed:
            out["Capabilities"] = [needed]
        return out

    def update_stack(self, ctx, p):
        stack = stacks.get(ctx.tx, p.get("StackName") or "")
        _check_updatable(stack)
        prepared = self._prepare(ctx, p, stack, stack["StackName"])
        self._capabilities(prepared, p.get("Capabilities"), direct=True)
        if prepared.processed == stack["_Processed"] and prepared.values == stack["_Values"]:
            raise invalid("No updates are to be performed.")
        self._start_update(ctx, stack, prepared, p)
        return {"StackId": stack["StackId"]}

    def _start_update(self, ctx, stack: dict, prepared: Prepared, p: dict,
                      after=None) -> None:
        record = ctx.tx.edit(STACKS, stack["StackId"])
        record["_Previous"] = {k: record.get(k) for k in ("_Template", "_Processed", "_Values",
                                                          "_Raw", "Parameters")}
        self._apply(record, prepared)
        record["LastUpdatedTime"] = now_iso()
        if p.get("Capabilities") is not None:
            record["Capabilities"] = p["Capabilities"]
        stacks.set_status(ctx.tx, stack["StackId"], "UPDATE_IN_PROGRESS", "User Initiated")
        self._spawn(ctx, deploy.update, stack["StackId"], after)

    def delete_stack(self, ctx, p):
        stack = stacks.find(ctx.tx, p.get("StackName") or "")
        if stack is None or stack["StackStatus"] == DELETED:
            return {}  # deleting a stack that does not exist succeeds
        if stack.get("EnableTerminationProtection"):
            raise invalid(f"Stack [{stack['StackName']}] cannot be deleted while "
                          "TerminationProtection is enabled")
        if stack["StackStatus"] == "DELETE_IN_PROGRESS":
            return {}
        if stack["StackStatus"].endswith("_IN_PROGRESS") and \
                stack["StackStatus"] != "REVIEW_IN_PROGRESS":
            raise invalid(f"Stack [{stack['StackName']}] cannot be deleted while in status "
                          f"{stack['StackStatus']}")
        for output in stack.get("Outputs") or []:
            users = [n for n in stacks.importers(ctx.tx, output.get("ExportName") or "")
                     if n != stack["StackName"]]
            if output.get("ExportName") and users:
                stacks.set_status(ctx.tx, stack["StackId"], "DELETE_IN_PROGRESS",
                                  "User Initiated")
                stacks.set_status(ctx.tx, stack["StackId"], "DELETE_FAILED",
                                  f"Export {output['ExportName']} cannot be deleted as it is "
                                  f"in use by {users[0]}")
                return {}
        for cs in [c for c in ctx.tx.all(CHANGE_SETS).values()
                   if c["StackId"] == stack["StackId"]]:
            ctx.tx.delete(CHANGE_SETS, cs["ChangeSetId"])
        stacks.set_status(ctx.tx, stack["StackId"], "DELETE_IN_PROGRESS", "User Initiated")
        if not stack["_Resources"]:
            stacks.set_status(ctx.tx, stack["StackId"], DELETED)
            return {}
        self._spawn(ctx, deploy.delete, stack["StackId"])
        return {}

    def update_termination_protection(self, ctx, p):
        stack = stacks.get(ctx.tx, p.get("StackName") or "")
        ctx.tx.edit(STACKS, stack["StackId"])["EnableTerminationProtection"] = bool(
            p.get("EnableTerminationProtection"))
        return {"StackId": stack["StackId"]}

    # ---- exports ------------------------------------------------------------------------

    def list_exports(self, ctx, p):
        return {"Exports": [{"ExportingStackId": owner, "Name": name, "Value": value}
                            for name, (value, owner) in sorted(stacks.exports(ctx.tx).items())]}

    def list_imports(self, ctx, p):
        name = p.get("ExportName") or ""
        users = stacks.importers(ctx.tx, name)
        if not users:
            raise invalid(f"Export '{name}' is not imported by any stack.")
        return {"Imports": sorted(users)}

    # ---- change sets --------------------------------------------------------------------

    def create_change_set(self, ctx, p):
        name = p.get("StackName") or ""
        cs_name = p.get("ChangeSetName") or ""
        kind = p.get("ChangeSetType") or "UPDATE"
        stack = stacks.find(ctx.tx, name)
        if kind == "CREATE":
            _check_name(name)
            if stack is not None and stack["StackStatus"] != "REVIEW_IN_PROGRESS":
                raise invalid(f"Stack [{name}] already exists and cannot be created again with "
                              f"the changeSet [{cs_name}].")
        elif kind == "UPDATE":
            if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                raise invalid(f"Stack [{name}] does not exist")
        else:
            raise invalid(f"ChangeSetType {kind} is not supported")
        changesets.check_name(ctx.tx, cs_name, stack)
        prepared = self._prepare(ctx, p, stack if kind == "UPDATE" else None, name)
        self._capabilities(prepared, p.get("Capabilities"), direct=False)
        if stack is None:
            stack = self._new_stack(ctx, name, p, prepared)
            stack["StackStatus"] = "REVIEW_IN_PROGRESS"
            ctx.tx.put(STACKS, stack["StackId"], stack)
            stacks.add_event(ctx.tx, stack, name, stack["StackId"], stacks.STACK_TYPE,
                             "REVIEW_IN_PROGRESS", "User Initiated")
        record = changesets.new(ctx, stack, cs_name, kind, p, prepared)
        return {"Id": record["ChangeSetId"], "StackId": stack["StackId"]}

    def describe_change_set(self, ctx, p):
        record = changesets.get(ctx.tx, p.get("ChangeSetName") or "", p.get("StackName"))
        return changesets.public(record)

    def list_change_sets(self, ctx, p):
        stack = stacks.get(ctx.tx, p.get("StackName") or "")
        return {"Summaries": [changesets.summary(c) for c in ctx.tx.all(CHANGE_SETS).values()
                              if c["StackId"] == stack["StackId"]]}

    def delete_change_set(self, ctx, p):
        record = changesets.get(ctx.tx, p.get("ChangeSetName") or "", p.get("StackName"))
        if record["ExecutionStatus"] == "EXECUTE_IN_PROGRESS":
            raise ServiceError(f"Cannot delete ChangeSet in status "
                               f"{record['ExecutionStatus']}",
                               code="InvalidChangeSetStatus")
        ctx.tx.delete(CHANGE_SETS, record["ChangeSetId"])
        return {}

    def execute_change_set(self, ctx, p):
        record = changesets.get(ctx.tx, p.get("ChangeSetName") or "", p.get("StackName"))
        if record["Status"] != "CREATE_COMPLETE" or record["ExecutionStatus"] != "AVAILABLE":
            raise ServiceError(f"ChangeSet [{record['ChangeSetId']}] cannot be executed in its "
                               f"current status of [{record['Status']}]",
                               code="InvalidChangeSetStatus")
        stack = ctx.tx.get(STACKS, record["StackId"])
        if stack["StackStatus"] != "REVIEW_IN_PROGRESS":
            _check_updatable(stack)
        prepared = Prepared(record["_Template"], templates.parse(record["_Template"]),
                            record["_Processed"], record["_Values"], record["_Raw"],
                            record.get("_Resolved") or {})
        for other in [c for c in ctx.tx.all(CHANGE_SETS).values()
                      if c["StackId"] == stack["StackId"] and c["ChangeSetId"] !=
                      record["ChangeSetId"]]:
            ctx.tx.delete(CHANGE_SETS, other["ChangeSetId"])
        ctx.tx.edit(CHANGE_SETS, record["ChangeSetId"])["ExecutionStatus"] = \
            "EXECUTE_IN_PROGRESS"
        done = changesets.finisher(self.app, ctx.region, record["ChangeSetId"])
        if stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            edited = ctx.tx.edit(STACKS, stack["StackId"])
            self._apply(edited, prepared)
            edited["ChangeSetId"] = record["ChangeSetId"]
            stacks.set_status(ctx.tx, stack["StackId"], "CREATE_IN_PROGRESS", "User Initiated")
            self._spawn(ctx, deploy.create, stack["StackId"], done)
        else:
            ctx.tx.edit(STACKS, stack["StackId"])["ChangeSetId"] = record["ChangeSetId"]
            self._start_update(ctx, stack, prepared, {"Capabilities": record["Capabilities"]},
                               done)
        return {}


def _check_updatable(stack: dict) -> None:
    status = stack["StackStatus"]
    if status.endswith("_IN_PROGRESS") or status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
                                                     "CREATE_FAILED", "DELETE_FAILED"):
        raise invalid(f"Stack:{stack['StackId']} is in {status} state and can not be updated.")


def _needed_capability(doc: dict) -> str | None:
    needed = None
    for resource in (doc.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") not in _IAM_TYPES:
            continue
        field = _IAM_TYPES[resource["Type"]]
        if field and (resource.get("Properties") or {}).get(field) is not None:
            return "CAPABILITY_NAMED_IAM"
        needed = "CAPABILITY_IAM"
    return needed


