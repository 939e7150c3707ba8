"""S3 answers as AWS gives them (issue 12): anonymous requests, 304 validators, default
encryption, conditional deletes and completes, copies, presigned metadata, copy ranges,
location constraints of other partitions."""

from __future__ import annotations

import base64
import hashlib
import http.client
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique
from tests.errors import error
from tests.s3.test_s3 import client


@pytest.fixture(scope="module")
def s3(server):
    return client(server)


@pytest.fixture
def bucket(s3):
    name = unique("answers")
    s3.create_bucket(Bucket=name)
    return name


def raw(server, method: str, path: str, headers: dict | None = None
        ) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["path", "virtual-host", "list-buckets"])
def test_unsigned_request_is_access_denied(server, s3, bucket, how):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    path, headers = {
        "path": (f"/{bucket}/private", {}),
        "virtual-host": ("/private", {"Host": f"{bucket}.localhost:{server.port}"}),
        "list-buckets": ("/", {}),
    }[how]
    status, _, body = raw(server, "GET", path, headers)
    assert status == 403
    document = ET.fromstring(body)
    assert (document.tag, document.findtext("Code"), document.findtext("Message")) == (
        "Error", "AccessDenied", "Access Denied")
    assert b"secret" not in body


def test_not_modified_carries_etag_and_last_modified(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123")
    head = s3.head_object(Bucket=bucket, Key="k")
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as caught:
            call(Bucket=bucket, Key="k", IfNoneMatch=head["ETag"])
        response = caught.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 304
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        assert headers["etag"] == head["ETag"]
        assert headers["last-modified"] == head["ResponseMetadata"]["HTTPHeaders"][
            "last-modified"]


def test_new_objects_are_encrypted_with_sse_s3(s3, bucket):
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    copied = s3.copy_object(Bucket=bucket, Key="c", CopySource=f"{bucket}/k")
    assert copied["ServerSideEncryption"] == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=1,
                          Body=b"x")
    assert part["ServerSideEncryption"] == "AES256"
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="m")["ServerSideEncryption"] == "AES256"


def test_conditional_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    err = error(s3.delete_object, Bucket=bucket, Key="k", IfMatch='"0123456789abcdef"')
    assert (err["Code"], err["Message"]) == (
        "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1  # still there
    err = error(s3.delete_object, Bucket=bucket, Key="missing", IfMatch="*")
    assert err["Code"] == "NoSuchKey"
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert error(s3.head_object, Bucket=bucket, Key="k")["Code"] == "404"


def _one_part_upload(s3, bucket: str, key: str) -> tuple[str, dict]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                          Body=b"part")["ETag"]
    return upload_id, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


def test_complete_multipart_upload_if_none_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"existing")
    upload_id, parts = _one_part_upload(s3, bucket, "k")
    err = error(s3.complete_multipart_upload, Bucket=bucket, Key="k", UploadId=upload_id,
                MultipartUpload=parts, IfNoneMatch="*")
    assert (err["Code"], err["Condition"]) == ("PreconditionFailed", "If-None-Match")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"existing"
    upload_id, parts = _one_part_upload(s3, bucket, "new")
    s3.complete_multipart_upload(Bucket=bucket, Key="new", UploadId=upload_id,
                                 MultipartUpload=parts, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"part"


def test_repeated_complete_multipart_upload_answers_the_same(s3, bucket):
    upload_id, parts = _one_part_upload(s3, bucket, "k")
    first = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                         MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                         MultipartUpload=parts)
    for answer in (first, again):
        answer.pop("ResponseMetadata")
    assert again == first
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"part"
    # the upload itself is gone
    assert error(s3.list_parts, Bucket=bucket, Key="k", UploadId=upload_id)["Code"] == \
        "NoSuchUpload"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_copy_is_standard_unless_asked(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=bucket, Key="cold")["StorageClass"] == "STANDARD_IA"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/cold")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="copy")  # STANDARD
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="copy")["Contents"]
    assert listed[0]["StorageClass"] == "STANDARD"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/cold",
                   StorageClass="GLACIER")
    assert s3.head_object(Bucket=bucket, Key="copy")["StorageClass"] == "GLACIER"


def test_copy_computes_the_checksum_asked_for(s3, bucket):
    data = b"checksummed copy"
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                            ChecksumAlgorithm="SHA256")
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert copied["CopyObjectResult"]["ChecksumSHA256"] == expected
    head = s3.head_object(Bucket=bucket, Key="dst", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected
    assert "ChecksumCRC32" not in head


def test_copy_refuses_aws_tag_keys(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    err = error(s3.copy_object, Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                TaggingDirective="REPLACE", Tagging="aws:owner=me")
    assert (err["Code"], err["Message"]) == ("InvalidTag",
                                             "Your TagKey cannot be prefixed with aws:")
    assert error(s3.head_object, Bucket=bucket, Key="dst")["Code"] == "404"
    err = error(s3.put_object, Bucket=bucket, Key="dst", Body=b"x", Tagging="aws:a=b")
    assert err["Code"] == "InvalidTag"


def test_presigned_put_metadata_in_the_query(s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={
        "Bucket": bucket, "Key": "presigned", "Metadata": {"owner": "me"}})
    assert "x-amz-meta-owner=me" in url
    request = urllib.request.Request(url, data=b"body", method="PUT")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert s3.head_object(Bucket=bucket, Key="presigned")["Metadata"] == {"owner": "me"}


def test_upload_part_copy_range_must_be_bytes_first_last(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    for bad in ("0-3", "bytes=0-", "bytes=-3"):
        err = error(s3.upload_part_copy, Bucket=bucket, Key="dst", UploadId=upload_id,
                    PartNumber=1, CopySource=f"{bucket}/src", CopySourceRange=bad)
        assert (err["Code"], err["Message"], err["ArgumentValue"]) == (
            "InvalidArgument",
            ("The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy"),
            bad)
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)
    s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                        CopySource=f"{bucket}/src", CopySourceRange="bytes=0-3")
    assert [p["Size"] for p in s3.list_parts(Bucket=bucket, Key="dst",
                                             UploadId=upload_id)["Parts"]] == [4]


@pytest.mark.parametrize("region,constraint", [("us-east-1", "cn-north-1"),
                                               ("us-west-2", "us-gov-west-1"),
                                               ("cn-north-1", "us-west-2")])
def test_location_constraint_of_another_partition(server, region, constraint):
    name = unique("partition")
    err = error(client(server, region=region).create_bucket, Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": constraint})
    assert (err["Code"], err["Message"]) == (
        "IllegalLocationConstraintException",
        (f"The {constraint} location constraint is incompatible for the region specific "
        "endpoint this request was sent to."))
    assert name not in [b["Name"] for b in client(server).list_buckets()["Buckets"]]


def test_location_constraint_of_the_same_partition(server):
    name = unique("partition")
    client(server, region="cn-north-1").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    assert client(server).head_bucket(Bucket=name)["BucketRegion"] == "cn-north-1"
