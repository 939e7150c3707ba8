"""Stack records in the store: lookup by name or ID, events, and the public shapes."""

from __future__ import annotations

import json
import uuid

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso

STACKS = "cloudformation.stacks"
EVENTS = "cloudformation.events"
CHANGE_SETS = "cloudformation.change_sets"
STACK_TYPE = "AWS::CloudFormation::Stack"
DELETED = "DELETE_COMPLETE"


def stack_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"


def missing(name: str) -> ServiceError:
    return ServiceError(f"Stack with id {name} does not exist", code="ValidationError")


def find(view, name: str, deleted: bool = False) -> dict | None:
    """The stack a StackName parameter names: a live stack by name, or any by its ID."""
    if name.startswith("arn:"):
        return view.get(STACKS, name)  # by ID: a deleted stack too
    live = [s for s in view.all(STACKS).values()
            if s["StackName"] == name and s["StackStatus"] != DELETED]
    return live[0] if live else None


def get(view, name: str) -> dict:
    stack = find(view, name)
    if stack is None:
        raise missing(name)
    return stack


def add_event(tx, stack: dict, logical: str, physical: str, kind: str, status: str,
              reason: str | None = None, props: dict | None = None) -> None:
    record = tx.get(EVENTS, stack["StackId"]) or {"Events": []}
    event = {"StackId": stack["StackId"], "EventId": str(uuid.uuid4()),
             "StackName": stack["StackName"], "LogicalResourceId": logical,
             "PhysicalResourceId": physical or "", "ResourceType": kind,
             "Timestamp": now_iso(), "ResourceStatus": status}
    if logical != stack["StackName"] or kind != STACK_TYPE:
        event["EventId"] = f"{logical}-{event['EventId']}"
    if reason is not None:
        event["ResourceStatusReason"] = reason
    if props is not None:
        event["ResourceProperties"] = json.dumps(props)
    tx.put(EVENTS, stack["StackId"], {"Events": [*record["Events"], event]})


def set_status(tx, stack_id: str, status: str, reason: str | None = None) -> dict:
    stack = tx.edit(STACKS, stack_id)
    stack["StackStatus"] = status
    if reason is None:
        stack.pop("StackStatusReason", None)
    else:
        stack["StackStatusReason"] = reason
    if status == DELETED:
        stack["DeletionTime"] = now_iso()
    add_event(tx, stack, stack["StackName"], stack_id, STACK_TYPE, status, reason)
    return stack


def public(stack: dict) -> dict:
    return {k: v for k, v in stack.items() if not k.startswith("_")}


def summary(stack: dict) -> dict:
    keys = ("StackId", "StackName", "TemplateDescription", "CreationTime", "LastUpdatedTime",
            "DeletionTime", "StackStatus", "StackStatusReason", "ParentId", "RootId",
            "DriftInformation")
    out = {k: stack[k] for k in keys if k in stack}
    if "Description" in stack:
        out["TemplateDescription"] = stack["Description"]
    return out


def resource_summary(res: dict) -> dict:
    keys = ("LogicalResourceId", "PhysicalResourceId", "ResourceType", "ResourceStatus",
            "ResourceStatusReason")
    out = {k: res[k] for k in keys if res.get(k) is not None}
    out["LastUpdatedTimestamp"] = res["Timestamp"]
    out["DriftInformation"] = {"StackResourceDriftStatus": "NOT_CHECKED"}
    return out


def resource_detail(stack: dict, res: dict) -> dict:
    out = resource_summary(res)
    out.update(StackName=stack["StackName"], StackId=stack["StackId"])
    return out


def resource_public(stack: dict, res: dict) -> dict:
    out = {k: v for k, v in resource_summary(res).items() if k != "LastUpdatedTimestamp"}
    out.update(StackName=stack["StackName"], StackId=stack["StackId"],
               Timestamp=res["Timestamp"])
    return out


def exports(view) -> dict[str, tuple[str, str]]:
    """Export name -> (value, exporting stack ID) of every live stack in the region."""
    out = {}
    for stack in view.all(STACKS).values():
        if stack["StackStatus"] == DELETED:
            continue
        for output in stack.get("Outputs") or []:
            if output.get("ExportName"):
                out[output["ExportName"]] = (output["OutputValue"], stack["StackId"])
    return out


def importers(view, export_name: str) -> list[str]:
    return [s["StackName"] for s in view.all(STACKS).values()
            if s["StackStatus"] != DELETED and export_name in (s.get("_Imports") or [])]
