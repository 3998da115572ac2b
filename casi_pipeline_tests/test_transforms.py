"""Stage logic called directly: identity, newest-drop-wins, conflicts, ranking, RTP, CoS and month-over-month change."""

import math

import pandas as pd
import pytest

from casi_pipeline.reference import metric_catalogue, methodology, registry
from casi_pipeline.identity import NEAR_DUPLICATE_LABELS, UNKNOWN_MODELS
from casi_pipeline.release.normalise import RESTATED_VALUES
from casi_pipeline.release.normalise import normalise as normalise_validated
from casi_pipeline.release.score import score
from casi_pipeline.release.tables import VALIDATE

METRICS = metric_catalogue().raw_metrics


def validated(*rows: dict) -> pd.DataFrame:
    base = {"release_month": "2025-09", "value_month": "2025-09", "drop_month": "2025-09", "source_sha256": "0" * 64, "source_column": None}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    default = "data_raw/2025-09/metrics.csv"
    frame["source_file"] = frame["source_file"].fillna(default) if "source_file" in frame else default
    return VALIDATE.conform(frame)


def normalise(*rows: dict):
    return normalise_validated(validated(*rows), registry(), METRICS)


def test_labels_resolve_to_canonical_models():
    table, conflicts, findings = normalise(
        {"label": "Qwen Qwen3-30B", "casi": 64.26, "source_row": 2},
        {"label": "OpenAI gpt 5 nano", "casi": 86.44, "source_row": 3},
    )
    assert table.set_index("model_id")["model"].to_dict() == {"qwen/qwen3-30b-a3b": "Qwen3-30B-A3B",
                                                              "openai/gpt-5-nano": "GPT-5 Nano"}
    assert conflicts.isna().all() and findings.rows == {}


def test_unknown_label_becomes_new_model_and_warns():
    table, _, findings = normalise({"label": "Acme Rocket-1", "casi": 50.0, "source_row": 2},
                                   {"label": "OpenAI GPT-5 Nanoo", "casi": 51.0, "source_row": 3})
    assert set(table["model_id"]) == {"acme/rocket-1", "openai/gpt-5-nanoo"}
    assert not table["registered"].any()
    assert [row["label"] for row in findings.rows[UNKNOWN_MODELS]] == ["Acme Rocket-1", "OpenAI GPT-5 Nanoo"]
    assert findings.rows[NEAR_DUPLICATE_LABELS] == [
        {"label": "OpenAI GPT-5 Nanoo", "close_to": "openai/gpt-5-nano"}]


def test_newest_drop_wins_and_a_restatement_warns():
    table, conflicts, findings = normalise(
        {"label": "OpenAI GPT-5", "casi": 82.34, "performance": 69.0, "source_row": 8},
        {"label": "OpenAI GPT-5", "casi": 82.40, "drop_month": "2026-02", "source_row": 5,
         "source_file": "data_raw/2026-02/casi_rolling_12_months.csv", "source_column": "Sep"},
    )
    row = table.iloc[0]
    assert row["casi"] == 82.40 and row["casi_source"] == "data_raw/2026-02/casi_rolling_12_months.csv:5"
    assert row["performance"] == 69.0 and row["performance_source"] == "data_raw/2025-09/metrics.csv:8"
    assert findings.rows[RESTATED_VALUES] == [{
        "release_month": "2025-09", "model_id": "openai/gpt-5", "metric": "casi",
        "old_value": 82.34, "old_source": "data_raw/2025-09/metrics.csv:8",
        "new_value": 82.40, "new_source": "data_raw/2026-02/casi_rolling_12_months.csv:5"}]
    assert conflicts.isna().all()


