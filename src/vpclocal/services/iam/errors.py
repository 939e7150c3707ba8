"""IAM's error codes, HTTP statuses and messages, as data."""

from __future__ import annotations

from vpclocal.errors import ServiceError

# HTTP status per error code (botocore's iam model, error shapes' httpStatusCode).
STATUS = {
    "NoSuchEntity": 404,
    "EntityAlreadyExists": 409,
    "DeleteConflict": 409,
    "LimitExceeded": 409,
    "MalformedPolicyDocument": 400,
    "InvalidInput": 400,
    "ValidationError": 400,
}

# key -> (code, message template). Messages as AWS words them (seen in AWS responses quoted in
# public issue threads); the ones marked "unconfirmed" follow AWS's pattern but were not seen.
MESSAGES = {
    "role_not_found": ("NoSuchEntity", "The role with name {} cannot be found."),
    "role_exists": ("EntityAlreadyExists", "Role with name {} already exists."),
    "has_attached": ("DeleteConflict", "Cannot delete entity, must detach all policies first."),
    "has_inline": ("DeleteConflict", "Cannot delete entity, must delete policies first."),
    "role_policy_not_found": ("NoSuchEntity", "The role policy with name {} cannot be found."),
    "not_attachable": ("NoSuchEntity", "Policy {} does not exist or is not attachable."),
    "policy_not_found": ("NoSuchEntity", "Policy {} was not found."),
    "version_not_found": ("NoSuchEntity",  # unconfirmed
                          "Policy {} version {} does not exist or is not attachable."),
    "policy_exists": ("EntityAlreadyExists",
                      "A policy called {} already exists. Duplicate names are not allowed."),
    "policy_attached": ("DeleteConflict", "Cannot delete a policy attached to entities."),
    "policy_has_versions": ("DeleteConflict",
                            ("This policy has more than one version. Before you delete a policy, "
                             "you must delete the policy's versions. The default version is "
                             "deleted with the policy.")),
    "default_version": ("DeleteConflict", "Cannot delete the default version of a policy."),
    "too_many_versions": ("LimitExceeded",
                          ("A managed policy can have up to 5 versions. Before you create a new "
                           "version, you must delete an existing version.")),
    # {} {}: the entity kind ("Role", "User", "Group") and the quota
    "too_many_attached": ("LimitExceeded", "Cannot exceed quota for PoliciesPer{}: {}"),
    "too_many_tags": ("LimitExceeded", "Cannot exceed quota for TagsPer{}: {}"),  # unconfirmed
    "policy_too_large": ("LimitExceeded", "Cannot exceed quota for PolicySize: {}"),
    # {} {} {}: the quota, the entity kind ("role", "user", "group") and its name
    "inline_too_large": ("LimitExceeded", "Maximum policy size of {} bytes exceeded for {} {}"),
    "trust_too_large": ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: {}"),
    "bad_arn": ("InvalidInput", "ARN {} is not valid."),
    "duplicate_tags": ("InvalidInput", ("Duplicate tag keys found. Please note that Tag keys "
                                        "are case insensitive.")),
    "reserved_tag": ("InvalidInput",  # unconfirmed: IAM reserves the prefix (IAM User Guide)
                     "User-defined tag keys can't start with \"aws:\"."),
    "bad_marker": ("ValidationError", "Invalid Marker."),  # unconfirmed
    "aws_policy_readonly": ("InvalidInput",  # unconfirmed: AWS managed policies are read-only
                            "Policy {} is an AWS managed policy and cannot be changed."),
    # ---- users, groups, access keys, permissions boundaries (issue 13) ----
    "user_not_found": ("NoSuchEntity", "The user with name {} cannot be found."),
    "user_exists": ("EntityAlreadyExists", "User with name {} already exists."),
    "group_not_found": ("NoSuchEntity", "The group with name {} cannot be found."),
    "group_exists": ("EntityAlreadyExists", "Group with name {} already exists."),
    "user_policy_not_found": ("NoSuchEntity", "The user policy with name {} cannot be found."),
    "group_policy_not_found": ("NoSuchEntity",
                               "The group policy with name {} cannot be found."),
    "not_in_group": ("NoSuchEntity",  # unconfirmed: RemoveUserFromGroup, user not a member
                     "The user with name {} cannot be found."),
    "user_has_keys": ("DeleteConflict", "Cannot delete entity, must delete access keys first."),
    # DeleteUser of a member, and DeleteGroup with members, say the same
    "in_group": ("DeleteConflict", "Cannot delete entity, must remove users from group first."),
    "too_many_groups": ("LimitExceeded", "Cannot exceed quota for GroupsPerUser: {}"),
    "key_not_found": ("NoSuchEntity", "The Access Key with id {} cannot be found."),
    "too_many_keys": ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: {}"),
    "not_user_credentials": ("ValidationError",
                             "Must specify userName when calling with non-User credentials"),
    "boundary_not_found": ("NoSuchEntity", "Scope ARN: {} does not exist or is not attachable."),
}


def iam_error(key: str, *args) -> ServiceError:
    code, template = MESSAGES[key]
    return ServiceError(template.format(*args), code=code, status=STATUS[code])


def malformed(message: str) -> ServiceError:
    return ServiceError(message, code="MalformedPolicyDocument",
                        status=STATUS["MalformedPolicyDocument"])
