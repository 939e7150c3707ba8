"""Lambda's errors as data: key -> (code, HTTP status, message template).

Messages are AWS's own where seen (reference/aws-behaviour.md); entries marked "unconfirmed"
follow what AWS documentation implies.
"""

from __future__ import annotations

from vpclocal.errors import ServiceError

INVALID = "InvalidParameterValueException"
CONFLICT = "ResourceConflictException"
NOT_FOUND = "ResourceNotFoundException"

ERRORS = {
    "function_not_found": (NOT_FOUND, 404, "Function not found: {arn}"),
    "alias_not_found": (NOT_FOUND, 404, "Alias not found: {arn}"),
    "function_exists": (CONFLICT, 409, "Function already exist: {name}"),
    "alias_exists": (CONFLICT, 409, "Alias already exists: {arn}"),
    "state": (CONFLICT, 409, ("The operation cannot be performed at this time. The resource "
              "{arn} is currently in the following state: '{state}'. StateReasonCode: "
              "'{reason}'")),
    "updating": (CONFLICT, 409, ("The operation cannot be performed at this time. An update is "
                 "in progress for resource: {arn}")),
    "revision": ("PreconditionFailedException", 412, ("The Revision Id provided does not match "
                 "the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the "
                 "latest Revision Id")),
    "role": (INVALID, 400, "The role defined for the function cannot be assumed by Lambda."),
    "eni_permissions": (INVALID, 400, ("The provided execution role does not have permissions "
                        "to call CreateNetworkInterface on EC2")),
    "vpc_lists": (INVALID, 400, "SubnetIds and SecurityIds must coexist or be both empty list."),
    "ec2": (INVALID, 400, ("Error occurred while {action}. EC2 Error Code: {code}. "
            "EC2 Error Message: {message}")),
    "sg_vpcs": (INVALID, 400, "Security Groups are required to be in the same VPC"),
    "runtime_deprecated": (INVALID, 400, ("The runtime parameter of {runtime} is no longer "
                           "supported for creating or updating AWS Lambda functions. We "
                           "recommend you use the new runtime ({successor}) while creating or "
                           "updating functions.")),
    # AWS runs these; vpclocal has no execution environment for them (says why, not AWS text).
    "runtime_unsupported": (INVALID, 400, ("The runtime parameter of {runtime} is not supported "
                            "by vpclocal, which runs {supported}.")),
    "runtime_handler": (INVALID, 400, ("Runtime and Handler are mandatory parameters for "
                        "functions created with deployment packages.")),  # unconfirmed
    "zip_only": (INVALID, 400, ("vpclocal accepts function code as ZipFile only ({what} is not "
                 "supported).")),
    "unsupported": (INVALID, 400, "vpclocal does not support {what} for Lambda functions."),
    "bad_zip": (INVALID, 400, ("Could not unzip uploaded file. Please check your file, then try "
                "to upload again.")),
    "request_too_large": ("RequestEntityTooLargeException", 413, ("Request must be smaller "
                          "than {limit} bytes for the {operation} operation")),
    "unzipped_size": (INVALID, 400, "Unzipped size must be smaller than {limit} bytes"),
    "env_size": (INVALID, 400, ("Lambda was unable to configure your environment variables "
                 "because the environment variables you have provided exceeded the 4KB limit. "
                 "String measured: {measured}")),
    "env_reserved": (INVALID, 400, ("Lambda was unable to configure your environment variables "
                     "because the environment variables you have provided contains reserved "
                     "keys that are currently not supported for modification. Reserved keys "
                     "used in this request: {keys}")),
    "qualifier_mismatch": (INVALID, 400, ("The derived qualifier from the function name does "
                           "not match the specified qualifier.")),
    "latest_delete": (INVALID, 400, ("$LATEST version cannot be deleted without deleting the "
                      "function.")),
    "version_in_use": (CONFLICT, 409, ("Unable to delete version because the following aliases "
                       "reference it: [{aliases}]")),  # unconfirmed
    "code_sha": (INVALID, 400, ("CodeSHA256 ({given}) is different from current CodeSHA256 in "
                 "$LATEST ({current}). Please try again with the CodeSHA256 in $LATEST.")),
    "reserved_too_high": (INVALID, 400, ("Specified ReservedConcurrentExecutions for function "
                          "decreases account's UnreservedConcurrentExecution below its minimum "
                          "value of [{minimum}].")),
    "provisioned_latest": (INVALID, 400, ("Provisioned Concurrency Configs cannot be applied to "
                           "unpublished function versions.")),
    "provisioned_not_found": ("ProvisionedConcurrencyConfigNotFoundException", 404,
                              "No Provisioned Concurrency Config found for this function"),
    "provisioned_too_high": (INVALID, 400, ("Requested Provisioned Concurrency should not be "
                             "greater than the reservedConcurrentExecution for function")),
    "alias_version": (INVALID, 400, ("Alias cannot point to $LATEST version when it has "
                      "additional version weights.")),  # unconfirmed
    "bad_marker": (INVALID, 400, "Invalid marker: {marker}"),  # unconfirmed
    "bad_arn": (INVALID, 400, "{arn} is not a valid Lambda ARN."),  # unconfirmed
    "validation": ("ValidationException", 400, "{message}"),
    # Invoke-time VPC errors are 502 (reference/aws-behaviour.md); the text is vpclocal's: it
    # says why the function has no network to run in (the fabric's status says more)
    "not_ready": ("ResourceNotReadyException", 502, "{why}"),
}


def lambda_error(key: str, **fields) -> ServiceError:
    code, status, template = ERRORS[key]
    return ServiceError(template.format(**fields), code=code, status=status)
