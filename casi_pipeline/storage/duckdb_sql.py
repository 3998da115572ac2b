"""DuckDB, the one way the project opens it: a bounded in-memory connection, queries whose values are bound
parameters, and the one place where file locations become a relation."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from casi_pipeline.storage import objects

# Enough for the streaming aggregates; DuckDB spills to disk beyond it instead of growing (peak RSS target 1 GiB).
MEMORY_LIMIT = "512MB"
SPILL_DIRECTORY = Path(tempfile.gettempdir()) / "casi-pipeline-duckdb"


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
        protocol = ("s3",)

    connection.register_filesystem(S3Wrapper(objects.filesystem()))


@contextmanager
def duckdb_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with a bounded memory budget and no insertion-order bookkeeping, closed on
    leaving; it reads `s3://` files through the object-store layer when an object root is in use."""
    connection = duckdb.connect(
        config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False, "temp_directory": str(SPILL_DIRECTORY)}
    )
    try:
        if objects.in_use():
            register_object_store(connection)
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
