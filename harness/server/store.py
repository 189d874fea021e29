"""Evidence on disk, content-addressed: a file is kept once, at ``blobs/ab/<sha256>``.

A bundle arrives as a gzip'd tar of its folder. :func:`unpack_bundle` accepts only regular
files and folders with plain relative names (no links, devices, absolute paths or ``..``),
within size limits, so an upload can never write outside its staging folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

__all__ = ["BadBundle", "BlobStore", "pack_bundle", "unpack_bundle"]

MAX_FILES = 10_000
MAX_UNPACKED = 2 * 1024**3


class BadBundle(Exception):
    """The upload is not a bundle the server will unpack; the message says why."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put_file(self, source: Path) -> tuple[str, int]:
        """Store a file's bytes under their sha256 (once); its digest and size."""
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        key = digest.hexdigest()
        target = self.path(key)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".in.")
            os.close(fd)
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        return key, size

    def put_bytes(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        target = self.path(key)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".in.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        return key

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


def pack_bundle(folder: Path) -> bytes:
    """The gzip'd tar of an evidence folder as ``harness submit`` uploads it (without the
    derived ``report/`` folder, which no manifest covers)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if rel.parts[0] == "report" or not path.is_file() or path.is_symlink():
                continue
            tar.add(path, arcname=rel.as_posix(), recursive=False)
    return buf.getvalue()


def unpack_bundle(data: bytes, dest: Path) -> None:
    """Unpack an uploaded bundle into ``dest`` (new), or BadBundle saying why not."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadBundle(f"the upload is not a gzip'd tar of an evidence folder ({exc})") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BadBundle(f"the upload's tar is damaged ({exc})") from None
        if len(members) > MAX_FILES:
            raise BadBundle(f"the bundle has {len(members)} entries; at most {MAX_FILES}")
        total = 0
        for m in members:
            name = PurePosixPath(m.name)
            if name.is_absolute() or ".." in name.parts or not name.parts:
                raise BadBundle(f"the bundle entry '{m.name}' is not a plain relative path")
            if not (m.isfile() or m.isdir()):
                raise BadBundle(f"the bundle entry '{m.name}' is not a regular file or folder")
            total += m.size
        if total > MAX_UNPACKED:
            raise BadBundle(f"the bundle unpacks to {total} bytes; at most {MAX_UNPACKED}")
        dest.mkdir(parents=True)
        try:
            tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BadBundle(f"the bundle cannot be unpacked ({exc})") from None
