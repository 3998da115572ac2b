"""Wiring of the red-team stages: redteam_ingest -> redteam_validate -> redteam_normalise -> redteam_scores,
partitioned by release month like the release stages, and the cross-release reconciliation with the published
boards.

The raw rows never become one pandas frame: ingest and validate store one row per file, normalise one row per
label, and the score stage one row per model and board; the suites see every raw row through DuckDB.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from casi_pipeline import versions
from casi_pipeline.automation.publish_sensor import AFTER_UPSTREAM_UPDATE
from casi_pipeline.errors import RawInputError, StageError
from casi_pipeline.factory import GatedTable, StageResult, beta_api, build_stage_asset, build_stage_chain, owned_source
from casi_pipeline.identity import UNKNOWN_MODELS
from casi_pipeline.partitions import one_run_per_backfill, release_month_partitions
from casi_pipeline.pools import PUBLISHED_POOL, REDTEAM_POOL
from casi_pipeline.quality.suite_parts import BOARD_LOCATION, RAW_LOCATION
from casi_pipeline.redteam import raw, suites, transforms
from casi_pipeline.redteam.methodology import redteam_methodology
from casi_pipeline.redteam.tables import INGEST, NORMALISE, RAW, RECONCILIATION, SCORES, VALIDATE
from casi_pipeline.reference import registry
from casi_pipeline.release.tables import LEADERBOARD

GROUP = "redteam"
RECONCILIATION_GROUP = "published"  # cross-release, built with the published tables
STREAMED = frozenset({"duckdb", "parquet"})  # stages whose raw rows DuckDB streams

with beta_api():

    @dg.observable_source_asset(
        name=RAW,
        description="Raw red-team results in a release drop: data_raw/<YYYY-MM>/attacks/*.parquet (one row per run "
        "of an attack against a model) and agentic/*.parquet (one row per model and campaign). Read-only. "
        "Observed per month: its data version covers each file's name, size and modification time.",
        group_name=GROUP,
        tags={"dagster/kind/parquet": ""},
        partitions_def=release_month_partitions,
        required_resource_keys={"raw"},
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(name, kind_type, f"{kind.name}/*.parquet")
                    for kind in raw.KINDS.values()
                    for name, kind_type in kind.columns.items()
                ]
            )
        },
    )
    def observe_redteam_raw(context) -> dg.DataVersionsByPartition:
        return dg.DataVersionsByPartition(
            {
                month: dg.DataVersion(version)
                for month, version in versions.redteam_data_versions(context.resources.raw.path).items()
            }
        )


redteam_raw = owned_source(observe_redteam_raw)


def _ingest(release_months: list[str], _tables, context) -> StageResult:
    root, rows, errors = context.resources.raw.path, [], []
    for month in release_months:
        for kind in raw.KINDS.values():
            for path in raw.files(root, month, kind):
                try:
                    rows.append(raw.inspect(root, month, kind, path))
                except RawInputError as error:
                    errors.append(f"{month} redteam_ingest: {error}")
    if errors:
        raise StageError(errors)
    return StageResult(INGEST.conform(pd.DataFrame(rows, columns=INGEST.names)))


UNITS = "redteam_units"  # intermediate of validate: its pass's rows grouped per unit, read by normalise and scores


def _validate(_months, tables, context) -> StageResult:
    """One pass over every raw row: the suite's counts and the per-unit sums the later stages read. The located
    rows (file, row) are read again only to sample a rule that failed."""
    manifest, root, suite = tables[INGEST.name], context.resources.raw.path, suites.validate_suite()
    counted = suite.count(transforms.raw_rows(root, manifest, located=False), transforms.unit_scans())
    return StageResult(
        manifest.assign(rules_passed=len(suite.rules)),
        rows_sql=transforms.raw_rows(root, manifest),
        counted=counted,
        intermediates={UNITS: counted},
    )


def _normalise(_months, tables, _context) -> StageResult:
    groups = [transforms.units(tables[UNITS], kind) for kind in raw.KINDS.values()]
    table, findings = transforms.normalise(transforms.label_counts(groups), registry())
    return StageResult(table, findings.rows)


def _score(release_months: list[str], tables, _context) -> StageResult:
    boards = [
        transforms.score_board(
            transforms.units(tables[UNITS], kind), tables[NORMALISE.name], month, kind, redteam_methodology()
        )
        for month in release_months
        for kind in raw.KINDS.values()
    ]
    return StageResult(pd.concat(boards, ignore_index=True))


STAGES = [
    GatedTable(
        INGEST,
        "One row per raw red-team file feeding the month: kind, sha256, rows (from the Parquet footer). "
        "A file with other columns or types is refused whole.",
        suites.ingest_suite(),
        suites.FILE_LOCATION,
        _ingest,
    ),
    GatedTable(
        VALIDATE,
        "The files whose every row passed the row and key rules (checked in DuckDB, streamed).",
        suites.validate_suite(),
        RAW_LOCATION,
        _validate,
        kinds=STREAMED,
    ),
    GatedTable(
        NORMALISE,
        "One row per (month, kind, label): the canonical model each raw label names.",
        suites.normalise_suite(),
        suites.LABEL_LOCATION,
        _normalise,
        warn_checks={UNKNOWN_MODELS: "labels not in the model registry, scored as new models"},
    ),
    GatedTable(
        SCORES,
        "The score stage: CASI-style and ARS-style boards computed from raw results (methodology "
        "redteam-v1), with bootstrap intervals, competition rank and rank interval.",
        suites.scores_suite(sorted(kind.board for kind in raw.KINDS.values())),
        BOARD_LOCATION,
        _score,
        kinds=STREAMED,
    ),
]

redteam_stages = build_stage_chain(
    "redteam_stages",
    STAGES,
    group=GROUP,
    description="redteam_ingest -> validate -> normalise -> scores for each release month, each gated by its suite",
    upstream=[redteam_raw.key],
    partitions_def=release_month_partitions,
    backfill_policy=one_run_per_backfill,
    required_resources={"raw"},
    pool=REDTEAM_POOL,
    # like the release stages: the month's commit record is shared, so two writers of one month take turns
    lock=lambda context, months: context.resources.warehouse.locked(months),
)


def _reconciliation(_months, inputs, _context) -> StageResult:
    return StageResult(transforms.reconcile(inputs["redteam_scores"], inputs["leaderboard"]))


redteam_reconciliation = build_stage_asset(
    GatedTable(
        RECONCILIATION,
        "Scores computed here from raw results beside the published board's score, where both "
        "exist for the same month, board and model.",
        suites.reconciliation_suite(),
        BOARD_LOCATION,
        _reconciliation,
    ),
    group=RECONCILIATION_GROUP,
    inputs={
        "redteam_scores": (SCORES, dg.AllPartitionMapping()),
        "leaderboard": (LEADERBOARD, dg.AllPartitionMapping()),
    },
    pool=PUBLISHED_POOL,
    automation_condition=AFTER_UPSTREAM_UPDATE,
)

assets = [redteam_raw, redteam_stages, redteam_reconciliation]
