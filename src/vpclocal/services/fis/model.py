"""AWS FIS's records (region scope), ids, ARNs, errors, durations and the actions vpclocal
runs.

An experiment template record is the API's ExperimentTemplate shape (epoch seconds for
times) plus "_Tags"; an experiment record the Experiment shape plus "_Tags" and "_Region".
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

from vpclocal.errors import ServiceError

TEMPLATES = "fis.experiment_template"
EXPERIMENTS = "fis.experiment"
_ALNUM = string.ascii_letters + string.digits
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
MAX_DURATION = 12 * 3600  # an action's duration: at most 12 hours
TERMINAL = ("completed", "stopped", "failed", "cancelled")


def new_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def template_arn(region: str, account: str, tid: str) -> str:
    return f"arn:aws:fis:{region}:{account}:experiment-template/{tid}"


def experiment_arn(region: str, account: str, eid: str) -> str:
    return f"arn:aws:fis:{region}:{account}:experiment/{eid}"


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationException")


def not_found(message: str) -> ServiceError:
    return ServiceError(message, code="ResourceNotFoundException", status=404)


def conflict(message: str) -> ServiceError:
    return ServiceError(message, code="ConflictException", status=409)


def get_template(view, tid: str) -> dict:
    record = view.get(TEMPLATES, tid)
    if record is None:
        raise not_found(f"Experiment template {tid} not found.")
    return record


def get_experiment(view, eid: str) -> dict:
    record = view.get(EXPERIMENTS, eid)
    if record is None:
        raise not_found(f"Experiment {eid} not found.")
    return record


def public(record: dict) -> dict:
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    out["tags"] = dict(record.get("_Tags") or {})
    return out


def duration(text: str) -> float:
    """Seconds in an ISO 8601 duration ("PT1M", "PT30S", "PT1H30M"); ValueError otherwise."""
    found = _ISO_DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None or not any(found.groups()) or text.strip().endswith("T"):
        raise ValueError(text)
    days, hours, minutes, seconds = found.groups()
    return (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
            + float(seconds or 0))


# ---- the actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    required: bool = False
    kind: str = "string"  # duration | percentage | int | bool | choice
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class Action:
    description: str
    targets: dict[str, str] = field(default_factory=dict)  # target key -> resource type
    parameters: dict[str, Param] = field(default_factory=dict)


DURATION = Param(required=True, kind="duration")
PERCENT = Param(kind="int", low=1, high=100)
ACTIONS = {
    "aws:fis:wait": Action("Wait for the specified duration. Stop condition monitoring will "
                           "continue during this time.", {}, {"duration": DURATION}),
    "aws:network:disrupt-connectivity": Action(
        "Deny network traffic to or from the target subnets.",
        {"Subnets": "aws:ec2:subnet"},
        {"duration": DURATION,
         "scope": Param(kind="choice", choices=("all", "availability-zone", "dynamodb",
                                                 "prefix-list", "s3", "s3express")),
         "prefixListIdentifier": Param()}),
    "aws:lambda:invocation-add-delay": Action(
        "Add a delay before the execution of the target Lambda functions.",
        {"Functions": "aws:lambda:function"},
        {"duration": DURATION, "invocationPercentage": PERCENT,
         "startupDelayMilliseconds": Param(kind="int", low=0, high=900000)}),
    "aws:lambda:invocation-error": Action(
        "Mark invocations of the target Lambda functions as failed.",
        {"Functions": "aws:lambda:function"},
        {"duration": DURATION, "invocationPercentage": PERCENT,
         "preventExecution": Param(kind="bool")}),
    "aws:rds:reboot-db-instances": Action(
        "Reboot the target Amazon RDS DB instances.", {"DBInstances": "aws:rds:db"},
        {"forceFailover": Param(kind="bool")}),
}
RESOURCE_TYPES = ("aws:ec2:subnet", "aws:lambda:function", "aws:rds:db")


def check_parameter(action_id: str, name: str, value: str) -> None:
    """ValidationException when an action's parameter is unknown or malformed."""
    spec = ACTIONS[action_id].parameters.get(name)
    if spec is None:
        raise validation(f"Unexpected parameter \"{name}\" found in action {action_id}.")
    bad = validation(f"Invalid value \"{value}\" for parameter \"{name}\" of action "
                     f"{action_id}.")
    if spec.kind == "duration":
        try:
            seconds = duration(value)
        except ValueError:
            raise bad from None
        if seconds > MAX_DURATION:
            raise validation(f"The duration of action {action_id} exceeds the maximum of "
                             "12 hours.")
    elif spec.kind == "int":
        if not re.fullmatch(r"\d{1,7}", value) or not spec.low <= int(value) <= spec.high:
            raise bad
    elif spec.kind == "bool":
        if value not in ("true", "false"):
            raise bad
    elif spec.kind == "choice" and value not in spec.choices:
        raise bad


def selection(mode: str) -> tuple[str, int]:
    """("ALL", 0), ("COUNT", n) or ("PERCENT", n); ValueError otherwise."""
    if mode == "ALL":
        return "ALL", 0
    found = re.fullmatch(r"(COUNT|PERCENT)\((\d{1,9})\)", mode)
    if found is None or int(found.group(2)) < 1 or (
            found.group(1) == "PERCENT" and int(found.group(2)) > 100):
        raise ValueError(mode)
    return found.group(1), int(found.group(2))
