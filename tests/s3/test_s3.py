"""S3 against a real server: boto3 in both addressing styles, the aws CLI, errors, restart."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import http.client
import os
import zlib
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Server
from tests.errors import error


def client(server, host: str = "127.0.0.1", region: str = "us-east-1", style: str = "auto"):
    return boto3.client("s3", endpoint_url=f"http://{host}:{server.port}", region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(s3={"addressing_style": style}))


@pytest.fixture(scope="module", params=["path", "virtual"])
def s3(server, request):
    """Path style (`127.0.0.1:port/bucket/key`) and virtual-host style
    (`bucket.localhost:port/key`; botocore 1.44 chooses path style for a custom endpoint
    unless told otherwise)."""
    host = "localhost" if request.param == "virtual" else "127.0.0.1"
    c = client(server, host, style=request.param)
    hosts = []

    def connect_to_loopback(request, **_):
        """`<bucket>.localhost` needs a resolver that knows it (nss-myhostname); send to
        127.0.0.1 with the Host the SDK chose."""
        url = urlsplit(request.url)
        hosts.append(url.netloc)
        if url.hostname != "127.0.0.1":
            request.headers["Host"] = url.netloc
            request.url = url._replace(netloc=f"127.0.0.1:{url.port}").geturl()

    c.meta.events.register("before-send.s3", connect_to_loopback)
    c.hosts = hosts
    return c


@pytest.fixture
def bucket(s3, request):
    name = "b-" + hashlib.md5(request.node.nodeid.encode()).hexdigest()[:16]
    s3.create_bucket(Bucket=name)
    return name


def test_addressing_style_is_the_one_botocore_chose(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    if s3.meta.endpoint_url.startswith("http://localhost"):
        assert s3.hosts[-1].startswith(f"{bucket}.localhost:")
    else:
        assert all(h.startswith("127.0.0.1:") for h in s3.hosts)


def test_put_get_head_delete(s3, bucket):
    body = b"hello world"
    put = s3.put_object(Bucket=bucket, Key="dir/a b+c é.txt", Body=body, ContentType="text/plain",
                        Metadata={"Owner": "me"}, CacheControl="max-age=60")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c é.txt")
    assert got["Body"].read() == body
    assert (got["ContentType"], got["Metadata"], got["CacheControl"]) == (
        "text/plain", {"owner": "me"}, "max-age=60")
    assert got["ETag"] == put["ETag"] and got["ContentLength"] == 11
    head = s3.head_object(Bucket=bucket, Key="dir/a b+c é.txt")
    assert head["ContentLength"] == 11 and head["ETag"] == put["ETag"]
    assert s3.delete_object(Bucket=bucket, Key="dir/a b+c é.txt")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    err = error(s3.get_object, Bucket=bucket, Key="dir/a b+c é.txt")
    assert (err["Code"], err["Message"], err["Key"]) == (
        "NoSuchKey", "The specified key does not exist.", "dir/a b+c é.txt")
    err = error(s3.head_object, Bucket=bucket, Key="nope")
    assert (err["Code"], err["Message"]) == ("404", "Not Found")  # HEAD: no body


def test_ranges_and_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    part = s3.get_object(Bucket=bucket, Key="k", Range="bytes=2-5")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert (part["Body"].read(), part["ContentRange"]) == (b"2345", "bytes 2-5/10")
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=7-")["Body"].read() == b"789"
    err = error(s3.get_object, Bucket=bucket, Key="k", Range="bytes=10-")
    assert (err["Code"], err["Message"]) == ("InvalidRange",
                                             "The requested range is not satisfiable")
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    assert error(s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=etag)["Code"] == "304"
    err = error(s3.get_object, Bucket=bucket, Key="k", IfMatch='"other"')
    assert (err["Code"], err["Condition"]) == ("PreconditionFailed", "If-Match")
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"0123456789"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert error(s3.get_object, Bucket=bucket, Key="k", IfModifiedSince=later)["Code"] == "304"
    err = error(s3.put_object, Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*")
    assert err["Code"] == "PreconditionFailed"


def test_list_objects_v2(s3, bucket):
    keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d e+f"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys)
    assert listed["KeyCount"] == 6 and listed["IsTruncated"] is False
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["c", "d e+f"]
    assert top["KeyCount"] == 4
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["a/1", "a/2"]
    assert inner["CommonPrefixes"] == [{"Prefix": "a/b/"}]
    seen, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2,
                                  **({"ContinuationToken": token} if token else {}))
        seen += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys)
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b/4")
    assert [o["Key"] for o in after["Contents"]] == ["c", "d e+f"]
    paginator = s3.get_paginator("list_objects_v2")
    assert sum(p["KeyCount"] for p in paginator.paginate(Bucket=bucket,
                                                         PaginationConfig={"PageSize": 4})) == 6


def test_copy_and_delete_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"data").hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="dst")["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"b": "2"}
    err = error(s3.copy_object, Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert err["Code"] == "InvalidRequest"
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "src"}, {"Key": "dst"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["dst", "never", "src"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart_upload(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="a/b")
    first = os.urandom(5 * 1024 * 1024)
    parts = []
    for number, data in ((1, first), (2, b"tail")):
        etag = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload["UploadId"],
                              PartNumber=number, Body=data)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload["UploadId"])
    assert [p["Size"] for p in listed["Parts"]] == [len(first), 4]
    err = error(s3.complete_multipart_upload, Bucket=bucket, Key="big",
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [parts[1], parts[0]]})
    assert err["Code"] == "InvalidPartOrder"
    err = error(s3.complete_multipart_upload, Bucket=bucket, Key="big",
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0"'}]})
    assert err["Code"] == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})
    digests = hashlib.md5(first).digest() + hashlib.md5(b"tail").digest()
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-2"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == first + b"tail" and got["ContentType"] == "a/b"
    err = error(s3.list_parts, Bucket=bucket, Key="big", UploadId=upload["UploadId"])
    assert err["Code"] == "NoSuchUpload"
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")
    etags = [s3.upload_part(Bucket=bucket, Key="small", UploadId=small["UploadId"],
                            PartNumber=n, Body=b"x")["ETag"] for n in (1, 2)]
    err = error(s3.complete_multipart_upload, Bucket=bucket, Key="small",
                UploadId=small["UploadId"], MultipartUpload={"Parts": [
                    {"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]})
    assert err["Code"] == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small["UploadId"])
    assert error(s3.abort_multipart_upload, Bucket=bucket, Key="small",
                 UploadId=small["UploadId"])["Code"] == "NoSuchUpload"


def test_bucket_errors(server):
    s3 = client(server)
    err = error(s3.create_bucket, Bucket="Bad_Name")
    assert (err["Code"], err["Message"], err["BucketName"]) == (
        "InvalidBucketName", "The specified bucket is not valid.", "Bad_Name")
    err = error(s3.head_bucket, Bucket="no-such-bucket-here")
    assert err["Code"] == "404"
    err = error(s3.list_objects_v2, Bucket="no-such-bucket-here")
    assert (err["Code"], err["Message"]) == ("NoSuchBucket", "The specified bucket does not exist")
    s3.create_bucket(Bucket="full-bucket")
    assert s3.create_bucket(Bucket="full-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.put_object(Bucket="full-bucket", Key="k", Body=b"")
    err = error(s3.delete_bucket, Bucket="full-bucket")
    assert (err["Code"], err["Message"]) == ("BucketNotEmpty",
                                             "The bucket you tried to delete is not empty")
    s3.delete_object(Bucket="full-bucket", Key="k")
    s3.delete_bucket(Bucket="full-bucket")
    assert "full-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    err = error(s3.create_bucket, Bucket="east-bucket",
                CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert err["Code"] == "InvalidLocationConstraint"


def test_location_constraints(server):
    west = client(server, region="us-west-2")
    err = error(west.create_bucket, Bucket="west-no-constraint")
    assert (err["Code"], err["Message"]) == (
        "IllegalLocationConstraintException",
        ("The unspecified location constraint is incompatible for the region specific endpoint "
        "this request was sent to."))
    err = error(west.create_bucket, Bucket="west-wrong",
                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert err["Message"] == ("The eu-west-1 location constraint is incompatible for the region "
                              "specific endpoint this request was sent to.")
    west.create_bucket(Bucket="west-ok", CreateBucketConfiguration={
        "LocationConstraint": "us-west-2"})
    assert west.get_bucket_location(Bucket="west-ok")["LocationConstraint"] == "us-west-2"
    assert west.head_bucket(Bucket="west-ok")["BucketRegion"] == "us-west-2"
    err = error(west.create_bucket, Bucket="west-ok",
                CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert err["Code"] == "BucketAlreadyOwnedByYou"
    assert client(server).get_bucket_location(Bucket="west-ok")["LocationConstraint"] == \
        "us-west-2"
    east = client(server)
    east.create_bucket(Bucket="east-default")
    assert east.get_bucket_location(Bucket="east-default")["LocationConstraint"] is None


def test_aws_chunked_upload_with_trailer(server):
    """What botocore sends over TLS by default: aws-chunked, unsigned, a CRC32 trailer."""
    client(server).create_bucket(Bucket="chunked")
    data = b"chunked body " * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = b"".join(f"{len(data[i:i + 4096]):x}\r\n".encode() + data[i:i + 4096] + b"\r\n"
                    for i in range(0, len(data), 4096))
    body += f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("PUT", "/chunked/obj", body=body, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host, Signature=0",
        "Content-Encoding": "aws-chunked", "x-amz-content-sha256":
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data))})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.getheader("x-amz-checksum-crc32") == crc
    assert response.getheader("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    got = client(server).get_object(Bucket="chunked", Key="obj", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumCRC32"] == crc
    assert "ContentEncoding" not in got
    bad = body.replace(crc.encode(), b"AAAAAA==")
    conn.request("PUT", "/chunked/bad", body=bad, headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host, Signature=0",
        "Content-Encoding": "aws-chunked", "x-amz-content-sha256":
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32"})
    response = conn.getresponse()
    assert response.status == 400 and b"<Code>BadDigest</Code>" in response.read()


@pytest.mark.parametrize("checksums", ["when_supported", "when_required"])
def test_gzip_content_encoding_is_the_objects_own(server, checksums):
    """Content-Encoding: gzip on PutObject labels the object's bytes; S3 stores them as sent
    (only CloudWatch's PutMetricData bodies are compressed by the client for the wire)."""
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(request_checksum_calculation=checksums))
    s3.create_bucket(Bucket="gzip-objects")
    data = gzip.compress(b"compressed by the user " * 100)
    s3.put_object(Bucket="gzip-objects", Key=checksums, Body=data, ContentEncoding="gzip")
    got = s3.get_object(Bucket="gzip-objects", Key=checksums)
    assert got["Body"].read() == data
    assert got["ContentEncoding"] == "gzip" and got["ContentLength"] == len(data)


