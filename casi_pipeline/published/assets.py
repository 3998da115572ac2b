"""Cross-release tables, built from every release month: the model dimension and the board history."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from casi_pipeline.factory import Stage, StageResult, build_stage_asset
from casi_pipeline.quality import suites
from casi_pipeline.reference import methodology, registry
from casi_pipeline.release.tables import LEADERBOARD, NORMALISE
from casi_pipeline.storage.tables import Column, Table

GROUP = "published"

MODELS = Table("models", (
    Column("model_id", "str", "canonical model id", (("normalise", "model_id"),)),
    Column("provider", "str", "canonical provider", (("normalise", "provider"),)),
    Column("model", "str", "canonical model display name", (("normalise", "model"),)),
    Column("aliases", "str", "registry aliases and every label seen in the data, '; '-joined", (("normalise", "labels"),)),
    Column("registered", "bool", "true when the model is in the registry", (("normalise", "registered"),)),
    Column("first_release_month", "str", "first release month with a value", (("normalise", "release_month"),)),
    Column("last_release_month", "str", "last release month with a value", (("normalise", "release_month"),)),
))

HISTORY = Table("leaderboard_history", tuple(
    Column(c.name, c.dtype, c.description, (("leaderboard", c.name),)) for c in LEADERBOARD.columns
))


def _models(_months, inputs, _context) -> StageResult:
    normalised = inputs["normalise"]
    aliases = {model.id: set(model.aliases) for model in registry().models}
    rows = []
    for model_id, group in normalised.sort_values("release_month").groupby("model_id", sort=True):
        latest = group.iloc[-1]
        seen = {label for labels in group["labels"] for label in labels.split("; ")}
        rows.append({
            "model_id": model_id, "provider": latest["provider"], "model": latest["model"],
            "aliases": "; ".join(sorted(seen | aliases.get(model_id, set()))),
            "registered": bool(latest["registered"]),
            "first_release_month": group["release_month"].iloc[0], "last_release_month": latest["release_month"],
        })
    return StageResult(pd.DataFrame(rows, columns=MODELS.names))


def _history(_months, inputs, _context) -> StageResult:
    boards = inputs["leaderboard"].sort_values(["release_month", "board", "rank", "model_id"])
    return StageResult(boards)


every_month = dg.AllPartitionMapping()

models = build_stage_asset(
    Stage(MODELS, "The model dimension: one row per canonical model ever seen, with aliases and first/last month.",
          suites.models_suite(), ("model_id",), _models),
    group=GROUP, inputs={"normalise": (NORMALISE, every_month)},
)

leaderboard_history = build_stage_asset(
    Stage(HISTORY, "Every board of every release month: the history the leaderboards are published from.",
          suites.history_suite(methodology()), suites.BOARD_LOCATION, _history),
    group=GROUP, inputs={"leaderboard": (LEADERBOARD, every_month)},
)

assets = [models, leaderboard_history]
