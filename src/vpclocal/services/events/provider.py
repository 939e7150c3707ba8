"""The EventBridge provider: event buses, rules (event patterns and schedules), Lambda targets,
PutEvents, TestEventPattern and tags. Matched events and scheduled firings go to the targets
through delivery.py; schedules fire by vpclocal's scheduler clock (vpclocal.clock).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid

from vpclocal import clock
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.events import delivery, inputs, model, patterns, schedule
from vpclocal.services.events.model import BUSES, DEFAULT, RULES, rule_id, validation

log = logging.getLogger("vpclocal.events")

MAX_TARGETS = 5  # per rule
MAX_PUT_EVENTS_BYTES = 256 * 1024
MAX_FIRINGS = 1440  # at most this many catch-up firings of one rule per clock move
_TARGET_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:.+")


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventsProvider(clock.ClockDriven, Provider):
    service_name = "events"
    DUE_KIND = RULES  # scheduled rules fire by vpclocal's clock

    def prepare(self, ctx: RequestContext) -> None:
        if ctx.tx.get(BUSES, DEFAULT) is None:  # every account and region has it
            model.new_bus(ctx.tx, ctx.region, ctx.account_id, DEFAULT)

    # ---- event buses ---------------------------------------------------------------------

    def create_event_bus(self, ctx, p):
        name = p["Name"]
        if ctx.tx.get(BUSES, name) is not None:
            raise model.ServiceError(f"Event bus {name} already exists.",
                                     code="ResourceAlreadyExistsException")
        if "/" in name and not p.get("EventSourceName"):
            raise validation("Event bus name must not contain '/'.")
        fields = {k: p[k] for k in ("Description", "KmsKeyIdentifier", "DeadLetterConfig",
                                    "LogConfig") if k in p}
        bus = model.new_bus(ctx.tx, ctx.region, ctx.account_id, name, **fields)
        bus["_Tags"] = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
        return {"EventBusArn": bus["Arn"], **fields}

    def delete_event_bus(self, ctx, p):
        name = p["Name"]
        if name == DEFAULT:
            raise validation("Cannot delete event bus default.")
        if ctx.tx.get(BUSES, name) is not None:
            for key, rule in list(ctx.tx.all(RULES).items()):
                if rule["EventBusName"] == name:
                    ctx.tx.delete(RULES, key)
            ctx.tx.delete(BUSES, name)
        return {}

    def describe_event_bus(self, ctx, p):
        bus = model.get_bus(ctx.tx, model.bus_name(p.get("Name")))
        return model.public(bus)

    def list_event_buses(self, ctx, p):
        buses = sorted(ctx.tx.values(BUSES), key=lambda b: b["Name"])
        if p.get("NamePrefix"):
            buses = [b for b in buses if b["Name"].startswith(p["NamePrefix"])]
        shown, token = model.page(buses, lambda b: b["Name"], p.get("NextToken"), p.get("Limit"))
        return {"EventBuses": [model.public(b) for b in shown], "NextToken": token}

    # ---- rules ---------------------------------------------------------------------------

    def put_rule(self, ctx, p):
        bus = model.bus_name(p.get("EventBusName"))
        model.get_bus(ctx.tx, bus)
        expression, pattern = p.get("ScheduleExpression"), p.get("EventPattern")
        if not expression and not pattern:
            raise validation("Parameter(s) EventPattern or ScheduleExpression must be "
                             "specified.")
        if expression:
            if bus != DEFAULT:
                raise validation("ScheduleExpression is supported only on the default event "
                                 "bus.")
            try:
                schedule.parse(expression)
            except ValueError:
                raise validation("Parameter ScheduleExpression is not valid.") from None
        if pattern:
            patterns.compile_pattern(pattern)
        key = rule_id(bus, p["Name"])
        old = ctx.tx.get(RULES, key) or {}
        rule = {"Name": p["Name"], "Arn": model.rule_arn(ctx.region, ctx.account_id, bus,
                                                          p["Name"])}
        for field in ("EventPattern", "ScheduleExpression", "Description", "RoleArn"):
            if p.get(field):
                rule[field] = p[field]
        rule.update(State=p.get("State") or "ENABLED", EventBusName=bus,
                    CreatedBy=ctx.account_id, _Targets=old.get("_Targets", []),
                    _Tags={**old.get("_Tags", {}),
                           **{t["Key"]: t["Value"] for t in p.get("Tags") or []}})
        if old.get("ScheduleExpression") == expression and old.get("State") == rule["State"]:
            for field in ("_Anchor", "_NextFire"):  # an unchanged schedule keeps its rhythm
                if field in old:
                    rule[field] = old[field]
        ctx.tx.put(RULES, key, self._scheduled(rule))
        ctx.tx.after_commit(self.wake)
        return {"RuleArn": rule["Arn"]}

    def _scheduled(self, rule: dict) -> dict:
        """The rule with its next firing set (from now) if it runs on a schedule and is
        enabled, or cleared otherwise."""
        if rule.get("ScheduleExpression") and rule["State"] != "DISABLED":
            if "_NextFire" not in rule:
                now = clock.now(self.app.store)
                rule["_Anchor"] = now
                rule["_NextFire"] = schedule.parse(rule["ScheduleExpression"]).next_after(
                    now, now)
        else:
            rule.pop("_Anchor", None)
            rule.pop("_NextFire", None)
        return rule

    def describe_rule(self, ctx, p):
        bus = model.bus_name(p.get("EventBusName"))
        return model.public(model.get_rule(ctx.tx, bus, p["Name"]))

    def _rules_of(self, ctx, bus: str) -> list[dict]:
        model.get_bus(ctx.tx, bus)
        return sorted((r for r in ctx.tx.values(RULES) if r["EventBusName"] == bus),
                      key=lambda r: r["Name"])

    def list_rules(self, ctx, p):
        rules = self._rules_of(ctx, model.bus_name(p.get("EventBusName")))
        if p.get("NamePrefix"):
            rules = [r for r in rules if r["Name"].startswith(p["NamePrefix"])]
        shown, token = model.page(rules, lambda r: r["Name"], p.get("NextToken"), p.get("Limit"))
        return {"Rules": [{k: v for k, v in model.public(r).items() if k != "CreatedBy"}
                          for r in shown], "NextToken": token}

    def list_rule_names_by_target(self, ctx, p):
        rules = [r for r in self._rules_of(ctx, model.bus_name(p.get("EventBusName")))
                 if any(t["Arn"] == p["TargetArn"] for t in r["_Targets"])]
        shown, token = model.page(rules, lambda r: r["Name"], p.get("NextToken"), p.get("Limit"))
        return {"RuleNames": [r["Name"] for r in shown], "NextToken": token}

    def _set_state(self, ctx, p, state: str) -> dict:
        bus = model.bus_name(p.get("EventBusName"))
        model.get_rule(ctx.tx, bus, p["Name"])
        rule = ctx.tx.edit(RULES, rule_id(bus, p["Name"]))
        if rule["State"] != state:
            rule["State"] = state
            rule.pop("_NextFire", None)  # enabling starts the rate's count again
            self._scheduled(rule)
            ctx.tx.after_commit(self.wake)
        return {}

    def enable_rule(self, ctx, p):
        return self._set_state(ctx, p, "ENABLED")

    def disable_rule(self, ctx, p):
        return self._set_state(ctx, p, "DISABLED")

    def delete_rule(self, ctx, p):
        bus = model.bus_name(p.get("EventBusName"))
        model.get_bus(ctx.tx, bus)
        rule = ctx.tx.get(RULES, rule_id(bus, p["Name"]))
        if rule is None:
            return {}  # AWS: deleting a rule that is not there succeeds
        if rule["_Targets"]:
            raise validation("Rule can't be deleted since it has targets.")
        ctx.tx.delete(RULES, rule_id(bus, p["Name"]))
        return {}

    # ---- targets -------------------------------------------------------------------------

    def put_targets(self, ctx, p):
        bus = model.bus_name(p.get("EventBusName"))
        model.get_rule(ctx.tx, bus, p["Rule"])
        rule = ctx.tx.edit(RULES, rule_id(bus, p["Rule"]))
        for target in p["Targets"]:
            if not _TARGET_ARN.fullmatch(target["Arn"]):
                raise validation(f"Parameter {target['Arn']} is not valid. Reason: Provided Arn "
                                 "is not in correct format.")
        failed = []
        targets = {t["Id"]: t for t in rule["_Targets"]}
        for target in p["Targets"]:
            problem = _target_problem(target)
            if problem:
                failed.append({"TargetId": target["Id"], "ErrorCode": "ValidationException",
                               "ErrorMessage": problem})
                continue
            targets[target["Id"]] = target
        if len(targets) > MAX_TARGETS:
            raise model.ServiceError("The requested resource exceeds the maximum number "
                                     "allowed.", code="LimitExceededException")
        rule["_Targets"] = list(targets.values())
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def remove_targets(self, ctx, p):
        bus = model.bus_name(p.get("EventBusName"))
        model.get_rule(ctx.tx, bus, p["Rule"])
        rule = ctx.tx.edit(RULES, rule_id(bus, p["Rule"]))
        ids = set(p["Ids"])
        rule["_Targets"] = [t for t in rule["_Targets"] if t["Id"] not in ids]
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def list_targets_by_rule(self, ctx, p):
        bus = model.bus_name(p.get("EventBusName"))
        targets = model.get_rule(ctx.tx, bus, p["Rule"])["_Targets"]
        ordered = sorted(targets, key=lambda t: t["Id"])
        shown, token = model.page(ordered, lambda t: t["Id"], p.get("NextToken"), p.get("Limit"))
        return {"Targets": shown, "NextToken": token}

    # ---- events --------------------------------------------------------------------------

    def put_events(self, ctx, p):
        entries = p["Entries"]
        if sum(_entry_size(e) for e in entries) > MAX_PUT_EVENTS_BYTES:
            raise validation("Total size of the entries in the request is over the limit.")
        results, events = [], []
        for entry in entries:
            problem = _entry_problem(entry)
            if problem:
                results.append({"ErrorCode": problem[0], "ErrorMessage": problem[1]})
                continue
            event_id = str(uuid.uuid4())
            when = entry.get("Time")
            event = {"version": "0", "id": event_id, "detail-type": entry["DetailType"],
                     "source": entry["Source"], "account": ctx.account_id,
                     "time": iso(when.timestamp() if when else clock.now(self.app.store)),
                     "region": ctx.region, "resources": list(entry.get("Resources") or []),
                     "detail": json.loads(entry["Detail"])}
            events.append((model.bus_name(entry.get("EventBusName")), event))
            results.append({"EventId": event_id})
        failed = sum(1 for r in results if "ErrorCode" in r)
        if events:  # delivered once the request's transaction has landed
            region, account = ctx.region, ctx.account_id
            ctx.tx.after_commit(lambda: self._route(region, account, events))
        return {"FailedEntryCount": failed, "Entries": results}

    def emit(self, region: str, account: str, source: str, detail_type: str,
             resources: list[str], detail: dict) -> None:
        """An event an AWS service sends to the account's default bus (e.g. aws.cloudwatch's
        "CloudWatch Alarm State Change"), routed to the rules it matches."""
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type,
                 "source": source, "account": account,
                 "time": iso(clock.now(self.app.store)), "region": region,
                 "resources": resources, "detail": detail}
        self._route(region, account, [(model.DEFAULT, event)])

    def _route(self, region: str, account: str, events: list[tuple[str, dict]]) -> None:
        """Send each event to the targets of every enabled rule of its bus it matches."""
        view = self.app.store.view(region)
        rules = [r for r in view.values(RULES) if r.get("EventPattern")
                 and r["State"] != "DISABLED"]
        for bus, event in events:
            for rule in rules:
                if rule["EventBusName"] != bus:
                    continue
                try:
                    matched = patterns.matches(patterns.compile_pattern(rule["EventPattern"]),
                                               event)
                except model.ServiceError:
                    continue
                if matched:
                    delivery.deliver(self.app, region, account, rule, event)

    def test_event_pattern(self, ctx, p):
        compiled = patterns.compile_pattern(p["EventPattern"])
        try:
            event = json.loads(p["Event"])
        except (ValueError, RecursionError):
            raise validation("Parameter Event is not valid.") from None
        if not isinstance(event, dict) or any(
                field not in event for field in ("id", "account", "source", "time", "region",
                                                 "detail-type")):
            raise validation("Parameter Event is not valid.")
        return {"Result": patterns.matches(compiled, event)}

    # ---- tags ----------------------------------------------------------------------------

    def _tagged(self, ctx, arn: str) -> tuple[str, str]:
        """(kind, id) of the bus or rule an ARN names; AWS's not-found error otherwise."""
        prefix = f"arn:aws:events:{ctx.region}:{ctx.account_id}:"
        resource = arn[len(prefix):] if arn.startswith(prefix) else ""
        if resource.startswith("event-bus/"):
            name = resource[len("event-bus/"):]
            model.get_bus(ctx.tx, name)
            return BUSES, name
        if resource.startswith("rule/"):
            path = resource[len("rule/"):]
            bus, _, name = path.rpartition("/")
            bus = bus or DEFAULT
            model.get_rule(ctx.tx, bus, name)
            return RULES, rule_id(bus, name)
        name = arn.rpartition("/")[2] or arn
        raise model.rule_missing(name, DEFAULT)

    def tag_resource(self, ctx, p):
        kind, key = self._tagged(ctx, p["ResourceARN"])
        record = ctx.tx.edit(kind, key)
        record["_Tags"].update({t["Key"]: t["Value"] for t in p["Tags"]})
        return {}

    def untag_resource(self, ctx, p):
        kind, key = self._tagged(ctx, p["ResourceARN"])
        record = ctx.tx.edit(kind, key)
        for name in p["TagKeys"]:
            record["_Tags"].pop(name, None)
        return {}

    def list_tags_for_resource(self, ctx, p):
        kind, key = self._tagged(ctx, p["ResourceARN"])
        tags = ctx.tx.get(kind, key)["_Tags"]
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    # ---- the scheduler (clock.ClockDriven: the loop) ------------------------------------

    def _skip_missed(self) -> None:
        """Firings due while the server was down are not made late (nor are they on AWS)."""
        now = clock.now(self.app.store)
        for region, rule in self._due_records():
            if rule["_NextFire"] < now - 60:
                with self.app.store.transaction(region) as tx:
                    record = tx.edit(RULES, rule_id(rule["EventBusName"], rule["Name"]))
                    record["_NextFire"] = schedule.parse(record["ScheduleExpression"]
                                                         ).next_after(now, record["_Anchor"])

    def _fire(self, region: str, rule: dict, now: float) -> float:
        account = rule["Arn"].split(":")[4]
        when = schedule.parse(rule["ScheduleExpression"])
        due, count = rule["_NextFire"], 0
        firings = []
        while due <= now:
            if count < MAX_FIRINGS:
                firings.append(due)
            count += 1
            due = when.next_after(due, rule["_Anchor"])
        if count > MAX_FIRINGS:
            log.warning("rule %s: the clock passed %d firings; the first %d were made",
                        rule["Arn"], count, MAX_FIRINGS)
        with self.app.store.transaction(region) as tx:
            key = rule_id(rule["EventBusName"], rule["Name"])
            if tx.get(RULES, key) is not rule:
                return due  # changed meanwhile: its own record decides
            tx.edit(RULES, key)["_NextFire"] = due
        for moment in firings:
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": account, "time": iso(moment),
                     "region": region, "resources": [rule["Arn"]], "detail": {}}
            delivery.deliver(self.app, region, account, rule, event)
        return due


