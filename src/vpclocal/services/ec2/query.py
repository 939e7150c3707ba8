"""Describe* semantics shared by every EC2 resource: ids, filters, tags and pagination."""

from __future__ import annotations

import base64
import fnmatch
import re

from vpclocal.services.ec2.errors import check_id, invalid, not_found

Record = dict


def path_values(record: Record, path: str) -> list:
    """Values at a dotted path, descending through lists: "Groups.GroupId" -> ["sg-1", ...]."""
    values = [record]
    for part in path.split("."):
        nxt = []
        for value in values:
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and item.get(part) is not None:
                        nxt.append(item[part])
            elif isinstance(value, dict) and value.get(part) is not None:
                nxt.append(value[part])
        values = [v for item in nxt for v in (item if isinstance(item, list) else [item])]
    return values


def tags_of(record: Record) -> list[dict]:
    """A record's tags; network interfaces call the list TagSet."""
    return record.get("Tags") or record.get("TagSet") or []


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _camel(filter_name: str) -> str:
    """`availability-zone` -> `AvailabilityZone`, `attachment.vpc-id` -> `Attachment.VpcId`."""
    return ".".join("".join(w[:1].upper() + w[1:] for w in part.split("-"))
                    for part in filter_name.split("."))


def _pattern(values: list[str]) -> re.Pattern:
    return re.compile("|".join(fnmatch.translate(v) for v in values))


def matches(record: Record, filters: list[dict], aliases: dict[str, str]) -> bool:
    for flt in filters:
        name = flt.get("Name", "")
        wanted = flt.get("Values") or []
        if name.startswith("tag:"):
            key = name[4:]
            have = [t.get("Value", "") for t in tags_of(record) if t.get("Key") == key]
        elif name == "tag-key":
            have = [t.get("Key") for t in tags_of(record)]
        elif name == "tag-value":
            have = [t.get("Value") for t in tags_of(record)]
        else:
            path = aliases.get(name) or _camel(name)
            have = path_values(record, path)
        pattern = _pattern(wanted)
        if not any(pattern.fullmatch(_text(v)) for v in have):
            return False
    return True


def check_filters(filters: list[dict], aliases: dict[str, str], allowed: set[str]) -> None:
    for flt in filters:
        name = flt.get("Name", "")
        if name.startswith("tag:") or name in ("tag-key", "tag-value"):
            continue
        if name not in aliases and name not in allowed:
            raise invalid(f"The filter '{name}' is invalid", code="InvalidParameterValue")


def describe(
    tx,
    kind: str,
    params: dict,
    *,
    ids_param: str,
    filters: dict[str, str],
    plain_filters: set[str] = frozenset(),
    visible=None,
    page: bool = True,
    records: dict[str, Record] | None = None,
) -> tuple[list[Record], str | None]:
    """Records of a kind selected by ids (each must exist), filters and pagination.

    `filters` maps AWS filter names to record paths; `plain_filters` lists names whose path is
    just the camel-cased name; `records` replaces the stored ones (derived views). Returns the
    page and the NextToken (or None).
    """
    if records is None:
        records = tx.all(kind)
    ids = params.get(ids_param) or []
    if ids:
        chosen = []
        for rid in ids:
            check_id(kind, rid)
            rec = records.get(rid)
            if rec is None or (visible is not None and not visible(rec)):
                raise not_found(kind, rid)
            chosen.append(rec)
    else:
        chosen = [r for r in records.values() if visible is None or visible(r)]
    flts = params.get("Filters") or params.get("Filter") or []
    if flts:
        check_filters(flts, filters, set(plain_filters))
        chosen = [r for r in chosen if matches(r, flts, filters)]
    if not page:
        return chosen, None
    return paginate(chosen, params, key=_id_key(kind))


def _id_key(kind: str):
    from vpclocal.services.ec2.errors import KINDS

    prefix = KINDS[kind][0]

    def key(record: Record) -> str:
        for k, v in record.items():
            if isinstance(v, str) and v.startswith(prefix + "-") and k.endswith("Id"):
                return v
        return ""

    return key


def paginate(records: list[Record], params: dict, key) -> tuple[list[Record], str | None]:
    limit = params.get("MaxResults")
    token = params.get("NextToken")
    if limit is None and token is None:
        return records, None
    ordered = sorted(records, key=key)
    start = 0
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise invalid(f"Invalid value '{token}' for nextToken.",
                          code="InvalidNextToken") from None
        start = next((i for i, r in enumerate(ordered) if key(r) > after), len(ordered))
    if limit is None:
        return ordered[start:], None
    page = ordered[start:start + limit]
    more = start + limit < len(ordered)
    next_token = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more else None
    return page, next_token


# Resource types whose create operation refuses another TagSpecifications type with
# InvalidParameter (CreateVpcEndpoint's answer is real AWS's; the others follow other
# emulators' records of AWS); the rest answer InvalidParameterValue.
_REFUSED_AS_INVALID_PARAMETER = frozenset({
    "vpc", "subnet", "network-interface", "security-group-rule", "vpc-endpoint"})


def tags_for(params: dict, resource_type: str) -> list[dict]:
    """Tags from TagSpecifications for an operation that tags `resource_type`: a
    specification for any other type is refused, as AWS does, not dropped."""
    tags: list[dict] = []
    for spec in params.get("TagSpecifications") or []:
        given = spec.get("ResourceType")
        if given not in (None, resource_type):
            code = ("InvalidParameter" if resource_type in _REFUSED_AS_INVALID_PARAMETER
                    else "InvalidParameterValue")
            raise invalid(f"'{given}' is not a valid taggable resource type for this "
                          "operation.", code=code)
        tags.extend({"Key": t["Key"], "Value": t.get("Value", "")}
                    for t in spec.get("Tags") or [])
    return tags
