"""Deployment packages: zips stored by content under <data dir>/lambda/code/<sha256 hex>.zip."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path

from vpclocal.services.lambda_.errors import lambda_error

CODE_SIZE_ZIPPED = 52_428_800       # 50 MB, a direct upload's limit
CODE_SIZE_UNZIPPED = 262_144_000    # 250 MB
TOTAL_CODE_SIZE = 80_530_636_800    # 75 GB per region
REQUEST_LIMIT = 69_905_067          # a request carrying a 50 MB zip in base64

# Where a field of the Code parameter names something vpclocal has no store for.
NOT_ZIP_FIELDS = ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")


def code_dir(app) -> Path:
    return Path(app.config.data_dir).resolve() / "lambda" / "code"


def check_code(code: dict, operation: str) -> bytes:
    """The zip bytes of a Code / UpdateFunctionCode parameter (only ZipFile is served)."""
    other = [f for f in NOT_ZIP_FIELDS if code.get(f)]
    if other or not code.get("ZipFile"):
        raise lambda_error("zip_only", what=", ".join(other) or "no ZipFile")
    blob = code["ZipFile"]
    if len(blob) > CODE_SIZE_ZIPPED:  # AWS counts the request, where the zip is base64
        raise lambda_error("request_too_large", limit=REQUEST_LIMIT, operation=operation)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            if sum(info.file_size for info in infos) >= CODE_SIZE_UNZIPPED:
                raise lambda_error("unzipped_size", limit=CODE_SIZE_UNZIPPED)
            # AWS unpacks a package when it is uploaded and refuses one it cannot unpack; so
            # does vpclocal, rather than at the first invoke: every member must read back
            # (its compression method known, not encrypted, its CRC right) and have a place
            # in the tree
            if archive.testzip() is not None or not _unpackable(infos):
                raise lambda_error("bad_zip")
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError,
            zlib.error):
        raise lambda_error("bad_zip") from None
    return blob


def _unpackable(infos: list[zipfile.ZipInfo]) -> bool:
    """Whether every member can be written where the runtime's extraction (zipfile's) puts it:
    no path both a file and a directory, no file without a name, no name longer than a file
    system allows. Like zipfile, '', '.' and '..' parts are dropped."""
    files, dirs = set(), set()
    for info in infos:
        parts = tuple(p for p in info.filename.split("/") if p not in ("", ".", ".."))
        if any(len(p.encode()) > 255 for p in parts) or not (parts or info.is_dir()):
            return False
        dirs.update(parts[:i] for i in range(1, len(parts)))
        (dirs if info.is_dir() else files).add(parts)
    return not files & dirs


def save_zip(app, blob: bytes) -> dict:
    """Store a zip (once per content) -> the record fields CodeSha256, CodeSize, _CodePath."""
    digest = hashlib.sha256(blob)
    directory = code_dir(app)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest.hexdigest()}.zip"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(blob)
        partial.replace(path)  # atomic: a reader never sees half a zip
    return {"CodeSha256": base64.b64encode(digest.digest()).decode(), "CodeSize": len(blob),
            "_CodePath": str(path)}


def code_location(app, record: dict) -> str:
    """Where GetFunction says the package can be downloaded (served by vpclocal)."""
    return f"{app.config.endpoint}/_vpclocal/lambda/code/{Path(record['_CodePath']).name}"


def prune(paths_in_use: set[str], candidates: set[str]) -> None:
    """Remove stored zips no function or version refers to any more."""
    for path in candidates - paths_in_use:
        Path(path).unlink(missing_ok=True)
