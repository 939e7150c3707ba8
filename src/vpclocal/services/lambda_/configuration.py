"""A function's configuration: defaults, limits and checks shared by create and update."""

from __future__ import annotations

import json
from functools import cache

import botocore.session

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import validation_message
from vpclocal.runtime.types import BOOTSTRAP_RUNTIMES, PYTHON_RUNTIMES
from vpclocal.services.iam import role_trusts
from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.vpc import vpc_config

# Deprecated runtimes AWS refuses for create/update -> the successor its message recommends.
DEPRECATED = {
    **dict.fromkeys(("python2.7", "python3.6", "python3.7", "python3.8"), "python3.13"),
    **dict.fromkeys(("nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10",
                     "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x"), "nodejs22.x"),
    **dict.fromkeys(("dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
                     "dotnet6"), "dotnet8"),
    **dict.fromkeys(("ruby2.5", "ruby2.7"), "ruby3.3"),
    **dict.fromkeys(("go1.x", "provided"), "provided.al2023"),
    "java8": "java21",
}

# Members whose range AWS enforces below the model's (name, lowest, highest).
LIMITS = {"Timeout": ("timeout", 1, 900), "MemorySize": ("memorySize", 128, 10240)}

DEFAULTS = {
    "Description": "", "Timeout": 3, "MemorySize": 128, "PackageType": "Zip",
    "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
    "TracingConfig": {"Mode": "PassThrough"},
    "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
}

# Request members copied as they are (create and update).
PLAIN = ("Handler", "Description", "Timeout", "MemorySize", "Runtime", "DeadLetterConfig",
         "KMSKeyArn", "TracingConfig", "EphemeralStorage")

# Members vpclocal has nothing behind; refusing says so instead of silently ignoring them.
UNSUPPORTED = ("Layers", "FileSystemConfigs", "CodeSigningConfigArn", "ImageConfig")

# Environment variable names the Lambda runtime sets itself.
RESERVED_ENV = (
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
)
ENV_BYTES = 4096


@cache
def runtimes() -> tuple[str, ...]:
    """The runtimes vpclocal runs: AWS's own list (the Runtime enum of botocore's Lambda model)
    in the families the runtime layer runs, less those AWS no longer accepts."""
    enum = botocore.session.get_session().get_service_model("lambda").shape_for("Runtime").enum
    return tuple(r for r in enum
                 if r.startswith(PYTHON_RUNTIMES + BOOTSTRAP_RUNTIMES) and r not in DEPRECATED)


def check_runtime(runtime: str) -> None:
    if runtime in runtimes():
        return
    if runtime in DEPRECATED:
        raise lambda_error("runtime_deprecated", runtime=runtime, successor=DEPRECATED[runtime])
    raise lambda_error("runtime_unsupported", runtime=runtime, supported=", ".join(runtimes()))


def check_role(tx, role_arn: str) -> None:
    if not role_trusts(tx, role_arn, "lambda.amazonaws.com"):
        raise lambda_error("role")


def _check_limits(p: dict) -> None:
    problems = []
    for member, (wire, low, high) in LIMITS.items():
        value = p.get(member)
        if value is None:
            continue
        if value > high:
            problems.append(f"Value '{value}' at '{wire}' failed to satisfy constraint: "
                            f"Member must have value less than or equal to {high}")
        elif value < low:
            problems.append(f"Value '{value}' at '{wire}' failed to satisfy constraint: "
                            f"Member must have value greater than or equal to {low}")
    if problems:
        raise ServiceError(validation_message(problems), code="ValidationException")


def _environment(env: dict) -> dict | None:
    variables = env.get("Variables") or {}
    reserved = [k for k in variables if k in RESERVED_ENV]
    if reserved:
        raise lambda_error("env_reserved", keys=", ".join(reserved))
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > ENV_BYTES:
        raise lambda_error("env_size", measured=measured)
    return {"Variables": variables} if variables else None


def _logging(current: dict | None, given: dict, name: str) -> dict:
    config = dict(current or {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"})
    config.update(given)
    if config.get("LogFormat") == "JSON":
        config.setdefault("ApplicationLogLevel", "INFO")
        config.setdefault("SystemLogLevel", "INFO")
    else:  # log levels only apply to JSON logs
        config.pop("ApplicationLogLevel", None)
        config.pop("SystemLogLevel", None)
    return config


def apply(tx, record: dict, p: dict, *, creating: bool) -> None:
    """Check the configuration members of a create/update request and write them to record.
    VpcConfig is checked against the (possibly new) role; the caller decides what happens
    to the ENIs."""
    _check_limits(p)
    unsupported = [m for m in UNSUPPORTED if p.get(m)]
    if unsupported:
        raise lambda_error("zip_only" if "ImageConfig" in unsupported else "unsupported",
                           what=", ".join(unsupported))
    if p.get("Runtime") is not None:
        check_runtime(p["Runtime"])
    if p.get("Role") is not None:
        check_role(tx, p["Role"])
        record["Role"] = p["Role"]
    for member in PLAIN:
        if p.get(member) is not None:
            record[member] = p[member]
    if p.get("Environment") is not None:
        env = _environment(p["Environment"])
        record.pop("Environment", None)
        if env:
            record["Environment"] = env
    if p.get("LoggingConfig") is not None or creating:
        record["LoggingConfig"] = _logging(record.get("LoggingConfig"),
                                           p.get("LoggingConfig") or {}, record["FunctionName"])
    if p.get("VpcConfig") is not None:
        record["VpcConfig"] = vpc_config(tx, p["VpcConfig"], record["Role"])
    elif p.get("Role") is not None and record.get("VpcConfig", {}).get("SubnetIds"):
        record["VpcConfig"] = vpc_config(tx, record["VpcConfig"], record["Role"])
