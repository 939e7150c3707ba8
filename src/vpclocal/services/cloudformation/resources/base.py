"""The contract of a resource type's handler, and what it is given to do its work."""

from __future__ import annotations

import asyncio
import secrets
import string
import time
import uuid
from dataclasses import dataclass

from vpclocal.errors import ServiceError
from vpclocal.services.cloudformation.calls import call

_ALPHABET = string.ascii_uppercase + string.digits


class HandlerError(Exception):
    """A failure CloudFormation reports as the resource's status reason, as written."""


@dataclass
class Env:
    """What a handler works with: the stack's app, region, account, names."""

    app: object
    region: str
    account: str
    stack_name: str
    stack_id: str
    logical_id: str
    access_key: str = ""

    async def call(self, service: str, operation: str, params: dict) -> dict:
        """The operation's result; its ServiceError as CloudFormation reports a handler's."""
        try:
            return await call(self.app, service, operation, params, self.region, self.account,
                              self.access_key)
        except ServiceError as exc:
            exc.handler_message = handler_message(service, exc)
            raise


    def physical_name(self, max_length: int = 255, lower: bool = False, sep: str = "-") -> str:
        """A generated name as CloudFormation makes them: stack-LogicalId-RANDOM."""
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        head = f"{self.stack_name}{sep}{self.logical_id}"
        head = head[:max(1, max_length - len(suffix) - 1)]
        name = f"{head}{sep}{suffix}"
        return name.lower() if lower else name

    async def wait(self, check, what: str, timeout: float = 300.0) -> dict:
        """Poll `check()` (an awaitable returning a result, or None while not ready)."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            result = await check()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise HandlerError(f"Resource {self.logical_id} did not stabilize: {what}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)  # an in-process read: cheap to repeat


class Handler:
    """One resource type: create, delete, and (optionally) update in place.

    `create` returns the resource's physical ID and its attributes (what Fn::GetAtt reads);
    `update` returns the same, or raises NeedsReplacement when a property change replaces it.
    A change to one of the type's createOnlyProperties replaces it before `update` is asked,
    and required properties are checked before `create` (both from its schema: schemas.py).
    """

    type_name = ""

    async def create(self, env: Env, props: dict) -> tuple[str, dict]:
        raise NotImplementedError

    async def delete(self, env: Env, physical_id: str, attrs: dict, props: dict) -> None:
        raise NotImplementedError

    async def update(self, env: Env, physical_id: str, attrs: dict, old: dict, new: dict
                     ) -> tuple[str, dict]:
        raise NeedsReplacement


class NeedsReplacement(Exception):
    pass


def required(props: dict, *names: str) -> None:
    """Properties a handler needs beyond what its type's schema requires."""
    missing = [n for n in names if props.get(n) in (None, "", [])]
    if missing:
        raise HandlerError("Properties validation failed for resource with message:\n"
                           + "\n".join(f"#: required key [{n}] not found" for n in missing))


async def ignore_missing(coro) -> None:
    """Await a delete; a resource already gone is deleted."""
    try:
        await coro
    except ServiceError as exc:
        if "NotFound" in exc.code or exc.code in ("ResourceNotFoundException", "NoSuchEntity",
                                                  "NoSuchBucket", "DBInstanceNotFound",
                                                  "DBSubnetGroupNotFoundFault"):
            return
        raise


def tags(props: dict) -> list[dict]:
    return [{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))}
            for t in props.get("Tags") or []]


def as_bool(value) -> bool:
    return value is True or str(value).lower() == "true"


_SERVICE_NAMES = {"ec2": "Ec2", "iam": "Iam", "lambda": "Lambda", "rds": "Rds", "s3": "S3",
                  "dynamodb": "DynamoDb", "logs": "CloudWatchLogs",
                  "elasticache": "ElastiCache", "ssm": "Ssm"}


def handler_message(service: str, exc: ServiceError) -> str:
    """A service's error as a resource's status reason (CloudFormation's registry handlers)."""
    code = ("NotFound" if "NotFound" in exc.code or exc.code.startswith("NoSuch")
            else "AlreadyExists" if "AlreadyExists" in exc.code or "Duplicate" in exc.code
            or exc.code.endswith("Exists") else "GeneralServiceException" if exc.status >= 500
            else "InvalidRequest")
    return (f'Resource handler returned message: "{exc.message} (Service: '
            f'{_SERVICE_NAMES.get(service, service)}, Status Code: {exc.status}, Request ID: '
            f'{uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {code})')
