"""One factory for every table the pipeline publishes: build, gate with its expectation suite, then store.

A stage is declared as data (its table, suite, inputs and build function); the factory adds what every stage shares:
WARN checks for drift, the blocking ERROR check that fails before anything is written, lineage and row counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg
import great_expectations as gx
import pandas as pd

from casi_pipeline.errors import StageError
from casi_pipeline.quality.gx import metadata_json, run_suite
from casi_pipeline.storage.tables import Table

OWNERS = ["team:leaderboard"]
WAREHOUSE_IO = "warehouse"
PREVIEW_ROWS = 10


@contextmanager
def beta_api() -> Iterator[None]:
    """Use a Dagster API that 1.13 marks beta, knowingly: single-run backfills, month-offset partition mappings
    and code references. Only its BetaWarning is silenced, only here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield


def suite_check_name(table: str) -> str:
    return f"{table}_suite"


@dataclass
class StageResult:
    frame: pd.DataFrame
    findings: dict[str, list[dict]] = field(default_factory=dict)  # WARN check name -> rows found
    check_frame: pd.DataFrame | None = None  # what the suite validates, when it needs more columns than are stored


@dataclass(frozen=True)
class StageInput:
    table: Table
    partition_mapping: dg.PartitionMapping | None = None


@dataclass(frozen=True)
class Stage:
    table: Table
    description: str
    group: str
    suite: gx.ExpectationSuite
    locate: tuple[str, ...]
    # (release months, conformed inputs by name, resources) -> StageResult; raises StageError for unreadable input
    build: Callable[[list[str], dict[str, pd.DataFrame], dg.AssetExecutionContext], StageResult]
    inputs: Mapping[str, StageInput] = field(default_factory=dict)
    deps: tuple[dg.AssetKey, ...] = ()
    warn_checks: Mapping[str, str] = field(default_factory=dict)  # name -> description
    partitions_def: dg.PartitionsDefinition | None = None
    backfill_policy: dg.BackfillPolicy | None = None
    kinds: frozenset[str] = frozenset({"pandas", "parquet"})
    required_resources: frozenset[str] = frozenset()


def _warn_result(check: str, rows: list[dict]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check, passed=not rows, severity=dg.AssetCheckSeverity.WARN,
        metadata={"count": len(rows), "found": metadata_json(rows[:50])},
    )


def _preview(frame: pd.DataFrame) -> str:
    return frame.head(PREVIEW_ROWS).to_markdown(index=False) if not frame.empty else "_(no rows)_"


def build_stage_asset(stage: Stage) -> dg.AssetsDefinition:
    name = stage.table.name
    key = dg.AssetKey(name)
    check_specs = [dg.AssetCheckSpec(suite_check_name(name), asset=key, blocking=True,
                                     description=f"the {stage.suite.name} expectation suite (Great Expectations)")]
    check_specs += [dg.AssetCheckSpec(check, asset=key, description=text) for check, text in stage.warn_checks.items()]

    with beta_api():
        decorate = dg.asset(
            name=name,
            description=stage.description,
            group_name=stage.group,
            owners=OWNERS,
            kinds=set(stage.kinds),
            partitions_def=stage.partitions_def,
            backfill_policy=stage.backfill_policy,
            ins={input_name: dg.AssetIn(key=dg.AssetKey(spec.table.name), partition_mapping=spec.partition_mapping)
                 for input_name, spec in stage.inputs.items()},
            deps=list(stage.deps),
            check_specs=check_specs,
            io_manager_key=WAREHOUSE_IO,
            required_resource_keys=set(stage.required_resources),
            metadata={"dagster/column_schema": stage.table.schema(), "dagster/table_name": name},
        )

    @decorate
    def _stage_asset(context, **inputs):
        release_months = list(context.partition_keys) if stage.partitions_def else []
        conformed = {input_name: stage.inputs[input_name].table.conform(frame) for input_name, frame in inputs.items()}
        try:
            result = stage.build(release_months, conformed, context)
        except StageError as error:
            yield dg.AssetCheckResult(check_name=suite_check_name(name), passed=False,
                                      severity=dg.AssetCheckSeverity.ERROR, metadata={"errors": metadata_json(error.lines)})
            raise dg.Failure(description=str(error), metadata={"errors": metadata_json(error.lines)}) from None
        for check in stage.warn_checks:
            yield _warn_result(check, result.findings.get(check, []))
        report = run_suite(result.check_frame if result.check_frame is not None else result.frame, stage.suite,
                           stage.locate)
        yield report.check_result(suite_check_name(name), key)
        if not report.success:
            lines = report.failure_lines(name)
            # Gate before the write: the stored table stays what it was.
            raise dg.Failure(description="\n".join(lines), metadata={"errors": metadata_json(lines)})
        frame = stage.table.conform(result.frame)
        yield dg.Output(frame, metadata={
            "dagster/row_count": len(frame),
            "dagster/column_lineage": stage.table.column_lineage(),
            "preview": dg.MetadataValue.md(_preview(frame)),
        })

    return _stage_asset
