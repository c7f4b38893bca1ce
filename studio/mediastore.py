"""The media store: files kept by their sha256 under media/<sha[:2]>/<sha256>.

A user's file name is never used as a path; it is kept only as a label in the database.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1024 * 1024


def path_for(media_dir: Path, sha256: str) -> Path:
    return Path(f"{media_dir}/{sha256[:2]}/{sha256}")  # one Path made: asked of every shot


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def put_file(media_dir: Path, source: Path) -> tuple[str, Path]:
    """Copy a file into the store (atomically: write beside, then rename); return its hash."""
    sha = sha256_of(source)
    target = path_for(media_dir, sha)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
    return sha, target


def put_bytes(media_dir: Path, data: bytes) -> tuple[str, Path]:
    sha = hashlib.sha256(data).hexdigest()
    target = path_for(media_dir, sha)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
    return sha, target
