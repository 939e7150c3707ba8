"""The S3 provider: buckets, objects, listing, copies and multipart uploads.

Buckets are one global namespace (records in scope "global", each naming its region); objects
of a bucket are records of their own kind (`s3_objects/<bucket>`, keyed by object key) whose
bodies are files of the BodyStore. Parts of a multipart upload are records of
`s3_parts/<upload id>` and files likewise.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import secrets
from urllib.parse import parse_qsl, quote, unquote

import botocore.session

from vpclocal.errors import ServiceError
from vpclocal.protocols.base import now_iso, to_datetime
from vpclocal.services.base import Provider, RequestContext
from vpclocal.services.s3 import errors
from vpclocal.services.s3.policy import BUCKETS, SCOPE, BucketPolicyOperations
from vpclocal.services.s3.storage import ALGORITHMS, BodyStore, checksum, composite, md5_hex

UPLOADS = "s3_uploads"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_KEYS = 1000
# What an object keeps of the PutObject/CreateMultipartUpload request and answers in
# GetObject/HeadObject.
STORED_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                  "ContentLanguage", "Expires", "WebsiteRedirectLocation", "StorageClass")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
# AWS's default encryption of every new object since January 2023 (SSE-S3)
DEFAULT_ENCRYPTION = {"ServerSideEncryption": "AES256"}
# How long a completed multipart upload answers a repeated CompleteMultipartUpload with its
# result (AWS does not say how long; a retry comes within seconds)
COMPLETED_KEPT = dt.timedelta(minutes=10)


def objects_kind(bucket: str) -> str:
    return f"s3_objects/{bucket}"


def parts_kind(upload_id: str) -> str:
    return f"s3_parts/{upload_id}"


def valid_bucket_name(name: str) -> bool:
    return bool(_BUCKET_NAME.match(name)) and ".." not in name and not _IP.match(name) \
        and not name.startswith("xn--") and not name.endswith("-s3alias") \
        and ".-" not in name and "-." not in name


def _partitions() -> dict[str, frozenset[str]]:
    """S3's regions, by partition (aws, aws-cn, aws-us-gov...)."""
    session = botocore.session.get_session()
    return {partition: frozenset(session.get_available_regions("s3", partition))
            for partition in session.get_available_partitions()}


def _etag(value: str) -> str:
    return value if value.startswith('"') else f'"{value}"'


def _etag_matches(header: str, etag: str) -> bool:
    return any(tag.strip() in ("*", etag, etag.strip('"')) for tag in header.split(","))


def _check_write_conditions(existing: dict | None, p: dict, key: str) -> None:
    """If-None-Match / If-Match of a write (PutObject, CompleteMultipartUpload) or a delete,
    against the object now at the key."""
    if p.get("IfNoneMatch") is not None and existing is not None:
        raise errors.precondition_failed("If-None-Match")
    if p.get("IfMatch") is not None:
        if existing is None:
            raise errors.no_such_key(key)
        if not _etag_matches(p["IfMatch"], existing["ETag"]):
            raise errors.precondition_failed("If-Match")


def _recent(upload: dict) -> bool:
    """Whether a completed upload still answers a repeated CompleteMultipartUpload."""
    completed = to_datetime(upload["CompletedAt"])
    return dt.datetime.now(dt.UTC) - completed < COMPLETED_KEPT


def _stored_encryption(record: dict) -> dict:
    """The encryption an upload (or object) was given; S3's default for one stored before
    vpclocal kept it."""
    return {k: record[k] for k in ("ServerSideEncryption", "SSEKMSKeyId") if k in record} \
        or dict(DEFAULT_ENCRYPTION)


def _check_tagging(header: str | None) -> None:
    """The x-amz-tagging header (`k1=v1&k2=v2`, URL-encoded) of a write: S3 keeps the `aws:`
    prefix for its own tags."""
    for key, _ in parse_qsl(header or "", keep_blank_values=True):
        if key.startswith("aws:"):
            raise errors.invalid_tag("Your TagKey cannot be prefixed with aws:", key)


def _encryption(p: dict) -> dict:
    """What a new object is encrypted with: the request's x-amz-server-side-encryption (and
    KMS key), else S3's default SSE-S3."""
    if not p.get("ServerSideEncryption"):
        return dict(DEFAULT_ENCRYPTION)
    out = {"ServerSideEncryption": p["ServerSideEncryption"]}
    if p.get("SSEKMSKeyId"):
        out["SSEKMSKeyId"] = p["SSEKMSKeyId"]
    return out


