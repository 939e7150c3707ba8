"""Dynamic references to Parameter Store in resource properties: `{{resolve:ssm:name}}`,
`{{resolve:ssm:name:version}}` and `{{resolve:ssm-secure:name:version}}`, replaced by the
parameter's value when the resource is created or updated (never stored in the template).
Other dynamic references (secretsmanager) are left as written."""

from __future__ import annotations

import re

from vpclocal.errors import ServiceError
from vpclocal.services.ssm import model as ssm

REFERENCE = re.compile(r"\{\{resolve:(ssm|ssm-secure):([a-zA-Z0-9_.\-/:]+)\}\}")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _missing(view, value) -> list[str]:
    return [f"{found[1]}:{found[2]}" for text in _strings(value)
            for found in REFERENCE.finditer(text) if ssm.lookup(view, found[2]) is None]


def _not_found(names: list[str]) -> ServiceError:
    return ServiceError(f"Parameters: [{', '.join(dict.fromkeys(names))}] cannot be found.",
                        code="ValidationError")


def check(view, resources) -> None:
    """A reference written in the template that names no parameter: AWS refuses the
    operation at once (ValidationError)."""
    names = _missing(view, resources or {})
    if names:
        raise _not_found(names)


def substitute(view, value):
    """The value (resolved properties) with every SSM reference replaced by its value."""
    if isinstance(value, list):
        return [substitute(view, v) for v in value]
    if isinstance(value, dict):
        return {k: substitute(view, v) for k, v in value.items()}
    if not isinstance(value, str) or "{{resolve:" not in value:
        return value
    names = _missing(view, value)
    if names:
        raise _not_found(names)
    return REFERENCE.sub(lambda found: ssm.lookup(view, found[2])["Value"], value)


class Resolving:
    """A resource handler given its properties with the references replaced: the stack's
    records and events keep them as written, as AWS shows them."""

    def __init__(self, handler, view) -> None:
        self.handler = handler
        self.view = view  # () -> a store view of the stack's region
        self.type_name = handler.type_name

    async def create(self, env, props):
        return await self.handler.create(env, substitute(self.view(), props))

    async def update(self, env, physical_id, attrs, old, new):
        view = self.view()
        try:
            old = substitute(view, old)
        except ServiceError:
            pass  # a parameter the old properties named is gone: compared as written
        return await self.handler.update(env, physical_id, attrs, old, substitute(view, new))

    async def delete(self, env, physical_id, attrs, props):
        return await self.handler.delete(env, physical_id, attrs, props)