def _target_problem(target: dict) -> str | None:
    given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k)]
    if len(given) > 1:
        return "Only one of Input, InputPath, or InputTransformer can be provided."
    if target.get("Input"):
        try:
            json.loads(target["Input"])
        except (ValueError, RecursionError):
            return "Input is not valid JSON text."
    if target.get("InputPath") and not inputs.valid_path(target["InputPath"]):
        return f"InputPath {target['InputPath']} is not a valid JsonPath."
    transformer = target.get("InputTransformer")
    if transformer:
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            if not inputs.valid_path(path):
                return f"InputPathsMap {name}: {path} is not a valid JsonPath."
    return None


def _entry_size(entry: dict) -> int:
    """An entry's size as AWS counts it toward the 256 KB request limit."""
    size = 14 if entry.get("Time") else 0
    for field in ("Source", "DetailType", "Detail"):
        size += len((entry.get(field) or "").encode())
    size += sum(len(r.encode()) for r in entry.get("Resources") or [])
    return size


def _entry_problem(entry: dict) -> tuple[str, str] | None:
    for field in ("Source", "DetailType", "Detail"):
        if not entry.get(field):
            return ("InvalidArgument",
                    f"Parameter {field} is not valid. Reason: {field} is a required argument.")
    try:
        detail = json.loads(entry["Detail"])
    except (ValueError, RecursionError):
        detail = None
    if not isinstance(detail, dict):
        return ("MalformedDetail", "Detail is malformed.")
    return None
