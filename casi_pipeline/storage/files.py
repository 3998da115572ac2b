"""Atomic file writes: every file the pipeline writes goes beside its target first, then is renamed over it.

On an object root (storage.objects.ObjectPath) the same functions buffer the bytes and upload them as one object:
a PUT is atomic by itself, so there is no temporary object to rename or leave behind.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from casi_pipeline.storage.objects import ObjectPath, put_new

READABLE = 0o644


def _temporary_prefix(path: Path) -> str:
    # Dot-prefixed and not ending in the target's suffix: pyarrow.dataset and pandas skip dot files, and
    # `*/*.parquet` globs (DuckDB) do not match, so a killed writer's leftover is never read as data.
    return f".{path.name}."


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write (e.g. by a streaming writer); when the block ends without error it is
    flushed to disk and renamed over `path`, so a reader sees the old file or the new one, never half of one.

    Writers of one target hold its lock (warehouse.locked), so a leftover of a writer killed before its rename is
    removed here rather than accumulating.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f"{_temporary_prefix(path)}*.tmp"):
        leftover.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        os.chmod(temporary, READABLE)  # mkstemp creates 0600; published files are for others to read
        yield Path(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """atomic_target as an open binary sink; on an object root, an in-memory buffer uploaded as one object."""
    if isinstance(path, ObjectPath):
        buffer = io.BytesIO()
        yield buffer
        path.write_bytes(buffer.getvalue())
        return
    with atomic_target(path) as temporary, temporary.open("wb") as sink:
        yield sink


def write_bytes_atomically(path: Path, data: bytes) -> None:
    with atomic_file(path) as sink:
        sink.write(data)


def write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def write_new(path: Path | ObjectPath, content: bytes, mode: int = 0o444) -> None:
    """Write a file that must not exist yet, never replacing one that does (FileExistsError then): locally written
    beside the target, flushed, then hard-linked into place; on an object root a conditional PUT (If-None-Match)."""
    if isinstance(path, ObjectPath):
        put_new(path, content)
        return
    handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as sink:
            sink.write(content)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temporary, mode)
        os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
