"""The boards' freshness check, with a fixed clock: release month M is due by day CASI_FRESHNESS_DAY of M+1."""

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from casi_pipeline.definitions import build_definitions
from casi_pipeline.job_names import PUBLISH_JOB
from casi_pipeline.published import freshness
from casi_pipeline.settings import FRESHNESS_DAY_ENV, Settings
from casi_pipeline.storage.parquet_io import table_path, write_atomically

from .conftest import run_cli


@pytest.mark.parametrize("today, due_day, expected", [
    (date(2026, 3, 9), 10, "2026-01"),   # February is not due yet
    (date(2026, 3, 10), 10, "2026-02"),  # due today
    (date(2026, 1, 3), 10, "2025-11"),   # across a year
    (date(2026, 1, 3), 1, "2025-12"),
])
def test_the_expected_month_follows_the_due_day(today, due_day, expected):
    assert freshness.expected_month(today, due_day) == expected


def test_on_time_passes_and_late_fails_with_the_days_late():
    on_time = freshness.freshness("2026-02", date(2026, 3, 10), 10)
    assert on_time.passed
    assert on_time.line == "boards are fresh: newest release month 2026-02, the next is due by 2026-04-10"
    late = freshness.freshness("2026-01", date(2026, 3, 15), 10)
    assert not late.passed
    assert late.line == ("boards are late: newest release month 2026-01, but 2026-02 was due by 2026-03-10 "
                         "(5 day(s) late; is the publisher late or the refresh broken?)")
    nothing = freshness.freshness(None, date(2026, 3, 15), 10)
    assert not nothing.passed and nothing.line.startswith("boards are late: no release month published, but 2026-02")


def test_a_due_day_every_month_has_is_required():
    with pytest.raises(ValueError, match="within 1..28"):
        freshness.due_date("2026-01", 31)


def publish_history(settings: Settings, *release_months: str) -> None:
    write_atomically(pd.DataFrame({"release_month": list(release_months), "board": "CASI", "model_id": "a/b"}),
                     table_path(settings.warehouse, "leaderboard_history"))


def fresh_check(settings: Settings, today: str) -> dg.AssetCheckEvaluation:
    clocked = Settings(settings.data_raw, settings.warehouse, settings.dagster_home, today=date.fromisoformat(today))
    job = build_definitions(clocked).resolve_job_def(freshness.JOB_NAME)
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_the_check_in_dagster_passes_on_time_and_warns_when_late(settings):
    publish_history(settings, "2026-01", "2026-02")
    on_time = fresh_check(settings, "2026-03-10")
    assert on_time.asset_key == dg.AssetKey("leaderboard_history") and on_time.check_name == "fresh"
    assert on_time.passed and on_time.metadata["latest_release_month"].value == "2026-02"
    late = fresh_check(settings, "2026-04-11")
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
    assert late.metadata["expected_release_month"].value == "2026-03"
    assert late.metadata["status"].value.startswith("boards are late: newest release month 2026-02, but 2026-03")


def test_the_cli_says_late_on_stderr_and_exits_3(settings, monkeypatch, capsys):
    publish_history(settings, "2026-02")
    assert run_cli(settings, "freshness", "--as-of", "2026-03-10") == 0
    assert capsys.readouterr().out.startswith("boards are fresh: newest release month 2026-02")
    monkeypatch.setenv(FRESHNESS_DAY_ENV, "5")
    assert run_cli(settings, "freshness", "--as-of", "2026-04-05") == 3
    assert capsys.readouterr().err.splitlines() == [
        "casi-pipeline: boards are late: newest release month 2026-02, but 2026-03 was due by 2026-04-05 "
        "(0 day(s) late; is the publisher late or the refresh broken?)"]


def test_the_check_runs_daily_on_its_own_schedule_and_never_in_the_publish_run():
    definitions = build_definitions(Settings.from_env())
    schedule = definitions.resolve_schedule_def(freshness.SCHEDULE_NAME)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 7 * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    publish = definitions.resolve_job_def(PUBLISH_JOB)
    # the reports summarise the publish run's checks and must stay byte-identical from one day to the next
    checks = publish.asset_layer.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey("leaderboard_history"), "leaderboard_history_suite") in checks
    assert dg.AssetCheckKey(dg.AssetKey("leaderboard_history"), "fresh") not in checks