def test_content_md5_is_checked(server):
    s3 = client(server)
    s3.create_bucket(Bucket="md5-bucket")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    err = error(s3.put_object, Bucket="md5-bucket", Key="k", Body=b"data", ContentMD5=wrong)
    assert (err["Code"], err["Message"]) == (
        "BadDigest", "The Content-MD5 you specified did not match what we received.")


def test_aws_cli(server, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # > 8 MB: the CLI uploads it in parts
    proc = server.aws("s3", "mb", "s3://cli-bucket", check=False)
    assert proc.returncode == 0, proc.stderr
    for path in (small, big):
        proc = server.aws("s3", "cp", str(path), f"s3://cli-bucket/in/{path.name}", check=False)
        assert proc.returncode == 0, proc.stderr
    proc = server.aws("s3", "ls", "s3://cli-bucket/in/", check=False)
    assert "small.txt" in proc.stdout and "big.bin" in proc.stdout
    head = server.aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "in/big.bin")
    assert head["ETag"].endswith('-2"') and head["ContentLength"] == 9 * 1024 * 1024
    out = tmp_path / "back.bin"
    proc = server.aws("s3", "cp", "s3://cli-bucket/in/big.bin", str(out), check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == big.read_bytes()
    listed = server.aws("s3api", "list-objects-v2", "--bucket", "cli-bucket", "--prefix", "in/")
    assert [o["Key"] for o in listed["Contents"]] == ["in/big.bin", "in/small.txt"]
    proc = server.aws("s3", "rm", "s3://cli-bucket", "--recursive", check=False)
    assert proc.returncode == 0, proc.stderr
    proc = server.aws("s3", "rb", "s3://cli-bucket", check=False)
    assert proc.returncode == 0, proc.stderr
    proc = server.aws("s3api", "get-object", "--bucket", "cli-bucket", "--key", "x",
                      str(tmp_path / "x"), check=False)
    assert proc.returncode != 0 and "NoSuchBucket" in proc.stderr


def test_objects_survive_a_restart(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        s3 = client(srv)
        s3.create_bucket(Bucket="durable")
        s3.put_object(Bucket="durable", Key="k", Body=b"persisted", Metadata={"m": "v"})
        s3.put_object(Bucket="durable", Key="gone", Body=b"x")
        s3.delete_object(Bucket="durable", Key="gone")
        srv.stop(sig=9)
        srv.start()
        got = s3.get_object(Bucket="durable", Key="k")
        assert (got["Body"].read(), got["Metadata"]) == (b"persisted", {"m": "v"})
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="durable")["Contents"]] == ["k"]
        files = os.listdir(tmp_path / "data" / "s3" / "objects")
        assert len(files) == 1  # the deleted object's body is gone too
    finally:
        srv.stop()


def test_health_lists_s3_and_dynamodb(server):
    import json
    import urllib.request

    with urllib.request.urlopen(server.endpoint + "/_vpclocal/health") as response:
        services = json.load(response)["services"]
    assert "s3" in services and "dynamodb" in services


def test_unknown_key_on_missing_bucket(server):
    with pytest.raises(ClientError) as exc:
        client(server).get_object(Bucket="missing-bucket-x", Key="k")
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"


def test_operation_not_served_is_not_implemented(server):
    s3 = client(server)
    s3.create_bucket(Bucket="no-website")
    err = error(s3.get_bucket_website, Bucket="no-website")
    assert err["Code"] == "NotImplemented"
