"""Tags on functions, addressed by the function's ARN."""

from __future__ import annotations

from vpclocal.services.lambda_.errors import lambda_error
from vpclocal.services.lambda_.model import FUNCTIONS, get_function, split_name


def _function(ctx, arn: str) -> str:
    if not arn.startswith("arn:"):
        raise lambda_error("bad_arn", arn=arn)
    name, _ = split_name(arn)
    get_function(ctx.tx, name, ctx.account_id)
    return name


class TagOperations:
    def tag_resource(self, ctx, p):
        name = _function(ctx, p["Resource"])
        ctx.tx.edit(FUNCTIONS, name)["_Tags"].update(p["Tags"])
        return {}

    def untag_resource(self, ctx, p):
        name = _function(ctx, p["Resource"])
        tags = ctx.tx.edit(FUNCTIONS, name)["_Tags"]
        for key in p["TagKeys"]:
            tags.pop(key, None)
        return {}

    def list_tags(self, ctx, p):
        name = _function(ctx, p["Resource"])
        return {"Tags": ctx.tx.get(FUNCTIONS, name)["_Tags"]}
