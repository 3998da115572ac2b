"""Each run's validation results as Great Expectations Data Docs under warehouse/quality/: linked from every suite
check in the instance and from the monthly report, failures included, and readable in headless Chromium."""

import json
import os
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import dagster as dg
import pytest

from casi_pipeline.cli import Runner
from casi_pipeline.quality import docs
from casi_pipeline.reports.assets import report_path

from .conftest import REPO, add_drop, add_sample, chromium_screenshot, copy_landed, run_cli, tree_hashes

SUITE_CHECKS = ["ingest_suite", "validate_suite", "normalise_suite", "restatements_suite", "leaderboard_suite"]


@pytest.fixture
def landed(settings, sample_run):
    return copy_landed(sample_run, settings)


def latest_evaluation(settings, asset: str, check: str) -> dg.AssetCheckEvaluation:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(dg.AssetKey(asset), check))
        return record.event.dagster_event.event_specific_data


def test_every_suite_check_links_its_results_page(sample_run):
    quality = sample_run.warehouse / "quality"
    gx_index, runs = (quality / "index.html").read_text(), (quality / "runs.html").read_text()
    for check in SUITE_CHECKS:
        evaluation = latest_evaluation(sample_run, check.removesuffix("_suite"), check)
        page = Path(evaluation.metadata["data_docs"].value)
        assert page.is_file() and page.is_relative_to(quality / "validations")
        assert page.parts[-4] == check.removesuffix("_suite")  # validations/<suite>/<run id>/<time>/<months>.html
        assert page.parts[-3] in page.read_text()  # the page names its run (the Dagster run id)
        link = page.relative_to(quality).as_posix()
        assert link in gx_index and f'href="{link}"' in runs  # both lists link it
    history = latest_evaluation(sample_run, "leaderboard_history", "leaderboard_history_suite")
    assert Path(history.metadata["data_docs"].value).name == "all.html"  # a table without months


def test_a_refused_month_has_its_failures_in_the_data_docs_and_nothing_else_changes(settings, landed):
    add_drop(settings.data_raw, "2025-12", {"casi_rolling_12_months.csv": "Model,Dec\nOpenAI GPT-5,108.06\n"})
    assert run_cli(settings, "run") == 1
    assert tree_hashes(settings.warehouse) == landed  # the Data Docs are a log, not data (see conftest.NOT_DATA)
    evaluation = latest_evaluation(settings, "validate", "validate_suite")
    assert not evaluation.passed
    page = Path(evaluation.metadata["data_docs"].value)
    assert page.name == "2025-12.html"
    text = page.read_text()
    assert "casi must be within 0..100" in text and "108.06" in text
    newest = (settings.warehouse / "quality" / "runs.html").read_text().split("<tbody>")[1].split("</tr>")
    assert any("validate" in row and "2025-12" in row and "FAILED" in row for row in newest[:5])


def test_the_report_links_the_list_of_results(sample_run):
    report = report_path(sample_run.warehouse, "2025-09")
    assert 'href="../../quality/runs.html"' in report.read_text()
    assert (report.parent / "../../quality/runs.html").resolve().is_file()


@pytest.mark.parametrize("page, name", [("runs", "data-docs-runs.png"), ("index", "data-docs-index.png"),
                                        ("validate", "data-docs-validate.png")])
def test_the_data_docs_open_in_headless_chromium(sample_run, tmp_path, page, name):
    target = (sample_run.warehouse / "quality" / f"{page}.html" if page != "validate" else
              Path(latest_evaluation(sample_run, "validate", "validate_suite").metadata["data_docs"].value))
    data = chromium_screenshot(target.as_uri(), name, 1400, 1000, tmp_path / "profile")
    assert len(data) > 20_000  # text and tables, not a blank page


def test_the_command_builds_the_pages_beside_its_runs_and_waits_for_them(settings):
    """`casi-pipeline run` builds each run's Data Docs on an early worker (quality.docs, casi_pipeline.workers)
    while the next run goes on; when the command ends, both runs' pages and log lines are there, in run order."""
    add_sample(settings.data_raw)
    env = {**os.environ, "CASI_DATA_RAW": str(settings.data_raw), "CASI_WAREHOUSE": str(settings.warehouse),
           "DAGSTER_HOME": str(settings.dagster_home)}
    done = subprocess.run([sys.executable, "-m", "casi_pipeline", "run", "--quiet"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    quality = settings.warehouse / "quality"
    logged = [json.loads(line) for line in (quality / "runs.jsonl").read_text().splitlines()]
    assert [entry["suite"] for entry in logged] == [
        "ingest", "validate", "normalise", "restatements", "leaderboard",  # the release run
        "leaderboard_history", "models", "redteam_reconciliation"]  # the publish run
    assert len({entry["run"] for entry in logged}) == 2
    assert all((quality / entry["page"]).is_file() for entry in logged)
    assert all(f'href="{entry["page"]}"' in (quality / "runs.html").read_text() for entry in logged)


def test_a_data_docs_build_that_failed_is_one_failure_line(settings):
    failed: Future[None] = Future()
    failed.set_exception(OSError("No space left on device"))
    docs._pending = failed  # what a build on an early worker leaves when it fails
    runner = Runner(settings)
    assert runner.finish() == ["Data Docs: OSError: No space left on device"]
    assert runner.finish() == []  # reported once
