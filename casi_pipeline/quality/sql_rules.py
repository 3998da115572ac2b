"""Expectation suites for tables too big for a pandas frame: every row is checked by DuckDB, streaming from Parquet.

Great Expectations on pandas needs the rows in one frame and grows slow with millions of them, and its SQL
datasource fails on DuckDB (IndexError in GX 1.24.1). So these suites are
plain SQL aggregates in ONE streaming pass per scope (the rows a group of rules applies to): the rows are grouped
by a key that holds every key rule's key, so the key rules, and the row rules that read only group columns, are
decided on the (much smaller) groups, each after reducing them in pyarrow to the distinct values of the columns it
reads; the other row rules share one combined count in the same GROUP BY. A stage
may add its own aggregates to that pass (`Scan.measures`) and read the groups instead of the rows again (the
red-team chain). Only a failure pays for more: a second query counting the row rules one by one, and a targeted
query that fetches a few located samples (file, row, column).
The result is the same `SuiteReport` as a GX suite, so the gate, the Dagster check and the one-line errors are
shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from casi_pipeline.json_values import json_safe
from casi_pipeline.quality.gx import SAMPLE_SIZE, ExpectationOutcome, SuiteReport
from casi_pipeline.storage.duckdb_sql import Query, duckdb_connection, identifier


@dataclass(frozen=True)
class RowRule:
    """Every row must satisfy `valid` (a SQL predicate); a null result counts as a broken rule."""

    column: str  # the column named in the error, and whose value is sampled
    valid: str
    description: str
    where: str = "true"  # which rows the rule applies to; rules sharing it are counted in one pass
    reads: tuple[str, ...] = ()  # the columns `valid` reads, when not only `column`

    def broken(self) -> str:
        return f"NOT coalesce(({self.valid}), false)"

    def decidable_on(self, group: tuple[str, ...]) -> bool:
        """True when every column the rule reads is a group column: each group's rows share its verdict."""
        return set(self.reads or (self.column,)) <= set(group)


@dataclass(frozen=True)
class KeyRule:
    """Rows sharing `key` agree on every column in `determines`; with no `determines`, the key is unique."""

    key: tuple[str, ...]
    determines: tuple[str, ...]
    description: str
    where: str = "true"  # which rows the rule applies to

    def having_on_groups(self, group: tuple[str, ...]) -> str:
        """The HAVING clause over the groups of a Scan (grouped by a key holding this key): a determined column is
        a group column, or its per-group min and max were kept."""
        if not self.determines:
            return f"sum({ROWS}) > 1"
        return " OR ".join(_differ(c) if c in group else _differ(*_bound_columns(c)) for c in self.determines)

    def offending_groups(self, relation: Query) -> str:
        """SQL over `relation` (its parameters are the query's): one row per offending key, with a location."""
        key = _names(self.key)
        having = " OR ".join(_differ(c) for c in self.determines) if self.determines else "count(*) > 1"
        return (
            f"SELECT concat_ws(' / ', {key}) AS sample, min(release_month) AS release_month, "
            f"min(source_file) AS source_file, min(source_row) AS source_row "
            f"FROM ({relation.sql}) WHERE {self.where} GROUP BY {key} HAVING {having}"
        )


@dataclass(frozen=True)
class Scan:
    """One streaming pass over the rows in scope `where`, grouped by `group` (which holds the key of every key rule
    of that scope), with `measures` (SQL select items) for whoever reads the groups after the suite."""

    where: str
    group: tuple[str, ...]
    measures: tuple[str, ...] = ()


@dataclass
class Counted:
    """What the passes found: per rule, the rows (row rule) or keys (key rule) breaking it; per scope, the groups."""

    broken: dict[RowRule | KeyRule, int] = field(default_factory=dict)
    groups: dict[str, pa.Table] = field(default_factory=dict)  # Scan.where -> grouped rows


ROWS = "_rows"  # rows in a group
BROKEN_ROWS = "_broken_rows"  # rows of a group breaking a row rule that is not decided on the groups


def _names(columns: Iterable[str]) -> str:
    return ", ".join(map(identifier, columns))


