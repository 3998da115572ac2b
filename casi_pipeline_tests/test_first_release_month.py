"""The first release month is a setting (CASI_FIRST_RELEASE_MONTH): older drops run when it allows them, and are
refused by name, with one line, when it does not."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from casi_pipeline.settings import FIRST_RELEASE_MONTH_ENV, first_release_month
from .conftest import REPO, add_drop, copy_landed, run_cli

NOVEMBER_2024 = "Model,Oct,Nov\nOpenAI GPT-4o,70.5,71.25\nAnthropic Claude 3.5 Sonnet,80.0,82.5\n"


def test_a_drop_before_the_default_first_month_is_refused_with_one_line(settings, sample_run, capsys):
    copy_landed(sample_run, settings)  # the bundled sample, landed (2025-09..2025-11)
    add_drop(settings.data_raw, "2024-11", {"casi_rolling_12_months.csv": NOVEMBER_2024})
    add_drop(settings.data_raw, "2025-12", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,84.08\n"})  # new
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert errors == [
        "2024-10 ingest: data_raw/2024-11: feeds release months 2024-10..2024-11, before the first release month "
        "2025-01 (set CASI_FIRST_RELEASE_MONTH to include them)",
        "casi-pipeline: 1 failure(s)"]
    # the drops after the first release month still ran (December's, new, in this run)
    boards = pd.read_parquet(settings.warehouse / "leaderboard")
    assert sorted(boards["release_month"].astype(str).unique()) == ["2025-09", "2025-11", "2025-12"]
    assert "stale: 2025-12: never materialised" in captured.out.splitlines()


def test_backfill_range_follows_the_setting(settings, capsys):
    assert run_cli(settings, "backfill", "--from", "2024-06", "--to", "2024-11") == 2
    assert "range 2024-06..2024-11 must lie within 2025-01.." in capsys.readouterr().err


def test_a_drop_of_2024_11_runs_when_the_setting_says_2024_06(tmp_path):
    raw = tmp_path / "data_raw"
    add_drop(raw, "2024-11", {"casi_rolling_12_months.csv": NOVEMBER_2024})
    env = {**os.environ, "CASI_DATA_RAW": str(raw), "CASI_WAREHOUSE": str(tmp_path / "warehouse"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), FIRST_RELEASE_MONTH_ENV: "2024-06"}
    # a new process: the partitions definition reads the setting when the code location is imported
    done = subprocess.run([sys.executable, "-m", "casi_pipeline", "run"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        f"release months 2024-10..2024-11 (2) -> {tmp_path / 'warehouse'}; ran 2 stale")
    boards = pd.read_parquet(tmp_path / "warehouse" / "leaderboard")
    november = boards[boards["release_month"] == "2024-11"].sort_values("rank")
    assert november["security"].tolist() == [82.5, 71.25]
    assert (tmp_path / "warehouse" / "reports" / "2024-11" / "report.html").is_file()


def test_a_setting_that_is_not_a_month_is_refused(monkeypatch):
    monkeypatch.setenv(FIRST_RELEASE_MONTH_ENV, "2024-6")
    with pytest.raises(ValueError, match=r"CASI_FIRST_RELEASE_MONTH='2024-6' is not a release month \(YYYY-MM\)"):
        first_release_month()
    monkeypatch.delenv(FIRST_RELEASE_MONTH_ENV)
    assert first_release_month() == "2025-01"
