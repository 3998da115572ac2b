"""Cross-release tables, built from every release month: the model dimension and the board history.

Both are append-only in effect: each reads its own stored table and keeps every row the current data no longer
produces (retention.retain_published), so removing an old drop never unpublishes a board row or a model.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from casi_pipeline.automation.publish_sensor import AFTER_UPSTREAM_UPDATE
from casi_pipeline.factory import GatedTable, StageResult, build_stage_asset
from casi_pipeline.pools import PUBLISHED_POOL
from casi_pipeline.published import suites
from casi_pipeline.published.retention import retain_published
from casi_pipeline.quality.suite_parts import BOARD_LOCATION
from casi_pipeline.reference import methodology, registry
from casi_pipeline.release.tables import LEADERBOARD, NORMALISE
from casi_pipeline.storage.tables import Column, Table, model_identity
from casi_pipeline.storage.warehouse import PUBLISHED_LOCK

GROUP = "published"

MODELS = Table(
    "models",
    (
        *model_identity("normalise"),
        Column(
            "aliases",
            "str",
            "registry aliases and every label seen in the data, '; '-joined",
            (("normalise", "labels"),),
        ),
        Column("registered", "bool", "true when the model is in the registry", (("normalise", "registered"),)),
        Column("first_release_month", "str", "first release month with a value", (("normalise", "release_month"),)),
        Column("last_release_month", "str", "last release month with a value", (("normalise", "release_month"),)),
    ),
)

HISTORY = Table(
    "leaderboard_history",
    (
        *(Column(c.name, c.dtype, c.description, (("leaderboard", c.name),)) for c in LEADERBOARD.columns),
        Column(
            "in_current_data",
            "bool",
            "false when the current raw data no longer produces this row (e.g. its drop "
            "was removed); it stays because it was published",
        ),
    ),
)
HISTORY_KEY = ["release_month", "board", "model_id"]


def _published(context, table: Table) -> pd.DataFrame:
    return table.conform(context.resources.warehouse.read_table(table.name))


def _models(_months, inputs, context) -> StageResult:
    normalised = inputs["normalise"]
    aliases = {model.id: set(model.aliases) for model in registry().models}
    rows = []
    for model_id, group in normalised.sort_values("release_month").groupby("model_id", sort=True):
        latest = group.iloc[-1]
        seen = {label for labels in group["labels"] for label in labels.split("; ")}
        rows.append(
            {
                "model_id": model_id,
                "provider": latest["provider"],
                "model": latest["model"],
                "aliases": "; ".join(sorted(seen | aliases.get(model_id, set()))),
                "registered": bool(latest["registered"]),
                "first_release_month": group["release_month"].iloc[0],
                "last_release_month": latest["release_month"],
            }
        )
    current = MODELS.conform(pd.DataFrame(rows, columns=MODELS.names))
    return StageResult(retain_published(_published(context, MODELS), current, ["model_id"]))


def _history(_months, inputs, context) -> StageResult:
    current = HISTORY.conform(inputs["leaderboard"].assign(in_current_data=True))
    published = _published(context, HISTORY).assign(in_current_data=False)
    kept = retain_published(published, current, HISTORY_KEY)
    return StageResult(kept.sort_values(["release_month", "board", "rank", "model_id"], ignore_index=True))


every_month = dg.AllPartitionMapping()


def published_lock(context, _months):
    """Both tables read their own stored table, so two publishing runs take turns."""
    return context.resources.warehouse.locked([PUBLISHED_LOCK])


models = build_stage_asset(
    GatedTable(
        MODELS,
        "The model dimension: one row per canonical model ever seen, with aliases and first/last month.",
        suites.models_suite(),
        ("model_id",),
        _models,
    ),
    group=GROUP,
    inputs={"normalise": (NORMALISE, every_month)},
    automation_condition=AFTER_UPSTREAM_UPDATE,
    lock=published_lock,
    pool=PUBLISHED_POOL,
)

leaderboard_history = build_stage_asset(
    GatedTable(
        HISTORY,
        "Every board of every release month: the history the leaderboards are published from.",
        suites.history_suite(methodology()),
        BOARD_LOCATION,
        _history,
    ),
    group=GROUP,
    inputs={"leaderboard": (LEADERBOARD, every_month)},
    automation_condition=AFTER_UPSTREAM_UPDATE,
    lock=published_lock,
    pool=PUBLISHED_POOL,
)

assets = [models, leaderboard_history]
