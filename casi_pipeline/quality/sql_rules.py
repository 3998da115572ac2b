"""Expectation suites for tables too big for a pandas frame: every row is checked by DuckDB, streaming from Parquet.

Great Expectations on pandas costs ~0.15 s per expectation per million rows here, and its SQL datasource fails on
DuckDB (IndexError in GX 1.24.1, see /work/shared/research/dagster_ge_probe.md section 8). So these suites are
plain SQL aggregates: one streaming pass counts the rows breaking each row rule, one GROUP BY per key rule, and
only a failing rule pays for a second query that fetches a few located samples. The result is the same
`SuiteReport` as a GX suite, so the gate, the Dagster check and the one-line errors are shared.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from casi_pipeline.quality.gx import SAMPLE_SIZE, ExpectationOutcome, SuiteReport, json_safe
from casi_pipeline.storage import objects

# Enough for the streaming aggregates; DuckDB spills to disk beyond it instead of growing (peak RSS target 1 GiB).
MEMORY_LIMIT = "512MB"
SPILL_DIRECTORY = Path(tempfile.gettempdir()) / "casi-pipeline-duckdb"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a bounded memory budget and no insertion-order bookkeeping; it reads
    `s3://` files through the object-store layer when an object root is in use."""
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False,
                                        "temp_directory": str(SPILL_DIRECTORY)})
    if objects.in_use():
        objects.register_with_duckdb(connection)
    return connection


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def parquet_scan(paths: Sequence[Path | objects.ObjectPath], **options: object) -> str:
    """The one place where file locations become a DuckDB relation: `read_parquet([...], option = value, ...)`.
    Local paths and `s3://` objects alike (connect() registers the object store); DuckDB streams the row groups."""
    listed = "[" + ", ".join(quote(str(path)) for path in paths) + "]"
    settings = "".join(f", {name} = {str(value).lower() if isinstance(value, bool) else value}"
                       for name, value in options.items())
    return f"read_parquet({listed}{settings})"


@dataclass(frozen=True)
class RowRule:
    """Every row must satisfy `valid` (a SQL predicate); a null result counts as a broken rule."""

    column: str  # the column named in the error, and whose value is sampled
    valid: str
    description: str
    where: str = "true"  # which rows the rule applies to; rules sharing it are counted in one pass

    def broken(self) -> str:
        return f"NOT coalesce(({self.valid}), false)"


@dataclass(frozen=True)
class KeyRule:
    """Rows sharing `key` agree on every column in `determines`; with no `determines`, the key is unique."""

    key: tuple[str, ...]
    determines: tuple[str, ...]
    description: str
    where: str = "true"  # which rows the rule applies to

    def offending_groups(self, relation: str) -> str:
        key = ", ".join(self.key)
        having = (" OR ".join(f"min({c}) IS DISTINCT FROM max({c})" for c in self.determines)
                  if self.determines else "count(*) > 1")
        return (f"SELECT concat_ws(' / ', {key}) AS sample, min(release_month) AS release_month, "
                f"min(source_file) AS source_file, min(source_row) AS source_row "
                f"FROM ({relation}) WHERE {self.where} GROUP BY {key} HAVING {having}")


@dataclass(frozen=True)
class SqlSuite:
    """A named list of rules run on a SQL relation with `release_month`, `source_file` and `source_row` columns."""

    name: str
    rules: tuple[RowRule | KeyRule, ...]

    def run(self, relation: str, locate: tuple[str, ...]) -> SuiteReport:
        connection = connect()
        try:
            outcomes = self._row_outcomes(connection, relation) + [
                self._key_outcome(connection, relation, rule) for rule in self.rules if isinstance(rule, KeyRule)]
        finally:
            connection.close()
        return SuiteReport(self.name, all(o.success for o in outcomes), outcomes, locate)

    def _row_outcomes(self, connection, relation: str) -> list[ExpectationOutcome]:
        rules = [rule for rule in self.rules if isinstance(rule, RowRule)]
        counts = {}
        for scope in dict.fromkeys(rule.where for rule in rules):
            scoped = [rule for rule in rules if rule.where == scope]
            found = connection.execute(
                "SELECT " + ", ".join(f"count(*) FILTER (WHERE {rule.broken()})" for rule in scoped)
                + f" FROM ({relation}) WHERE {scope}").fetchone()
            counts.update(zip(scoped, found))
        outcomes = []
        for rule in rules:
            count = counts[rule]
            samples = [] if not count else connection.execute(
                f"SELECT release_month, source_file, source_row, {rule.column} FROM ({relation}) "
                f"WHERE ({rule.where}) AND {rule.broken()} "
                f"ORDER BY release_month, source_file, source_row LIMIT {SAMPLE_SIZE}").fetchall()
            outcomes.append(ExpectationOutcome(
                expectation=f"row_rule:{rule.column}", description=rule.description, success=not count,
                unexpected_count=int(count), sample_values=[json_safe(row[3]) for row in samples],
                sample_locations=[{"release_month": row[0], "source_file": row[1], "source_row": row[2],
                                   "source_column": rule.column} for row in samples],
                observed_value=None, error=None))
        return outcomes

    def _key_outcome(self, connection, relation: str, rule: KeyRule) -> ExpectationOutcome:
        groups = rule.offending_groups(relation)
        count = connection.execute(f"SELECT count(*) FROM ({groups})").fetchone()[0]
        samples = [] if not count else connection.execute(
            f"SELECT sample, release_month, source_file, source_row FROM ({groups}) "
            f"ORDER BY release_month, source_file, source_row LIMIT {SAMPLE_SIZE}").fetchall()
        return ExpectationOutcome(
            expectation=f"key_rule:{'+'.join(rule.key)}", description=rule.description, success=not count,
            unexpected_count=int(count), sample_values=[row[0] for row in samples],
            sample_locations=[{"release_month": row[1], "source_file": row[2], "source_row": row[3]}
                              for row in samples],
            observed_value=None, error=None)
