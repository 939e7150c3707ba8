"""Object bodies on disk: one file per object version or uploaded part, under the data directory.

A body is written to a temporary name and renamed into place (atomic), before the store record
naming it commits; the file an overwritten or deleted object leaves behind is removed after the
commit. A crash between the two leaves at worst an unreferenced file, swept at start.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import zlib
from pathlib import Path

CHUNK = 1 << 20


class BodyStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.objects / name

    def write(self, data: bytes) -> str:
        """Store a body; returns its file name."""
        name = secrets.token_hex(16)
        tmp = self.objects / f".{name}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.objects / name)
        return name

    def join(self, names: list[str]) -> tuple[str, int, hashlib._Hash]:
        """Concatenate stored bodies into a new one: (name, size, md5)."""
        name = secrets.token_hex(16)
        tmp = self.objects / f".{name}.tmp"
        size = 0
        md5 = hashlib.md5()
        with open(tmp, "wb") as out:
            for part in names:
                with open(self.objects / part, "rb") as src:
                    while block := src.read(CHUNK):
                        out.write(block)
                        md5.update(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.objects / name)
        return name, size, md5

    def copy(self, source: str) -> str:
        return self.join([source])[0]

    def read(self, name: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end] (inclusive) of a body, or all of it."""
        with open(self.objects / name, "rb") as src:
            src.seek(start)
            return src.read() if end is None else src.read(end - start + 1)

    def remove(self, name: str | None) -> None:
        if name:
            try:
                os.unlink(self.objects / name)
            except FileNotFoundError:
                pass

    def sweep(self, referenced: set[str]) -> int:
        """Remove files no record names (left by a crash); returns how many."""
        removed = 0
        for entry in os.scandir(self.objects):
            if entry.name not in referenced:
                os.unlink(entry.path)
                removed += 1
        return removed


# ---- checksums, as S3 names and encodes them ------------------------------------------------------


def _crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


# Algorithms computed here; others a client sends (CRC32C, CRC64NVME...) are kept as given.
DIGESTS = {
    "CRC32": _crc32,
    "SHA1": lambda data: hashlib.sha1(data).digest(),
    "SHA256": lambda data: hashlib.sha256(data).digest(),
}
ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def checksum(algorithm: str, data: bytes) -> str | None:
    fn = DIGESTS.get(algorithm)
    return base64.b64encode(fn(data)).decode() if fn else None


def composite(algorithm: str, part_values: list[str]) -> str | None:
    """A multipart object's COMPOSITE checksum: the checksum of the parts' raw checksums,
    then '-<number of parts>'."""
    fn = DIGESTS.get(algorithm)
    if fn is None:
        return None
    raw = b"".join(base64.b64decode(v) for v in part_values)
    return f"{base64.b64encode(fn(raw)).decode()}-{len(part_values)}"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
