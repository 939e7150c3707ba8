"""The CloudWatch Logs provider: log groups, streams, events, retention and tags.

Groups and streams are store records; events are the store's append-only event streams, one
per log stream, read back in (timestamp, arrival) order.
"""

from __future__ import annotations

import base64
import itertools
import json

from vpclocal.errors import ServiceError
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.logs import model
from vpclocal.services.logs.filters import compile_pattern
from vpclocal.store import Event

DAY_MS = 86_400_000
TOO_OLD_MS = 14 * DAY_MS  # PutLogEvents rejects events older than 14 days ...
TOO_NEW_MS = 2 * 3_600_000  # ... or more than 2 hours in the future
MAX_BATCH_BYTES = 1_048_576  # UTF-8 messages plus 26 bytes per event
EVENT_OVERHEAD = 26
RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653]
MAX_TAGS = 50
SCAN_CHUNK = 1000  # events read per store query while filtering


def fail(code: str, message: str) -> ServiceError:
    return ServiceError(message, code=code)


def param_error(message: str) -> ServiceError:
    return fail("InvalidParameterException", message)


GROUP_MISSING = ("ResourceNotFoundException", "The specified log group does not exist.")
STREAM_MISSING = ("ResourceNotFoundException", "The specified log stream does not exist.")
BAD_TOKEN = "The specified nextToken is invalid."


# ---- tokens ------------------------------------------------------------------------------

