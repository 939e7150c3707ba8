"""AWS::SSM::Parameter, on the SSM provider's PutParameter / DeleteParameter."""

from __future__ import annotations

import secrets
import string

from vpclocal.services.cloudformation.resources.base import (
    Handler,
    HandlerError,
    ignore_missing,
    required,
)

_ALPHABET = string.ascii_letters + string.digits
# properties PutParameter takes as they are
_PUT = ("Description", "AllowedPattern", "Tier", "Policies", "DataType")


class Parameter(Handler):
    type_name = "AWS::SSM::Parameter"

    @staticmethod
    def _put(props: dict, name: str, overwrite: bool) -> dict:
        if props["Type"] not in ("String", "StringList"):
            # CloudFormation creates no SecureString (its schema's enum)
            raise HandlerError("Properties validation failed for resource with message:\n"
                               f"#/Type: {props['Type']} is not a valid enum value")
        params = {"Name": name, "Type": props["Type"], "Value": str(props["Value"]),
                  **{k: props[k] for k in _PUT if props.get(k) is not None}}
        if overwrite:
            params["Overwrite"] = True
        elif props.get("Tags"):  # a map of key -> value in this resource type
            params["Tags"] = [{"Key": str(k), "Value": str(v)}
                              for k, v in props["Tags"].items()]
        return params

    async def create(self, env, props):
        # a generated name as CloudFormation makes them for this type: CFN-LogicalId-RANDOM
        name = props.get("Name") or \
            f"CFN-{env.logical_id}-{''.join(secrets.choice(_ALPHABET) for _ in range(12))}"
        await env.call("ssm", "PutParameter", self._put(props, name, overwrite=False))
        return name, {"Type": props["Type"], "Value": str(props["Value"])}

    async def update(self, env, physical_id, attrs, old, new):
        required(new, "Type", "Value")  # an update's properties meet no schema check
        await env.call("ssm", "PutParameter", self._put(new, physical_id, overwrite=True))
        old_tags, new_tags = old.get("Tags") or {}, new.get("Tags") or {}
        gone = [k for k in old_tags if k not in new_tags]
        if gone:
            await env.call("ssm", "RemoveTagsFromResource", {
                "ResourceType": "Parameter", "ResourceId": physical_id, "TagKeys": gone})
        if new_tags and new_tags != old_tags:
            await env.call("ssm", "AddTagsToResource", {
                "ResourceType": "Parameter", "ResourceId": physical_id,
                "Tags": [{"Key": str(k), "Value": str(v)} for k, v in new_tags.items()]})
        return physical_id, {"Type": new["Type"], "Value": str(new["Value"])}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("ssm", "DeleteParameter", {"Name": physical_id}))


HANDLERS = [Parameter]
