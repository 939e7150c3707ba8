"""What IAM authorizes for one API request: the actions, each on its resource, and the
request's service-specific condition keys.

An operation's action is `<service prefix>:<OperationName>` (the prefix is botocore's service
name, which IAM uses for every service served here) unless ACTION_NAMES says otherwise (S3
names most of its actions after what they touch, not after the operation). The resource is
built from the request's parameters by the service's function in RESOURCES; "*" where the
operation acts on no one resource (a list, a describe without ids), as AWS's Service
Authorization Reference lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from vpclocal.services.lambda_.model import FUNCTION_NAME


class Request(NamedTuple):
    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*"


# operations IAM does not authorize at all (AWS answers them for any valid credentials)
UNAUTHORIZED = {("sts", "GetCallerIdentity")}

# (service, operation) -> action names, where they differ from the operation's own
ACTION_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("lambda", "Invoke"): ("InvokeFunction",),
    ("lambda", "InvokeAsync"): ("InvokeAsync",),
    ("lambda", "ListVersionsByFunction"): ("ListVersionsByFunction",),
    ("lambda", "ListTags"): ("ListTags",),
    ("s3", "ListBuckets"): ("ListAllMyBuckets",),
    ("s3", "HeadBucket"): ("ListBucket",),
    ("s3", "ListObjects"): ("ListBucket",),
    ("s3", "ListObjectsV2"): ("ListBucket",),
    ("s3", "ListObjectVersions"): ("ListBucketVersions",),
    ("s3", "HeadObject"): ("GetObject",),
    ("s3", "GetObjectAttributes"): ("GetObject", "GetObjectAttributes"),
    ("s3", "CopyObject"): ("PutObject",),
    ("s3", "CreateMultipartUpload"): ("PutObject",),
    ("s3", "UploadPart"): ("PutObject",),
    ("s3", "UploadPartCopy"): ("PutObject",),
    ("s3", "CompleteMultipartUpload"): ("PutObject",),
    ("s3", "ListParts"): ("ListMultipartUploadParts",),
    ("s3", "ListMultipartUploads"): ("ListBucketMultipartUploads",),
    ("s3", "DeleteObjects"): ("DeleteObject",),
    ("s3", "DeleteBucketTagging"): ("PutBucketTagging",),
    ("s3", "GetBucketPolicyStatus"): ("GetBucketPolicyStatus",),
    ("dynamodb", "BatchGetItem"): ("BatchGetItem",),
    ("dynamodb", "TransactGetItems"): ("GetItem",),
    ("dynamodb", "TransactWriteItems"): ("PutItem", "UpdateItem", "DeleteItem"),
}


# operations that hand a role to the service (its Role parameter): iam:PassRole is decided too
PASSES_ROLE = {("lambda", "CreateFunction"), ("lambda", "UpdateFunctionConfiguration")}


def _region_account(ctx) -> tuple[str, str]:
    return ctx.region, ctx.account_id


# ---- resources, per service ------------------------------------------------------------------


def _lambda(ctx, operation: str, p: dict) -> list[str]:
    name = p.get("FunctionName")
    if not isinstance(name, str):
        return ["*"]
    region, account = _region_account(ctx)
    qualifier = p.get("Qualifier")
    found = FUNCTION_NAME.fullmatch(name)
    if found is not None:  # an ARN names its own region, account and qualifier
        region, account = found["region"] or region, found["account"] or account
        name, qualifier = found["name"], found["qualifier"] or qualifier
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return [f"{arn}:{qualifier}" if qualifier else arn]


def _s3(ctx, operation: str, p: dict) -> list[str]:
    bucket = p.get("Bucket")
    if not isinstance(bucket, str):
        return ["*"]
    key = p.get("Key")
    if operation == "DeleteObjects":
        keys = [o.get("Key") for o in (p.get("Delete") or {}).get("Objects") or []
                if isinstance(o, dict)]
        return [f"arn:aws:s3:::{bucket}/{k}" for k in keys if isinstance(k, str)] or \
            [f"arn:aws:s3:::{bucket}/*"]
    if isinstance(key, str):
        return [f"arn:aws:s3:::{bucket}/{key}"]
    return [f"arn:aws:s3:::{bucket}"]


def _s3_source(ctx, operation: str, p: dict) -> list[Request]:
    """CopyObject and UploadPartCopy also read their source."""
    source = p.get("CopySource")
    if operation not in ("CopyObject", "UploadPartCopy") or not isinstance(source, str):
        return []
    path = source.split("?", 1)[0].lstrip("/")
    return [Request("s3:GetObject", f"arn:aws:s3:::{path}")]


def _dynamodb(ctx, operation: str, p: dict) -> list[str]:
    region, account = _region_account(ctx)

    def table(name: str) -> str:
        return name if name.startswith("arn:") else \
            f"arn:aws:dynamodb:{region}:{account}:table/{name}"

    if isinstance(p.get("TableName"), str):
        arn = table(p["TableName"])
        index = p.get("IndexName")
        return [f"{arn}/index/{index}" if isinstance(index, str) else arn]
    if isinstance(p.get("RequestItems"), dict):
        return [table(name) for name in p["RequestItems"]] or ["*"]
    items = p.get("TransactItems")
    if isinstance(items, list):
        names = [inner.get("TableName") for item in items if isinstance(item, dict)
                 for inner in item.values() if isinstance(inner, dict)]
        return [table(n) for n in dict.fromkeys(names) if isinstance(n, str)] or ["*"]
    return ["*"]


# EC2 id prefixes -> resource types in EC2's ARNs
EC2_TYPES = {
    "vpc": "vpc", "subnet": "subnet", "sg": "security-group", "rtb": "route-table",
    "acl": "network-acl", "igw": "internet-gateway", "nat": "natgateway",
    "eni": "network-interface", "vpce": "vpc-endpoint", "pcx": "vpc-peering-connection",
    "eipalloc": "elastic-ip", "fl": "vpc-flow-log", "pl": "prefix-list",
    "sgr": "security-group-rule", "eigw": "egress-only-internet-gateway",
    "nia": "network-insights-analysis", "nip": "network-insights-path",
}
# the parameter naming the resource an EC2 operation acts on, in the order looked for
EC2_ID_PARAMS = (
    "GroupId", "SubnetId", "RouteTableId", "NetworkAclId", "NetworkInterfaceId",
    "InternetGatewayId", "NatGatewayId", "VpcEndpointId", "VpcPeeringConnectionId",
    "AllocationId", "EgressOnlyInternetGatewayId", "NetworkInsightsPathId", "VpcId",
)


def _ec2(ctx, operation: str, p: dict) -> list[str]:
    if operation.startswith("Describe"):
        return ["*"]
    region, account = _region_account(ctx)
    for param in EC2_ID_PARAMS:
        value = p.get(param)
        if isinstance(value, str) and "-" in value:
            kind = EC2_TYPES.get(value.split("-", 1)[0])
            if kind:
                return [f"arn:aws:ec2:{region}:{account}:{kind}/{value}"]
    return ["*"]


def _iam(ctx, operation: str, p: dict) -> list[str]:
    account = ctx.account_id
    for param, kind in (("RoleName", "role"), ("UserName", "user"), ("GroupName", "group")):
        if isinstance(p.get(param), str):
            return [f"arn:aws:iam::{account}:{kind}/{p[param]}"]
    for param in ("PolicyArn", "InstanceProfileArn", "PolicySourceArn"):
        if isinstance(p.get(param), str):
            return [p[param]]
    if operation == "CreatePolicy" and isinstance(p.get("PolicyName"), str):
        return [f"arn:aws:iam::{account}:policy{p.get('Path') or '/'}{p['PolicyName']}"]
    return ["*"]


def _sts(ctx, operation: str, p: dict) -> list[str]:
    return [p["RoleArn"]] if isinstance(p.get("RoleArn"), str) else ["*"]


def _named(template: str, *params: str) -> Callable:
    """Resources named by one of `params` (the first present), in an ARN `template`."""
    def resources(ctx, operation: str, p: dict) -> list[str]:
        for param in params:
            if isinstance(p.get(param), str):
                return [template.format(region=ctx.region, account=ctx.account_id,
                                        name=p[param])]
        return ["*"]
    return resources


def _logs(ctx, operation: str, p: dict) -> list[str]:
    group = p.get("logGroupName")
    if not isinstance(group, str):
        return ["*"]
    arn = f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{group}"
    stream = p.get("logStreamName")
    return [f"{arn}:log-stream:{stream}" if isinstance(stream, str) else f"{arn}:*"]


def _ssm(ctx, operation: str, p: dict) -> list[str]:
    """A parameter's ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, a version or label
    selector dropped); GetParametersByPath asks for the path's."""
    names = p.get("Names") if isinstance(p.get("Names"), list) else [
        p.get("Name") or p.get("Path") or
        (p.get("ResourceId") if p.get("ResourceType") == "Parameter" else None)]
    out = []
    for name in names:
        if not isinstance(name, str):
            continue
        if name.startswith("arn:"):
            out.append(name.rsplit(":", 1)[0] if name.count(":") > 5 else name)
            continue
        name = name.split(":", 1)[0].lstrip("/")
        out.append(f"arn:aws:ssm:{ctx.region}:{ctx.account_id}:parameter/{name}")
    return list(dict.fromkeys(out)) or ["*"]