def _bound_columns(column: str) -> tuple[str, str]:
    return f"_min_{column}", f"_max_{column}"


def _differ(low: str, high: str | None = None) -> str:
    """True when a column's values differ within the group: min(low) against max(high), high defaulting to low."""
    return f"min({identifier(low)}) IS DISTINCT FROM max({identifier(high or low)})"


def _rows_breaking_on_groups(connection, grouped: pa.Table, rule: RowRule) -> int:
    """The rows of `grouped` breaking a rule that reads group columns only, decided once per distinct value of those
    columns (a text rule on 60 model names rather than on 720,000 groups)."""
    values = grouped.group_by(list(rule.reads or (rule.column,))).aggregate([(ROWS, "sum")])
    connection.register("distinct_values", values)
    return int(
        connection.execute(
            f"SELECT coalesce(sum({ROWS}_sum) FILTER (WHERE {rule.broken()}), 0) FROM distinct_values"
        ).fetchall()[0][0]
    )


def _keys_breaking_on_groups(connection, grouped: pa.Table, rule: KeyRule, group: tuple[str, ...]) -> int:
    """The keys breaking a key rule, from the groups first reduced to their distinct keys and determined columns
    (pyarrow; 12,000 attacks rather than 720,000 groups): the rule's HAVING reads the same values, with the rows
    and the bounds of the columns outside the group summed and bounded again."""
    in_group = [c for c in rule.determines if c in group]
    bounds = [_bound_columns(c) for c in rule.determines if c not in group]
    aggregations = [(ROWS, "sum"), *((low, "min") for low, _ in bounds), *((high, "max") for _, high in bounds)]
    reduced = grouped.group_by(list(dict.fromkeys((*rule.key, *in_group)))).aggregate(aggregations)
    named = {f"{column}_{function}": column for column, function in aggregations}  # pyarrow's names -> the pass's
    connection.register("distinct_keys", reduced.rename_columns([named.get(n, n) for n in reduced.column_names]))
    return connection.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM distinct_keys GROUP BY {_names(rule.key)} "
        f"HAVING {rule.having_on_groups(group)})"
    ).fetchall()[0][0]


