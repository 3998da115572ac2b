"""Parquet tables in Hive layout: `<root>/<table>/release_month=YYYY-MM/part-0.parquet`, written atomically.

Any tool reads them: `pyarrow.dataset.dataset(root / "leaderboard", partitioning="hive")`, DuckDB's
`read_parquet('warehouse/leaderboard/*/*.parquet', hive_partitioning=true)` or `pandas.read_parquet`.

The root is a local folder or an `s3://bucket/prefix` (storage.objects). A month's partitioned tables land whole
through a commit record (storage.commits): the IO manager (storage.io_manager) stages each table aside, the stage
chain commits them; the warehouse resource (storage.warehouse) reads them.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casi_pipeline import months
from casi_pipeline.storage import commits
from casi_pipeline.storage.files import atomic_file
from casi_pipeline.storage.objects import ObjectPath

PARTITION_COLUMN = "release_month"
PART_FILE = "part-0.parquet"


def parquet_bytes(frame: pd.DataFrame | pa.Table) -> bytes:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def write_atomically(frame: pd.DataFrame | pa.Table, path: Path | ObjectPath) -> None:
    """Write beside the target, flush to disk, then rename over it: a reader sees the old file or the new one."""
    with atomic_file(path) as sink:
        sink.write(parquet_bytes(frame))


def partition_path(root: Path | ObjectPath, table: str, release_month: str) -> Path | ObjectPath:
    months.parse(release_month)  # refuses anything but YYYY-MM, so no path leaves the warehouse
    return root / table / f"{PARTITION_COLUMN}={release_month}" / PART_FILE


def table_path(root: Path | ObjectPath, table: str) -> Path | ObjectPath:
    return root / table / PART_FILE


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    return pq.read_table(pa.BufferReader(data)).to_pandas()


def read_partitions(root: Path | ObjectPath, table: str, release_months: list[str]) -> pd.DataFrame:
    """The months of a table as their last commits have them (or as stored, for a month committed before commit
    records), with their `release_month`, in the order given; months never committed are absent (no error).
    Concatenated in Arrow and converted to pandas once: a conversion per month costs more than the reads."""
    parts = []
    for release_month in release_months:
        data = commits.read_committed(root, table, release_month, partition_path(root, table, release_month))
        if data is not None:
            part = pq.read_table(pa.BufferReader(data))
            month = pa.array([release_month] * part.num_rows, pa.large_string())
            parts.append(part.add_column(0, PARTITION_COLUMN, month))
    if not parts:
        return pd.DataFrame()
    if len({part.schema.remove_metadata() for part in parts}) > 1:  # months stored before a column changed
        return pd.concat([part.to_pandas() for part in parts], ignore_index=True)
    return pa.concat_tables(parts).to_pandas()
