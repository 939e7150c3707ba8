"""The Systems Manager provider: Parameter Store (parameters with versions, labels, tiers,
hierarchies and tags). Other Systems Manager operations are not served.

A SecureString is kept as given and read back as an opaque blob unless WithDecryption is
set (vpclocal has no KMS: the key ID is recorded, never used).
"""

from __future__ import annotations

import re
import time

from vpclocal.errors import ServiceError
from vpclocal.services.base import Provider
from vpclocal.services.ssm import model
from vpclocal.services.ssm.model import PARAMETERS, validation
from vpclocal.services.sts.sessions import caller_arn

# DescribeParameters' ParameterFilters keys and the options each takes (the first: default)
_FILTER_OPTIONS = {"Name": ("Equals", "BeginsWith", "Contains"), "Type": ("Equals",),
                   "KeyId": ("Equals",), "Tier": ("Equals",), "DataType": ("Equals",),
                   "Label": ("Equals",), "Path": ("OneLevel", "Recursive")}
# the legacy Filters: key -> the version field it matches
_LEGACY_FILTERS = {"Name": "Name", "Type": "Type", "KeyId": "KeyId"}


class SsmProvider(Provider):
    service_name = "ssm"

    # ---- writing ---------------------------------------------------------------------------

    def put_parameter(self, ctx, p):
        name = p["Name"]
        if name.startswith("arn:"):
            raise validation(model.BAD_NAME)  # PutParameter takes a name, never an ARN
        model.check_name(name)
        old = ctx.tx.get(PARAMETERS, name)
        if old is not None and not p.get("Overwrite"):
            raise ServiceError(model.ALREADY_EXISTS, code="ParameterAlreadyExists")
        if p.get("Overwrite") and p.get("Tags"):
            raise validation(model.TAGS_AND_OVERWRITE)
        kind = p.get("Type") or (old["Versions"][-1]["Type"] if old else None)
        if kind is None:
            raise validation("A parameter type is required when you create a parameter.")
        value = p["Value"]
        previous = old["Versions"][-1] if old else {}
        # an overwrite without a pattern keeps (and is checked by) the one given before
        pattern = p.get("AllowedPattern") or previous.get("AllowedPattern")
        if pattern:
            try:
                compiled = re.compile(pattern)
            except re.error:
                raise ServiceError("The request includes an invalid regular expression.",
                                   code="InvalidAllowedPatternException") from None
            if not compiled.fullmatch(value):
                raise ServiceError("Parameter value, cannot be validated against "
                                   f"allowedPattern: {pattern}",
                                   code="ParameterPatternMismatchException")
        tier = self._tier(p.get("Tier"), value, old)
        data_type = p.get("DataType") or "text"
        if data_type not in ("text", "aws:ec2:image", "aws:ssm:integration"):
            raise validation(f"The following data type is not supported: {data_type} (Data "
                             "type names are all lowercase.)")
        versions = list(old["Versions"]) if old else []
        if len(versions) >= model.MAX_VERSIONS:
            oldest = versions[0]
            if oldest["Labels"]:
                raise ServiceError(
                    f"You attempted to create a new version of {name} by calling the "
                    "PutParameter API with the overwrite flag. Version "
                    f"{oldest['Version']}, the oldest version, can't be deleted because it "
                    "has a label associated with it. Move the label to another version of the "
                    "parameter, and try again.", code="ParameterMaxVersionLimitExceeded")
            versions.pop(0)
        version = {
            "Name": name, "Type": kind, "Value": value,
            "Version": previous.get("Version", 0) + 1,
            "LastModifiedDate": time.time(),
            "LastModifiedUser": caller_arn(ctx.tx, ctx),
            "Description": p.get("Description", previous.get("Description")),
            "AllowedPattern": pattern,
            "Tier": tier, "Policies": [], "DataType": data_type, "Labels": [],
        }
        if kind == "SecureString":
            version["KeyId"] = p.get("KeyId") or previous.get("KeyId") or model.DEFAULT_KEY
        versions.append({k: v for k, v in version.items() if v is not None})
        tags = old["_Tags"] if old else {t["Key"]: t["Value"] for t in p.get("Tags") or []}
        ctx.tx.put(PARAMETERS, name, {"Name": name, "Versions": versions, "_Tags": tags})
        return {"Version": version["Version"], "Tier": tier}

    @staticmethod
    def _tier(asked: str | None, value: str, old: dict | None) -> str:
        current = old["Versions"][-1]["Tier"] if old else "Standard"
        if len(value) > model.ADVANCED_MAX_VALUE:
            raise validation(f"1 validation error detected: Value at 'value' failed to satisfy "
                             f"constraint: Member must have length less than or equal to "
                             f"{model.ADVANCED_MAX_VALUE}")
        large = len(value) > model.STANDARD_MAX_VALUE
        if asked == "Intelligent-Tiering":
            return "Advanced" if large or current == "Advanced" else "Standard"
        tier = asked or current
        if tier == "Standard" and current == "Advanced":
            raise validation(model.NO_DOWNGRADE)
        if tier == "Standard" and large:
            raise validation(model.TOO_LARGE)
        return tier

    def delete_parameter(self, ctx, p):
        record = model.find(ctx.tx, model.plain_name(p["Name"]))
        if record is None:
            raise model.not_found()
        ctx.tx.delete(PARAMETERS, record["Name"])
        return {}

    def delete_parameters(self, ctx, p):
        deleted, invalid = [], []
        for name in dict.fromkeys(p["Names"]):
            record = model.find(ctx.tx, model.plain_name(name))
            if record is None:
                invalid.append(name)
            else:
                ctx.tx.delete(PARAMETERS, record["Name"])
                deleted.append(name)
        return {"DeletedParameters": deleted, "InvalidParameters": invalid}

    def label_parameter_version(self, ctx, p):
        record = self._record(ctx, p["Name"])
        number = p.get("ParameterVersion")
        version = model.version_of(record, None if number is None else str(number))
        invalid = [label for label in p["Labels"] if not model.valid_label(label)]
        labels = [label for label in dict.fromkeys(p["Labels"]) if label not in invalid]
        if len(set(version["Labels"]) | set(labels)) > model.MAX_LABELS:
            raise ServiceError("An error occurred when attempting to label the parameter "
                               "version. A parameter version can have a maximum of 10 labels.",
                               code="ParameterVersionLabelLimitExceeded")
        for other in record["Versions"]:  # a label names one version: it moves
            other["Labels"] = [x for x in other["Labels"] if x not in labels]
        version["Labels"] = version["Labels"] + labels
        ctx.tx.put(PARAMETERS, record["Name"], record)
        return {"InvalidLabels": invalid, "ParameterVersion": version["Version"]}

    def unlabel_parameter_version(self, ctx, p):
        record = self._record(ctx, p["Name"])
        version = model.version_of(record, str(p["ParameterVersion"]))
        removed = [label for label in dict.fromkeys(p["Labels"]) if label in version["Labels"]]
        invalid = [label for label in p["Labels"] if label not in removed]
        version["Labels"] = [x for x in version["Labels"] if x not in removed]
        ctx.tx.put(PARAMETERS, record["Name"], record)
        return {"RemovedLabels": removed, "InvalidLabels": invalid}

    # ---- reading ---------------------------------------------------------------------------

    def _record(self, ctx, name: str) -> dict:
        record = model.find(ctx.tx, model.plain_name(name))
        if record is None:
            raise model.not_found()
        return record

    def _shown(self, ctx, version: dict, decrypt: bool, selector: str | None = None) -> dict:
        """A version as GetParameter(s) show it."""
        value = version["Value"]
        if version["Type"] == "SecureString" and not decrypt:
            value = model.ciphertext(ctx.region, version["KeyId"], value)
        out = {"Name": version["Name"], "Type": version["Type"], "Value": value,
               "Version": version["Version"], "LastModifiedDate": version["LastModifiedDate"],
               "ARN": model.arn(ctx.region, ctx.account_id, version["Name"]),
               "DataType": version["DataType"]}
        if selector is not None:
            out["Selector"] = f":{selector}"
        return out

    def _get(self, ctx, given: str, decrypt: bool) -> dict:
        name, selector = model.split_selector(given)
        record = self._record(ctx, name)
        return self._shown(ctx, model.version_of(record, selector), decrypt, selector)

    def get_parameter(self, ctx, p):
        return {"Parameter": self._get(ctx, p["Name"], bool(p.get("WithDecryption")))}

    def get_parameters(self, ctx, p):
        found, invalid = [], []
        for given in dict.fromkeys(p["Names"]):
            try:
                found.append(self._get(ctx, given, bool(p.get("WithDecryption"))))
            except ServiceError as exc:
                if exc.code not in ("ParameterNotFound", "ParameterVersionNotFound"):
                    raise
                invalid.append(given)
        return {"Parameters": found, "InvalidParameters": invalid}

    def get_parameters_by_path(self, ctx, p):
        path = p["Path"]
        model.check_path(path)
        filters = p.get("ParameterFilters") or []
        for item in filters:  # the path names the parameters: only these narrow them
            if item["Key"] not in ("Type", "KeyId", "Label") and \
                    not item["Key"].startswith("tag:"):
                raise ServiceError(f"The following filter key is not valid: {item['Key']}. "
                                   "Valid filter keys include: [Type, KeyId, Label].",
                                   code="InvalidFilterKey")
        under = self._under(ctx, path, bool(p.get("Recursive")))
        under = [r for r in under if self._matches(r, filters)]
        shown, token = model.page(under, p.get("NextToken"), p.get("MaxResults") or 10)
        decrypt = bool(p.get("WithDecryption"))
        return {"Parameters": [self._shown(ctx, r["Versions"][-1], decrypt) for r in shown],
                "NextToken": token}

    @staticmethod
    def _under(ctx, path: str, recursive: bool) -> list[dict]:
        """The parameters under a path (directly, or at any depth), by name."""
        prefix = path.rstrip("/") + "/"
        out = []
        for record in ctx.tx.values(PARAMETERS):
            name = record["Name"]
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix):]):
                out.append(record)
        return sorted(out, key=lambda r: r["Name"])

    def get_parameter_history(self, ctx, p):
        record = self._record(ctx, p["Name"])
        decrypt = bool(p.get("WithDecryption"))
        start = 0
        if p.get("NextToken"):
            if not p["NextToken"].isdigit():
                raise ServiceError("The specified token isn't valid.", code="InvalidNextToken")
            start = int(p["NextToken"])
        limit = p.get("MaxResults") or 50
        versions = record["Versions"][start:start + limit]
        out = []
        for version in versions:
            item = dict(version)
            if version["Type"] == "SecureString" and not decrypt:
                item["Value"] = model.ciphertext(ctx.region, version["KeyId"], version["Value"])
            out.append(item)
        more = start + limit < len(record["Versions"])
        return {"Parameters": out, "NextToken": str(start + limit) if more else None}

    def describe_parameters(self, ctx, p):
        filters = p.get("ParameterFilters") or []
        legacy = p.get("Filters") or []
        if filters and legacy:
            raise validation("You can use either Filters or ParameterFilters in a single "
                             "request.")
        for item in filters:
            self._check_filter(item)
        records = sorted(ctx.tx.values(PARAMETERS), key=lambda r: r["Name"])
        records = [r for r in records if self._matches(r, filters) and all(
            r["Versions"][-1].get(_LEGACY_FILTERS.get(f["Key"], f["Key"])) in f["Values"]
            for f in legacy)]
        shown, token = model.page(records, p.get("NextToken"), p.get("MaxResults") or 10)
        return {"Parameters": [self._metadata(ctx, r) for r in shown], "NextToken": token}

    @staticmethod
    def _check_filter(item: dict) -> None:
        key = item["Key"]
        if key.startswith("tag:"):
            return
        if key not in _FILTER_OPTIONS:
            raise ServiceError(f"The following filter key is not valid: {key}. Valid filter "
                               "keys include: [Path, Name, Type, KeyId, Tier, DataType, "
                               "Label].", code="InvalidFilterKey")
        option = item.get("Option")
        if option is not None and option not in _FILTER_OPTIONS[key]:
            raise ServiceError(f"The following filter option is not valid: {option}. Valid "
                               "options include: [" + ", ".join(_FILTER_OPTIONS[key]) + "].",
                               code="InvalidFilterOption")
        if key == "Path":
            for value in item.get("Values") or []:
                model.check_path(value)

    @staticmethod
    def _matches(record: dict, filters: list[dict]) -> bool:
        current = record["Versions"][-1]
        for item in filters:
            key, values = item["Key"], item.get("Values") or []
            option = item.get("Option") or _FILTER_OPTIONS.get(key, ("Equals",))[0]
            if key.startswith("tag:"):
                tag = record["_Tags"].get(key[4:])
                if tag is None or (values and tag not in values):
                    return False
            elif key == "Name":
                if not any(_name_matches(current["Name"], option, v) for v in values):
                    return False
            elif key == "Path":
                name = current["Name"]
                if not any(name.startswith(v.rstrip("/") + "/") and (
                        option == "Recursive" or "/" not in name[len(v.rstrip("/")) + 1:])
                        for v in values):
                    return False
            elif key == "Label":
                labels = {x for v in record["Versions"] for x in v["Labels"]}
                if not labels & set(values):
                    return False
            elif current.get(key) not in values:
                return False
        return True

    def _metadata(self, ctx, record: dict) -> dict:
        current = record["Versions"][-1]
        keep = ("Name", "Type", "KeyId", "LastModifiedDate", "LastModifiedUser", "Description",
                "AllowedPattern", "Version", "Tier", "Policies", "DataType")
        out = {k: current[k] for k in keep if k in current}
        out["ARN"] = model.arn(ctx.region, ctx.account_id, current["Name"])
        return out

    # ---- tags ------------------------------------------------------------------------------

    def _tagged(self, ctx, p) -> dict:
        if p["ResourceType"] != "Parameter":
            raise ServiceError("The resource type isn't supported.",
                               code="InvalidResourceType")
        record = model.find(ctx.tx, model.plain_name(p["ResourceId"]))
        if record is None:
            raise ServiceError("The resource ID isn't valid. Verify that you entered the "
                               "correct ID and try again.", code="InvalidResourceId")
        return record

    def add_tags_to_resource(self, ctx, p):
        record = self._tagged(ctx, p)
        record["_Tags"].update({t["Key"]: t["Value"] for t in p["Tags"]})
        if len(record["_Tags"]) > 50:
            raise ServiceError("The Targets parameter includes too many tags. Remove one or more "
                               "tags and try the command again.", code="TooManyTagsError")
        ctx.tx.put(PARAMETERS, record["Name"], record)
        return {}

    def remove_tags_from_resource(self, ctx, p):
        record = self._tagged(ctx, p)
        for key in p["TagKeys"]:
            record["_Tags"].pop(key, None)
        ctx.tx.put(PARAMETERS, record["Name"], record)
        return {}

    def list_tags_for_resource(self, ctx, p):
        record = self._tagged(ctx, p)
        return {"TagList": [{"Key": k, "Value": v} for k, v in record["_Tags"].items()]}


def _name_matches(name: str, option: str, value: str) -> bool:
    """A Name filter: a name with or without its leading slash matches."""
    if option == "Equals":
        return name.lstrip("/") == value.lstrip("/")
    if option == "BeginsWith":
        return name.lstrip("/").startswith(value.lstrip("/"))
    return value in name
