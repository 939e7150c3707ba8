"""The EventBridge Scheduler provider: schedules (rate, cron in a time zone, one-time at()),
schedule groups and their tags. Schedules fire by vpclocal's scheduler clock (vpclocal.clock),
within their flexible time window, and invoke their Lambda targets through delivery.py.
"""

from __future__ import annotations

import logging
import time

from vpclocal import clock
from vpclocal.services.base import Provider
from vpclocal.services.events import schedule as expressions
from vpclocal.services.events.model import page
from vpclocal.services.scheduler import delivery, model
from vpclocal.services.scheduler.model import DEFAULT, GROUPS, SCHEDULES, schedule_id, validation

log = logging.getLogger("vpclocal.scheduler")

MAX_FIRINGS = 1440  # at most this many catch-up firings of one schedule per clock move
DEFAULT_RETRY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
START_SLACK = 300  # StartDate may be at most 5 minutes in the past
_TIMING = ("ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "EndDate", "State",
           "FlexibleTimeWindow")


def _epoch(value) -> float | None:
    return None if value is None else value.timestamp()


class SchedulerProvider(clock.ClockDriven, Provider):
    service_name = "scheduler"
    DUE_KIND = SCHEDULES  # schedules fire by vpclocal's clock

    def prepare(self, ctx) -> None:
        if ctx.tx.get(GROUPS, DEFAULT) is None:  # every account and region has it
            self._new_group(ctx, DEFAULT)

    # ---- schedule groups -----------------------------------------------------------------

    def _new_group(self, ctx, name: str, tags: dict | None = None) -> dict:
        now = time.time()
        return ctx.tx.put(GROUPS, name, {
            "Arn": model.group_arn(ctx.region, ctx.account_id, name), "Name": name,
            "State": "ACTIVE", "CreationDate": now, "LastModificationDate": now,
            "_Tags": tags or {}})

    def create_schedule_group(self, ctx, p):
        name = p["Name"]
        if name == DEFAULT:
            raise validation("This operation cannot be performed on schedule group default.")
        if ctx.tx.get(GROUPS, name) is not None:
            raise model.conflict(f"Schedule group {name} already exists.")
        group = self._new_group(ctx, name, {t["Key"]: t["Value"] for t in p.get("Tags") or []})
        return {"ScheduleGroupArn": group["Arn"]}

    def get_schedule_group(self, ctx, p):
        return model.public(model.get_group(ctx.tx, p["Name"]))

    def delete_schedule_group(self, ctx, p):
        name = p["Name"]
        if name == DEFAULT:
            raise validation("This operation cannot be performed on schedule group default.")
        model.get_group(ctx.tx, name)
        for key, record in list(ctx.tx.all(SCHEDULES).items()):
            if record["GroupName"] == name:  # AWS deletes the group's schedules with it
                ctx.tx.delete(SCHEDULES, key)
        ctx.tx.delete(GROUPS, name)
        return {}

    def list_schedule_groups(self, ctx, p):
        groups = sorted(ctx.tx.values(GROUPS), key=lambda g: g["Name"])
        if p.get("NamePrefix"):
            groups = [g for g in groups if g["Name"].startswith(p["NamePrefix"])]
        shown, token = page(groups, lambda g: g["Name"], p.get("NextToken"), p.get("MaxResults"))
        return {"ScheduleGroups": [model.public(g) for g in shown], "NextToken": token}

    # ---- tags (of schedule groups) -------------------------------------------------------

    def _group_of_arn(self, ctx, arn: str) -> str:
        prefix = f"arn:aws:scheduler:{ctx.region}:{ctx.account_id}:schedule-group/"
        name = arn[len(prefix):] if arn.startswith(prefix) else arn.rpartition("/")[2]
        if not arn.startswith(prefix):
            raise model.group_missing(name)
        model.get_group(ctx.tx, name)
        return name

    def tag_resource(self, ctx, p):
        name = self._group_of_arn(ctx, p["ResourceArn"])
        if name == DEFAULT:
            raise validation("This operation cannot be performed on schedule group default.")
        ctx.tx.edit(GROUPS, name)["_Tags"].update({t["Key"]: t["Value"] for t in p["Tags"]})
        return {}

    def untag_resource(self, ctx, p):
        name = self._group_of_arn(ctx, p["ResourceArn"])
        tags = ctx.tx.edit(GROUPS, name)["_Tags"]
        for key in p["TagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, ctx, p):
        name = self._group_of_arn(ctx, p["ResourceArn"])
        tags = ctx.tx.get(GROUPS, name)["_Tags"]
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    # ---- schedules -----------------------------------------------------------------------

    def _record(self, ctx, p, old: dict | None) -> dict:
        """The schedule a CreateSchedule / UpdateSchedule request describes, checked."""
        group = p.get("GroupName") or DEFAULT
        expression = p["ScheduleExpression"]
        try:
            tz = model.zone(p.get("ScheduleExpressionTimezone"))
        except ValueError:
            raise validation("Invalid Schedule Expression Timezone "
                             f"{p['ScheduleExpressionTimezone']}.") from None
        try:
            when = model.parse(expression, tz)
        except ValueError:
            raise validation(f"Invalid Schedule Expression {expression}.") from None
        window = p["FlexibleTimeWindow"]
        if window["Mode"] == "FLEXIBLE" and not window.get("MaximumWindowInMinutes"):
            raise validation("MaximumWindowInMinutes must be provided when "
                             "FlexibleTimeWindow Mode is FLEXIBLE.")
        if window["Mode"] == "OFF" and window.get("MaximumWindowInMinutes") is not None:
            raise validation("MaximumWindowInMinutes must not be provided when "
                             "FlexibleTimeWindow Mode is OFF.")
        start, end = _epoch(p.get("StartDate")), _epoch(p.get("EndDate"))
        now = clock.now(self.app.store)
        if not isinstance(when, model.At):
            if start is not None and start < now - START_SLACK:
                raise validation("The StartDate you specify cannot be earlier than 5 minutes "
                                 "prior to the current time.")
            if end is not None and end <= now:
                raise validation("The EndDate you specify cannot be earlier than the current "
                                 "time.")
            if start is not None and end is not None and end <= start:
                raise validation("The EndDate must be later than the StartDate.")
        target = dict(p["Target"])
        target.setdefault("RetryPolicy", DEFAULT_RETRY)
        wall = time.time()
        record = {"Arn": model.schedule_arn(ctx.region, ctx.account_id, group, p["Name"]),
                  "Name": p["Name"], "GroupName": group, "ScheduleExpression": expression,
                  "State": p.get("State") or "ENABLED", "Target": target,
                  "FlexibleTimeWindow": window,
                  "ActionAfterCompletion": p.get("ActionAfterCompletion") or "NONE",
                  "CreationDate": old["CreationDate"] if old else wall,
                  "LastModificationDate": wall}
        for field in ("ScheduleExpressionTimezone", "Description", "KmsKeyArn"):
            if p.get(field) is not None:
                record[field] = p[field]
        if start is not None:
            record["StartDate"] = start
        if end is not None:
            record["EndDate"] = end
        if old and all(old.get(f) == record.get(f) for f in _TIMING):
            for field in ("_Anchor", "_Due", "_NextFire"):  # its timing is unchanged
                if field in old:
                    record[field] = old[field]
        elif record["State"] == "ENABLED":
            self._first(record, when, tz, now)
        return record

    def _first(self, record: dict, when, tz, now: float) -> None:
        """Set the schedule's first firing after `now` (none if it has none left)."""
        start = record.get("StartDate")
        if isinstance(when, expressions.Rate):
            # without a StartDate a rate schedule starts at once (AWS: "immediately")
            anchor = start if start is not None else now
            record["_Anchor"] = anchor
            due = anchor if anchor >= now else when.next_after(now, anchor)
        elif isinstance(when, model.At):
            due = when.moment
        else:
            due = when.next_after(max(now, start - 1) if start is not None else now, 0.0, tz)
        self._set_due(record, due)

    def _set_due(self, record: dict, due: float) -> None:
        end = record.get("EndDate")
        is_at = record["ScheduleExpression"].startswith("at(")
        if due == float("inf") or (end is not None and due > end and not is_at):
            record.pop("_Due", None)
            record.pop("_NextFire", None)
            return
        window = record["FlexibleTimeWindow"]
        record["_Due"] = due
        record["_NextFire"] = due + (model.jitter(record["Arn"], due,
                                                  window["MaximumWindowInMinutes"])
                                     if window["Mode"] == "FLEXIBLE" else 0)

    def create_schedule(self, ctx, p):
        group = p.get("GroupName") or DEFAULT
        model.get_group(ctx.tx, group)
        if ctx.tx.get(SCHEDULES, schedule_id(group, p["Name"])) is not None:
            raise model.conflict(f"Schedule {p['Name']} already exists.")
        record = self._record(ctx, p, None)
        ctx.tx.put(SCHEDULES, schedule_id(group, p["Name"]), record)
        ctx.tx.after_commit(self.wake)
        return {"ScheduleArn": record["Arn"]}

    def update_schedule(self, ctx, p):
        group = p.get("GroupName") or DEFAULT
        old = model.get_schedule(ctx.tx, group, p["Name"])
        record = self._record(ctx, p, old)
        ctx.tx.put(SCHEDULES, schedule_id(group, p["Name"]), record)
        ctx.tx.after_commit(self.wake)
        return {"ScheduleArn": record["Arn"]}

    def get_schedule(self, ctx, p):
        return model.public(model.get_schedule(ctx.tx, p.get("GroupName") or DEFAULT,
                                               p["Name"]))

    def delete_schedule(self, ctx, p):
        group = p.get("GroupName") or DEFAULT
        model.get_schedule(ctx.tx, group, p["Name"])
        ctx.tx.delete(SCHEDULES, schedule_id(group, p["Name"]))
        return {}

    def list_schedules(self, ctx, p):
        records = ctx.tx.values(SCHEDULES)
        if p.get("GroupName"):
            model.get_group(ctx.tx, p["GroupName"])
            records = [r for r in records if r["GroupName"] == p["GroupName"]]
        if p.get("NamePrefix"):
            records = [r for r in records if r["Name"].startswith(p["NamePrefix"])]
        if p.get("State"):
            records = [r for r in records if r["State"] == p["State"]]
        ordered = sorted(records, key=lambda r: schedule_id(r["GroupName"], r["Name"]))
        shown, token = page(ordered, lambda r: schedule_id(r["GroupName"], r["Name"]),
                            p.get("NextToken"), p.get("MaxResults"))
        return {"Schedules": [
            {"Arn": r["Arn"], "Name": r["Name"], "GroupName": r["GroupName"],
             "State": r["State"], "CreationDate": r["CreationDate"],
             "LastModificationDate": r["LastModificationDate"],
             "Target": {"Arn": r["Target"]["Arn"]}} for r in shown], "NextToken": token}

    # ---- firing --------------------------------------------------------------------------

    @staticmethod
    def _parsed(record: dict):
        tz = model.zone(record.get("ScheduleExpressionTimezone"))
        return model.parse(record["ScheduleExpression"], tz), tz

    def _skip_missed(self) -> None:
        """Recurring firings due while the server was down are not made late; a one-time
        schedule still fires once."""
        now = clock.now(self.app.store)
        for region, record in self._due_records():
            if record["_NextFire"] < now - 60 and not record["ScheduleExpression"].startswith(
                    "at("):
                when, tz = self._parsed(record)
                with self.app.store.transaction(region) as tx:
                    fresh = tx.edit(SCHEDULES, schedule_id(record["GroupName"], record["Name"]))
                    self._set_due(fresh, when.next_after(now, fresh.get("_Anchor", 0.0), tz))

    def _fire(self, region: str, record: dict, now: float) -> float | None:
        when, tz = self._parsed(record)
        following = dict(record)
        count = 0
        while "_NextFire" in following and following["_NextFire"] <= now:
            count += 1
            after = following["_Due"]
            if count == MAX_FIRINGS:  # the rest are skipped
                log.warning("schedule %s: the clock passed more than %d firings; the first %d "
                            "were made", record["Arn"], MAX_FIRINGS, MAX_FIRINGS)
                after = max(after, now)
            self._set_due(following, when.next_after(after, following.get("_Anchor", 0.0), tz))
        key = schedule_id(record["GroupName"], record["Name"])
        with self.app.store.transaction(region) as tx:
            if tx.get(SCHEDULES, key) is not record:
                return None  # changed meanwhile: its own record decides
            if "_NextFire" in following:
                tx.put(SCHEDULES, key, following)
            elif record["ActionAfterCompletion"] == "DELETE":
                tx.delete(SCHEDULES, key)  # its last invocation made
            else:
                tx.put(SCHEDULES, key, following)
        for _ in range(count):
            delivery.invoke(self.app, region, record)
        return following.get("_NextFire")

