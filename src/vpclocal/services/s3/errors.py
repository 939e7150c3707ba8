"""S3's errors: code, message and HTTP status as S3 answers them, with the extra elements its
error document carries (BucketName, Key, UploadId...)."""

from __future__ import annotations

import email.utils

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import to_datetime


def no_such_bucket(bucket: str) -> ServiceError:
    return ServiceError("The specified bucket does not exist", code="NoSuchBucket", status=404,
                        BucketName=bucket)


def no_such_key(key: str) -> ServiceError:
    return ServiceError("The specified key does not exist.", code="NoSuchKey", status=404,
                        Key=key)


def no_such_upload(upload_id: str) -> ServiceError:
    return ServiceError("The specified upload does not exist. The upload ID may be invalid, or "
                        "the upload may have been aborted or completed.", code="NoSuchUpload",
                        status=404, UploadId=upload_id)


def invalid_bucket_name(bucket: str) -> ServiceError:
    return ServiceError("The specified bucket is not valid.", code="InvalidBucketName",
                        BucketName=bucket)


def already_owned(bucket: str) -> ServiceError:
    return ServiceError("Your previous request to create the named bucket succeeded and you "
                        "already own it.", code="BucketAlreadyOwnedByYou", status=409,
                        BucketName=bucket)


def not_empty(bucket: str) -> ServiceError:
    return ServiceError("The bucket you tried to delete is not empty", code="BucketNotEmpty",
                        status=409, BucketName=bucket)


def invalid_argument(message: str, name: str, value) -> ServiceError:
    return ServiceError(message, code="InvalidArgument", ArgumentName=name,
                        ArgumentValue=value)


def precondition_failed(condition: str) -> ServiceError:
    return ServiceError("At least one of the pre-conditions you specified did not hold",
                        code="PreconditionFailed", status=412, Condition=condition)


def not_modified(obj: dict) -> ServiceError:
    """304 Not Modified: no body, the object's ETag and Last-Modified (RFC 9110 asks for the
    validators a 200 would have sent; S3 sends these two)."""
    modified = email.utils.format_datetime(to_datetime(obj["LastModified"]).replace(
        microsecond=0), usegmt=True)
    return ServiceError("Not Modified", code="NotModified", status=304,
                        headers={"ETag": obj["ETag"], "Last-Modified": modified})


def invalid_tag(message: str, key: str | None = None) -> ServiceError:
    extra = {"TagKey": key} if key is not None else {}
    return ServiceError(message, code="InvalidTag", **extra)


def invalid_range(requested: str, size: int) -> ServiceError:
    return ServiceError("The requested range is not satisfiable", code="InvalidRange",
                        status=416, RangeRequested=requested, ActualObjectSize=size)


def bad_digest(algorithm: str) -> ServiceError:
    if algorithm == "MD5":
        return ServiceError("The Content-MD5 you specified did not match what we received.",
                            code="BadDigest")
    return ServiceError(f"The {algorithm} you specified did not match the calculated "
                        "checksum.", code="BadDigest")


def malformed_xml() -> ServiceError:
    return ServiceError("The XML you provided was not well-formed or did not validate against "
                        "our published schema", code="MalformedXML")


INVALID_PART = ("One or more of the specified parts could not be found.  The part may not have "
                "been uploaded, or the specified entity tag may not match the part's entity "
                "tag.")
INVALID_PART_ORDER = ("The list of parts was not in ascending order. Parts must be ordered by "
                      "part number.")
TOO_SMALL = "Your proposed upload is smaller than the minimum allowed size"
UNSPECIFIED = ("The unspecified location constraint is incompatible for the region specific "
               "endpoint this request was sent to.")
COPY_TO_ITSELF = ("This copy request is illegal because it is trying to copy an object to "
                  "itself without changing the object's metadata, storage class, website "
                  "redirect location or encryption attributes.")
