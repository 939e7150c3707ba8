"""Template parameters: types, defaults, constraints, and the values a stack is given."""

from __future__ import annotations

import re

from vpclocal.errors import ServiceError
from vpclocal.services.ssm import model as ssm

# AWS-specific types: the value is an identifier of an existing resource (validated by AWS
# at create time); a List<...> is comma-delimited
AWS_TYPES = {"AWS::EC2::AvailabilityZone::Name", "AWS::EC2::Image::Id",
             "AWS::EC2::Instance::Id", "AWS::EC2::KeyPair::KeyName",
             "AWS::EC2::SecurityGroup::GroupName", "AWS::EC2::SecurityGroup::Id",
             "AWS::EC2::Subnet::Id", "AWS::EC2::Volume::Id", "AWS::EC2::VPC::Id",
             "AWS::Route53::HostedZone::Id"}
SCALAR_TYPES = {"String", "Number", *AWS_TYPES}
LIST_TYPES = {"CommaDelimitedList", "List<Number>", *(f"List<{t}>" for t in AWS_TYPES)}
SSM_TYPE = re.compile(r"AWS::SSM::Parameter::Value<(.+)>")


def invalid(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationError")


def check_declarations(declared: dict) -> None:
    for spec in declared.values():
        if not isinstance(spec, dict) or "Type" not in spec:
            raise invalid("Template format error: Every Parameters object must contain a "
                          "Type member.")
        kind = spec["Type"]
        if kind not in SCALAR_TYPES and kind not in LIST_TYPES and \
                not SSM_TYPE.fullmatch(str(kind)) and kind != "AWS::SSM::Parameter::Name":
            raise invalid(f"Template format error: Unrecognized parameter type: {kind}")


def resolve(declared: dict, given: list[dict], previous: dict | None = None) -> dict:
    """Name -> value (a list for list types) of every declared parameter; the given ones are
    [{ParameterKey, ParameterValue | UsePreviousValue}]."""
    values: dict = {}
    supplied = {}
    for item in given or []:
        key = item.get("ParameterKey")
        if key not in declared:
            raise invalid(f"Parameters: [{key}] do not exist in the template")
        if item.get("UsePreviousValue"):
            if previous is None or key not in previous:
                raise invalid(f"Invalid input for parameter key {key}. Cannot specify "
                              "usePreviousValue as true for a parameter key not in the "
                              "previous template")
            supplied[key] = previous[key]
        else:
            supplied[key] = item.get("ParameterValue", "")
    missing = [n for n, s in declared.items() if n not in supplied and "Default" not in s]
    if missing:
        raise invalid(f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in declared.items():
        raw = supplied[name] if name in supplied else spec["Default"]
        values[name] = _typed(name, spec, raw)
    return values


def raw_values(declared: dict, given: list[dict], previous: dict | None = None) -> dict:
    """Name -> the string each parameter was given (what DescribeStacks shows)."""
    out = {}
    for item in given or []:
        key = item.get("ParameterKey")
        out[key] = (previous or {}).get(key) if item.get("UsePreviousValue") \
            else item.get("ParameterValue", "")
    for name, spec in declared.items():
        out.setdefault(name, _text(spec.get("Default", "")))
    return out


def _text(value) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_list(kind: str) -> bool:
    return kind in LIST_TYPES or kind.startswith("List<")


def _typed(name: str, spec: dict, raw):
    kind = str(spec["Type"])
    text = _text(raw)
    if SSM_TYPE.fullmatch(kind):
        return text  # a parameter's name: its value is read by from_parameter_store
    is_list = _is_list(kind)
    items = [v.strip() if kind != "CommaDelimitedList" else v for v in text.split(",")] \
        if is_list else [text]
    if is_list and text == "":
        items = []
    allowed = spec.get("AllowedValues")
    for item in items:
        if allowed is not None and item not in [_text(a) for a in allowed]:
            raise invalid(f"Parameter '{name}' must be one of AllowedValues")
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                raise invalid(f"Parameter '{name}' must be a number.") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise invalid(f"Parameter '{name}' must be a number not less than "
                              f"{spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise invalid(f"Parameter '{name}' must be a number not greater than "
                              f"{spec['MaxValue']}")
        if "AllowedPattern" in spec and not re.fullmatch(str(spec["AllowedPattern"]), item):
            raise invalid(spec.get("ConstraintDescription") or
                          f"Parameter '{name}' must match pattern {spec['AllowedPattern']}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            raise invalid(f"Parameter '{name}' must contain at least {spec['MinLength']} "
                          "characters")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            raise invalid(f"Parameter '{name}' must contain at most {spec['MaxLength']} "
                          "characters")
    return items if is_list else text


def from_parameter_store(view, declared: dict, values: dict) -> dict:
    """Name -> value (a string) read from Parameter Store for each parameter of an
    AWS::SSM::Parameter::Value<...> type, whose given value names the SSM parameter; `values`
    gets the typed value (a list for a List<...> or CommaDelimitedList)."""
    resolved, missing, secure = {}, [], []
    for name, spec in declared.items():
        found = SSM_TYPE.fullmatch(str(spec["Type"]))
        if found is None:
            continue
        version = ssm.lookup(view, values[name])
        if version is None:
            missing.append(values[name])
        elif version["Type"] == "SecureString":
            secure.append(values[name])
        else:
            resolved[name] = version["Value"]
            inner = found.group(1)
            values[name] = [v.strip() for v in version["Value"].split(",")] \
                if _is_list(inner) else version["Value"]
    if missing:
        raise invalid(f"Unable to fetch parameters [{','.join(missing)}] from parameter store "
                      "for this account.")
    if secure:
        raise invalid(f"Parameters [{','.join(secure)}] referenced by template have types not "
                      "supported by CloudFormation.")
    return resolved


def described(declared: dict, raw: dict, resolved: dict | None = None) -> list[dict]:
    """DescribeStacks' Parameters: NoEcho values masked, Parameter Store values as
    ResolvedValue."""
    out = []
    for name, spec in declared.items():
        item = {"ParameterKey": name,
                "ParameterValue": "****" if str(spec.get("NoEcho", "")).lower() == "true"
                else raw.get(name, "")}
        if name in (resolved or {}):
            item["ResolvedValue"] = resolved[name]
        out.append(item)
    return out


def summary(declared: dict) -> list[dict]:
    """GetTemplateSummary / ValidateTemplate's parameter declarations."""
    out = []
    for name, spec in declared.items():
        item = {"ParameterKey": name, "ParameterType": str(spec.get("Type")),
                "NoEcho": str(spec.get("NoEcho", "")).lower() == "true",
                "Description": spec.get("Description", "")}
        if "Default" in spec:
            item["DefaultValue"] = _text(spec["Default"])
        if "AllowedValues" in spec:
            item["ParameterConstraints"] = {"AllowedValues": [_text(v)
                                                              for v in spec["AllowedValues"]]}
        out.append(item)
    return out
