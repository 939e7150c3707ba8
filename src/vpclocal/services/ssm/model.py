"""Parameter Store records (region scope), names, selectors, ARNs and AWS's errors.

A parameter record keeps every version it still has ("Versions", oldest first), each with
its own value, labels and metadata as GetParameterHistory shows them, and the parameter's
tags ("_Tags"). The parameter's current state is its last version.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from vpclocal import paging
from vpclocal.errors import ServiceError

PARAMETERS = "ssm.parameter"  # id: the parameter's name, as given ("/a/b" and "a/b" differ)

MAX_VERSIONS = 100  # a parameter keeps its last 100 versions
MAX_LEVELS = 15  # a name's hierarchy levels
MAX_LABELS = 10  # per version
STANDARD_MAX_VALUE = 4096
ADVANCED_MAX_VALUE = 8192
DEFAULT_KEY = "alias/aws/ssm"

_NAME = re.compile(r"[a-zA-Z0-9_.\-/]+")
_RESERVED = re.compile(r"/?(aws|ssm)", re.IGNORECASE)
_LABEL = re.compile(r"[a-zA-Z0-9_.\-]{1,100}")

# AWS's texts (see /work/shared/reference/aws-behaviour.md, "SSM Parameter Store")
BAD_NAME = ("Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as "
            "a path, it can consist of sub-paths divided by slash symbol; each sub-path can be "
            "formed as a mix of letters, numbers and the following 3 symbols .-_")
BAD_PATH = ("The parameter doesn't meet the parameter name requirements. The parameter name "
            "must begin with a forward slash \"/\". It can't be prefixed with \\\"aws\\\" or "
            "\\\"ssm\\\" (case-insensitive). It must use only letters, numbers, or the following "
            "symbols: . (period), - (hyphen), _ (underscore). Special characters are not "
            "allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". "
            "Valid example: /get/parameters2-/by1./path0_.")
ALREADY_EXISTS = ("The parameter already exists. To overwrite this value, set the overwrite "
                  "option in the request to true.")
TAGS_AND_OVERWRITE = ("Invalid request: tags and overwrite can't be used together. To create a "
                      "parameter with tags, please remove overwrite flag. To update tags for an "
                      "existing parameter, please use AddTagsToResource or "
                      "RemoveTagsFromResource.")
TOO_LARGE = ("Standard tier parameters support a maximum parameter value of 4096 characters. "
             "To create a larger parameter value, upgrade the parameter to use the "
             "advanced-parameter tier. For more information, see https://docs.aws.amazon.com/"
             "systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
NO_DOWNGRADE = ("This parameter uses the advanced-parameter tier. You can't downgrade a "
                "parameter from the advanced-parameter tier to the standard-parameter tier. If "
                "necessary, you can delete the advanced parameter and recreate it as a standard "
                "parameter.")


def validation(message: str) -> ServiceError:
    return ServiceError(message, code="ValidationException")


def not_found() -> ServiceError:
    return ServiceError("", code="ParameterNotFound")  # AWS says nothing more


def version_not_found(name: str, selector: str) -> ServiceError:
    return ServiceError(f"Systems Manager could not find version {selector} of {name}. "
                        "Verify the version and try again.", code="ParameterVersionNotFound")


def arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"


def _malformed(name: str) -> bool:
    return (not _NAME.fullmatch(name) or "//" in name or name.endswith("/")
            or ("/" in name and not name.startswith("/")))


def check_name(name: str) -> None:
    """Raise AWS's ValidationException for a name PutParameter would refuse."""
    if _malformed(name) or _RESERVED.match(name):
        raise validation(BAD_NAME)
    if name.count("/") > MAX_LEVELS:
        raise ServiceError("A hierarchy can have a maximum of 15 levels.",
                           code="HierarchyLevelLimitExceededException")


def check_path(path: str) -> None:
    """A path to read under (the reserved /aws/ and /ssm/ hierarchies too)."""
    if path == "/":
        return
    if not path.startswith("/") or not _NAME.fullmatch(path) or "//" in path:
        raise validation(BAD_PATH)


def valid_label(label: str) -> bool:
    """Labels: letters, digits, . - _, at most 100; not only digits; not aws/ssm-prefixed."""
    return bool(_LABEL.fullmatch(label)) and not label.isdigit() and \
        not re.match(r"(aws|ssm)", label, re.IGNORECASE)


def plain_name(value: str) -> str:
    """A parameter name from a name or the parameter's ARN; AWS's ValidationException for a
    malformed one (reads may name the reserved /aws/ and /ssm/ hierarchies)."""
    if value.startswith("arn:"):
        found = re.fullmatch(r"arn:aws[a-z-]*:ssm:[^:]*:\d*:parameter(/.*)", value)
        if found is None:
            raise validation(BAD_NAME)
        value = found[1]
    if _malformed(value):
        raise validation(BAD_NAME)
    return value


def split_selector(value: str) -> tuple[str, str | None]:
    """(name, selector) from `name`, `name:3` or `name:label` (or an ARN with one)."""
    head, sep, selector = value.rpartition(":")
    if sep and not value.startswith("arn:"):
        return head, selector
    if sep and value.startswith("arn:") and head.count(":") == 5:
        return head, selector
    return value, None


def find(view, name: str) -> dict | None:
    """The record of a name (or ARN); an ARN of a name without a leading slash too."""
    record = view.get(PARAMETERS, name)
    if record is None and name.startswith("/"):
        record = view.get(PARAMETERS, name[1:])
    return record


def version_of(record: dict, selector: str | None) -> dict:
    """The version a selector names (the current one if none)."""
    versions = record["Versions"]
    if selector is None:
        return versions[-1]
    if selector.isdigit():
        for version in versions:
            if version["Version"] == int(selector):
                return version
        raise version_not_found(record["Name"], selector)
    for version in versions:
        if selector in version["Labels"]:
            return version
    raise version_not_found(record["Name"], selector)


def ciphertext(region: str, key: str, value: str) -> str:
    """What a SecureString reads as without decryption: an opaque blob (never the value)."""
    digest = hashlib.sha256(f"{region}|{key}|{value}".encode()).digest()
    blob = json.dumps({"k": key, "d": base64.b64encode(digest).decode()}).encode()
    return base64.b64encode(b"\x01\x02\x02\x00" + blob).decode()


def page(items: list, token: str | None, limit: int) -> tuple[list, str | None]:
    """A page of items (sorted by name) after the name a previous page ended at."""
    return paging.page(items, lambda item: item["Name"], token, limit, lambda: ServiceError(
        "The specified token isn't valid.", code="InvalidNextToken"))


def lookup(view, given: str) -> dict | None:
    """The version `given` (a name, `name:version`, `name:label` or an ARN) names, None if
    there is none: what CloudFormation resolves parameter types and dynamic references with."""
    name, selector = split_selector(given)
    try:
        record = find(view, plain_name(name))
        return None if record is None else version_of(record, selector)
    except ServiceError:
        return None
