"""Fixtures of the CloudFormation tests: clients, and a helper that waits on a stack."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cfn(server):
    return server.client("cloudformation")


def wait(cfn, name: str, waiter: str = "stack_create_complete") -> dict:
    """The stack once the CLI's waiter is satisfied; on a failure state, an AssertionError
    naming the failed resources' reasons."""
    from botocore.exceptions import WaiterError
    try:
        cfn.get_waiter(waiter).wait(StackName=name,
                                    WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except WaiterError:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        reasons = [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
                   for e in events if e["ResourceStatus"].endswith("FAILED")]
        raise AssertionError(f"stack {name} failed: {reasons}") from None
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def settle(cfn, name: str) -> dict:
    """The stack once no operation is in progress, whatever its outcome."""
    import time
    for _ in range(600):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.1)
    raise AssertionError(f"stack {name} still in progress")


def outputs(stack: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