def test_a_restatement_within_a_drop_wins_over_the_file_it_restates_and_warns():
    rolling = {"label": "OpenAI GPT-5", "source_row": 5, "source_column": "Sep"}
    first = "data_raw/2025-09/casi_rolling_12_months.csv"
    second, third = (f"data_raw/2025-09/casi_rolling_12_months.restated-2025100{day}T060000Z.csv" for day in (3, 4))
    table, conflicts, findings = normalise(
        {**rolling, "casi": 82.40, "source_file": third},  # the order read does not matter: the stamp does
        {**rolling, "casi": 82.34, "source_file": first},
        {**rolling, "casi": 82.38, "source_file": second},
        {"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 8},  # metrics.csv agrees with the first snapshot
    )
    assert table.iloc[0]["casi"] == 82.40 and table.iloc[0]["casi_source"] == f"{third}:5"
    assert conflicts.isna().all()  # a restatement may differ from the drop's other files: it is newer
    assert [(f["old_value"], f["old_source"]) for f in findings.rows[RESTATED_VALUES]] == [
        (82.34, "data_raw/2025-09/metrics.csv:8"), (82.38, f"{second}:5")]


def test_restatements_are_reported_per_model_and_metric_each_older_drop_once_oldest_first():
    snapshot = "data_raw/{}/casi_rolling_12_months.csv"
    _, conflicts, findings = normalise(
        {"label": "OpenAI GPT-5 Mini", "casi": 80.5, "drop_month": "2025-10", "source_row": 7,
         "source_file": snapshot.format("2025-10"), "source_column": "Sep"},
        {"label": "OpenAI GPT-5 Mini", "casi": 80.0, "source_row": 9},
        {"label": "OpenAI GPT-5", "casi": 82.40, "drop_month": "2026-02", "source_row": 5,
         "source_file": snapshot.format("2026-02"), "source_column": "Sep"},
        {"label": "OpenAI GPT-5", "casi": 82.40, "drop_month": "2025-11", "source_row": 6,  # as the newest: not restated
         "source_file": snapshot.format("2025-11"), "source_column": "Sep"},
        {"label": "OpenAI GPT-5", "casi": 82.36, "drop_month": "2025-10", "source_row": 6,
         "source_file": snapshot.format("2025-10"), "source_column": "Sep"},
        {"label": "OpenAI GPT-5", "casi": 82.34, "performance": 69.0, "source_row": 8},
        # the drop's snapshot agrees with its metrics.csv: the drop is one older value, not two
        {"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 4, "source_file": snapshot.format("2025-09"),
         "source_column": "Sep"},
        {"label": "OpenAI GPT-5", "performance": 70.0, "drop_month": "2025-11", "source_row": 3,
         "source_file": "data_raw/2025-11/metrics.csv"},
    )
    newest_casi = f"{snapshot.format('2026-02')}:5"
    assert [(f["model_id"], f["metric"], f["old_value"], f["old_source"], f["new_value"], f["new_source"])
            for f in findings.rows[RESTATED_VALUES]] == [
        ("openai/gpt-5", "casi", 82.34, "data_raw/2025-09/metrics.csv:8", 82.40, newest_casi),
        ("openai/gpt-5", "casi", 82.36, f"{snapshot.format('2025-10')}:6", 82.40, newest_casi),
        ("openai/gpt-5", "performance", 69.0, "data_raw/2025-09/metrics.csv:8", 70.0, "data_raw/2025-11/metrics.csv:3"),
        ("openai/gpt-5-mini", "casi", 80.0, "data_raw/2025-09/metrics.csv:9", 80.5, f"{snapshot.format('2025-10')}:7"),
    ]
    assert conflicts.isna().all()


def test_values_of_other_months_in_a_whole_file_are_ignored():
    table, _, _ = normalise({"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 2},
                            {"label": "OpenAI GPT-5.2", "casi": 93.37, "source_row": 3, "value_month": "2026-02"})
    assert table["model_id"].tolist() == ["openai/gpt-5"]


def test_same_value_in_two_drops_is_not_a_restatement():
    _, _, findings = normalise(
        {"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 8},
        {"label": "OpenAI GPT-5", "casi": 82.34, "drop_month": "2026-02", "source_row": 5,
         "source_file": "data_raw/2026-02/casi_rolling_12_months.csv", "source_column": "Sep"},
    )
    assert RESTATED_VALUES not in findings.rows


def test_files_of_one_drop_that_disagree_are_a_conflict():
    _, conflicts, _ = normalise(
        {"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 8},
        {"label": "OpenAI GPT-5", "casi": 82.35, "source_row": 5,
         "source_file": "data_raw/2025-09/casi_rolling_12_months.csv", "source_column": "Sep"},
    )
    assert conflicts.iloc[0] == ("files of one drop disagree: data_raw/2025-09/casi_rolling_12_months.csv row 5: "
                                 "casi=82.35 vs data_raw/2025-09/metrics.csv row 8: casi=82.34")


def test_one_model_under_two_labels_in_one_column_is_a_conflict():
    _, conflicts, _ = normalise(
        {"label": "Qwen Qwen3-30B", "casi": 64.26, "source_row": 2, "source_column": "Jul"},
        {"label": "Qwen Qwen3-30B-A3B", "casi": 64.26, "source_row": 3, "source_column": "Jul"},
    )
    assert conflicts.iloc[0].startswith("listed twice in one file")


def test_conflicts_of_a_model_are_joined_in_order_and_a_model_without_any_has_none():
    snapshot = {"source_file": "data_raw/2025-09/casi_rolling_12_months.csv", "source_column": "Sep"}
    metrics = "data_raw/2025-09/metrics.csv"
    table, conflicts, _ = normalise(
        {"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 4},
        {"label": "Qwen Qwen3-30B-A3B", "casi": 64.26, "source_row": 3},  # metrics.csv has no column: one column
        {"label": "Qwen Qwen3-30B", "casi": 64.26, "source_row": 2},
        {"label": "Qwen Qwen3-30B", "casi": 64.3, "source_row": 5, **snapshot},
        {"label": "OpenAI GPT-5", "casi": 82.34, "source_row": 6, **snapshot},
        # a restatement may differ from the drop's other files: it is newer
        {"label": "Qwen Qwen3-30B", "casi": 64.5, "source_row": 5, **snapshot,
         "source_file": "data_raw/2025-09/casi_rolling_12_months.restated-20251003T060000Z.csv"},
    )
    by_model = pd.Series(conflicts.to_numpy(), index=table["model_id"])
    assert pd.isna(by_model["openai/gpt-5"])
    assert by_model["qwen/qwen3-30b-a3b"] == (
        f"listed twice in one file: {metrics} row 2: casi=64.26 vs {metrics} row 3: casi=64.26; "
        f"files of one drop disagree: {snapshot['source_file']} row 5: casi=64.3 vs {metrics} row 2: casi=64.26 vs "
        f"{metrics} row 3: casi=64.26")


def board(rows, previous=()):
    columns = {"release_month": "2026-01", "provider": "P", "model": "M"}
    current = normalise_frame([{**columns, **row} for row in rows])
    before = normalise_frame([{**columns, "release_month": "2025-12", **row} for row in previous])
    return score(current, before, methodology())


def normalise_frame(rows):
    from casi_pipeline.release.tables import NORMALISE
    frame = pd.DataFrame(rows).assign(registry_version=1, registered=True)
    for metric in ("casi", "ars"):
        if metric in frame:
            frame[f"{metric}_source"] = "data_raw/2026-02/casi_rolling_12_months.csv:7"
            frame[f"{metric}_sha256"] = "f" * 64
    return NORMALISE.conform(frame)


def test_competition_ranking_with_tie_flag():
    scored = board([{"model_id": "a/a", "casi": 97.86}, {"model_id": "a/b", "casi": 97.76},
                    {"model_id": "a/c", "casi": 95.75}, {"model_id": "a/d", "casi": 95.75},
                    {"model_id": "a/e", "casi": 92.63}])
    assert scored["rank"].tolist() == [1, 2, 3, 3, 5]
    assert scored["tied"].tolist() == [False, False, True, True, False]
    assert set(scored["board"]) == {"CASI"}
    assert scored["source_file"].iloc[0] == "data_raw/2026-02/casi_rolling_12_months.csv"
    assert scored["source_row"].iloc[0] == 7


def test_rtp_and_cos_match_the_published_worked_example():
    scored = board([{"model_id": "anthropic/claude-sonnet-4", "casi": 95.03, "performance": 45.7,
                     "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}])
    assert scored["rtp"].iloc[0] == pytest.approx(0.75298)
    assert round(scored["cos_usd"].iloc[0], 2) == 18.94


def test_unknown_inputs_give_null_never_zero():
    scored = board([{"model_id": "a/a", "casi": 72.13, "performance": 34.5},
                    {"model_id": "a/b", "casi": 70.0, "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}])
    assert math.isnan(scored["cos_usd"].iloc[0])
    assert math.isnan(scored["rtp"].iloc[1])


def test_model_on_both_boards_gets_a_row_on_each():
    scored = board([{"model_id": "a/a", "casi": 95.0, "ars": 86.5, "performance": 45.7}])
    assert scored.set_index("board")["security"].to_dict() == {"ARS": 86.5, "CASI": 95.0}


def test_security_change_against_the_same_board_of_the_previous_month():
    scored = board([{"model_id": "a/a", "casi": 97.86}, {"model_id": "a/b", "casi": 92.63, "ars": 80.0}],
                   previous=[{"model_id": "a/a", "casi": 97.81}, {"model_id": "a/b", "ars": 79.0}])
    change = scored.set_index(["board", "model_id"])["security_change"]
    assert change[("CASI", "a/a")] == pytest.approx(0.05)
    assert math.isnan(change[("CASI", "a/b")])  # not on last month's CASI board
    assert change[("ARS", "a/b")] == pytest.approx(1.0)


def test_empty_month_gives_empty_boards():
    assert board([]).empty
