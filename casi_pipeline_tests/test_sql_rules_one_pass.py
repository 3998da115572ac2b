"""The SQL suites count every rule in one grouped pass over the rows (which a stage can reuse), and still name the
file, row and column of a bad value: located samples come from a second query, run only when a rule failed."""

from __future__ import annotations

import pytest

from casi_pipeline.quality.sql_rules import ROWS, KeyRule, RowRule, Scan, SqlSuite
from casi_pipeline.storage.duckdb_sql import Query

LOCATE = ("release_month", "source_file", "source_row", "source_column")
# (release_month, source_file, source_row, kind, unit, family, severity, trials)
ROWS_ = [("2025-09", "data_raw/2025-09/attacks/a.parquet", 1, "attacks", "u1", "jb", 3, 4),
         ("2025-09", "data_raw/2025-09/attacks/a.parquet", 2, "attacks", "u1", "jb", 3, 2),
         ("2025-09", "data_raw/2025-09/attacks/a.parquet", 3, "attacks", "u2", "jb", 9, 1),
         ("2025-09", "data_raw/2025-09/attacks/b.parquet", 1, "attacks", "u2", "pi", 9, 5)]


def relation(rows, located: bool) -> Query:
    values = ", ".join(f"('{m}', '{f}', {r}, '{k}', '{u}', '{fam}', {s}, {t})" for m, f, r, k, u, fam, s, t in rows)
    select = "*" if located else "release_month, kind, unit, family, severity, trials"
    return Query(f"SELECT {select} FROM (VALUES {values}) "
                 f"t(release_month, source_file, source_row, kind, unit, family, severity, trials)")


SUITE = SqlSuite("t", (
    RowRule("severity", "severity BETWEEN 1 AND 5", "severity must be within 1..5", where="kind = 'attacks'"),
    KeyRule(("release_month", "unit"), ("family",), "one unit, two families", where="kind = 'attacks'"),
))
SCAN = Scan("kind = 'attacks'", ("release_month", "unit"), ("sum(trials)::BIGINT AS trials",))
# the rule's and the key rule's columns in the group: both decided on the groups, same counts
WIDE = Scan("kind = 'attacks'", ("release_month", "unit", "family", "severity"), ("sum(trials)::BIGINT AS trials",))


def test_one_pass_counts_every_rule_and_keeps_the_groups_for_the_next_stage():
    counted = SUITE.count(relation(ROWS_, located=False), [SCAN])
    assert [counted.broken[rule] for rule in SUITE.rules] == [2, 1]  # two rows out of range; unit u2 twice
    groups = counted.groups[SCAN.where].sort_by("unit").to_pydict()
    assert (groups["unit"], groups["trials"], groups[ROWS]) == (["u1", "u2"], [6, 6], [2, 2])


@pytest.mark.parametrize("scan", [SCAN, WIDE], ids=["rules on rows", "rules on groups"])
def test_a_bad_value_is_still_located_by_file_row_and_column(scan):
    counted = SUITE.count(relation(ROWS_, located=False), [scan])
    assert [counted.broken[rule] for rule in SUITE.rules] == [2, 1]
    report = SUITE.report(counted, relation(ROWS_, located=True), LOCATE)
    assert not report.success
    assert report.failure_lines("validate") == [
        "2025-09 validate: data_raw/2025-09/attacks/a.parquet row 3 column severity: severity must be within 1..5 "
        "(found 9; 2 row(s) in all)",
        "2025-09 validate: data_raw/2025-09/attacks/a.parquet row 1: one unit, two families (found '2025-09 / u2')",
    ]
    severity, family = report.outcomes
    assert severity.sample_locations == [
        {"release_month": "2025-09", "source_file": "data_raw/2025-09/attacks/a.parquet", "source_row": 3,
         "source_column": "severity"},
        {"release_month": "2025-09", "source_file": "data_raw/2025-09/attacks/b.parquet", "source_row": 1,
         "source_column": "severity"}]
    assert (family.unexpected_count, family.sample_values) == (1, ["2025-09 / u2"])


@pytest.mark.parametrize("scan", [SCAN, WIDE], ids=["rules on rows", "rules on groups"])
def test_clean_rows_pass_without_the_located_query(scan):
    clean = [row[:6] + (3,) + row[7:] for row in ROWS_[:3]]
    counted = SUITE.count(relation(clean, located=False), [scan])
    # the located relation is never read when nothing failed: a relation that cannot be queried proves it
    report = SUITE.report(counted, Query("SELECT * FROM a_table_that_does_not_exist"), LOCATE)
    assert report.success and [o.unexpected_count for o in report.outcomes] == [0, 0]


def test_a_pass_not_grouped_by_a_key_rule_key_is_refused():
    try:
        SUITE.count(relation(ROWS_, located=False), [Scan("kind = 'attacks'", ("release_month",))])
    except ValueError as error:
        assert "not grouped by {'unit'}" in str(error)
    else:
        raise AssertionError("a key rule cannot be decided on groups that do not hold its key")