RESOURCES: dict[str, Callable[..., list[str]]] = {
    "lambda": _lambda,
    "s3": _s3,
    "dynamodb": _dynamodb,
    "ec2": _ec2,
    "iam": _iam,
    "sts": _sts,
    "logs": _logs,
    "rds": _named("arn:aws:rds:{region}:{account}:db:{name}", "DBInstanceIdentifier"),
    "elasticache": _named("arn:aws:elasticache:{region}:{account}:cluster:{name}",
                          "CacheClusterId"),
    "ssm": _ssm,
    "cloudwatch": _named("arn:aws:cloudwatch:{region}:{account}:alarm:{name}", "AlarmName"),
}


def requests(ctx, service: str, operation: str, params: dict) -> list[Request]:
    """Every action on every resource the request needs allowed ([] when IAM asks nothing)."""
    if (service, operation) in UNAUTHORIZED:
        return []
    names = ACTION_NAMES.get((service, operation), (operation,))
    resources = RESOURCES.get(service, lambda *_: ["*"])(ctx, operation, params)
    out = [Request(f"{service}:{name}", resource) for name in names for resource in resources]
    if service == "s3":
        out += _s3_source(ctx, operation, params)
    role = params.get("Role")
    if (service, operation) in PASSES_ROLE and isinstance(role, str):
        out.append(Request("iam:PassRole", role))  # giving a service a role is asked too
    return out


