"""AWS::Lambda::* handlers over the Lambda provider."""

from __future__ import annotations

import io
import zipfile

from vpclocal.services.cloudformation.resources.base import (
    Handler,
    HandlerError,
    ignore_missing,
)

# ZipFile source is packaged as index.<extension> (AWS::Lambda::Function Code.ZipFile)
_EXTENSIONS = {"python": "py", "nodejs": "js"}
_CONFIG = ("Description", "Handler", "MemorySize", "Role", "Runtime", "Timeout", "Environment",
           "Layers", "KMSKeyArn", "TracingConfig", "DeadLetterConfig", "EphemeralStorage",
           "LoggingConfig", "FileSystemConfigs", "ImageConfig", "SnapStart")


async def code_zip(env, code: dict, runtime: str) -> bytes:
    if code.get("ZipFile") is not None:
        ext = next((e for prefix, e in _EXTENSIONS.items() if runtime.startswith(prefix)), "py")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(f"index.{ext}", (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, str(code["ZipFile"]))
        return buffer.getvalue()
    if code.get("S3Bucket") and code.get("S3Key"):
        params = {"Bucket": code["S3Bucket"], "Key": code["S3Key"]}
        if code.get("S3ObjectVersion"):
            params["VersionId"] = code["S3ObjectVersion"]
        return (await env.call("s3", "GetObject", params))["Body"]
    raise HandlerError("Please provide either S3Bucket and S3Key, ZipFile or ImageUri in the "
                       "Code property")


def _vpc(props: dict) -> dict:
    vpc = props.get("VpcConfig") or {}
    return {"SubnetIds": vpc.get("SubnetIds") or [],
            "SecurityGroupIds": vpc.get("SecurityGroupIds") or []}


async def _settled(env, name: str) -> dict:
    async def check():
        config = (await env.call("lambda", "GetFunction", {"FunctionName": name}))[
            "Configuration"]
        if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
            raise HandlerError(config.get("StateReason") or config.get("LastUpdateStatusReason")
                               or "The function failed to settle")
        pending = config.get("State") == "Pending" or config.get("LastUpdateStatus") == \
            "InProgress"
        return None if pending else config
    return await env.wait(check, "function Active")


class Function(Handler):
    type_name = "AWS::Lambda::Function"

    async def create(self, env, props):
        name = props.get("FunctionName") or env.physical_name(64)
        params = {"FunctionName": name, **{k: props[k] for k in _CONFIG if k in props},
                  "Code": {"ZipFile": await code_zip(env, props["Code"],
                                                     str(props.get("Runtime", "")))}}
        if props.get("VpcConfig"):
            params["VpcConfig"] = _vpc(props)
        if props.get("Architectures"):
            params["Architectures"] = props["Architectures"]
        if props.get("Tags"):
            params["Tags"] = {t["Key"]: t.get("Value", "") for t in props["Tags"]}
        await env.call("lambda", "CreateFunction", params)
        try:
            if props.get("ReservedConcurrentExecutions") is not None:
                await env.call("lambda", "PutFunctionConcurrency", {
                    "FunctionName": name,
                    "ReservedConcurrentExecutions": props["ReservedConcurrentExecutions"]})
            config = await _settled(env, name)
        except BaseException:
            await ignore_missing(env.call("lambda", "DeleteFunction", {"FunctionName": name}))
            raise
        return name, {"Arn": config["FunctionArn"],
                      "SnapStartResponse": {"ApplyOn": "None", "OptimizationStatus": "Off"}}

    async def update(self, env, physical_id, attrs, old, new):
        config = {k: new.get(k) for k in _CONFIG if old.get(k) != new.get(k)}
        config = {k: v for k, v in config.items() if v is not None}
        if _vpc(old) != _vpc(new):
            config["VpcConfig"] = _vpc(new)
        if config:
            await env.call("lambda", "UpdateFunctionConfiguration",
                           {"FunctionName": physical_id, **config})
            await _settled(env, physical_id)
        if old.get("Code") != new.get("Code") or old.get("Runtime") != new.get("Runtime"):
            await env.call("lambda", "UpdateFunctionCode", {
                "FunctionName": physical_id,
                "ZipFile": await code_zip(env, new["Code"], str(new.get("Runtime", "")))})
            await _settled(env, physical_id)
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("lambda", "DeleteFunction", {"FunctionName": physical_id}))


class Permission(Handler):
    type_name = "AWS::Lambda::Permission"

    async def create(self, env, props):
        statement = env.physical_name(100)
        params = {"StatementId": statement,
                  **{k: props[k] for k in ("FunctionName", "Action", "Principal", "SourceArn",
                                           "SourceAccount", "EventSourceToken",
                                           "PrincipalOrgID", "FunctionUrlAuthType")
                     if props.get(k)}}
        await env.call("lambda", "AddPermission", params)
        return statement, {"Id": statement}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("lambda", "RemovePermission", {
            "FunctionName": props["FunctionName"], "StatementId": physical_id}))


class Version(Handler):
    type_name = "AWS::Lambda::Version"

    async def create(self, env, props):
        params = {k: props[k] for k in ("FunctionName", "Description", "CodeSha256")
                  if props.get(k)}
        out = await env.call("lambda", "PublishVersion", params)
        return out["FunctionArn"], {"FunctionArn": out["FunctionArn"],
                                    "Version": out["Version"]}

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("lambda", "DeleteFunction", {
            "FunctionName": props["FunctionName"], "Qualifier": attrs["Version"]}))


class Alias(Handler):
    type_name = "AWS::Lambda::Alias"

    def _params(self, props):
        return {k: props[k] for k in ("FunctionName", "Name", "FunctionVersion", "Description",
                                      "RoutingConfig") if props.get(k)}

    async def create(self, env, props):
        out = await env.call("lambda", "CreateAlias", self._params(props))
        return out["AliasArn"], {"AliasArn": out["AliasArn"]}

    async def update(self, env, physical_id, attrs, old, new):
        await env.call("lambda", "UpdateAlias", self._params(new))
        return physical_id, attrs

    async def delete(self, env, physical_id, attrs, props):
        await ignore_missing(env.call("lambda", "DeleteAlias", {
            "FunctionName": props["FunctionName"], "Name": props["Name"]}))


HANDLERS = [Function, Permission, Version, Alias]
