"""The real F5 Labs rolling CSV, through `casi-pipeline run`: every published value and rank preserved."""

import csv
import hashlib

import dagster as dg
import pandas as pd
import pyarrow.dataset as ds
import pytest

from casi_pipeline import months
from casi_pipeline.reference import registry

from .conftest import REAL_ROLLING, copy_landed, read_table, run_cli, tree_hashes

MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]


def published_values() -> list[tuple[str, str, float]]:
    """(release month, label, value) for every non-empty cell of the real file, read independently of the pipeline."""
    rows = list(csv.reader(REAL_ROLLING.read_text(encoding="utf-8").splitlines()))
    header = rows[0]
    month_of = dict(zip(header[1:], MONTHS))
    return [(month_of[column], row[0], float(cell)) for row in rows[1:] for column, cell in zip(header[1:], row[1:])
            if cell.strip()]


@pytest.fixture(scope="module")
def boards(real_data_run) -> pd.DataFrame:
    frame = ds.dataset(real_data_run.warehouse / "leaderboard", partitioning="hive").to_table().to_pandas()
    return frame.assign(release_month=frame["release_month"].astype(str))


def test_nine_release_months_in_hive_layout(real_data_run, boards):
    folders = sorted(p.name for p in (real_data_run.warehouse / "leaderboard").iterdir())
    assert folders == [f"release_month={month}" for month in MONTHS]
    assert sorted(boards["release_month"].unique()) == MONTHS
    for table in ("ingest", "validate", "normalise"):
        assert sorted(p.name for p in (real_data_run.warehouse / table).iterdir()) == folders


def test_all_ninety_published_values_preserved_exactly(boards):
    published = published_values()
    assert len(published) == 90
    casi = boards[boards["board"] == "CASI"].set_index(["release_month", "model_id"])["security"]
    assert len(casi) == 90
    for month, label, value in published:
        assert casi[(month, registry().resolve(label).id)] == value, (month, label)
    assert boards[boards["board"] == "ARS"].empty  # the rolling CSV carries CASI only


def test_ranks_follow_each_months_published_order(boards):
    for month, group in boards[boards["board"] == "CASI"].groupby("release_month"):
        ordered = group.sort_values("rank")
        assert ordered["security"].is_monotonic_decreasing, month
        expected = ordered["security"].rank(method="min", ascending=False).astype(int).tolist()
        assert ordered["rank"].tolist() == expected, month
        assert len(group) == 10


def test_january_tie_at_rank_three(boards):
    january = boards[(boards["release_month"] == "2026-01") & (boards["board"] == "CASI")].sort_values("rank")
    assert january["rank"].tolist() == [1, 2, 3, 3, 5, 6, 7, 8, 9, 10]
    tied = january[january["tied"]]
    assert set(tied["model_id"]) == {"anthropic/claude-haiku-4.5", "anthropic/claude-sonnet-4"}
    assert set(tied["security"]) == {95.75}


def test_february_is_led_by_claude_sonnet_4_5(boards):
    leader = boards[(boards["release_month"] == "2026-02") & (boards["rank"] == 1)].iloc[0]
    assert (leader["model"], leader["security"], leader["provider"]) == ("Claude Sonnet 4.5", 98.06, "Anthropic")
    assert leader["security_change"] == pytest.approx(98.06 - 97.76)


def test_twenty_four_canonical_models_with_merges(real_data_run):
    models = read_table(real_data_run.warehouse, "models").set_index("model_id")
    assert len(models) == 24
    assert models.loc["qwen/qwen3-30b-a3b", "aliases"] == (
        "Alibaba_Qwen Qwen3-30B-A3B; Qwen Qwen3-30B; Qwen Qwen3-30B-A3B")
    assert (models.loc["qwen/qwen3-30b-a3b", "first_release_month"],
            models.loc["qwen/qwen3-30b-a3b", "last_release_month"]) == ("2025-06", "2025-08")
    assert "Meta DeepSeek-R1-Distill-Llama-70B" in models.loc["deepseek/deepseek-r1-distill-llama-70b", "aliases"]
    assert {"deepseek/deepseek-r1", "deepseek/deepseek-r1-0528"} <= set(models.index)
    assert models["registered"].all()


def test_provenance_names_the_file_and_its_sha256(real_data_run, boards):
    sha = hashlib.sha256(REAL_ROLLING.read_bytes()).hexdigest()
    assert set(boards["source_file"]) == {"data_raw/2026-02/casi_rolling_12_months.csv"}
    assert set(boards["source_sha256"]) == {sha}
    assert set(boards["methodology_version"]) == {"published-2025.09"}
    sonnet_feb = boards[(boards["release_month"] == "2026-02") & (boards["model"] == "Claude Sonnet 4.5")].iloc[0]
    assert sonnet_feb["source_row"] == 10  # line 10 of the file: Anthropic Claude Sonnet 4.5


def test_history_holds_every_board_row(real_data_run, boards):
    history = read_table(real_data_run.warehouse, "leaderboard_history")
    assert len(history) == len(boards) == 90
    assert history.columns[0] == "release_month"
    assert sorted(history["release_month"].unique()) == MONTHS


def test_runs_partitions_and_checks_are_in_the_instance(real_data_run):
    instance = dg.DagsterInstance.from_config(str(real_data_run.dagster_home))
    try:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.is_success for run in runs)  # one run over the nine months, then publish
        for key in ("ingest", "validate", "normalise", "restatements", "leaderboard"):
            assert instance.get_materialized_partitions(dg.AssetKey(key)) == set(MONTHS)
        check_keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for asset, name in [
            ("ingest", "ingest_suite"), ("validate", "validate_suite"), ("normalise", "normalise_suite"),
            ("normalise", "unknown_models"), ("restatements", "restated_values"), ("leaderboard", "leaderboard_suite"),
            ("models", "models_suite"), ("leaderboard_history", "leaderboard_history_suite")]]
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
        assert set(latest) == set(check_keys)
        assert all(record.event.asset_check_evaluation.passed for record in latest.values())
    finally:
        instance.dispose()


def test_rerun_of_a_range_gives_identical_tables(settings, real_data_run):
    before = copy_landed(real_data_run, settings)  # the session's run stays as it landed for the other tests
    assert run_cli(settings, "backfill", "--from", MONTHS[0], "--to", MONTHS[-1]) == 0
    assert tree_hashes(settings.warehouse) == before


def test_month_keys_cover_the_snapshot():
    assert months.span("2025-06", "2026-02") == MONTHS
