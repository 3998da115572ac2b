"""Atomic file writes: every file the pipeline writes goes beside its target first, then is renamed over it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

READABLE = 0o644


def _temporary_prefix(path: Path) -> str:
    # Dot-prefixed and not ending in the target's suffix: pyarrow.dataset and pandas skip dot files, and
    # `*/*.parquet` globs (DuckDB) do not match, so a killed writer's leftover is never read as data.
    return f".{path.name}."


@contextmanager
def atomic_target(path: Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write (e.g. by a streaming writer); when the block ends without error it is
    flushed to disk and renamed over `path`, so a reader sees the old file or the new one, never half of one.

    Writers of one target hold its lock (parquet_io.locked), so a leftover of a writer killed before its rename is
    removed here rather than accumulating. `before_replace` is a test hook (parquet_io.pause_at).
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
        if before_replace is not None:
            before_replace(path)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[BinaryIO]:
    """atomic_target as an open binary sink."""
    with atomic_target(path, before_replace) as temporary, temporary.open("wb") as sink:
        yield sink


def write_bytes_atomically(path: Path, data: bytes) -> None:
    with atomic_file(path) as sink:
        sink.write(data)


def write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))