def encode_token(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_token(token: str | None):
    if token is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise param_error(BAD_TOKEN) from None


def event_position(token: str) -> tuple[str, tuple[int, int]]:
    """GetLogEvents tokens look like AWS's: 'f/' or 'b/' and 56 digits (timestamp, sequence)."""
    direction, _, digits = token.partition("/")
    if direction not in ("f", "b") or len(digits) != 56 or not digits.isdigit():
        raise param_error(BAD_TOKEN)
    return direction, (int(digits[:20]), int(digits[20:]))


def position_token(direction: str, ts: int, seq: int) -> str:
    return f"{direction}/{ts:020d}{seq:036d}"


def paginate(items: list, key, token: str | None, limit: int,
             descending: bool = False) -> tuple[list, str | None]:
    """A page of items sorted by `key` that follow the key a previous page ended at."""
    after = decode_token(token)
    if after is not None:
        try:
            items = [item for item in items
                     if (key(item) < tuple(after) if descending else key(item) > tuple(after))]
        except TypeError:  # a token of another listing
            raise param_error(BAD_TOKEN) from None
    page = items[:limit]
    more = len(items) > limit
    return page, encode_token(list(key(page[-1]))) if more else None


# ---- the provider ------------------------------------------------------------------------

class LogsProvider(Provider):
    service_name = "logs"

    # groups

    def create_log_group(self, ctx: RequestContext, p: dict) -> dict:
        name = p["logGroupName"]
        if ctx.tx.get(model.GROUPS, name) is not None:
            raise fail("ResourceAlreadyExistsException", "The specified log group already exists")
        extra = {key: p[key] for key in ("kmsKeyId", "logGroupClass", "deletionProtectionEnabled")
                 if key in p}
        model.new_group(ctx.tx, ctx.region, ctx.account_id, name, p.get("tags"), **extra)
        return {}

    def delete_log_group(self, ctx: RequestContext, p: dict) -> dict:
        group = self._group(ctx, p["logGroupName"])
        streams = self._streams(ctx, group["logGroupName"])
        for stream in streams:
            ctx.tx.delete(model.STREAMS, model.stream_id(stream["_group"], stream["logStreamName"]))
        ctx.tx.delete(model.GROUPS, group["logGroupName"])
        keys = [model.events_key(s["_group"], s["logStreamName"]) for s in streams]
        ctx.tx.after_commit(lambda: self.app.store.delete_events(ctx.region, keys))
        return {}

    def describe_log_groups(self, ctx: RequestContext, p: dict) -> dict:
        prefix, pattern = p.get("logGroupNamePrefix"), p.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            # AWS documents the two as mutually exclusive; its exact wording is unknown
            raise param_error("LogGroup name prefix and LogGroup name pattern are mutually "
                              "exclusive parameters.")
        groups = sorted(ctx.tx.values(model.GROUPS), key=lambda g: g["logGroupName"])
        if prefix:
            groups = [g for g in groups if g["logGroupName"].startswith(prefix)]
        if pattern:  # a case-insensitive substring match
            groups = [g for g in groups if pattern.lower() in g["logGroupName"].lower()]
        if p.get("logGroupClass"):
            groups = [g for g in groups if g["logGroupClass"] == p["logGroupClass"]]
        if p.get("logGroupIdentifiers"):
            wanted = {_group_name(i) for i in p["logGroupIdentifiers"]}
            groups = [g for g in groups if g["logGroupName"] in wanted]
        page, token = paginate(groups, lambda g: (g["logGroupName"],), p.get("nextToken"),
                               p.get("limit", 50))
        return {"logGroups": [self._group_out(ctx, g) for g in page], "nextToken": token}

    def _group_out(self, ctx: RequestContext, group: dict) -> dict:
        keys = [model.events_key(s["_group"], s["logStreamName"])
                for s in self._streams(ctx, group["logGroupName"])]
        stored = sum(s.bytes for s in self.app.store.event_stats(ctx.region, keys).values())
        return {**_public(group), "storedBytes": stored}

    def put_retention_policy(self, ctx: RequestContext, p: dict) -> dict:
        days = p["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise param_error(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
                f"satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(map(str, RETENTION_DAYS))}]")
        self._group(ctx, p["logGroupName"])
        ctx.tx.edit(model.GROUPS, p["logGroupName"])["retentionInDays"] = days
        return {}

    def delete_retention_policy(self, ctx: RequestContext, p: dict) -> dict:
        self._group(ctx, p["logGroupName"])
        ctx.tx.edit(model.GROUPS, p["logGroupName"]).pop("retentionInDays", None)
        return {}

    # streams

    def create_log_stream(self, ctx: RequestContext, p: dict) -> dict:
        group, name = p["logGroupName"], p["logStreamName"]
        self._group(ctx, group)
        if ctx.tx.get(model.STREAMS, model.stream_id(group, name)) is not None:
            raise fail("ResourceAlreadyExistsException", "The specified log stream already exists")
        model.new_stream(ctx.tx, ctx.region, ctx.account_id, group, name)
        return {}

    def delete_log_stream(self, ctx: RequestContext, p: dict) -> dict:
        group, name = p["logGroupName"], p["logStreamName"]
        self._stream(ctx, group, name)
        ctx.tx.delete(model.STREAMS, model.stream_id(group, name))
        key = model.events_key(group, name)
        ctx.tx.after_commit(lambda: self.app.store.delete_events(ctx.region, [key]))
        return {}

    def describe_log_streams(self, ctx: RequestContext, p: dict) -> dict:
        group = self._group_from(ctx, p)
        prefix = p.get("logStreamNamePrefix")
        by_time = p.get("orderBy") == "LastEventTime"
        if by_time and prefix:
            raise param_error("Cannot order by LastEventTime with a logStreamNamePrefix.")
        records = [s for s in self._streams(ctx, group["logGroupName"])
                   if not prefix or s["logStreamName"].startswith(prefix)]
        stats = self.app.store.event_stats(
            ctx.region, [model.events_key(s["_group"], s["logStreamName"]) for s in records])
        streams = [_stream_out(s, stats) for s in records]

        def key(s: dict) -> tuple:
            name = s["logStreamName"]
            if by_time:  # streams without events come first, as the oldest
                return (s.get("lastEventTimestamp", 0), name)
            return (name,)
        descending = bool(p.get("descending"))
        streams.sort(key=key, reverse=descending)
        page, token = paginate(streams, key, p.get("nextToken"), p.get("limit", 50), descending)
        return {"logStreams": page, "nextToken": token}

    # events

    def put_log_events(self, ctx: RequestContext, p: dict) -> dict:
        group = self._group(ctx, p["logGroupName"])
        self._stream(ctx, p["logGroupName"], p["logStreamName"])
        events = p["logEvents"]
        stamps = [e["timestamp"] for e in events]
        if any(b < a for a, b in itertools.pairwise(stamps)):
            raise param_error(
                "Log events in a single PutLogEvents request must be in chronological order.")
        size = sum(len(e["message"].encode()) + EVENT_OVERHEAD for e in events)
        if size > MAX_BATCH_BYTES:
            raise param_error(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        now = model.now_ms()
        too_old = now - TOO_OLD_MS
        retention = group.get("retentionInDays")
        expired = now - retention * DAY_MS if retention else None
        rejected: dict = {}
        accepted = []
        for index, stamp in enumerate(stamps):
            if stamp > now + TOO_NEW_MS:
                rejected.setdefault("tooNewLogEventStartIndex", index)
            elif expired is not None and stamp < expired and expired > too_old:
                rejected["expiredLogEventEndIndex"] = index
            elif stamp < too_old:
                rejected["tooOldLogEventEndIndex"] = index
            else:
                accepted.append((stamp, events[index]["message"]))
        if accepted and accepted[-1][0] - accepted[0][0] > DAY_MS:
            raise param_error("The batch of log events in a single PutLogEvents request cannot "
                              "span more than 24 hours.")
        key = model.events_key(p["logGroupName"], p["logStreamName"])
        store = self.app.store
        store.append_events(ctx.region, key, accepted, now)
        stats = store.event_stats(ctx.region, [key]).get(key)
        out: dict = {"nextSequenceToken": _sequence_token(stats.count if stats else 0)}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    def get_log_events(self, ctx: RequestContext, p: dict) -> dict:
        group = self._group_from(ctx, p)
        name = group["logGroupName"]
        self._stream(ctx, name, p["logStreamName"])
        key = model.events_key(name, p["logStreamName"])
        limit = p.get("limit", 10_000)
        window = {"start": _start(group, p.get("startTime")), "end": p.get("endTime")}
        token = p.get("nextToken")
        store = self.app.store
        if token is not None:
            direction, position = event_position(token)
            forward = direction == "f"
        else:
            forward, position = bool(p.get("startFromHead")), None
        found = store.events(ctx.region, [key], **window, after=position, limit=limit,
                             descending=not forward)
        if not forward:
            found.reverse()
        if found:
            first, last = found[0], found[-1]
            forward_token = position_token("f", last.ts, last.seq)
            backward_token = position_token("b", first.ts, first.seq)
        else:
            # nothing more that way: AWS hands back the token it was given
            here = position or ((0, 0) if forward else (2**62, 0))
            forward_token = token if token and forward else position_token("f", *here)
            backward_token = token if token and not forward else position_token("b", *here)
        return {"events": [{"timestamp": e.ts, "message": e.body, "ingestionTime": e.ingested}
                           for e in found],
                "nextForwardToken": forward_token, "nextBackwardToken": backward_token}

    def filter_log_events(self, ctx: RequestContext, p: dict) -> dict:
        group = self._group_from(ctx, p)
        if p.get("logStreamNames") and p.get("logStreamNamePrefix"):
            raise param_error("logStreamNames and logStreamNamePrefix are mutually exclusive "
                              "parameters.")  # AWS's exact wording is unknown
        streams = self._streams(ctx, group["logGroupName"])
        if p.get("logStreamNames"):
            wanted = set(p["logStreamNames"])
            streams = [s for s in streams if s["logStreamName"] in wanted]
        elif p.get("logStreamNamePrefix"):
            streams = [s for s in streams
                       if s["logStreamName"].startswith(p["logStreamNamePrefix"])]
        names = {model.events_key(s["_group"], s["logStreamName"]): s["logStreamName"]
                 for s in streams}
        match = compile_pattern(p.get("filterPattern"))
        limit = p.get("limit", 10_000)
        after = decode_token(p.get("nextToken"))
        position = tuple(after) if after is not None else None
        # FilterLogEvents' endTime is inclusive ("later than this time are not returned"),
        # GetLogEvents' is not
        end = p["endTime"] + 1 if p.get("endTime") is not None else None
        start = _start(group, p.get("startTime"))
        found: list[Event] = []
        more = False
        while not more:
            chunk = self.app.store.events(ctx.region, list(names), start=start,
                                          end=end, after=position,
                                          limit=SCAN_CHUNK)
            for event in chunk:
                if match(event.body):
                    found.append(event)
                    # a full page may be followed by more: AWS then returns a token too
                    more = len(found) == limit
                    if more:
                        break
            if len(chunk) < SCAN_CHUNK:
                break
            position = (chunk[-1].ts, chunk[-1].seq)
        out: dict = {
            "events": [{"logStreamName": names[e.stream], "timestamp": e.ts, "message": e.body,
                        "ingestionTime": e.ingested, "eventId": _event_id(e)} for e in found],
            "searchedLogStreams": [{"logStreamName": s["logStreamName"],
                                    "searchedCompletely": True} for s in streams],
        }
        if more:
            out["nextToken"] = encode_token([found[-1].ts, found[-1].seq])
        return out

    # tags

    def tag_log_group(self, ctx: RequestContext, p: dict) -> dict:
        self._tag(ctx, self._group(ctx, p["logGroupName"]), p["tags"])
        return {}

    def untag_log_group(self, ctx: RequestContext, p: dict) -> dict:
        self._untag(ctx, self._group(ctx, p["logGroupName"]), p["tags"])
        return {}

    def list_tags_log_group(self, ctx: RequestContext, p: dict) -> dict:
        return {"tags": dict(self._group(ctx, p["logGroupName"])["_tags"])}

    def tag_resource(self, ctx: RequestContext, p: dict) -> dict:
        self._tag(ctx, self._group_by_arn(ctx, p["resourceArn"]), p["tags"])
        return {}

    def untag_resource(self, ctx: RequestContext, p: dict) -> dict:
        self._untag(ctx, self._group_by_arn(ctx, p["resourceArn"]), p["tagKeys"])
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, p: dict) -> dict:
        return {"tags": dict(self._group_by_arn(ctx, p["resourceArn"])["_tags"])}

    def _tag(self, ctx: RequestContext, group: dict, tags: dict) -> None:
        merged = {**group["_tags"], **tags}
        if len(merged) > MAX_TAGS:
            raise fail("TooManyTagsException",
                       f"A resource can have no more than {MAX_TAGS} tags.")
        ctx.tx.edit(model.GROUPS, group["logGroupName"])["_tags"] = merged

    def _untag(self, ctx: RequestContext, group: dict, keys: list[str]) -> None:
        record = ctx.tx.edit(model.GROUPS, group["logGroupName"])
        for key in keys:
            record["_tags"].pop(key, None)

    # lookups

    def _group(self, ctx: RequestContext, name: str) -> dict:
        group = ctx.tx.get(model.GROUPS, name)
        if group is None:
            raise fail(*GROUP_MISSING)
        return group

    def _group_from(self, ctx: RequestContext, p: dict) -> dict:
        """The group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name, ident = p.get("logGroupName"), p.get("logGroupIdentifier")
        if name is not None and ident is not None:
            raise param_error("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if name is None and ident is None:
            raise param_error("Should provide either name or ARN of the log group.")
        return self._group(ctx, name if name is not None else _group_name(ident))

    def _group_by_arn(self, ctx: RequestContext, arn: str) -> dict:
        parts = arn.split(":")
        if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
            raise param_error(f"The ARN {arn} is not valid for a CloudWatch Logs resource.")
        if parts[3] != ctx.region or parts[4] != ctx.account_id:
            raise fail(*GROUP_MISSING)
        return self._group(ctx, parts[6])

    def _stream(self, ctx: RequestContext, group: str, name: str) -> dict:
        self._group(ctx, group)
        stream = ctx.tx.get(model.STREAMS, model.stream_id(group, name))
        if stream is None:
            raise fail(*STREAM_MISSING)
        return stream

    def _streams(self, ctx: RequestContext, group: str) -> list[dict]:
        return sorted((s for s in ctx.tx.values(model.STREAMS) if s["_group"] == group),
                      key=lambda s: s["logStreamName"])


def _start(group: dict, start: int | None) -> int | None:
    """Events past the group's retention are gone on AWS (deleted in the background): hide
    them from reads rather than delete them."""
    days = group.get("retentionInDays")
    if not days:
        return start
    floor = model.now_ms() - days * DAY_MS
    return floor if start is None else max(start, floor)


def _stream_out(stream: dict, stats: dict) -> dict:
    found = stats.get(model.events_key(stream["_group"], stream["logStreamName"]))
    out = {**_public(stream), "storedBytes": 0}  # deprecated: always 0 on AWS since 2019
    if found is not None:
        out.update(firstEventTimestamp=found.first_ts, lastEventTimestamp=found.last_ts,
                   lastIngestionTime=found.last_ingested,
                   uploadSequenceToken=_sequence_token(found.count))
    return out


def _group_name(identifier: str) -> str:
    """A log group name from a name or an ARN (with or without a trailing ':*')."""
    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        return parts[6] if len(parts) > 6 else identifier
    return identifier


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _sequence_token(count: int) -> str:
    # deprecated and ignored by AWS, but still returned: 56 digits
    return f"{count + 1:056d}"


def _event_id(event: Event) -> str:
    return f"{event.ts:020d}{event.seq:036d}"
