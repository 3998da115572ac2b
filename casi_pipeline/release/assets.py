"""Wiring of the four release stages: ingest -> validate -> normalise -> leaderboard (the score stage).

Each is partitioned by release month and gated by its own expectation suite (see casi_pipeline.factory).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from casi_pipeline import months
from casi_pipeline.errors import RawInputError, StageError
from casi_pipeline.factory import Stage, StageInput, StageResult, beta_api, build_stage_asset
from casi_pipeline.quality import suites
from casi_pipeline.raw import drops
from casi_pipeline.reference import catalogue, methodology, registry
from casi_pipeline.release import transforms
from casi_pipeline.release.tables import INGEST, LEADERBOARD, NORMALISE, RAW, RAW_MONTH, VALIDATE

GROUP = "release"

release_months = dg.MonthlyPartitionsDefinition(
    start_date=months.FIRST_RELEASE_MONTH, fmt="%Y-%m",
    end_offset=1,  # the current month is a valid release month: boards are published during their month
)

with beta_api():
    # A backfill of any range of months is one run; the partitioned stages take a month range.
    one_run_per_backfill = dg.BackfillPolicy.single_run()
    # The score stage also reads the month before (for the change in security); the first month has none.
    this_and_previous_month = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True)

raw_drops = dg.AssetSpec(
    RAW,
    description="Release drops as the publisher or an operator left them: data_raw/<YYYY-MM>/"
                "casi_rolling_12_months.csv (Model, <Mon>...) and metrics.csv (provider, model, metrics). Read-only.",
    group_name=GROUP,
    kinds={"csv"},
    owners=["team:leaderboard"],
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn("Model", "str", "rolling snapshot: `<Provider> <Model>` label"),
        dg.TableColumn(RAW_MONTH, "str", "rolling snapshot: one column per month, CASI top-10 values"),
        dg.TableColumn("provider", "str", "metrics.csv: provider"),
        dg.TableColumn("model", "str", "metrics.csv: model"),
        *(dg.TableColumn(name, "str", f"metrics.csv: {metric.description}")
          for name, metric in catalogue().metrics.items() if metric.raw),
    ])},
)


def _raw_root(context: dg.AssetExecutionContext):
    return context.resources.raw.path


def _ingest(release_months: list[str], _inputs, context) -> StageResult:
    frames, errors = [], []
    for month in release_months:
        try:
            frames.append(drops.ingest_release(_raw_root(context), month))
        except RawInputError as error:
            errors.append(f"{month} ingest: {error}")
    if errors:
        raise StageError(errors)
    return StageResult(pd.concat(frames, ignore_index=True) if frames else INGEST.empty())


def _validate(_months, inputs, _context) -> StageResult:
    return StageResult(transforms.validate(inputs["ingest"], catalogue().raw_metrics))


def _normalise(_months, inputs, _context) -> StageResult:
    table, conflicts, findings = transforms.normalise(inputs["validate"], registry(), catalogue().raw_metrics)
    return StageResult(table, findings.rows, check_frame=table.assign(in_drop_conflict=conflicts))


def _leaderboard(release_months: list[str], inputs, context) -> StageResult:
    normalised = inputs["normalise"]
    boards, available = [], set(normalised["release_month"])
    fed = set(context.resources.raw.release_months())
    for month in release_months:
        before = transforms.previous_month(month)
        if before in fed and before not in available:
            raise StageError([f"{month} leaderboard: release month {before} has raw data but its normalise table "
                              f"is missing; materialise {before} first (casi-pipeline backfill)"])
        boards.append(transforms.score(normalised[normalised["release_month"] == month],
                                       normalised[normalised["release_month"] == before], methodology()))
    return StageResult(pd.concat(boards, ignore_index=True) if boards else LEADERBOARD.empty())


def _stage(table, description, suite, locate, build, **options) -> Stage:
    return Stage(table=table, description=description, group=GROUP, suite=suite, locate=locate, build=build,
                 partitions_def=release_months, backfill_policy=one_run_per_backfill, **options)


ingest = build_stage_asset(_stage(
    INGEST,
    "Every value the raw drops carry for a release month, exactly as written, with file, row and sha256. "
    "For each month it reads the drop of that month and every newer rolling snapshot that still carries it.",
    suites.ingest_suite(INGEST.names, catalogue()), suites.RAW_LOCATION, _ingest,
    deps=(raw_drops.key,), kinds=frozenset({"csv", "pandas", "parquet"}), required_resources=frozenset({"raw"}),
))

validate = build_stage_asset(_stage(
    VALIDATE, "Typed values, each inside the range the metric catalogue allows.",
    suites.validate_suite(catalogue()), suites.RAW_LOCATION, _validate,
    inputs={"ingest": StageInput(INGEST)},
))

normalise = build_stage_asset(_stage(
    NORMALISE,
    "One row per (release month, model): canonical identity from the model registry, and for each metric the "
    "value of the newest drop that carries it. Unknown labels become new models (WARN).",
    suites.normalise_suite(catalogue()), suites.MODEL_LOCATION, _normalise,
    inputs={"validate": StageInput(VALIDATE)},
    warn_checks={
        transforms.UNKNOWN_MODELS: "labels not in the model registry, added as new models",
        transforms.NEAR_DUPLICATE_LABELS: "unknown labels that look like a registered model",
        transforms.RESTATED_VALUES: "values that a newer drop restates differently (the newer one wins)",
    },
))

leaderboard = build_stage_asset(_stage(
    LEADERBOARD,
    "The score stage: the CASI and ARS boards of a release month, competition-ranked by security, with RTP, "
    "Cost of Security and the change since the previous release month.",
    suites.leaderboard_suite(catalogue(), methodology()), suites.BOARD_LOCATION, _leaderboard,
    inputs={"normalise": StageInput(NORMALISE, this_and_previous_month)},
    required_resources=frozenset({"raw"}),
))

assets = [raw_drops, ingest, validate, normalise, leaderboard]
