"""A release month lands whole: its commit record, written last, names the file and sha256 of each of its tables.

`<warehouse>/_commits/release_month=YYYY-MM.json` (sorted keys, no run ids or times: a re-run writes the same bytes):

    {"release_month": "2025-11", "tables": {"ingest": {"file": "ingest/release_month=2025-11/part-0.parquet",
     "sha256": "...", "bytes": 5123}, ...}}

A run commits the tables of a month in four steps, each file written atomically (a rename, or one PUT):
1. the IO manager stages each table as `<table>/release_month=M/.part-0.parquet.<run id>.staged` (dot-prefixed:
   pyarrow, pandas and DuckDB's `*.parquet` globs skip it);
2. the record is rewritten to point at the staged files: from here on, readers that follow it see the new month;
3. each staged file is copied over `part-0.parquet`, the name outside tools read;
4. the record is rewritten to point at `part-0.parquet`, and staged files (also those of killed runs) are removed.
Killed before 2, readers stay on the previous commit; killed after it, they read the new one; either way whole.
Only between 3 and 4 does a plain `*.parquet` glob see some tables of the month new and some old.

Writers of one month take turns (a local lock, or Dagster's run queue on object storage), so the read-modify-write
of a record never races. Entries of tables another job committed (the red-team stages) are kept.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from casi_pipeline import months
from casi_pipeline.storage.files import atomic_file, write_bytes_atomically
from casi_pipeline.storage.objects import ObjectPath, relative_to

COMMITS_FOLDER = "_commits"  # underscore-prefixed: pyarrow and pandas skip it; it is beside the tables, not in them
STAGED_SUFFIX = ".staged"
READ_ATTEMPTS = 3  # a record can move between reading it and reading the file it names: read it again


class CommitError(OSError):
    """A table does not match its month's commit record."""


def record_path(root: Path | ObjectPath, release_month: str) -> Path | ObjectPath:
    months.parse(release_month)
    return root / COMMITS_FOLDER / f"release_month={release_month}.json"


def staged_path(final: Path | ObjectPath, run_id: str) -> Path | ObjectPath:
    return final.parent / f".{final.name}.{run_id}{STAGED_SUFFIX}"


def _relative(root: Path | ObjectPath, path: Path | ObjectPath) -> str:
    return relative_to(path, root).as_posix()


def load(root: Path | ObjectPath, release_month: str) -> dict:
    """The month's record, or an empty one (a month never committed, or committed before records existed)."""
    path = record_path(root, release_month)
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return {"release_month": release_month, "tables": {}}


def _write_record(root: Path | ObjectPath, release_month: str, tables: dict) -> None:
    record = {"release_month": release_month, "tables": tables}
    write_bytes_atomically(
        record_path(root, release_month), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    )


def _entry(root: Path | ObjectPath, path: Path | ObjectPath, data: bytes) -> dict:
    return {"file": _relative(root, path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def commit(root: Path | ObjectPath, release_month: str, finals: dict[str, Path | ObjectPath], run_id: str) -> None:
    """Land the tables `run_id` staged for the month (table -> final path) as one commit; see the module doc."""
    staged = {table: staged_path(final, run_id) for table, final in finals.items()}
    contents = {table: path.read_bytes() for table, path in staged.items()}
    tables = load(root, release_month)["tables"]
    _write_record(root, release_month, {**tables, **{t: _entry(root, staged[t], contents[t]) for t in finals}})
    for table, final in finals.items():
        with atomic_file(final) as sink:
            sink.write(contents[table])
    _write_record(root, release_month, {**tables, **{t: _entry(root, finals[t], contents[t]) for t in finals}})
    for final in finals.values():
        staged_here = f".{final.name}.*{STAGED_SUFFIX}"  # this run's, and those of killed runs with their temporaries
        for pattern in (staged_here, f".{staged_here}.*.tmp"):
            for leftover in final.parent.glob(pattern):
                leftover.unlink(missing_ok=True)


def read_committed(root: Path | ObjectPath, table: str, release_month: str, stored: Path | ObjectPath) -> bytes | None:
    """The bytes of a table's month as committed, checked against the record's sha256; `stored` as it is when the
    month has no record for the table (written before records existed); None when there is neither."""
    for _ in range(READ_ATTEMPTS):
        entry = load(root, release_month)["tables"].get(table)
        if entry is None:
            return stored.read_bytes() if stored.exists() else None
        try:
            data = root.joinpath(*entry["file"].split("/")).read_bytes()
        except FileNotFoundError:
            continue  # a commit moved on meanwhile: its record names the file that replaced it
        if hashlib.sha256(data).hexdigest() == entry["sha256"]:
            return data
    raise CommitError(
        f"{record_path(root, release_month)}: {table} does not match its commit record "
        f"after {READ_ATTEMPTS} reads (a writer outside the pipeline changed it?)"
    )