@dataclass(frozen=True)
class SqlSuite:
    """A named list of rules run on a SQL relation with `release_month`, `source_file` and `source_row` columns."""

    name: str
    rules: tuple[RowRule | KeyRule, ...]

    def run(self, relation: Query, locate: tuple[str, ...]) -> SuiteReport:
        """Count in one pass per scope, then locate what failed: `relation` must carry the location columns."""
        return self.report(self.count(relation, self.default_scans()), relation, locate)

    def default_scans(self) -> list[Scan]:
        """One pass per scope, grouped by the union of its key rules' keys."""
        scans = []
        for scope in dict.fromkeys(rule.where for rule in self.rules):
            keys = [rule.key for rule in self.rules if isinstance(rule, KeyRule) and rule.where == scope]
            scans.append(Scan(scope, tuple(dict.fromkeys(column for key in keys for column in key))))
        return scans

    def count(self, relation: Query, scans: list[Scan]) -> Counted:
        """Every rule counted over every row of `relation` (no location needed): one GROUP BY per scan. A rule on
        group columns only is decided on the groups; the other row rules share one combined count in the pass, and
        only when that finds a broken row does a second query count them one by one."""
        counted = Counted()
        with duckdb_connection() as connection:
            for scan in scans:
                rules = [rule for rule in self.rules if rule.where == scan.where]
                on_groups = [r for r in rules if isinstance(r, RowRule) and r.decidable_on(scan.group)]
                on_rows = [r for r in rules if isinstance(r, RowRule) and not r.decidable_on(scan.group)]
                key_rules = [rule for rule in rules if isinstance(rule, KeyRule)]
                bounded = dict.fromkeys(c for rule in key_rules for c in rule.determines if c not in scan.group)
                every_row_valid = " AND ".join(f"coalesce(({rule.valid}), false)" for rule in on_rows) or "true"
                select = [
                    *map(identifier, scan.group),
                    *scan.measures,
                    f"count(*) AS {ROWS}",
                    f"count(*) FILTER (WHERE NOT ({every_row_valid})) AS {BROKEN_ROWS}",
                    *(
                        "min({0}) AS {1}, max({0}) AS {2}".format(*map(identifier, (c, *_bound_columns(c))))
                        for c in bounded
                    ),
                ]
                grouped = connection.sql(
                    f"SELECT {', '.join(select)} FROM ({relation.sql}) WHERE {scan.where}"
                    + (f" GROUP BY {_names(scan.group)}" if scan.group else ""),
                    params=relation.params,
                ).to_arrow_table()
                counted.groups[scan.where] = grouped
                counted.broken.update((rule, _rows_breaking_on_groups(connection, grouped, rule)) for rule in on_groups)
                if on_rows:
                    any_broken = int(pc.sum(grouped.column(BROKEN_ROWS)).as_py() or 0)
                    found = (
                        [0] * len(on_rows)
                        if not any_broken
                        else connection.execute(
                            "SELECT "
                            + ", ".join(f"count(*) FILTER (WHERE {rule.broken()})" for rule in on_rows)
                            + f" FROM ({relation.sql}) WHERE {scan.where}",
                            relation.params,
                        ).fetchall()[0]
                    )
                    counted.broken.update(zip(on_rows, map(int, found), strict=True))
                for rule in key_rules:
                    missing = set(rule.key) - set(scan.group)
                    if missing:
                        raise ValueError(f"{self.name}: the pass over {scan.where} is not grouped by {missing}")
                    counted.broken[rule] = _keys_breaking_on_groups(connection, grouped, rule, scan.group)
        return counted

    def report(self, counted: Counted, relation: Query, locate: tuple[str, ...]) -> SuiteReport:
        """The outcome of every rule from its count; samples with their file and row only for failed rules,
        from `relation` (the rows with their location)."""
        with duckdb_connection() as connection:
            outcomes = [
                self._row_outcome(connection, relation, rule, counted.broken[rule])
                for rule in self.rules
                if isinstance(rule, RowRule)
            ]
            outcomes += [
                self._key_outcome(connection, relation, rule, counted.broken[rule])
                for rule in self.rules
                if isinstance(rule, KeyRule)
            ]
        return SuiteReport(self.name, all(o.success for o in outcomes), outcomes, locate)

    @staticmethod
    def _row_outcome(connection, relation: Query, rule: RowRule, count: int) -> ExpectationOutcome:
        samples = (
            []
            if not count
            else connection.execute(
                f"SELECT release_month, source_file, source_row, {identifier(rule.column)} FROM ({relation.sql}) "
                f"WHERE ({rule.where}) AND {rule.broken()} "
                f"ORDER BY release_month, source_file, source_row LIMIT {SAMPLE_SIZE}",
                relation.params,
            ).fetchall()
        )
        return ExpectationOutcome(
            expectation=f"row_rule:{rule.column}",
            description=rule.description,
            success=not count,
            unexpected_count=int(count),
            sample_values=[json_safe(row[3]) for row in samples],
            sample_locations=[
                {"release_month": row[0], "source_file": row[1], "source_row": row[2], "source_column": rule.column}
                for row in samples
            ],
            observed_value=None,
            error=None,
        )

    @staticmethod
    def _key_outcome(connection, relation: Query, rule: KeyRule, count: int) -> ExpectationOutcome:
        samples = (
            []
            if not count
            else connection.execute(
                f"SELECT sample, release_month, source_file, source_row FROM ({rule.offending_groups(relation)}) "
                f"ORDER BY release_month, source_file, source_row LIMIT {SAMPLE_SIZE}",
                relation.params,
            ).fetchall()
        )
        return ExpectationOutcome(
            expectation=f"key_rule:{'+'.join(rule.key)}",
            description=rule.description,
            success=not count,
            unexpected_count=int(count),
            sample_values=[row[0] for row in samples],
            sample_locations=[
                {"release_month": row[1], "source_file": row[2], "source_row": row[3]} for row in samples
            ],
            observed_value=None,
            error=None,
        )
