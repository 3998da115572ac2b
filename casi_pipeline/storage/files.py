"""Atomic file writes (every file the pipeline writes goes beside its target first, then is renamed or linked into
place) and the chunked sha256 that identifies a file.

On an object root (storage.objects.ObjectPath) the same functions buffer the bytes and upload them as one object:
a PUT is atomic by itself, so there is no temporary object to rename or leave behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from casi_pipeline.storage.objects import ObjectPath, Root, put_new

READABLE = 0o644
HASH_CHUNK = 8 << 20  # a Parquet file of the red-team drops can be far larger than memory should hold


def _temporary_prefix(path: Path) -> str:
    # Dot-prefixed and not ending in the target's suffix: pyarrow.dataset and pandas skip dot files, and
    # `*/*.parquet` globs (DuckDB) do not match, so a killed writer's leftover is never read as data.
    return f".{path.name}."


@contextmanager
def atomic_target(path: Path, *, replace: bool = True, mode: int = READABLE) -> Iterator[Path]:
    """A temporary path beside `path` to write (e.g. by a streaming writer); when the block ends without error it is
    flushed to disk and renamed over `path`, so a reader sees the old file or the new one, never half of one.

    `replace=False` writes a file that must not exist yet: it is hard-linked into place instead, so an existing one
    is never replaced (FileExistsError then). `mode` is the file's permission bits once written.

    Writers that replace a target hold its lock (warehouse.locked), so a leftover of a writer killed before its
    rename is removed here rather than accumulating.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if replace:
        for leftover in path.parent.glob(f"{_temporary_prefix(path)}*.tmp"):
            leftover.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, mode)  # mkstemp creates 0600; published files are for others to read
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


@contextmanager
def atomic_file(path: Root) -> Iterator[BinaryIO]:
    """atomic_target as an open binary sink; on an object root, an in-memory buffer uploaded as one object."""
    if isinstance(path, ObjectPath):
        buffer = io.BytesIO()
        yield buffer
        path.write_bytes(buffer.getvalue())
        return
    with atomic_target(path) as temporary, temporary.open("wb") as sink:
        yield sink


def write_bytes_atomically(path: Root, data: bytes) -> None:
    with atomic_file(path) as sink:
        sink.write(data)


def write_text_atomically(path: Root, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def write_new(path: Root, content: bytes, mode: int = 0o444) -> None:
    """Write a file that must not exist yet, never replacing one that does (FileExistsError then): locally
    atomic_target(replace=False); on an object root a conditional PUT (If-None-Match)."""
    if isinstance(path, ObjectPath):
        put_new(path, content)
        return
    with atomic_target(path, replace=False, mode=mode) as temporary:
        temporary.write_bytes(content)


def sha256_of(path: Root) -> str:
    """The file's sha256, read in chunks (a local file or an object)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
