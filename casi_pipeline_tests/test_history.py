"""History is append-only in effect: a later snapshot that drops an old month or restates a value, and an old drop
that is removed, never unpublish a board row; restated values are recorded, with both sources, and warned about."""

import shutil

import dagster as dg
import pandas as pd

from .conftest import add_drop, read_table, run_cli

ROLLING = "casi_rolling_12_months.csv"
# December's snapshot: October to December.
DECEMBER = ("Model,Oct,Nov,Dec\n"
            "OpenAI GPT-5,78.96,80.31,84.08\n"
            "Anthropic Claude Sonnet 4.5,,95.86,96.88\n")
# January's no longer carries October, restates GPT-5's December value, and leaves Sonnet's November cell empty.
JANUARY = ("Model,Nov,Dec,Jan\n"
           "OpenAI GPT-5,80.31,84.1,81.98\n"
           "Anthropic Claude Sonnet 4.5,,96.88,97.76\n")
KEY = ["release_month", "board", "model_id"]


def keys(frame: pd.DataFrame) -> set[tuple]:
    return set(map(tuple, frame[KEY].values.tolist()))


def restated_values_warnings(settings) -> list[dg.AssetCheckEvaluation]:
    """The failed evaluations of the restated_values WARN check, over every run (one run per release month)."""
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        key = dg.AssetCheckKey(dg.AssetKey("restatements"), "restated_values")
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        evaluations = [record.event.asset_check_evaluation for record in records if record.event is not None]
        return [evaluation for evaluation in evaluations if evaluation is not None and not evaluation.passed]
    finally:
        instance.dispose()


def test_every_published_row_stays_and_restatements_are_recorded(settings):
    add_drop(settings.data_raw, "2025-12", {ROLLING: DECEMBER})
    assert run_cli(settings, "run") == 0
    first = read_table(settings.warehouse, "leaderboard_history")
    assert len(first) == 5 and first["in_current_data"].all()

    add_drop(settings.data_raw, "2026-01", {ROLLING: JANUARY})
    assert run_cli(settings, "run") == 0
    restatements = read_table(settings.warehouse, "restatements")
    assert restatements.drop(columns="release_month").to_dict("records") == [{
        "model_id": "openai/gpt-5", "metric": "casi",
        "old_value": 84.08, "old_source": f"data_raw/2025-12/{ROLLING}:2",
        "new_value": 84.1, "new_source": f"data_raw/2026-01/{ROLLING}:2"}]
    assert restatements["release_month"].tolist() == ["2025-12"]
    [warned] = restated_values_warnings(settings)  # the 2025-12 run's
    assert warned.severity == dg.AssetCheckSeverity.WARN and warned.metadata["count"].value == 1

    shutil.rmtree(settings.data_raw / "2025-12")  # the operator removes the old drop
    assert run_cli(settings, "run") == 0
    history = read_table(settings.warehouse, "leaderboard_history")
    assert keys(first) <= keys(history)  # nothing once published is gone
    # October is fed by no drop now: its stored board stays. Sonnet's November came only from the removed drop:
    # the board no longer has it, the history keeps it, marked as no longer in the current data.
    october = history[history["release_month"] == "2025-10"]
    assert october[["model", "security", "in_current_data"]].values.tolist() == [["GPT-5", 78.96, True]]
    november = history[history["release_month"] == "2025-11"].set_index("model")
    assert november.loc["Claude Sonnet 4.5", ["security", "in_current_data"]].tolist() == [95.86, False]
    assert november.loc["Claude Sonnet 4.5", "source_file"] == f"data_raw/2025-12/{ROLLING}"
    assert november.loc["GPT-5", "in_current_data"]
    november_board = read_table(settings.warehouse, "leaderboard").query("release_month == '2025-11'")
    assert november_board["model"].tolist() == ["GPT-5"]
    december = history[history["release_month"] == "2025-12"].set_index("model")
    assert december.loc["GPT-5", "security"] == 84.1  # the restated value is the one published now ...
    # ... and the restatement stays recorded, although its older drop is gone.
    assert read_table(settings.warehouse, "restatements")["old_value"].tolist() == [84.08]
