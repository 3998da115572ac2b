"""The warehouse resource: its root, the table reads stage code and reports make, and the run locks.

Tables are stored and loaded by the IO manager (storage.io_manager); everything else that reads the warehouse, or
keeps two runs from writing one month at once, goes through this resource (resource key "warehouse"), which also
holds each run's Data Docs until the run ends.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from casi_pipeline import months
from casi_pipeline.storage.objects import ObjectPath, open_root
from casi_pipeline.storage.parquet_io import read_parquet_bytes, read_partitions, table_path

if TYPE_CHECKING:
    from casi_pipeline.quality.docs import RunDocs

LOCKS_FOLDER = ".locks"  # dot-prefixed: pyarrow, pandas and DuckDB globs never take it for data
DATA_DOCS_FOLDER = "quality"  # the Data Docs of the runs (quality/docs.py): a log, not a table
PUBLISHED_LOCK = "published"  # the cross-release tables


@contextmanager
def locked(root: Path | ObjectPath, names: Iterable[str]) -> Iterator[None]:
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


class Warehouse(dg.ConfigurableResource):
    """The warehouse under `root`, a local folder or an `s3://bucket/prefix`."""

    root: str
    _run_docs: RunDocs | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | ObjectPath:
        """The warehouse root: every reader and writer of warehouse files starts here."""
        return open_root(self.root)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[Warehouse]:
        """For the length of a run (the in-process executor sets resources up once per run): the run's Data Docs,
        built once when the run ends, even when a suite refused a month (its failures are what people most need to
        browse). A build re-renders every page template, so once per run rather than once per step. GX's store
        writes local files: an s3:// warehouse gets none (nothing is written to local disk)."""
        from casi_pipeline.quality.docs import RunDocs  # Great Expectations: only inside a run

        root = self.path
        run = context.run
        self._run_docs = RunDocs(root, run.run_id) if isinstance(root, Path) and run is not None else None
        try:
            yield self
        finally:
            docs, self._run_docs = self._run_docs, None
            if docs is not None:
                docs.build()

    @property
    def run_docs(self) -> RunDocs | None:
        """The run's Data Docs (None outside a run, and for an s3:// warehouse)."""
        return self._run_docs

    def locked(self, names: Iterable[str]) -> AbstractContextManager[None]:
        return locked(self.path, names)

    def read_table(self, table: str) -> pd.DataFrame:
        """An unpartitioned table as stored, or an empty frame if it was never written."""
        path = table_path(self.path, table)
        return read_parquet_bytes(path.read_bytes()) if path.exists() else pd.DataFrame()

    def read_partitions(self, table: str, release_months: list[str]) -> pd.DataFrame:
        """The committed partitions of a table, concatenated; months never materialised are absent (no error)."""
        return read_partitions(self.path, table, release_months)
