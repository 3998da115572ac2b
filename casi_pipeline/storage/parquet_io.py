"""Parquet tables in Hive layout: `<root>/<table>/release_month=YYYY-MM/part-0.parquet`, written atomically.

Any tool reads them: `pyarrow.dataset.dataset(root / "leaderboard", partitioning="hive")`, DuckDB's
`read_parquet('warehouse/leaderboard/*/*.parquet', hive_partitioning=true)` or `pandas.read_parquet`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casi_pipeline import months

PARTITION_COLUMN = "release_month"
PART_FILE = "part-0.parquet"


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write; on success it is flushed to disk and renamed over `path`, so a
    reader sees the old file or the new one. On failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write beside the target, flush to disk, then rename over it."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_target(path) as temporary:
        pq.write_table(table, temporary)


def partition_path(root: Path, table: str, release_month: str) -> Path:
    months.parse(release_month)  # refuses anything but YYYY-MM, so no path leaves the warehouse
    return root / table / f"{PARTITION_COLUMN}={release_month}" / PART_FILE


def table_path(root: Path, table: str) -> Path:
    return root / table / PART_FILE


def read_partition(root: Path, table: str, release_month: str) -> pd.DataFrame | None:
    path = partition_path(root, table, release_month)
    if not path.exists():
        return None
    frame = pq.read_table(path).to_pandas()
    frame.insert(0, PARTITION_COLUMN, pd.Series(release_month, index=frame.index, dtype="str"))
    return frame


class HiveParquetIOManager(dg.ConfigurableIOManager):
    """Stores each asset as a Parquet table under `root`; partitioned assets split by release month."""

    root: str

    def _table(self, context: dg.OutputContext | dg.InputContext) -> str:
        return context.asset_key.path[-1]

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        root, table = Path(self.root), self._table(context)
        if not context.has_asset_partitions:
            write_atomically(obj, table_path(root, table))
            return
        for release_month in context.asset_partition_keys:
            part = obj[obj[PARTITION_COLUMN] == release_month].drop(columns=PARTITION_COLUMN)
            write_atomically(part, partition_path(root, table, release_month))

    def read_partitions(self, table: str, release_months: list[str]) -> pd.DataFrame:
        """The stored partitions of a table, concatenated; months never materialised are absent (no error)."""
        frames = [frame for month in release_months
                  if (frame := read_partition(Path(self.root), table, month)) is not None]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = self._table(context)
        if context.has_asset_partitions:
            return self.read_partitions(table, list(context.asset_partition_keys))
        path = table_path(Path(self.root), table)
        return pq.read_table(path).to_pandas() if path.exists() else pd.DataFrame()
