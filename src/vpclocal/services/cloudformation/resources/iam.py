"""AWS::IAM::* handlers over the IAM provider."""

from __future__ import annotations

import json

from vpclocal.services.cloudformation.resources.base import (
    Handler,
    NeedsReplacement,
    ignore_missing,
    tags,
)


def document(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Role(Handler):
    type_name = "AWS::IAM::Role"

    async def create(self, env, props):
        name = props.get("RoleName") or env.physical_name(64)
        params = {"RoleName": name, "Path": props.get("Path") or "/",
                  "AssumeRolePolicyDocument": document(props["AssumeRolePolicyDocument"])}
        for key in ("Description", "MaxSessionDuration", "PermissionsBoundary"):
            if props.get(key):
                params[key] = props[key]
        if tags(props):
            params["Tags"] = tags(props)
        role = (await env.call("iam", "CreateRole", params))["Role"]
        try:
            await self._policies(env, name, {}, props)
        except BaseException:
            await self.delete(env, name, {}, props)
            raise
        return name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}

    async def _policies(self, env, name, old, new):
        old_inline = {p["PolicyName"]: p for p in old.get("Policies") or []}
        new_inline = {p["PolicyName"]: p for p in new.get("Policies") or []}
        for policy_name in old_inline.keys() - new_inline.keys():
            await env.call("iam", "DeleteRolePolicy", {"RoleName": name,
                                                       "PolicyName": policy_name})
        for policy_name, policy in new_inline.items():
            if old_inline.get(policy_name) != policy:
                await env.call("iam", "PutRolePolicy", {
                    "RoleName": name, "PolicyName": policy_name,
                    "PolicyDocument": document(policy["PolicyDocument"])})
        old_arns = set(old.get("ManagedPolicyArns") or [])
        new_arns = list(dict.fromkeys(new.get("ManagedPolicyArns") or []))
        for arn in old_arns - set(new_arns):
            await env.call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        for arn in new_arns:
            if arn not in old_arns:
                await env.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})

    async def update(self, env, physical_id, attrs, old, new):
        if any(old.get(k) != new.get(k) for k in ("RoleName", "Path")):
            raise NeedsReplacement
        if old.get("AssumeRolePolicyDocument") != new.get("AssumeRolePolicyDocument"):
            await env.call("iam", "UpdateAssumeRolePolicy", {
                "RoleName": physical_id,
                "PolicyDocument": document(new["AssumeRolePolicyDocument"])})
        await self._policies(env, physical_id, old, new)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        for arn in props.get("ManagedPolicyArns") or []:
            await ignore_missing(env.call("iam", "DetachRolePolicy",
                                          {"RoleName": physical_id, "PolicyArn": arn}))
        for policy in props.get("Policies") or []:
            await ignore_missing(env.call("iam", "DeleteRolePolicy", {
                "RoleName": physical_id, "PolicyName": policy["PolicyName"]}))
        await ignore_missing(env.call("iam", "DeleteRole", {"RoleName": physical_id}))


_TARGETS = (("Roles", "Role"), ("Users", "User"), ("Groups", "Group"))


class Policy(Handler):
    """Inline policies put on roles, users and groups."""

    type_name = "AWS::IAM::Policy"

    async def create(self, env, props):
        for key, kind in _TARGETS:
            for target in props.get(key) or []:
                await env.call("iam", f"Put{kind}Policy", {
                    f"{kind}Name": target, "PolicyName": props["PolicyName"],
                    "PolicyDocument": document(props["PolicyDocument"])})
        physical = env.physical_name(128)
        return physical, {"Id": physical}

    async def update(self, env, physical_id, attrs, old, new):
        await self.delete(env, physical_id, attrs, old)
        await self.create(env, new)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        for key, kind in _TARGETS:
            for target in props.get(key) or []:
                await ignore_missing(env.call("iam", f"Delete{kind}Policy", {
                    f"{kind}Name": target, "PolicyName": props["PolicyName"]}))


class ManagedPolicy(Handler):
    type_name = "AWS::IAM::ManagedPolicy"

    async def create(self, env, props):
        params = {"PolicyName": props.get("ManagedPolicyName") or env.physical_name(128),
                  "Path": props.get("Path") or "/",
                  "PolicyDocument": document(props["PolicyDocument"])}
        if props.get("Description"):
            params["Description"] = props["Description"]
        policy = (await env.call("iam", "CreatePolicy", params))["Policy"]
        arn = policy["Arn"]
        for key, kind in _TARGETS:
            for target in props.get(key) or []:
                await env.call("iam", f"Attach{kind}Policy", {f"{kind}Name": target,
                                                              "PolicyArn": arn})
        return arn, {"PolicyArn": arn, "PolicyId": policy["PolicyId"],
                     "AttachmentCount": policy.get("AttachmentCount", 0),
                     "DefaultVersionId": policy.get("DefaultVersionId", "v1"),
                     "IsAttachable": True, "CreateDate": str(policy.get("CreateDate", "")),
                     "UpdateDate": str(policy.get("UpdateDate", ""))}

    async def delete(self, env, physical_id, attrs, props):
        for key, kind in _TARGETS:
            for target in props.get(key) or []:
                await ignore_missing(env.call("iam", f"Detach{kind}Policy", {
                    f"{kind}Name": target, "PolicyArn": physical_id}))
        await ignore_missing(env.call("iam", "DeletePolicy", {"PolicyArn": physical_id}))


HANDLERS = [Role, Policy, ManagedPolicy]
