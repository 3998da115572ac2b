"""The raw red-team results in a drop: data_raw/<YYYY-MM>/attacks/*.parquet and agentic/*.parquet.

Files are read, never changed. Their rows are never loaded whole: ingest reads only the Parquet footer (schema,
row count) and hashes the bytes in chunks; later stages stream the rows through DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from casi_pipeline.errors import RawInputError
from casi_pipeline.raw import layout
from casi_pipeline.raw.contracts import check_columns
from casi_pipeline.storage.files import sha256_of
from casi_pipeline.storage.objects import Root, relative_to

TEXT, INTEGER, BOOLEAN = "text", "integer", "boolean"


@dataclass(frozen=True)
class RawKind:
    name: str  # the drop's sub-folder
    board: str  # the board its score goes on
    unit: str  # the column naming a resampling unit (one attack, one campaign)
    columns: dict[str, str]  # column -> TEXT | INTEGER | BOOLEAN


ATTACKS = RawKind(
    "attacks",
    "CASI",
    "attack_id",
    {
        "provider": TEXT,
        "model": TEXT,
        "attack_id": TEXT,
        "attack_family": TEXT,
        "severity": INTEGER,
        "complexity": INTEGER,
        "trials": INTEGER,
        "successes": INTEGER,
    },
)
AGENTIC = RawKind(
    "agentic",
    "ARS",
    "campaign_id",
    {
        "provider": TEXT,
        "model": TEXT,
        "campaign_id": TEXT,
        "intent": TEXT,
        "breached": BOOLEAN,
        "sophistication_at_breach": INTEGER,
        "turns_survived": INTEGER,
        "max_turns": INTEGER,
        "leaked_signals": INTEGER,
        "attempts": INTEGER,
    },
)
KINDS = {kind.name: kind for kind in (ATTACKS, AGENTIC)}


def files(root: Root, month: str, kind: RawKind) -> list[Root]:
    folder = root / month / kind.name
    return sorted(path for path in folder.glob("*.parquet") if path.is_file()) if folder.is_dir() else []


def redteam_months(root: Root) -> list[str]:
    """Every drop month holding red-team results, oldest first."""
    return [drop.month for drop in layout.list_drops(root) if any(files(root, drop.month, k) for k in KINDS.values())]


def display_name(root: Root, path: Root) -> str:
    """As in every table and message: `<raw root name>/<drop>/<kind>/<file>` (as for the CSV files)."""
    return f"{root.name}/{relative_to(path, root).as_posix()}"


def raw_path(root: Root, source_file: str) -> Root:
    return root.joinpath(*source_file.split("/")[1:])


def _kind_of(data_type: pa.DataType) -> str | None:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return TEXT
    if pa.types.is_integer(data_type):
        return INTEGER
    if pa.types.is_boolean(data_type):
        return BOOLEAN
    return None


def inspect(root: Root, month: str, kind: RawKind, path: Root) -> dict:
    """One manifest row from the footer: refuses a file that is not Parquet or has other columns or types."""
    name = display_name(root, path)
    try:
        with path.open("rb") as source:  # a local file or a ranged object read: only the footer is fetched
            metadata = pq.ParquetFile(source).metadata
        schema = metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as error:
        raise RawInputError(name, f"not a readable Parquet file ({str(error).splitlines()[0]})") from None
    found = {field.name: field.type for field in schema}
    check_columns(name, list(found), list(kind.columns), list(kind.columns))
    for column, expected in kind.columns.items():
        if _kind_of(found[column]) != expected:
            raise RawInputError(
                name, f"expected {expected} values, found Parquet type {found[column]}", where=f"column {column}"
            )
    return {
        "release_month": month,
        "kind": kind.name,
        "source_file": name,
        "source_sha256": sha256_of(path),
        "rows": metadata.num_rows,
        "row_groups": metadata.num_row_groups,
    }