class S3Provider(BucketPolicyOperations, Provider):
    service_name = "s3"
    global_scope = True
    signed_only = True

    def __init__(self, app) -> None:
        super().__init__(app)
        self.bodies = BodyStore(app.config.data_dir / "s3")
        self.partitions = _partitions()
        self.regions = frozenset().union(*self.partitions.values())

    async def start(self) -> None:
        view = self.app.store.view(SCOPE)
        referenced = set()
        for bucket in view.all(BUCKETS):
            referenced.update(o["File"] for o in view.values(objects_kind(bucket)))
        for upload_id in view.all(UPLOADS):
            referenced.update(p["File"] for p in view.values(parts_kind(upload_id)))
        self.bodies.sweep(referenced)

    # ---- helpers ----------------------------------------------------------------------------

    def owner(self, ctx: RequestContext) -> dict:
        return {"DisplayName": "vpclocal",
                "ID": hashlib.sha256(ctx.account_id.encode()).hexdigest()}

    def bucket(self, ctx: RequestContext, name: str) -> dict:
        bucket = ctx.tx.get(BUCKETS, name)
        if bucket is None:
            raise errors.no_such_bucket(name)
        return bucket

    def object(self, ctx: RequestContext, bucket: str, key: str) -> dict:
        self.bucket(ctx, bucket)
        obj = ctx.tx.get(objects_kind(bucket), key)
        if obj is None:
            raise errors.no_such_key(key)
        return obj

    def discard_after_commit(self, ctx: RequestContext, *names: str | None) -> None:
        for name in names:
            if name:
                ctx.tx.after_commit(lambda n=name: self.bodies.remove(n))

    def _verify(self, p: dict, data: bytes) -> dict:
        """Check Content-MD5 and x-amz-checksum-* against the body; the checksums to keep."""
        if p.get("ContentMD5"):
            try:
                sent = base64.b64decode(p["ContentMD5"], validate=True)
            except (binascii.Error, ValueError):
                sent = b""
            if len(sent) != 16:
                raise ServiceError("The Content-MD5 you specified was invalid.",
                                   code="InvalidDigest")
            if sent != hashlib.md5(data).digest():
                raise errors.bad_digest("MD5")
        kept = {}
        for algorithm in ALGORITHMS:
            sent = p.get(f"Checksum{algorithm}")
            if sent is None:
                continue
            computed = checksum(algorithm, data)
            if computed is not None and computed != sent:
                raise errors.bad_digest(algorithm)
            kept[f"Checksum{algorithm}"] = sent
        return kept

    def _store_object(self, ctx: RequestContext, bucket: str, key: str, record: dict) -> dict:
        kind = objects_kind(bucket)
        old = ctx.tx.get(kind, key)
        ctx.tx.put(kind, key, record)
        self.discard_after_commit(ctx, old and old["File"])
        return record

    @staticmethod
    def _attributes(p: dict) -> dict:
        _check_tagging(p.get("Tagging"))
        out = {name: p[name] for name in STORED_HEADERS if p.get(name) is not None}
        if "Expires" in out:
            out["Expires"] = to_datetime(out["Expires"]).isoformat()
        out.setdefault("ContentType", "binary/octet-stream")
        out["Metadata"] = {k.lower(): v for k, v in (p.get("Metadata") or {}).items()}
        return out

    # ---- buckets ----------------------------------------------------------------------------

    def create_bucket(self, ctx, p):
        name = p["Bucket"]
        if not valid_bucket_name(name):
            raise errors.invalid_bucket_name(name)
        constraint = (p.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        region = ctx.region
        if constraint == "EU":
            constraint = "eu-west-1"
        if constraint and constraint in self.regions and \
                not any({constraint, ctx.region} <= regions for regions in self.partitions.values()):
            # a region of another partition (cn-north-1 asked of us-east-1)
            raise ServiceError(f"The {constraint} location constraint is incompatible for the "
                               "region specific endpoint this request was sent to.",
                               code="IllegalLocationConstraintException")
        if ctx.region == "us-east-1":
            # the global endpoint: no constraint means us-east-1, which may not be named
            if constraint == "us-east-1" or (constraint and constraint not in self.regions):
                raise ServiceError("The specified location-constraint is not valid",
                                   code="InvalidLocationConstraint",
                                   LocationConstraint=constraint)
            region = constraint or "us-east-1"
        elif constraint is None:
            raise ServiceError(errors.UNSPECIFIED, code="IllegalLocationConstraintException")
        elif constraint != ctx.region:
            if constraint not in self.regions:
                raise ServiceError("The specified location-constraint is not valid",
                                   code="InvalidLocationConstraint",
                                   LocationConstraint=constraint)
            raise ServiceError(f"The {constraint} location constraint is incompatible for the "
                               "region specific endpoint this request was sent to.",
                               code="IllegalLocationConstraintException")
        existing = ctx.tx.get(BUCKETS, name)
        if existing is not None:
            if existing["Region"] == "us-east-1" and region == "us-east-1":
                return {"Location": f"/{name}"}  # legacy: 200 OK for your own bucket
            raise errors.already_owned(name)
        ctx.tx.put(BUCKETS, name, {"Name": name, "CreationDate": now_iso(), "Region": region})
        location = f"/{name}" if region == "us-east-1" else \
            f"http://{name}.s3.{region}.amazonaws.com/"
        return {"Location": location, "BucketArn": f"arn:aws:s3:::{name}"}

    def head_bucket(self, ctx, p):
        bucket = self.bucket(ctx, p["Bucket"])
        return {"BucketRegion": bucket["Region"], "AccessPointAlias": False}

    def get_bucket_location(self, ctx, p):
        region = self.bucket(ctx, p["Bucket"])["Region"]
        return {"LocationConstraint": None if region == "us-east-1" else region}

    def delete_bucket(self, ctx, p):
        name = p["Bucket"]
        self.bucket(ctx, name)
        if ctx.tx.all(objects_kind(name)):
            raise errors.not_empty(name)
        for upload_id, upload in list(ctx.tx.all(UPLOADS).items()):
            if upload["Bucket"] == name:
                self._drop_upload(ctx, upload_id)
        ctx.tx.delete(BUCKETS, name)
        return {}

    def list_buckets(self, ctx, p):
        buckets = sorted(ctx.tx.values(BUCKETS), key=lambda b: b["Name"])
        if p.get("Prefix"):
            buckets = [b for b in buckets if b["Name"].startswith(p["Prefix"])]
        if p.get("BucketRegion"):
            buckets = [b for b in buckets if b["Region"] == p["BucketRegion"]]
        if p.get("ContinuationToken"):
            buckets = [b for b in buckets if b["Name"] > p["ContinuationToken"]]
        out = {"Owner": self.owner(ctx)}
        limit = p.get("MaxBuckets")
        if limit is not None and len(buckets) > limit:
            buckets = buckets[:limit]
            out["ContinuationToken"] = buckets[-1]["Name"]
        out["Buckets"] = [{"Name": b["Name"], "CreationDate": b["CreationDate"],
                           "BucketRegion": b["Region"],
                           "BucketArn": f"arn:aws:s3:::{b['Name']}"} for b in buckets]
        if p.get("Prefix") is not None:
            out["Prefix"] = p["Prefix"]
        return out

    # ---- objects ----------------------------------------------------------------------------

    def put_object(self, ctx, p):
        bucket, key = p["Bucket"], p["Key"]
        self.bucket(ctx, bucket)
        _check_write_conditions(ctx.tx.get(objects_kind(bucket), key), p, key)
        data = p.get("Body") or b""
        sums = self._verify(p, data)
        etag = f'"{md5_hex(data)}"'
        attributes = self._attributes(p)
        record = {"Key": key, "Size": len(data), "ETag": etag, "LastModified": now_iso(),
                  "File": self.bodies.write(data), **attributes, **_encryption(p), **sums}
        if sums:
            record["ChecksumType"] = "FULL_OBJECT"
        self._store_object(ctx, bucket, key, record)
        return {"ETag": etag, **_encryption(p), **sums,
                **({"ChecksumType": "FULL_OBJECT"} if sums else {})}

    def _read_headers(self, obj: dict, p: dict) -> dict:
        out = {"ETag": obj["ETag"], "LastModified": obj["LastModified"],
               "ContentLength": obj["Size"], "AcceptRanges": "bytes",
               # objects stored before vpclocal kept their encryption had S3's default
               **{k: obj[k] for k in ("ServerSideEncryption", "SSEKMSKeyId") if k in obj}}
        out.setdefault("ServerSideEncryption", DEFAULT_ENCRYPTION["ServerSideEncryption"])
        for name in STORED_HEADERS:
            if obj.get(name) is not None:
                out[name] = obj[name]
        if obj.get("StorageClass") == "STANDARD":
            del out["StorageClass"]  # S3 leaves out the default class
        if obj.get("Metadata"):
            out["Metadata"] = obj["Metadata"]
        if obj.get("PartsCount") and p.get("PartNumber"):
            out["PartsCount"] = obj["PartsCount"]
        if p.get("ChecksumMode") == "ENABLED":
            for algorithm in ALGORITHMS:
                if obj.get(f"Checksum{algorithm}"):
                    out[f"Checksum{algorithm}"] = obj[f"Checksum{algorithm}"]
                    out["ChecksumType"] = obj.get("ChecksumType", "FULL_OBJECT")
        for name, header in (("ResponseContentType", "ContentType"),
                             ("ResponseCacheControl", "CacheControl"),
                             ("ResponseContentDisposition", "ContentDisposition"),
                             ("ResponseContentEncoding", "ContentEncoding"),
                             ("ResponseContentLanguage", "ContentLanguage"),
                             ("ResponseExpires", "Expires")):
            if p.get(name) is not None:
                out[header] = p[name]
        return out

    @staticmethod
    def _check_conditions(obj: dict, p: dict) -> None:
        """If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304),
        with HTTP's precedence."""
        modified = to_datetime(obj["LastModified"]).replace(microsecond=0)
        if p.get("IfMatch") is not None:
            if not _etag_matches(p["IfMatch"], obj["ETag"]):
                raise errors.precondition_failed("If-Match")
        elif p.get("IfUnmodifiedSince") is not None and \
                modified > to_datetime(p["IfUnmodifiedSince"]):
            raise errors.precondition_failed("If-Unmodified-Since")
        if p.get("IfNoneMatch") is not None:
            if _etag_matches(p["IfNoneMatch"], obj["ETag"]):
                raise errors.not_modified(obj)
        elif p.get("IfModifiedSince") is not None and \
                modified <= to_datetime(p["IfModifiedSince"]):
            raise errors.not_modified(obj)

    @staticmethod
    def _range(spec: str | None, size: int) -> tuple[int, int] | None:
        """The inclusive byte range a Range header asks for; None for the whole object (no
        header, or one S3 ignores); InvalidRange when it cannot be satisfied."""
        if not spec:
            return None
        found = _RANGE.match(spec.strip().replace(" ", ""))
        if found is None or found.group(1) == found.group(2) == "":
            return None
        first, last = found.groups()
        if first == "":
            length = int(last)
            if length == 0 or size == 0:
                raise errors.invalid_range(spec, size)
            return max(size - length, 0), size - 1
        start = int(first)
        end = size - 1 if last == "" else min(int(last), size - 1)
        if last != "" and int(last) < start:
            return None
        if start >= size:
            raise errors.invalid_range(spec, size)
        return start, end

    def _part_range(self, ctx, bucket: str, obj: dict, number: int) -> tuple[int, int]:
        sizes = obj.get("PartSizes") or [obj["Size"]]
        if not 1 <= number <= len(sizes):
            raise errors.invalid_range(f"partNumber={number}", obj["Size"])  # wording unknown
        start = sum(sizes[:number - 1])
        return start, start + sizes[number - 1] - 1

    def get_object(self, ctx, p):
        obj = self.object(ctx, p["Bucket"], p["Key"])
        self._check_conditions(obj, p)
        out = self._read_headers(obj, p)
        size = obj["Size"]
        span = self._part_range(ctx, p["Bucket"], obj, p["PartNumber"]) \
            if p.get("PartNumber") else self._range(p.get("Range"), size)
        if span is None:
            out["Body"] = self.bodies.read(obj["File"])
            return out
        start, end = span
        for name in [k for k in out if k.startswith("Checksum")]:
            del out[name]  # a part of an object has no checksum of its own
        out.update(Body=self.bodies.read(obj["File"], start, end),
                   ContentRange=f"bytes {start}-{end}/{size}",
                   ContentLength=end - start + 1, _status=206)
        return out

    def head_object(self, ctx, p):
        obj = self.object(ctx, p["Bucket"], p["Key"])
        self._check_conditions(obj, p)
        out = self._read_headers(obj, p)
        span = self._part_range(ctx, p["Bucket"], obj, p["PartNumber"]) \
            if p.get("PartNumber") else self._range(p.get("Range"), obj["Size"])
        if span is not None:
            start, end = span
            out.update(ContentRange=f"bytes {start}-{end}/{obj['Size']}",
                       ContentLength=end - start + 1, _status=206)
        return out

    def delete_object(self, ctx, p):
        bucket, key = p["Bucket"], p["Key"]
        self.bucket(ctx, bucket)
        old = ctx.tx.get(objects_kind(bucket), key)
        _check_write_conditions(old, p, key)
        if old is not None:
            ctx.tx.delete(objects_kind(bucket), key)
            self.discard_after_commit(ctx, old["File"])
        return {}

    def delete_objects(self, ctx, p):
        bucket = p["Bucket"]
        self.bucket(ctx, bucket)
        request = p.get("Delete") or {}
        entries = request.get("Objects") or []
        if not entries or len(entries) > 1000:
            raise errors.malformed_xml()
        deleted = []
        for entry in entries:
            key = entry.get("Key")
            if key is None:
                raise errors.malformed_xml()
            old = ctx.tx.get(objects_kind(bucket), key)
            if old is not None:
                ctx.tx.delete(objects_kind(bucket), key)
                self.discard_after_commit(ctx, old["File"])
            deleted.append({"Key": key})
        return {} if request.get("Quiet") else {"Deleted": deleted}

    def copy_object(self, ctx, p):
        bucket, key = p["Bucket"], p["Key"]
        self.bucket(ctx, bucket)
        src_bucket, src_key = self._copy_source(p["CopySource"])
        source = self.object(ctx, src_bucket, src_key)
        self._check_copy_conditions(source, p)
        directive = p.get("MetadataDirective") or "COPY"
        if directive not in ("COPY", "REPLACE"):
            raise errors.invalid_argument("Unknown metadata directive.",
                                          "x-amz-metadata-directive", directive)
        if (src_bucket, src_key) == (bucket, key) and directive == "COPY" and \
                not p.get("StorageClass") and not p.get("WebsiteRedirectLocation") and \
                not p.get("ServerSideEncryption"):
            raise ServiceError(errors.COPY_TO_ITSELF, code="InvalidRequest")
        _check_write_conditions(ctx.tx.get(objects_kind(bucket), key), p, key)
        _check_tagging(p.get("Tagging"))
        record = {k: v for k, v in source.items() if k not in (
            "File", "LastModified", "ServerSideEncryption", "SSEKMSKeyId")}
        if directive == "REPLACE":
            for name in (*STORED_HEADERS, "Metadata"):
                record.pop(name, None)
            record.update(self._attributes(p))
        # the copy is a new object: of the class and encryption the request names, or S3's
        # defaults (STANDARD, SSE-S3), whatever the source's
        record["StorageClass"] = p.get("StorageClass") or "STANDARD"
        record.update(_encryption(p))
        name = self.bodies.copy(source["File"])
        algorithm = p.get("ChecksumAlgorithm")
        if algorithm:
            value = checksum(algorithm, self.bodies.read(name))
            for other in ALGORITHMS:
                record.pop(f"Checksum{other}", None)
            record.pop("ChecksumType", None)
            if value:
                record.update({f"Checksum{algorithm}": value, "ChecksumType": "FULL_OBJECT"})
        record.update(Key=key, LastModified=now_iso(), File=name)
        self._store_object(ctx, bucket, key, record)
        result = {"ETag": record["ETag"], "LastModified": record["LastModified"]}
        for algorithm in ALGORITHMS:
            if record.get(f"Checksum{algorithm}"):
                result[f"Checksum{algorithm}"] = record[f"Checksum{algorithm}"]
                result["ChecksumType"] = record.get("ChecksumType", "FULL_OBJECT")
        return {"CopyObjectResult": result, **_encryption(p)}

    @staticmethod
    def _copy_source(value: str) -> tuple[str, str]:
        source = unquote(value.partition("?")[0]).lstrip("/")
        bucket, _, key = source.partition("/")
        if not bucket or not key:
            raise errors.invalid_argument("Invalid copy source object key", "x-amz-copy-source",
                                          value)
        return bucket, key

    @staticmethod
    def _check_copy_conditions(source: dict, p: dict) -> None:
        conditions = {f"If{k}": p[f"CopySourceIf{k}"] for k in
                      ("Match", "NoneMatch", "ModifiedSince", "UnmodifiedSince")
                      if p.get(f"CopySourceIf{k}") is not None}
        try:
            S3Provider._check_conditions(source, conditions)
        except ServiceError as exc:
            if exc.status == 304:  # a copy answers 412 where a read answers 304
                raise errors.precondition_failed(
                    "x-amz-copy-source-If-None-Match" if "IfNoneMatch" in conditions
                    else "x-amz-copy-source-If-Modified-Since") from None
            raise errors.precondition_failed(
                "x-amz-copy-source-If-Match" if "IfMatch" in conditions
                else "x-amz-copy-source-If-Unmodified-Since") from None

    # ---- listing ----------------------------------------------------------------------------

    def _listing(self, ctx, p: dict, after: str | None) -> tuple[list, list, bool, str | None]:
        """(contents, common prefixes, truncated, last key or prefix returned)."""
        bucket = p["Bucket"]
        self.bucket(ctx, bucket)
        objects = ctx.tx.all(objects_kind(bucket))
        prefix = p.get("Prefix") or ""
        delimiter = p.get("Delimiter") or ""
        limit = MAX_KEYS if p.get("MaxKeys") is None else min(p["MaxKeys"], MAX_KEYS)
        if limit < 0:
            raise errors.invalid_argument("Argument maxKeys must be an integer between 0 and "
                                          "2147483647", "maxKeys", p["MaxKeys"])
        contents: list[dict] = []
        prefixes: list[str] = []
        last = None
        for key in sorted(objects):
            if not key.startswith(prefix) or (after is not None and key <= after):
                continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    if prefixes and prefixes[-1] == common:
                        continue
                    if after is not None and common <= after:
                        continue
                    if len(contents) + len(prefixes) >= limit:
                        return contents, prefixes, True, last
                    prefixes.append(common)
                    last = common
                    continue
            if len(contents) + len(prefixes) >= limit:
                return contents, prefixes, True, last
            contents.append(objects[key])
            last = key
        return contents, prefixes, False, last

    def _entries(self, ctx, p: dict, contents: list, prefixes: list, owner: bool) -> dict:
        encode = (lambda s: quote(s, safe="/")) if p.get("EncodingType") == "url" else \
            (lambda s: s)
        out = {"Contents": [], "CommonPrefixes": [{"Prefix": encode(c)} for c in prefixes]}
        for obj in contents:
            entry = {"Key": encode(obj["Key"]), "LastModified": obj["LastModified"],
                     "ETag": obj["ETag"], "Size": obj["Size"],
                     "StorageClass": obj.get("StorageClass") or "STANDARD"}
            algorithms = [a for a in ALGORITHMS if obj.get(f"Checksum{a}")]
            if algorithms:
                entry["ChecksumAlgorithm"] = algorithms
                entry["ChecksumType"] = obj.get("ChecksumType", "FULL_OBJECT")
            if owner:
                entry["Owner"] = self.owner(ctx)
            out["Contents"].append(entry)
        if not out["Contents"]:
            del out["Contents"]
        if not out["CommonPrefixes"]:
            del out["CommonPrefixes"]
        for name in ("Prefix", "Delimiter"):
            if p.get(name) is not None:
                out[name] = encode(p[name])
        out["Prefix"] = out.get("Prefix", "")
        if p.get("EncodingType"):
            out["EncodingType"] = p["EncodingType"]
        return out

    def list_objects_v2(self, ctx, p):
        after = p.get("StartAfter")
        if p.get("ContinuationToken") is not None:
            try:
                after = base64.urlsafe_b64decode(p["ContinuationToken"].encode()).decode()
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise errors.invalid_argument("The continuation token provided is incorrect",
                                              "continuation-token",
                                              p["ContinuationToken"]) from None
        contents, prefixes, truncated, last = self._listing(ctx, p, after)
        out = self._entries(ctx, p, contents, prefixes, bool(p.get("FetchOwner")))
        out.update(Name=p["Bucket"], MaxKeys=MAX_KEYS if p.get("MaxKeys") is None
                   else p["MaxKeys"], KeyCount=len(contents) + len(prefixes),
                   IsTruncated=truncated)
        if p.get("ContinuationToken") is not None:
            out["ContinuationToken"] = p["ContinuationToken"]
        if p.get("StartAfter") is not None:
            out["StartAfter"] = out["StartAfter"] = (
                quote(p["StartAfter"], safe="/") if p.get("EncodingType") == "url"
                else p["StartAfter"])
        if truncated and last is not None:
            out["NextContinuationToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return out

    def list_objects(self, ctx, p):
        contents, prefixes, truncated, last = self._listing(ctx, p, p.get("Marker"))
        out = self._entries(ctx, p, contents, prefixes, True)
        out.update(Name=p["Bucket"], Marker=p.get("Marker") or "",
                   MaxKeys=MAX_KEYS if p.get("MaxKeys") is None else p["MaxKeys"],
                   IsTruncated=truncated)
        if truncated and p.get("Delimiter") and last is not None:
            out["NextMarker"] = last
        return out

    # ---- multipart uploads ------------------------------------------------------------------

    def create_multipart_upload(self, ctx, p):
        bucket, key = p["Bucket"], p["Key"]
        self.bucket(ctx, bucket)
        for old_id, old in list(ctx.tx.all(UPLOADS).items()):
            if "Completed" in old and not _recent(old):  # no longer answered: forgotten
                ctx.tx.delete(UPLOADS, old_id)
        upload_id = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        algorithm = p.get("ChecksumAlgorithm")
        record = {"UploadId": upload_id, "Bucket": bucket, "Key": key, "Initiated": now_iso(),
                  **self._attributes(p), **_encryption(p)}
        out = {"Bucket": bucket, "Key": key, "UploadId": upload_id, **_encryption(p)}
        if algorithm:
            record["ChecksumAlgorithm"] = algorithm
            record["ChecksumType"] = p.get("ChecksumType") or (
                "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE")
            out.update(ChecksumAlgorithm=algorithm, ChecksumType=record["ChecksumType"])
        ctx.tx.put(UPLOADS, upload_id, record)
        return out

    def upload(self, ctx, bucket: str, key: str, upload_id: str, *,
               completed: bool = False) -> dict:
        """An upload in progress; with `completed`, also one completed within COMPLETED_KEPT
        (its record then holds the CompleteMultipartUpload result as `Completed`)."""
        self.bucket(ctx, bucket)
        upload = ctx.tx.get(UPLOADS, upload_id)
        if upload is None or upload["Bucket"] != bucket or upload["Key"] != key or (
                "Completed" in upload and not (completed and _recent(upload))):
            raise errors.no_such_upload(upload_id)
        return upload

    def _part_of(self, ctx, p: dict) -> tuple[dict, int]:
        """UploadPart's and UploadPartCopy's target: (the upload, the part number)."""
        upload = self.upload(ctx, p["Bucket"], p["Key"], p["UploadId"])
        number = p["PartNumber"]
        if not 1 <= number <= 10000:
            raise errors.invalid_argument("Part number must be an integer between 1 and 10000, "
                                          "inclusive", "partNumber", number)
        return upload, number

    def upload_part(self, ctx, p):
        upload, number = self._part_of(ctx, p)
        data = p.get("Body") or b""
        sums = self._verify(p, data)
        algorithm = upload.get("ChecksumAlgorithm")
        if algorithm and f"Checksum{algorithm}" not in sums:
            value = checksum(algorithm, data)
            if value:
                sums[f"Checksum{algorithm}"] = value
        return {**self._put_part(ctx, upload["UploadId"], number, data,
                                 self.bodies.write(data), sums), **_stored_encryption(upload)}

    def _put_part(self, ctx, upload_id: str, number: int, data: bytes | None, name: str,
                  sums: dict, etag: str | None = None, size: int | None = None) -> dict:
        etag = etag or f'"{md5_hex(data)}"'
        kind = parts_kind(upload_id)
        old = ctx.tx.get(kind, str(number))
        ctx.tx.put(kind, str(number), {
            "PartNumber": number, "ETag": etag, "Size": len(data) if size is None else size,
            "LastModified": now_iso(), "File": name, **sums})
        self.discard_after_commit(ctx, old and old["File"])
        return {"ETag": etag, **sums}

    def upload_part_copy(self, ctx, p):
        upload, number = self._part_of(ctx, p)
        source = self.object(ctx, *self._copy_source(p["CopySource"]))
        self._check_copy_conditions(source, p)
        span = self._copy_range(p.get("CopySourceRange"), source["Size"])
        data = self.bodies.read(source["File"], *span) if span else \
            self.bodies.read(source["File"])
        result = self._put_part(ctx, upload["UploadId"], number, data, self.bodies.write(data),
                                {})
        part = ctx.tx.get(parts_kind(upload["UploadId"]), str(number))
        return {"CopyPartResult": {"ETag": result["ETag"], "LastModified": part["LastModified"]},
                **_stored_encryption(upload)}

    @staticmethod
    def _copy_range(spec: str | None, size: int) -> tuple[int, int] | None:
        """UploadPartCopy's x-amz-copy-source-range: `bytes=first-last`, both given, inside
        the source object."""
        if spec is None:
            return None
        found = _COPY_RANGE.match(spec)
        if found is None:
            raise errors.invalid_argument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last where "
                "first and last are the zero-based offsets of the first and last bytes to copy",
                "x-amz-copy-source-range", spec)
        first, last = int(found.group(1)), int(found.group(2))
        if first > last or last >= size:
            raise errors.invalid_argument(
                f"Range specified is not valid for source object of size: {size}",
                "x-amz-copy-source-range", spec)
        return first, last

    def list_parts(self, ctx, p):
        upload = self.upload(ctx, p["Bucket"], p["Key"], p["UploadId"])
        parts = sorted(ctx.tx.values(parts_kind(upload["UploadId"])),
                       key=lambda part: part["PartNumber"])
        marker = p.get("PartNumberMarker")
        if marker:
            parts = [part for part in parts if part["PartNumber"] > int(marker)]
        limit = p.get("MaxParts") or 1000
        truncated = len(parts) > limit
        parts = parts[:limit]
        out = {"Bucket": upload["Bucket"], "Key": upload["Key"], "UploadId": upload["UploadId"],
               "PartNumberMarker": marker or "0", "MaxParts": limit, "IsTruncated": truncated,
               "Initiator": {"ID": self.owner(ctx)["ID"],
                             "DisplayName": self.owner(ctx)["DisplayName"]},
               "Owner": self.owner(ctx),
               "StorageClass": upload.get("StorageClass") or "STANDARD",
               "Parts": [{k: v for k, v in part.items() if k != "File"} for part in parts]}
        if parts:
            out["NextPartNumberMarker"] = str(parts[-1]["PartNumber"])
        if upload.get("ChecksumAlgorithm"):
            out.update(ChecksumAlgorithm=upload["ChecksumAlgorithm"],
                       ChecksumType=upload["ChecksumType"])
        return out

    def list_multipart_uploads(self, ctx, p):
        bucket = p["Bucket"]
        self.bucket(ctx, bucket)
        prefix = p.get("Prefix") or ""
        uploads = sorted((u for u in ctx.tx.values(UPLOADS) if u["Bucket"] == bucket
                          and u["Key"].startswith(prefix) and "Completed" not in u),
                         key=lambda u: (u["Key"], u["Initiated"]))
        limit = p.get("MaxUploads") or 1000
        out = {"Bucket": bucket, "KeyMarker": p.get("KeyMarker") or "",
               "UploadIdMarker": p.get("UploadIdMarker") or "", "MaxUploads": limit,
               "IsTruncated": len(uploads) > limit, "Prefix": prefix,
               "Uploads": [{"UploadId": u["UploadId"], "Key": u["Key"],
                            "Initiated": u["Initiated"],
                            "StorageClass": u.get("StorageClass") or "STANDARD",
                            "Owner": self.owner(ctx), "Initiator": self.owner(ctx)}
                           for u in uploads[:limit]]}
        if not out["Uploads"]:
            del out["Uploads"]
        return out

    def _drop_upload(self, ctx, upload_id: str) -> None:
        kind = parts_kind(upload_id)
        for number, part in list(ctx.tx.all(kind).items()):
            ctx.tx.delete(kind, number)
            self.discard_after_commit(ctx, part["File"])
        ctx.tx.delete(UPLOADS, upload_id)

    def abort_multipart_upload(self, ctx, p):
        upload = self.upload(ctx, p["Bucket"], p["Key"], p["UploadId"])
        self._drop_upload(ctx, upload["UploadId"])
        return {}

    def complete_multipart_upload(self, ctx, p):
        bucket, key = p["Bucket"], p["Key"]
        upload = self.upload(ctx, bucket, key, p["UploadId"], completed=True)
        if "Completed" in upload:  # a retry: the same answer, as long as S3 keeps it
            return upload["Completed"]
        _check_write_conditions(ctx.tx.get(objects_kind(bucket), key), p, key)
        wanted = (p.get("MultipartUpload") or {}).get("Parts") or []
        if not wanted:
            raise ServiceError("You must specify at least one part", code="MalformedXML")
        stored = ctx.tx.all(parts_kind(upload["UploadId"]))
        chosen = []
        previous = 0
        for entry in wanted:
            number = entry.get("PartNumber")
            if number is None or number <= previous:
                raise ServiceError(errors.INVALID_PART_ORDER, code="InvalidPartOrder",
                                   UploadId=upload["UploadId"])
            previous = number
            part = stored.get(str(number))
            if part is None or _etag(entry.get("ETag") or "") != part["ETag"]:
                raise ServiceError(errors.INVALID_PART, code="InvalidPart",
                                   UploadId=upload["UploadId"], PartNumber=number,
                                   ETag=entry.get("ETag") or "")
            chosen.append(part)
        for part in chosen[:-1]:
            if part["Size"] < MIN_PART_SIZE:
                raise ServiceError(errors.TOO_SMALL, code="EntityTooSmall",
                                   ProposedSize=part["Size"], MinSizeAllowed=MIN_PART_SIZE,
                                   PartNumber=part["PartNumber"], ETag=part["ETag"])
        name, size, _ = self.bodies.join([part["File"] for part in chosen])
        digests = b"".join(binascii.unhexlify(part["ETag"].strip('"')) for part in chosen)
        etag = f'"{hashlib.md5(digests).hexdigest()}-{len(chosen)}"'
        record = {"Key": key, "Size": size, "ETag": etag, "LastModified": now_iso(),
                  "File": name, "PartsCount": len(chosen),
                  "PartSizes": [part["Size"] for part in chosen],
                  **{k: upload[k] for k in (*STORED_HEADERS, "Metadata") if k in upload},
                  **_stored_encryption(upload)}
        out = {"Location": f"http://{bucket}.s3.amazonaws.com/{quote(key)}", "Bucket": bucket,
               "Key": key, "ETag": etag, **_stored_encryption(upload)}
        algorithm = upload.get("ChecksumAlgorithm")
        if algorithm:
            member = f"Checksum{algorithm}"
            if upload["ChecksumType"] == "FULL_OBJECT":
                value = checksum(algorithm, self.bodies.read(name))
            else:
                values = [part.get(member) for part in chosen]
                value = composite(algorithm, values) if all(values) else None
            if value:
                record.update({member: value, "ChecksumType": upload["ChecksumType"]})
                out.update({member: value, "ChecksumType": upload["ChecksumType"]})
        self._store_object(ctx, bucket, key, record)
        self._drop_upload(ctx, upload["UploadId"])
        ctx.tx.put(UPLOADS, upload["UploadId"], {
            "UploadId": upload["UploadId"], "Bucket": bucket, "Key": key,
            "CompletedAt": now_iso(), "Completed": out})
        return out

    def get_bucket_versioning(self, ctx, p):
        self.bucket(ctx, p["Bucket"])
        return {}

    def get_bucket_tagging(self, ctx, p):
        bucket = self.bucket(ctx, p["Bucket"])
        if not bucket.get("Tags"):
            raise ServiceError("The TagSet does not exist", code="NoSuchTagSet", status=404,
                               BucketName=p["Bucket"])
        return {"TagSet": bucket["Tags"]}

    def put_bucket_tagging(self, ctx, p):
        self.bucket(ctx, p["Bucket"])
        ctx.tx.edit(BUCKETS, p["Bucket"])["Tags"] = p["Tagging"]["TagSet"]
        return {}

    def delete_bucket_tagging(self, ctx, p):
        self.bucket(ctx, p["Bucket"])
        ctx.tx.edit(BUCKETS, p["Bucket"]).pop("Tags", None)
        return {}

