"""After a range run, each month's materialisation carries its own row count, preview and check outcomes (Dagster
would otherwise copy the whole range's output metadata to every month)."""

from __future__ import annotations

import dagster as dg
import pytest

from casi_pipeline.factory import BY_MONTH
from casi_pipeline.settings import Settings
from casi_pipeline.safe_text import escape_markdown

from .conftest import add_real_rolling, run_cli

MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]


@pytest.fixture(scope="module")
def range_run(tmp_path_factory) -> Settings:
    base = tmp_path_factory.mktemp("range")
    settings = Settings(data_raw=base / "data_raw", warehouse=base / "warehouse", dagster_home=base / "home")
    add_real_rolling(settings.data_raw)
    assert run_cli(settings, "backfill", "--from", MONTHS[0], "--to", MONTHS[-1]) == 0
    return settings


def latest(instance: dg.DagsterInstance, asset: str, month: str) -> dict:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[month]), limit=1).records
    return record.asset_materialization.metadata


def test_each_month_of_a_range_run_has_its_own_row_count_and_preview(range_run):
    instance = dg.DagsterInstance.from_config(str(range_run.dagster_home))
    try:
        release_runs = [run for run in instance.get_runs() if run.job_name == "release_job"]
        assert len(release_runs) == 1  # one run for the nine months
        for month in MONTHS:
            board = latest(instance, "leaderboard", month)
            assert board["dagster/row_count"].value == 10, month  # the month's top 10, not the range's 90
            assert board["dagster/partition_row_count"].value == 10
            preview = board["preview"].value
            shown = {other for other in MONTHS if f"| {escape_markdown(other)} " in preview}  # cells are escaped
            assert shown == {month}
            assert "dagster/column_lineage" in board
        normalise = latest(instance, "normalise", "2025-06")
        assert normalise["dagster/row_count"].value == 10
        # ingest keeps the whole file for each month it feeds (accepted or refused whole): 90 values each
        assert [latest(instance, "ingest", month)["dagster/row_count"].value for month in MONTHS] == [90] * 9
    finally:
        instance.dispose()


def test_each_month_lists_its_own_check_outcomes(range_run):
    instance = dg.DagsterInstance.from_config(str(range_run.dagster_home))
    try:
        checks = latest(instance, "leaderboard", "2026-01")["checks"].value
        assert "| leaderboard_suite | passed | 0 |" in checks
        normalise = latest(instance, "normalise", "2026-01")["checks"].value
        assert "| normalise_suite | passed | 0 |" in normalise
        assert "| unknown_models |" in normalise and "| performance_mismatch | passed | 0 |" in normalise
    finally:
        instance.dispose()


def test_warn_findings_that_name_their_month_are_counted_per_month():
    from casi_pipeline.factory import _month_checks

    check = dg.AssetCheckResult(check_name="restated_values", asset_key="restatements", passed=False,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"count": 3, BY_MONTH: dg.MetadataValue.json({"2025-09": 2, "2025-10": 1})})
    suite = dg.AssetCheckResult(check_name="restatements_suite", asset_key="restatements", passed=True)
    assert _month_checks([suite, check], "2025-09").value.splitlines()[2:] == [
        "| restatements_suite | passed | 0 |", "| restated_values | warned | 2 |"]
    assert _month_checks([suite, check], "2025-11").value.splitlines()[-1] == "| restated_values | passed | 0 |"
    unplaced = dg.AssetCheckResult(check_name="unknown_models", asset_key="normalise", passed=False,
                                   severity=dg.AssetCheckSeverity.WARN, metadata={"count": 4})
    assert _month_checks([unplaced], "2025-11").value.splitlines()[-1] == "| unknown_models | warned | 4 |"
