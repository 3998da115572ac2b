"""Wiring of the release stages: ingest -> validate -> normalise -> leaderboard (the score stage), and the
restatements that normalise finds.

They form one multi-asset partitioned by release month: each stage is an asset with its own expectation suite,
and a month's tables land together only when every suite has passed (see casi_pipeline.factory). A run holds the
lock of each of its months from the first read to the last write, so two runs of one month take turns.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from casi_pipeline import months, versions
from casi_pipeline.errors import RawInputError, StageError
from casi_pipeline.factory import GatedTable, StageResult, beta_api, build_stage_chain, owned_source
from casi_pipeline.identity import NEAR_DUPLICATE_LABELS, UNKNOWN_MODELS
from casi_pipeline.partitions import one_run_per_backfill, release_month_partitions
from casi_pipeline.pools import RELEASE_POOL
from casi_pipeline.published.retention import retain_published
from casi_pipeline.quality.suite_parts import BOARD_LOCATION, RAW_LOCATION
from casi_pipeline.raw import ledger
from casi_pipeline.reference import benchmark_catalogue, methodology, metric_catalogue, registry
from casi_pipeline.release import ingest, suites
from casi_pipeline.release.normalise import RESTATED_VALUES, normalise
from casi_pipeline.release.performance import PERFORMANCE_MISMATCH, UNKNOWN_BENCHMARKS
from casi_pipeline.release.score import previous_month, score
from casi_pipeline.release.tables import INGEST, LEADERBOARD, NORMALISE, RAW, RAW_MONTH, RESTATEMENTS, VALIDATE
from casi_pipeline.release.validate import validate

GROUP = "release"

with beta_api():
    # An external asset has no function of its own to reference: link the code that reads it.
    raw_reader = dg.CodeReferencesMetadataValue(
        code_references=[
            dg.LocalFileCodeReference(file_path=ingest.__file__, line_number=1, label="the raw drop reader")
        ]
    )

RAW_DESCRIPTION = (
    "Release drops as the publisher or an operator left them: data_raw/<YYYY-MM>/casi_rolling_12_months.csv (Model, "
    "<Mon>...), metrics.csv (provider, model, metrics) and benchmarks.csv (provider, model, benchmark, score). Never "
    "changed: the refresh only adds files (a restated snapshot lands beside the one it restates). Observed per "
    "release month: its data version is the sha256 of the files that feed the month and the month before, so a "
    "month whose drops changed shows as stale."
)
RAW_METADATA: dict[str, Any] = {
    "dagster/column_schema": dg.TableSchema(
        columns=[
            dg.TableColumn("Model", "str", "rolling snapshot: `<Provider> <Model>` label"),
            dg.TableColumn(RAW_MONTH, "str", "rolling snapshot: one column per month, CASI top-10 values"),
            dg.TableColumn("provider", "str", "metrics.csv: provider"),
            dg.TableColumn("model", "str", "metrics.csv: model"),
            *(
                dg.TableColumn(name, "str", f"metrics.csv: {metric.description}")
                for name, metric in metric_catalogue().metrics.items()
                if metric.raw
            ),
            dg.TableColumn("benchmark", "str", "benchmarks.csv: benchmark name (see reference/benchmarks.yaml)"),
            dg.TableColumn("score", "str", "benchmarks.csv: the model's score on that benchmark, 0..100"),
        ]
    ),
    "dagster/code_references": raw_reader,
}

with beta_api():

    @dg.observable_source_asset(
        name=RAW,
        description=RAW_DESCRIPTION,
        group_name=GROUP,
        metadata=RAW_METADATA,
        tags={"dagster/kind/csv": ""},
        partitions_def=release_month_partitions,
        required_resource_keys={"raw"},
    )
    def observe_raw_drops(context) -> dg.DataVersionsByPartition:
        """One data version per release month fed by some drop (versions.release_data_versions)."""
        return dg.DataVersionsByPartition(
            {
                month: dg.DataVersion(version)
                for month, version in versions.release_data_versions(context.resources.raw.path).items()
            }
        )


raw_drops = owned_source(observe_raw_drops)


def _ingest(release_months: list[str], _tables, context) -> StageResult:
    frames, errors = [], []
    for month in release_months:
        try:
            frames.append(ingest.ingest_release(context.resources.raw.path, month))
        except RawInputError as error:
            errors.append(f"{month} ingest: {error}")
    if errors:
        raise StageError(errors)
    frame = pd.concat(frames, ignore_index=True) if frames else INGEST.empty()
    refuse_edited_files(frame, release_months, context)
    return StageResult(frame)


def refuse_edited_files(frame: pd.DataFrame, release_months: list[str], context) -> None:
    """Landed files are immutable: one line per file whose sha256 differs from its record, naming the months it
    feeds in this run."""
    stored = context.resources.warehouse.read_partitions(INGEST.name, release_months)
    current = dict(zip(frame["source_file"], frame["source_sha256"], strict=True))
    edited = ledger.refuse_edits(context.resources.raw.path, current, stored)
    fed = frame.groupby("source_file")["release_month"].unique()
    if edited:
        raise StageError([f"{months.range_label(sorted(fed[error.path]))} ingest: {error}" for error in edited])


def _validate(_months, tables, _context) -> StageResult:
    return StageResult(validate(tables["ingest"], metric_catalogue().raw_metrics))


def _normalise(_months, tables, _context) -> StageResult:
    table, conflicts, findings = normalise(
        tables["validate"], registry(), metric_catalogue().raw_metrics, benchmark_catalogue()
    )
    restated = pd.DataFrame(findings.rows.pop(RESTATED_VALUES, []), columns=RESTATEMENTS.names)
    return StageResult(
        table,
        findings.rows,
        check_frame=table.assign(in_drop_conflict=conflicts),
        intermediates={RESTATED_VALUES: restated},
    )


def _restatements(release_months: list[str], tables, context) -> StageResult:
    """What normalise found restated, plus every restatement recorded before for these months: the record only grows,
    even when the older drop is later removed."""
    recorded = RESTATEMENTS.conform(context.resources.warehouse.read_partitions(RESTATEMENTS.name, release_months))
    found = RESTATEMENTS.conform(tables[RESTATED_VALUES])
    table = retain_published(recorded, found, RESTATEMENTS.names)
    return StageResult(table, {RESTATED_VALUES: table.to_dict("records")})


def _leaderboard(release_months: list[str], tables, context) -> StageResult:
    """Score each month; the change in security needs the month before, from this run or from the warehouse."""
    normalised = tables["normalise"]
    before_range = previous_month(release_months[0])
    stored = NORMALISE.conform(context.resources.warehouse.read_partitions(NORMALISE.name, [before_range]))
    if stored.empty and before_range in context.resources.raw.release_months():
        raise StageError(
            [
                f"{release_months[0]} leaderboard: release month {before_range} has raw data but no "
                f"normalise table; materialise it first (casi-pipeline backfill)"
            ]
        )
    return StageResult(score(normalised, pd.concat([stored, normalised], ignore_index=True), methodology()))


STAGES = [
    GatedTable(
        INGEST,
        "Every raw file that feeds a release month, whole and exactly as written, with file, row and sha256: "
        "the drop of that month and every newer rolling snapshot that still carries it.",
        suites.ingest_suite(INGEST.names, metric_catalogue()),
        RAW_LOCATION,
        _ingest,
        kinds=frozenset({"csv", "pandas", "parquet"}),
    ),
    GatedTable(
        VALIDATE,
        "Typed values, each inside the range the metric catalogue allows.",
        suites.validate_suite(metric_catalogue()),
        RAW_LOCATION,
        _validate,
    ),
    GatedTable(
        NORMALISE,
        "One row per (release month, model): canonical identity from the model registry, and for each metric "
        "the value of the newest drop that carries it, and the Average Performance computed from benchmarks.csv "
        "with the benchmark catalogue. Unknown labels become new models (WARN).",
        suites.normalise_suite(metric_catalogue()),
        suites.MODEL_LOCATION,
        _normalise,
        warn_checks={
            UNKNOWN_MODELS: "labels not in the model registry, added as new models",
            NEAR_DUPLICATE_LABELS: "unknown labels that look like a registered model",
            UNKNOWN_BENCHMARKS: "benchmarks.csv names a benchmark not in the benchmark catalogue "
            "(left out of the computed performance)",
            PERFORMANCE_MISMATCH: "published and computed Average Performance differ by more than the "
            "catalogue's reconciliation tolerance (the board uses the published)",
        },
    ),
    GatedTable(
        RESTATEMENTS,
        "Values that a newer drop restates differently (the newer one wins on the boards): old and new value with "
        "both sources. Append-only: a restatement once recorded stays.",
        suites.restatements_suite(metric_catalogue()),
        suites.MODEL_LOCATION,
        _restatements,
        warn_checks={RESTATED_VALUES: "values that a newer drop restates differently"},
        upstream=VALIDATE.name,
    ),
    GatedTable(
        LEADERBOARD,
        "The score stage: the CASI and ARS boards of a release month, competition-ranked by security, with RTP, "
        "Cost of Security and the change since the previous release month. Performance is the published one when "
        "the drop gives it, else the computed one (performance_basis says which).",
        suites.leaderboard_suite(metric_catalogue(), methodology()),
        BOARD_LOCATION,
        _leaderboard,
        upstream=NORMALISE.name,
    ),
]

release_stages = build_stage_chain(
    "release_stages",
    STAGES,
    group=GROUP,
    description="ingest -> validate -> normalise -> leaderboard for each release month, each gated by its suite",
    upstream=[raw_drops.key],
    partitions_def=release_month_partitions,
    backfill_policy=one_run_per_backfill,
    required_resources={"raw"},
    lock=lambda context, months: context.resources.warehouse.locked(months),
    pool=RELEASE_POOL,
)

assets = [raw_drops, release_stages]