# ---- service-specific condition keys -----------------------------------------------------

# EC2 id prefixes -> the store kind holding that resource (its VpcId / SubnetId)
EC2_KINDS = {
    "vpc": "vpcs", "subnet": "subnets", "sg": "security_groups", "rtb": "route_tables",
    "acl": "network_acls", "nat": "nat_gateways", "eni": "network_interfaces",
    "vpce": "vpc_endpoints", "igw": "internet_gateways",
}


def condition_keys(view, ctx, service: str, params: dict) -> dict:
    """ec2:Vpc and ec2:Subnet of the EC2 resource a request acts on; lambda:VpcIds,
    lambda:SubnetIds and lambda:SecurityGroupIds of a function's VpcConfig."""
    region, account = _region_account(ctx)
    keys: dict = {}
    if service == "ec2":
        for param in EC2_ID_PARAMS:
            value = params.get(param)
            if not isinstance(value, str) or "-" not in value:
                continue
            kind = EC2_KINDS.get(value.split("-", 1)[0])
            record = view.get(kind, value, scope=region) if kind else None
            if record is None:
                continue
            vpc = value if kind == "vpcs" else record.get("VpcId")
            if vpc:
                keys["ec2:Vpc"] = f"arn:aws:ec2:{region}:{account}:vpc/{vpc}"
            subnet = value if kind == "subnets" else record.get("SubnetId")
            if subnet:
                keys["ec2:Subnet"] = f"arn:aws:ec2:{region}:{account}:subnet/{subnet}"
            break
    if service == "lambda" and isinstance(params.get("Role"), str):
        keys["iam:PassedToService"] = "lambda.amazonaws.com"
    if service == "lambda" and isinstance(params.get("VpcConfig"), dict):
        config = params["VpcConfig"]
        subnets = [s for s in config.get("SubnetIds") or [] if isinstance(s, str)]
        keys["lambda:SubnetIds"] = subnets
        keys["lambda:SecurityGroupIds"] = [g for g in config.get("SecurityGroupIds") or []
                                           if isinstance(g, str)]
        vpcs = {(view.get("subnets", s, scope=region) or {}).get("VpcId") for s in subnets}
        keys["lambda:VpcIds"] = sorted(v for v in vpcs if v)
    return keys
