"""Faults FIS injects into Lambda invocations (aws:lambda:invocation-add-delay,
aws:lambda:invocation-error), as the store records the invoke path reads.

A running action writes one record per target function (region scope, kind LAMBDA_FAULTS,
id "<experiment>|<action>|<function ARN>"), and deletes it when the action ends. Each invoke
of a function (any version or alias: FIS targets the function) samples every fault in force:
a fault applies to `Percentage` percent of invocations. On AWS the FIS Lambda extension
(a layer) does this inside the function's environment; here the invoke path does it, so no
layer or S3 configuration bucket is needed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

LAMBDA_FAULTS = "fis.lambda_fault"
DELAY, ERROR = "delay", "error"
# what an injected error looks like to the invoker (a function error: FunctionError
# "Unhandled"); AWS's exact payload is not confirmed here
ERROR_TYPE = "FISInjectedError"
ERROR_MESSAGE = "Error injected by AWS FIS"


@dataclass
class Sampled:
    delay_ms: int = 0
    error: bool = False
    prevent_execution: bool = False

    @property
    def any(self) -> bool:
        return bool(self.delay_ms or self.error)


def record(experiment: str, action: str, function_arn: str, kind: str, percentage: int,
           delay_ms: int = 0, prevent: bool = False) -> tuple[str, dict]:
    return (f"{experiment}|{action}|{function_arn}",
            {"FunctionArn": function_arn, "Kind": kind, "Percentage": percentage,
             "DelayMs": delay_ms, "PreventExecution": prevent, "ExperimentId": experiment})


def unqualified(arn: str) -> str:
    """arn:aws:lambda:r:a:function:name[:qualifier] -> without the qualifier."""
    return ":".join(arn.split(":")[:7])


def sample(view, function_arn: str, rng: random.Random | None = None) -> Sampled:
    """The faults this one invocation of the function meets."""
    faults = [f for f in view.values(LAMBDA_FAULTS) if f["FunctionArn"] == function_arn]
    out = Sampled()
    if not faults:
        return out
    rng = rng or random
    for fault in faults:
        if rng.random() * 100 >= fault["Percentage"]:
            continue
        if fault["Kind"] == DELAY:
            out.delay_ms = max(out.delay_ms, fault["DelayMs"])
        else:
            out.error = True
            out.prevent_execution = out.prevent_execution or fault["PreventExecution"]
    return out


def error_payload() -> bytes:
    return json.dumps({"errorMessage": ERROR_MESSAGE, "errorType": ERROR_TYPE}).encode()
