"""Factories for every table the pipeline publishes: build, gate with its expectation suite, then store.

A stage is declared as data, a `GatedTable` (its table, suite and build function); the factories add what every
stage shares: WARN checks for drift, the blocking ERROR check that fails before anything is written, lineage and row
counts.

- `build_stage_chain` makes one multi-asset of consecutive stages (ingest -> validate -> normalise -> leaderboard):
  each stage is its own asset with its own checks in the lineage graph, and a release month lands whole or not
  at all: outputs are handed to the IO manager only after every stage's suite has passed, and the month's commit
  record (storage.commits) moves only after all of them are stored.
- `build_stage_asset` makes one asset of a GatedTable built from upstream assets (the cross-release tables).

A stage whose rows are too many for a pandas frame (the red-team results) declares a `SqlSuite` instead of a GX
suite: its table is then a summary, and the suite checks every row of `StageResult.rows_sql` in DuckDB.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import cast

import dagster as dg
import great_expectations as gx
import numpy as np
import pandas as pd

from casi_pipeline import versions
from casi_pipeline.errors import StageError
from casi_pipeline.quality.docs import RunDocs
from casi_pipeline.quality.gx import SuiteReport, metadata_json, run_suite
from casi_pipeline.quality.sql_rules import Counted, SqlSuite
from casi_pipeline.safe_text import markdown_table
from casi_pipeline.storage.duckdb_sql import Query
from casi_pipeline.storage.tables import Table

OWNERS = ["team:leaderboard"]
PREVIEW_ROWS = 10
BY_MONTH = "by_release_month"  # WARN check metadata: findings per release month, when they name their month


@contextmanager
def beta_api() -> Iterator[None]:
    """Use a Dagster API that 1.13 marks beta, knowingly: single-run backfills and code references.
    Only its BetaWarning is silenced, only here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield


