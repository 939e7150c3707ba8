"""Change sets: a stack's next template and values, with the changes they would make."""

from __future__ import annotations

import json
import uuid

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso
from vpclocal.services.cloudformation import parameters, schemas
from vpclocal.services.cloudformation.stacks import CHANGE_SETS, STACKS

NO_CHANGES = ("The submitted information didn't contain changes. Submit different information "
              "to create a change set.")


def _missing(name: str) -> ServiceError:
    return ServiceError(f"ChangeSet [{name}] does not exist", code="ChangeSetNotFound",
                        status=404)


def get(view, name: str, stack_name: str | None) -> dict:
    if name.startswith("arn:"):
        record = view.get(CHANGE_SETS, name)
        if record is None:
            raise _missing(name)
        return record
    if not stack_name:
        raise ServiceError("StackName must be specified if ChangeSetName is not specified as "
                           "an ARN.", code="ValidationError")
    for record in view.all(CHANGE_SETS).values():
        if record["ChangeSetName"] == name and stack_name in (record["StackName"],
                                                              record["StackId"]):
            return record
    raise _missing(name)


def check_name(view, name: str, stack: dict | None) -> None:
    if not name or len(name) > 128 or not (name[0].isalpha() and all(
            c.isalnum() or c == "-" for c in name)):
        raise ServiceError(f"1 validation error detected: Value '{name}' at 'changeSetName' "
                           "failed to satisfy constraint: Member must satisfy regular expression"
                           " pattern: [a-zA-Z][-a-zA-Z0-9]*", code="ValidationError")
    if stack is not None and any(c["ChangeSetName"] == name and c["StackId"] == stack["StackId"]
                                 for c in view.all(CHANGE_SETS).values()):
        raise ServiceError(f"ChangeSet {name} already exists", code="AlreadyExistsException")


def changes(stack: dict, processed: dict, values: dict) -> list[dict]:
    before = (stack.get("_Processed") or {}).get("Resources") or {}
    current = stack.get("_Resources") or {}
    after = processed.get("Resources") or {}
    changed_params = {k for k in set(values) | set(stack.get("_Values") or {})
                      if values.get(k) != (stack.get("_Values") or {}).get(k)}
    out = []
    for name, spec in after.items():
        old = before.get(name)
        change = {"LogicalResourceId": name, "ResourceType": spec.get("Type", "")}
        if name not in current:
            change.update(Action="Add")
        else:
            text = json.dumps(spec.get("Properties") or {})
            touched = [p for p in changed_params if f'"{p}"' in text or "${" + p in text]
            if old == spec and not touched:
                continue
            old_props = (old or {}).get("Properties") or {}
            new_props = spec.get("Properties") or {}
            kind = spec.get("Type", "")
            replacement, details = schemas.replacement(kind, old_props, new_props)
            if (old or {}).get("Type") != kind:
                replacement = "True"
            for parameter in sorted(touched):  # a parameter's new value reaches a property
                details.append({"Target": {"Attribute": "Properties",
                                           "RequiresRecreation": "Never"},
                                "Evaluation": "Dynamic", "ChangeSource": "ParameterReference",
                                "CausingEntity": parameter})
            scope = ["Properties"] if old_props != new_props or touched else []
            change.update(Action="Modify", PhysicalResourceId=current[name].get(
                "PhysicalResourceId", ""), Replacement=replacement, Scope=scope,
                Details=details)
        out.append({"Type": "Resource", "ResourceChange": change})
    for name, record in current.items():
        if name not in after:
            out.append({"Type": "Resource", "ResourceChange": {
                "Action": "Remove", "LogicalResourceId": name,
                "PhysicalResourceId": record.get("PhysicalResourceId", ""),
                "ResourceType": record["ResourceType"], "Scope": [], "Details": []}})
    return out


def new(ctx, stack: dict, name: str, kind: str, p: dict, prepared) -> dict:
    arn = (f"arn:aws:cloudformation:{ctx.region}:{ctx.account_id}:changeSet/{name}/"
           f"{uuid.uuid4()}")
    found = changes(stack if kind == "UPDATE" else {}, prepared.processed, prepared.values)
    record = {"ChangeSetId": arn, "ChangeSetName": name, "StackId": stack["StackId"],
              "StackName": stack["StackName"], "CreationTime": now_iso(),
              "ExecutionStatus": "AVAILABLE", "Status": "CREATE_COMPLETE",
              "ChangeSetType": kind, "Capabilities": p.get("Capabilities") or [],
              "Parameters": parameters.described(prepared.doc.get("Parameters") or {},
                                                 prepared.raw, prepared.resolved),
              "NotificationARNs": p.get("NotificationARNs") or [],
              "RollbackConfiguration": {}, "Tags": p.get("Tags") or [], "Changes": found,
              "IncludeNestedStacks": False,
              "_Template": prepared.body, "_Processed": prepared.processed,
              "_Values": prepared.values, "_Raw": prepared.raw,
              "_Resolved": prepared.resolved}
    if p.get("Description"):
        record["Description"] = p["Description"]
    same = kind == "UPDATE" and prepared.processed == stack.get("_Processed") and \
        prepared.values == stack.get("_Values")
    if same or (kind == "UPDATE" and not found and prepared.processed.get("Outputs") ==
                (stack.get("_Processed") or {}).get("Outputs")):
        record.update(Status="FAILED", StatusReason=NO_CHANGES, ExecutionStatus="UNAVAILABLE")
    ctx.tx.put(CHANGE_SETS, arn, record)
    return record


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_") and k != "ChangeSetType"}


def summary(record: dict) -> dict:
    keys = ("StackId", "StackName", "ChangeSetId", "ChangeSetName", "ExecutionStatus",
            "Status", "StatusReason", "CreationTime", "Description", "IncludeNestedStacks")
    return {k: record[k] for k in keys if k in record}


def finisher(app, region: str, arn: str):
    """What marks the change set executed once its stack operation ends."""
    def done():
        with app.store.transaction(region) as tx:
            record = tx.get(CHANGE_SETS, arn)
            if record is None:
                return
            stack = tx.get(STACKS, record["StackId"])
            ok = stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
            tx.edit(CHANGE_SETS, arn)["ExecutionStatus"] = \
                "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
    return done
