"""Function code on disk: each deployment package extracted once per CodeSha256.

The tree is owned by the server and read-only to the function (as /var/task is on AWS);
executable bits recorded in the zip are kept, so a `provided.*` runtime's `bootstrap` runs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path


class CodeCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, asyncio.Lock] = {}

    def path_for(self, code_sha: str, owner: int | None = None) -> Path:
        # CodeSha256 is base64 (with '/'): hex names a directory safely
        try:
            name = base64.b64decode(code_sha, validate=True).hex()
        except ValueError:
            name = code_sha.encode().hex()
        return self.root / (name if owner is None else f"{name}-{owner}")

    async def extract(self, zip_path: str, code_sha: str, owner: int | None = None) -> Path:
        """The task root for a package, extracting it on first use; with an `owner` (a
        function's uid), a copy only that user can read (read-only: 0500 / 0400)."""
        target = self.path_for(code_sha, owner)
        if target.is_dir():
            return target
        lock = self._locks.setdefault(target.name, asyncio.Lock())
        async with lock:
            if not target.is_dir():
                await asyncio.to_thread(_extract, Path(zip_path), target, owner)
        return target


def _extract(zip_path: Path, target: Path, owner: int | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".extract-"))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                path = Path(archive.extract(info, staging))  # extract() refuses "../" escapes
                mode = (info.external_attr >> 16) & 0o777
                if info.is_dir():
                    os.chmod(path, 0o755)
                else:
                    os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
        # extract() creates missing parent directories 0700 under a restrictive umask
        for dirpath, _, _ in os.walk(staging):
            os.chmod(dirpath, 0o755)
        if owner is not None:
            _own(staging, owner)
        os.rename(staging, target)  # atomic: a half-extracted tree is never used
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _own(tree: str, uid: int) -> None:
    """Give a function's copy of its code to its own user, read-only, readable by no one else
    (the server, root, still can)."""
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chmod(path, 0o500 if os.stat(path).st_mode & stat.S_IXUSR else 0o400)
            os.chown(path, uid, uid)
        os.chmod(dirpath, 0o500)
        os.chown(dirpath, uid, uid)