def with_code_references(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets, each linked to its source in the UI."""
    with beta_api():
        return cast(list[dg.AssetsDefinition], list(dg.with_source_code_references(assets)))


def owned_source(source: dg.SourceAsset) -> dg.AssetsDefinition:
    """An observable source asset as the external asset Dagster makes of it, with the team as its owner (the
    source asset decorator takes no owners). Converted here, where Dagster's own read of the deprecated
    OpDefinition.version during the conversion is silenced, rather than inside Definitions."""
    from dagster._core.definitions.external_asset import create_external_asset_from_source_asset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        external = create_external_asset_from_source_asset(source)
    return external.map_asset_specs(lambda spec: spec.replace_attributes(owners=OWNERS))


def suite_check_name(table: str) -> str:
    return f"{table}_suite"


@dataclass
class StageResult:
    frame: pd.DataFrame
    warn_rows: dict[str, list[dict]] = field(default_factory=dict)  # WARN check name -> rows found
    check_frame: pd.DataFrame | None = None  # what the suite validates, when it needs more columns than are stored
    intermediates: dict[str, pd.DataFrame | Counted] = field(default_factory=dict)  # read by later stages, not stored
    rows_sql: Query | None = None  # for a SqlSuite: a DuckDB query over every row it validates (streamed, not loaded)
    counted: Counted | None = None  # for a SqlSuite: its counts, when the build took them in its own pass


# (release months, tables built so far or loaded, execution context) -> StageResult; raises StageError.
BuildFn = Callable[[list[str], dict[str, pd.DataFrame], dg.AssetExecutionContext], StageResult]
# (execution context, release months) -> a lock held around building AND storing, so two runs take turns.
LockFn = Callable[[dg.AssetExecutionContext, list[str]], AbstractContextManager]


def no_lock(_context, _months) -> AbstractContextManager:
    return nullcontext()


@dataclass(frozen=True)
class GatedTable:
    """A table with the expectation suite that gates it, its WARN checks and the function that builds it."""

    table: Table
    description: str
    suite: gx.ExpectationSuite | SqlSuite
    location_columns: tuple[str, ...]  # the columns that locate a bad value, in the order a message names them
    build: BuildFn
    warn_checks: Mapping[str, str] = field(default_factory=dict)  # name -> description
    kinds: frozenset[str] = frozenset({"pandas", "parquet"})
    upstream: str | None = None  # in a chain, the table this stage reads; by default the stage before it

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.table.name)

    def check_specs(self) -> list[dg.AssetCheckSpec]:
        specs = [
            dg.AssetCheckSpec(
                suite_check_name(self.table.name),
                asset=self.key,
                blocking=True,
                description=f"the {self.suite.name} expectation suite ({self.suite_engine})",
            )
        ]
        return specs + [
            dg.AssetCheckSpec(name, asset=self.key, description=text) for name, text in self.warn_checks.items()
        ]

    @property
    def suite_engine(self) -> str:
        return "row rules in DuckDB" if isinstance(self.suite, SqlSuite) else "Great Expectations"

    def validate(self, result: StageResult) -> SuiteReport:
        if isinstance(self.suite, SqlSuite):
            assert result.rows_sql is not None, f"{self.table.name}: a SqlSuite stage returns rows_sql"
            if result.counted is not None:
                return self.suite.report(result.counted, result.rows_sql, self.location_columns)
            return self.suite.run(result.rows_sql, self.location_columns)
        return run_suite(
            result.check_frame if result.check_frame is not None else result.frame, self.suite, self.location_columns
        )

    def definition_metadata(self) -> dict:
        return {"dagster/column_schema": self.table.schema(), "dagster/table_name": self.table.name}


def markdown_preview(frame: pd.DataFrame, rows: int | None = PREVIEW_ROWS) -> str:
    """The first `rows` rows (all with None) as a Markdown table; text cells are escaped, since labels come from
    outside. Written here rather than with pandas' to_markdown (tabulate), which took about 5 ms a table: a range
    run shows one preview per month and stage."""
    if frame.empty:
        return "_(no rows)_"
    head = frame if rows is None else frame.head(rows)
    values, missing = head.to_numpy(dtype=object), head.isna().to_numpy()
    cells = (
        [None if gone else value for value, gone in zip(row, gaps, strict=True)]
        for row, gaps in zip(values, missing, strict=True)
    )
    return markdown_table([str(column) for column in head.columns], cells)


def _refuse(check: str, lines: list[str]) -> dg.Failure:
    return dg.Failure(description="\n".join(lines), metadata={"check": check, "errors": metadata_json(lines)})


def build_and_check(
    stage: GatedTable, months: list[str], tables: dict[str, pd.DataFrame], context, docs: RunDocs | None = None
) -> Iterator[dg.AssetCheckResult | pd.DataFrame]:
    """Build one stage and yield its check results, then its conformed table; raise dg.Failure if it must not land.
    With `docs`, a Great Expectations suite's result also goes to the run's Data Docs, linked from the check."""
    check = suite_check_name(stage.table.name)
    try:
        result = stage.build(months, tables, context)
    except StageError as error:
        yield dg.AssetCheckResult(
            check_name=check,
            asset_key=stage.key,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"errors": metadata_json(error.lines)},
        )
        raise _refuse(check, error.lines) from None
    tables.update(result.intermediates)
    for name in stage.warn_checks:
        rows = result.warn_rows.get(name, [])
        by_month: dict[str, int] = {}
        for row in rows:  # rows that name their month are counted per month (range runs: see _month_checks)
            if row.get("release_month"):
                by_month[row["release_month"]] = by_month.get(row["release_month"], 0) + 1
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=stage.key,
            passed=not rows,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "count": len(rows),
                "found": metadata_json(rows[:50]),
                **({BY_MONTH: metadata_json(by_month)} if by_month else {}),
            },
        )
    report = stage.validate(result)
    page = docs.add(report.validation, stage.suite.name, months) if docs and report.validation is not None else None
    yield report.check_result(check, stage.key, data_docs=page)
    if not report.success:
        raise _refuse(check, report.failure_lines(stage.table.name))
    yield stage.table.conform(result.frame)


def _table_metadata(frame: pd.DataFrame, row_count: int | None = None) -> dict:
    """Row count and preview; with `row_count`, `frame` may hold only the rows the preview shows."""
    return {
        "dagster/row_count": len(frame) if row_count is None else row_count,
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
    }


def _output(stage: GatedTable, frame: pd.DataFrame, **options) -> dg.Output:
    return dg.Output(
        frame, metadata={"dagster/column_lineage": stage.table.column_lineage(), **_table_metadata(frame)}, **options
    )


def _month_checks(checks: list[dg.AssetCheckResult], month: str) -> dg.MetadataValue:
    """This month's outcome of each check that ran on the stage (a WARN finding without a month counts for every
    month of the run), as a Markdown table on the month's materialisation."""
    lines = ["| check | result | found this month |", "|---|---|---|"]
    for check in checks:
        by_month, count = check.metadata.get(BY_MONTH), check.metadata.get("count")
        found = (
            cast(Mapping[str, int], by_month.value).get(month, 0)
            if by_month is not None
            else count.value
            if count is not None
            else 0
        )
        status = "passed" if found == 0 else "warned" if check.severity == dg.AssetCheckSeverity.WARN else "failed"
        lines.append(f"| {check.check_name} | {status} | {found} |")
    return dg.MetadataValue.md("\n".join(lines))


