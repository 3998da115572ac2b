"""Parquet tables in Hive layout: `<root>/<table>/release_month=YYYY-MM/part-0.parquet`, written atomically.

Any tool reads them: `pyarrow.dataset.dataset(root / "leaderboard", partitioning="hive")`, DuckDB's
`read_parquet('warehouse/leaderboard/*/*.parquet', hive_partitioning=true)` or `pandas.read_parquet`.

The root is a local folder or an `s3://bucket/prefix` (storage.objects). A month's partitioned tables land whole
through a commit record (storage.commits): the IO manager stages each table aside, the stage chain commits them.
"""

from __future__ import annotations

import fcntl
import io
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casi_pipeline import months
from casi_pipeline.storage import commits
from casi_pipeline.storage.files import atomic_file
from casi_pipeline.storage.objects import ObjectPath, open_root

PARTITION_COLUMN = "release_month"
PART_FILE = "part-0.parquet"
LOCKS_FOLDER = ".locks"  # dot-prefixed: pyarrow, pandas and DuckDB globs never take it for data
PUBLISHED_LOCK = "published"  # the cross-release tables


def parquet_bytes(frame: pd.DataFrame | pa.Table) -> bytes:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def write_atomically(frame: pd.DataFrame | pa.Table, path: Path | ObjectPath) -> None:
    """Write beside the target, flush to disk, then rename over it: a reader sees the old file or the new one."""
    with atomic_file(path) as sink:
        sink.write(parquet_bytes(frame))


@contextmanager
def locked(root: Path, names: Iterable[str]) -> Iterator[None]:
    """Hold an exclusive lock per name (a release month, or PUBLISHED_LOCK) under `<root>/.locks/`, so two runs of the
    same month take turns instead of interleaving their writes. Taken in sorted order, so two runs never wait on
    each other in a cycle; the system releases them when the process ends, even on SIGKILL.

    Local roots only: a file lock means nothing on object storage, where Dagster's run queue keeps two writers of
    a month apart (deploy/dagster.yaml; README, "Deploying")."""
    if isinstance(root, ObjectPath):
        yield
        return
    folder = root / LOCKS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for name in sorted(set(names)):
            if name != PUBLISHED_LOCK:
                months.parse(name)  # a lock file name is a release month: nothing outside .locks/
            handle = stack.enter_context((folder / f"{name}.lock").open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
        yield


def partition_path(root: Path | ObjectPath, table: str, release_month: str) -> Path | ObjectPath:
    months.parse(release_month)  # refuses anything but YYYY-MM, so no path leaves the warehouse
    return root / table / f"{PARTITION_COLUMN}={release_month}" / PART_FILE


def table_path(root: Path | ObjectPath, table: str) -> Path | ObjectPath:
    return root / table / PART_FILE


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    return pq.read_table(pa.BufferReader(data)).to_pandas()


def read_partition(root: Path | ObjectPath, table: str, release_month: str) -> pd.DataFrame | None:
    """A month of a table as its last commit has it (or as stored, for a month committed before commit records)."""
    data = commits.read_committed(root, table, release_month, partition_path(root, table, release_month))
    if data is None:
        return None
    frame = read_parquet_bytes(data)
    frame.insert(0, PARTITION_COLUMN, pd.Series(release_month, index=frame.index, dtype="str"))
    return frame


class HiveParquetIOManager(dg.ConfigurableIOManager):
    """Stores each asset as a Parquet table under `root`; partitioned assets split by release month."""

    root: str

    @property
    def path(self) -> Path | ObjectPath:
        """The warehouse root: every reader and writer of warehouse files starts here."""
        return open_root(self.root)

    def locked(self, names: Iterable[str]):
        return locked(self.path, names)

    def read_table(self, table: str) -> pd.DataFrame:
        """An unpartitioned table as stored, or an empty frame if it was never written."""
        path = table_path(self.path, table)
        return read_parquet_bytes(path.read_bytes()) if path.exists() else pd.DataFrame()

    def _table(self, context: dg.OutputContext | dg.InputContext) -> str:
        return context.asset_key.path[-1]

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """An unpartitioned table replaces its one file; a month of a partitioned table is staged aside under the
        run's id, and lands when the stage chain commits the month (commit_months), together with its other tables."""
        root, table = self.path, self._table(context)
        if not context.has_asset_partitions:
            write_atomically(obj, table_path(root, table))
            return
        for release_month in context.asset_partition_keys:
            part = obj[obj[PARTITION_COLUMN] == release_month].drop(columns=PARTITION_COLUMN)
            write_atomically(part, commits.staged_path(partition_path(root, table, release_month), context.run_id))

    def commit_months(self, release_months: list[str], tables: list[str], run_id: str) -> None:
        """Land the tables this run staged for each month: one commit record per month, written last."""
        for release_month in release_months:
            commits.commit(self.path, release_month,
                           {table: partition_path(self.path, table, release_month) for table in tables}, run_id)

    def read_partitions(self, table: str, release_months: list[str]) -> pd.DataFrame:
        """The committed partitions of a table, concatenated; months never materialised are absent (no error)."""
        frames = [frame for month in release_months
                  if (frame := read_partition(self.path, table, month)) is not None]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = self._table(context)
        if context.has_asset_partitions:
            return self.read_partitions(table, list(context.asset_partition_keys))
        return self.read_table(table)
