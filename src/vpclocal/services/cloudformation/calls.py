"""In-process calls of another provider's operation, the way the gateway makes them: a
RequestContext, and a store transaction around a synchronous method (never HTTP to itself)."""

from __future__ import annotations

import asyncio

from vpclocal.ids import request_id
from vpclocal.services.base import RequestContext
from vpclocal.services.cloudformation.coerce import coerce


async def call(app, service: str, operation: str, params: dict, region: str, account: str,
               access_key: str = "") -> dict:
    """The operation's result; a ServiceError as the service raises it."""
    provider = app.providers[service]
    params = coerce(params, app.models[service].operation_model(operation).input_shape)
    method = provider.method_for(operation)
    ctx = RequestContext(account, region, request_id(), service, operation, app,
                         access_key=access_key)
    if asyncio.iscoroutinefunction(method):
        return await method(ctx, params) or {}
    with app.store.transaction(provider.scope(ctx)) as tx:
        ctx.tx = tx
        provider.prepare(ctx)
        result = method(ctx, params)
    return result or {}