def _month_metadata(context, stage: GatedTable, frame: pd.DataFrame, checks: list[dg.AssetCheckResult]) -> None:
    """Each month of a range run gets its own row count, preview and check outcomes: Dagster copies an output's
    metadata to every partition it materialises, so the figures of the whole range would show on each month."""
    month_of_row = frame["release_month"].to_numpy() if "release_month" in frame else None
    for month in context.partition_keys:
        # the month's row positions: only the rows its preview shows are copied out of the frame
        rows = np.arange(len(frame)) if month_of_row is None else np.flatnonzero(month_of_row == month)
        context.add_asset_metadata(
            {
                **_table_metadata(frame.take(rows[:PREVIEW_ROWS]), len(rows)),
                "dagster/partition_row_count": len(rows),
                "checks": _month_checks(checks, month),
            },
            asset_key=stage.key,
            partition_key=month,
        )


def build_stage_chain(
    name: str,
    stages: list[GatedTable],
    *,
    group: str,
    description: str,
    upstream: list[dg.AssetKey],
    partitions_def: dg.PartitionsDefinition,
    backfill_policy: dg.BackfillPolicy,
    required_resources: set[str],
    lock: LockFn = no_lock,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    outs = {
        stage.table.name: dg.AssetOut(
            key=stage.key,
            description=stage.description,
            group_name=group,
            owners=OWNERS,
            kinds=set(stage.kinds),
            metadata=stage.definition_metadata(),
            dagster_type=pd.DataFrame,
            code_version=versions.code_version(stage.table.name),
        )
        for stage in stages
    }
    with beta_api():
        decorate = dg.multi_asset(
            name=name,
            description=description,
            outs=outs,
            deps=upstream,
            # each stage reads the one before it or the one it names (the first reads the raw drops)
            internal_asset_deps={
                stage.table.name: (
                    {dg.AssetKey(stage.upstream)} if stage.upstream else {previous.key} if previous else set(upstream)
                )
                for previous, stage in zip([None, *stages[:-1]], stages, strict=True)
            },
            check_specs=[spec for stage in stages for spec in stage.check_specs()],
            partitions_def=partitions_def,
            backfill_policy=backfill_policy,
            can_subset=False,
            # the IO manager commits each month's tables; the warehouse locks the months, serves reads and Data Docs
            required_resource_keys=required_resources | {"io_manager", "warehouse"},
            pool=pool,
        )

    @decorate
    def _chain(context):  # untyped: Dagster reads the annotation, and this module postpones annotations
        months = list(context.partition_keys)
        tables: dict[str, pd.DataFrame] = {}
        checks: dict[str, list[dg.AssetCheckResult]] = {stage.table.name: [] for stage in stages}
        # Held until the last output is stored: Dagster stores each output before resuming this generator.
        with lock(context, months):
            for stage in stages:
                for item in build_and_check(stage, months, tables, context, context.resources.warehouse.run_docs):
                    if isinstance(item, pd.DataFrame):
                        tables[stage.table.name] = item
                    else:
                        checks[stage.table.name].append(item)
                        yield item
            # Every suite passed: only now does anything reach the warehouse, staged by the IO manager ...
            for stage in stages:
                frame = tables[stage.table.name]
                _month_metadata(context, stage, frame, checks[stage.table.name])
                yield dg.Output(
                    frame,
                    output_name=stage.table.name,
                    metadata={"dagster/column_lineage": stage.table.column_lineage()},
                )
            # ... staged by the IO manager, and committed per month once all are stored, so readers never see a month
            # half new.
            context.resources.io_manager.commit_months(
                months, [stage.table.name for stage in stages], context.run.run_id
            )

    return _chain


def build_stage_asset(
    stage: GatedTable,
    *,
    group: str,
    inputs: Mapping[str, tuple[Table, dg.PartitionMapping | None]],
    lock: LockFn = no_lock,
    pool: str | None = None,
    automation_condition: dg.AutomationCondition | None = None,
) -> dg.AssetsDefinition:
    """One gated, unpartitioned asset whose inputs are loaded by the IO manager (conformed to their tables)."""

    @dg.asset(
        name=stage.table.name,
        description=stage.description,
        group_name=group,
        owners=OWNERS,
        kinds=set(stage.kinds),
        metadata=stage.definition_metadata(),
        check_specs=stage.check_specs(),
        code_version=versions.code_version(stage.table.name),
        ins={
            name: dg.AssetIn(key=dg.AssetKey(table.name), partition_mapping=mapping)
            for name, (table, mapping) in inputs.items()
        },
        # the warehouse: its lock, the stored tables it reads, and the Data Docs
        required_resource_keys={"warehouse"},
        pool=pool,
        automation_condition=automation_condition,
    )
    def _asset(context, **loaded):
        tables = {name: inputs[name][0].conform(frame) for name, frame in loaded.items()}
        with lock(context, []):
            for item in build_and_check(stage, [], tables, context, context.resources.warehouse.run_docs):
                yield _output(stage, item) if isinstance(item, pd.DataFrame) else item

    return _asset
