"""DuckDB, the one way the project opens it: one bounded in-memory database per process and a cursor on it per use,
queries whose values are bound parameters, and the one place where file locations become a relation."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from casi_pipeline.storage import objects

# Enough for the streaming aggregates, and shared by every cursor of the process's database; DuckDB spills to disk
# beyond it instead of growing (peak RSS target 1 GiB).
MEMORY_LIMIT = "512MB"
SPILL_DIRECTORY = Path(tempfile.gettempdir()) / "casi-pipeline-duckdb"
RELEASE_FREED_ABOVE = "1MB"
OBJECT_STORE_PROTOCOL = "s3"


@dataclass(frozen=True)
class Query:
    """SQL text and the values of its `$name` parameters. A query is spliced into another as a subquery (the
    suites' relations), so parameter names must be unique within one statement."""

    sql: str
    params: Mapping[str, object] = field(default_factory=dict)


def register_object_store(connection: duckdb.DuckDBPyConnection) -> None:
    """Let DuckDB read `s3://` paths through pyarrow's S3 filesystem (its httpfs extension needs a download this
    machine cannot make). Reads stay ranged and streamed: DuckDB asks for the footer and the row groups it scans."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class S3Wrapper(ArrowFSWrapper):
        protocol = (OBJECT_STORE_PROTOCOL,)

    connection.register_filesystem(S3Wrapper(objects.filesystem()))


@dataclass
class _Database:
    connection: duckdb.DuckDBPyConnection
    object_store: object | None = None  # the S3 filesystem registered on it (a database-wide registration)


# Opening a database costs ~10 ms, a cursor on it well under 1 ms: one database per process, a cursor per use.
_databases: dict[int, _Database] = {}  # process id -> its database
_opening = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A new cursor on this process's database, whose object store is the current one. Keyed by process id: a
    database inherited across a fork is left alone, unused and unclosed."""
    with _opening:  # a DuckDB connection is not thread-safe, so even making cursors on it takes turns
        database = _databases.get(os.getpid())
        if database is None:
            database = _databases[os.getpid()] = _Database(
                duckdb.connect(
                    config={
                        "memory_limit": MEMORY_LIMIT,
                        "preserve_insertion_order": False,
                        "temp_directory": str(SPILL_DIRECTORY),
                        # the database outlives each use: hand what a query freed back to the system at once, or
                        # the pass's hash tables stay resident under the next stage's arrays (+130 MiB peak at 10M)
                        "allocator_bulk_deallocation_flush_threshold": RELEASE_FREED_ABOVE,
                    }
                )
            )
        store = objects.filesystem() if objects.in_use() else None
        if store is not None and database.object_store is not store:
            if database.object_store is not None:  # the AWS_* settings changed since it was registered
                database.connection.unregister_filesystem(OBJECT_STORE_PROTOCOL)
            register_object_store(database.connection)
            database.object_store = store
        return database.connection.cursor()


@contextmanager
def duckdb_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection for one thread's use, closed on leaving (with what was registered on it): a cursor on the
    process's in-memory database, which has a bounded memory budget, no insertion-order bookkeeping, and reads
    `s3://` files through the object-store layer when an object root is in use. Never share it across threads."""
    connection = _cursor()
    try:
        yield connection
    finally:
        connection.close()


def identifier(name: str) -> str:
    """A quoted SQL identifier, for the names that must be spliced into SQL text (names cannot be bound)."""
    return '"' + name.replace('"', '""') + '"'


def parquet_scan(paths: Sequence[Path | objects.ObjectPath], param: str, **options: object) -> Query:
    """`read_parquet($<param>, option = $<param>_<option>, ...)`: the file locations and options bound as
    parameters named after `param`. Local paths and `s3://` objects alike (duckdb_connection registers the object
    store); DuckDB streams the row groups."""
    bound = {f"{param}_{name}": value for name, value in options.items()}
    settings = "".join(f", {name} = ${param}_{name}" for name in options)
    return Query(f"read_parquet(${param}{settings})", {param: [str(path) for path in paths], **bound})
