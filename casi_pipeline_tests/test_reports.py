"""Exports, charts and monthly reports: on the real data, with hostile labels, and opened in headless Chromium."""

import csv
import hashlib
import io
import json
import os
import shutil

import dagster as dg
import pandas as pd
import pytest

from casi_pipeline.published.assets import HISTORY, MODELS
from casi_pipeline.reference import methodology, registry
from casi_pipeline.reports import exports
from casi_pipeline.reports.assets import board_views, chart_path, report_path
from casi_pipeline.reports.charts import draw, draw_task, drawable
from casi_pipeline.workers import on_every_core
from casi_pipeline.storage.files import atomic_file, write_bytes_atomically

from .conftest import REAL_ROLLING, add_drop, chromium_screenshot, png_size, read_table, run_cli, settings_under

MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]
HOSTILE = ["=HYPERLINK(\"http://x\",\"y\") M", "<script>alert(1)</script> M", "+cmd|calc M"]


def read_csv(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


# --- formats ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [(67.2, "67.2"), (76.0, "76.0"), (95.75, "95.75"), (76.204, "76.2"),
                                         (100, "100.0"), (58.609999, "58.61")])
def test_numbers_are_written_as_the_publisher_writes_them(value, text):
    assert exports.publisher_number(value, 2) == text


def test_the_window_is_the_last_twelve_consecutive_release_months():
    assert exports.window(["2025-09", "2025-11"]) == ["2025-09", "2025-10", "2025-11"]
    assert exports.window([f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"])[0] == "2025-03"
    assert exports.window(MONTHS, last="2025-08") == MONTHS[:3]
    assert exports.window([]) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "exports" / "leaderboard.json"
    write_bytes_atomically(target, b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as sink:
        sink.write(b"half of the new")
        raise RuntimeError("the writer fails half-way through")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["leaderboard.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


# --- the real data --------------------------------------------------------------------------------------------------

def test_the_rolling_export_has_every_published_value_with_merged_labels_merged(real_data_run):
    published = read_csv(REAL_ROLLING)
    exported = read_csv(real_data_run.warehouse / "exports" / "casi_rolling_12_months.csv")
    assert exported[0] == published[0] == ["Model", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb"]
    header = published[0]
    # (canonical label, month column, cell text) for every non-empty cell, on both sides: the same set, to the byte.
    expected = {(registry().resolve(row[0]).label, column, cell)
                for row in published[1:] for column, cell in zip(header[1:], row[1:]) if cell}
    found = {(row[0], column, cell) for row in exported[1:] for column, cell in zip(header[1:], row[1:]) if cell}
    assert len(expected) == len(found) == 90
    assert found == expected
    labels = [row[0] for row in exported[1:]]
    assert len(labels) == 24 == len(set(labels)) and labels == sorted(labels)
    assert not {"Alibaba_Qwen Qwen3-30B-A3B", "Qwen Qwen3-30B", "Meta DeepSeek-R1-Distill-Llama-70B"} & set(labels)
    rows = {row[0]: row[1:] for row in exported[1:]}
    assert rows["Qwen Qwen3-30B-A3B"] == ["58.61", "64.26", "58.33", "", "", "", "", "", ""]
    assert rows["DeepSeek DeepSeek-R1-Distill-Llama-70B"][:4] == ["73.96", "72.98", "67.2", "72.13"]
    assert rows["Microsoft Phi-4"][-1] == "76.0"
    assert (real_data_run.warehouse / "exports" / "casi_rolling_12_months.csv").read_bytes().endswith(b",\n")


def test_the_json_export_holds_every_board_the_registry_and_provenance(real_data_run):
    document = json.loads((real_data_run.warehouse / "exports" / "leaderboard.json").read_text())
    assert document["release_months"] == MONTHS
    assert [(b["release_month"], b["board"], len(b["rows"])) for b in document["boards"]] == [
        (month, "CASI", 10) for month in MONTHS]
    february = document["boards"][-1]["rows"]
    assert february[0]["label"] == "Anthropic Claude Sonnet 4.5"
    assert (february[0]["rank"], february[0]["security"], february[0]["performance"]) == (1, 98.06, None)
    assert february[0]["security_change"] == pytest.approx(0.3)
    assert len(document["models"]) == 24
    qwen = next(m for m in document["models"] if m["model_id"] == "qwen/qwen3-30b-a3b")
    assert qwen["aliases"] == ["Alibaba_Qwen Qwen3-30B-A3B", "Qwen Qwen3-30B", "Qwen Qwen3-30B-A3B"]
    assert document["methodology"]["version"] == "published-2025.09"
    assert document["methodology"]["rtp"] == {"security_weight": 0.6, "performance_weight": 0.4}
    assert document["provenance"]["sources"] == [{"file": "data_raw/2026-02/casi_rolling_12_months.csv",
                                                  "sha256": hashlib.sha256(REAL_ROLLING.read_bytes()).hexdigest()}]
    assert document["provenance"]["methodology_versions"] == ["published-2025.09"]


def test_the_ars_export_has_the_window_but_no_rows_when_no_ars_board_is_published(real_data_run):
    assert read_csv(real_data_run.warehouse / "exports" / "ars_rolling_12_months.csv") == [
        ["Model", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb"]]


def test_every_month_has_its_charts_and_report(real_data_run):
    warehouse = real_data_run.warehouse
    for month in MONTHS:
        for chart in ("security_over_time", "rank_movements"):
            width, height = png_size(chart_path(warehouse, month, "CASI", chart).read_bytes())
            assert (width, height) == (640, 400), (month, chart)  # 8 x 5 inches at 80 dpi
        # no performance or prices in the rolling file: those two charts are not drawn, and the report says so
        assert not chart_path(warehouse, month, "CASI", "security_vs_performance").exists()
        assert "Not drawn (no performance or price figures" in report_path(warehouse, month).read_text()
    assert sorted(p.name for p in (warehouse / "reports").iterdir()) == MONTHS


def _process_and_square(number: int) -> tuple[int, int]:
    return os.getpid(), number * number


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: on_every_core draws in this process")
def test_work_on_every_core_comes_back_in_order_from_other_processes():
    results = on_every_core(_process_and_square, list(range(7)))
    assert [square for _, square in results] == [number * number for number in range(7)]
    assert os.getpid() not in {pid for pid, _ in results}
    assert on_every_core(_process_and_square, [3]) == [(os.getpid(), 9)]  # one item: drawn here, no pool


def test_charts_drawn_by_the_workers_are_the_bytes_drawn_here(real_data_run):
    history = HISTORY.conform(read_table(real_data_run.warehouse, HISTORY.name))
    views = board_views(history, MODELS.conform(read_table(real_data_run.warehouse, MODELS.name)), methodology())
    assert len(views) == len(MONTHS)
    tasks = [(chart, view) for view in views[-3:] for chart in drawable(view)]
    assert len(tasks) == 6
    assert on_every_core(draw_task, tasks) == [draw(chart, view) for chart, view in tasks]


def test_the_february_report_is_self_contained_and_says_what_changed(real_data_run):
    page = report_path(real_data_run.warehouse, "2026-02").read_text()
    assert "<script" not in page and "<link" not in page and "url(" not in page
    sources = [part.split('"', 1)[0] for part in page.split('src="')[1:]]
    assert len(sources) == 2 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "default-src 'none'; img-src data:" in page
    changes = page[page.index('id="changes"'):page.index('id="board-CASI"')]
    assert "since Jan 2026" in changes
    assert "<b>New:</b> MiniMax MiniMax-M2, Microsoft Phi-4" in changes
    assert "<b>Gone:</b> OpenAI GPT-5 Mini, OpenAI GPT-5" in changes  # by January rank
    assert "<td>OpenAI GPT-5.1</td><td class=n><span class=\"up\">+3.78</span></td><td>10 → 7</td>" in changes
    board = page[page.index('id="board-CASI"'):page.index('id="quality"')]
    assert "<td>1</td><td>Anthropic Claude Sonnet 4.5</td><td class=n>98.06</td>" in board
    quality = page[page.index('id="quality"'):]
    assert "12 checks: 12 passed, 0 warned, 0 failed." in quality  # 10 of the release run, 2 of the publish run
    assert quality.count("models_suite") == 1
    assert "leaderboard_suite" in quality and "leaderboard_history_suite" in quality and "models_suite" in quality
    assert "no CASI board for May 2025, nothing to compare with" in report_path(real_data_run.warehouse,
                                                                               "2025-06").read_text()


def test_the_charts_are_shown_in_the_dagster_ui(real_data_run):
    instance = dg.DagsterInstance.from_config(str(real_data_run.dagster_home))
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey("board_charts"))
        metadata = event.asset_materialization.metadata
        assert metadata["newest release month"].value == "2026-02"
        # 18 charts: drawn by the first publish, kept by later ones (test_real_data backfills this warehouse again)
        assert metadata["charts written"].value + metadata["charts unchanged"].value == 18
        image = metadata["CASI security_over_time"]
        assert isinstance(image, dg.MarkdownMetadataValue)
        assert "![CASI security_over_time](data:image/png;base64," in image.value
        assert len(image.value) < 100_000  # small enough for the event log
        exports_metadata = instance.get_latest_materialization_event(
            dg.AssetKey("board_exports")).asset_materialization.metadata
        assert "Anthropic Claude Sonnet 4\\.5" in exports_metadata["CASI preview"].value
    finally:
        instance.dispose()


def test_the_report_renders_in_headless_chromium(real_data_run, tmp_path):
    page = report_path(real_data_run.warehouse, "2026-02")
    data = chromium_screenshot(page.as_uri(), "report-2026-02.png", 1400, 2000, tmp_path / "profile")
    assert len(data) > 100_000  # a rendered page with tables and two charts, not a blank one


# --- hostile labels ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    settings = settings_under(tmp_path_factory.mktemp("hostile"))
    rows = [["provider", "model", "casi", "ars", "performance", "input_usd_per_mtok", "output_usd_per_mtok"],
            ["Anthropic", "Claude Sonnet 4", "95.03", "86.53", "45.7", "3", "15"],
            *([*label.rsplit(" ", 1), score, score, "50", "1", "2"]
              for label, score in zip(HOSTILE, ["90.5", "80.25", "70"]))]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": buffer.getvalue()})
    assert run_cli(settings, "run") == 0
    return settings


def test_hostile_labels_are_neutralised_in_csv_cells(hostile_run):
    for board in ("casi", "ars"):
        labels = [row[0] for row in read_csv(hostile_run.warehouse / "exports" / f"{board}_rolling_12_months.csv")[1:]]
        assert labels == ["'+cmd|calc M", "'=HYPERLINK(\"http://x\",\"y\") M", "<script>alert(1)</script> M",
                          "Anthropic Claude Sonnet 4"]
    document = json.loads((hostile_run.warehouse / "exports" / "leaderboard.json").read_text())
    assert sorted(m["label"] for m in document["models"]) == sorted([*HOSTILE, "Anthropic Claude Sonnet 4"])


def test_hostile_labels_are_escaped_in_the_report(hostile_run):
    page = report_path(hostile_run.warehouse, "2025-09").read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; M" in page
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;) M" in page
    # every chart is drawn: performance and prices are known, so both boards get all four
    assert page.count('src="data:image/png;base64,') == 8
    quality = page[page.index('id="quality"'):]
    assert "1 warned" in quality and '<span class="warned">⚠ warned</span>' in quality
    assert "label: &lt;script&gt;alert(1)&lt;/script&gt; M" in quality  # the unknown_models finding, escaped


def test_hostile_labels_are_escaped_in_the_ui_preview(hostile_run):
    instance = dg.DagsterInstance.from_config(str(hostile_run.dagster_home))
    try:
        preview = instance.get_latest_materialization_event(
            dg.AssetKey("board_exports")).asset_materialization.metadata["CASI preview"].value
    finally:
        instance.dispose()
    assert "<script>" not in preview and "&lt;script&gt;" in preview


def test_a_report_without_its_charts_fails_and_keeps_the_old_page(hostile_run, tmp_path):
    from casi_pipeline.definitions import build_definitions
    from casi_pipeline.job_names import PUBLISH_JOB
    from casi_pipeline.settings import Settings

    settings = Settings(data_raw=hostile_run.data_raw, warehouse=tmp_path / "warehouse",
                        dagster_home=tmp_path / "home")
    shutil.copytree(hostile_run.warehouse, settings.warehouse)
    missing = chart_path(settings.warehouse, "2025-09", "ARS", "cost_vs_security")
    missing.unlink()
    before = report_path(settings.warehouse, "2025-09").read_bytes()
    result = build_definitions(settings).resolve_job_def(PUBLISH_JOB).execute_in_process(
        asset_selection=[dg.AssetKey("board_reports")], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data.description == (
        f"2025-09 report: chart {missing} is missing; materialise board_charts")
    assert report_path(settings.warehouse, "2025-09").read_bytes() == before


def test_a_report_embeds_the_charts_as_published_when_another_run_redrew_them(hostile_run, tmp_path):
    """Two publishing runs take turns step by step: between this run's board_charts and its board_reports, another
    run may redraw a chart. The page must then be rendered again with the chart as it is on disk."""
    import base64

    from casi_pipeline.definitions import build_definitions
    from casi_pipeline.job_names import PUBLISH_JOB
    from casi_pipeline.settings import Settings

    settings = Settings(data_raw=hostile_run.data_raw, warehouse=tmp_path / "warehouse",
                        dagster_home=tmp_path / "home")
    shutil.copytree(hostile_run.warehouse, settings.warehouse)
    shutil.copytree(hostile_run.dagster_home, settings.dagster_home)  # the same check outcomes: the page is current
    redrawn = chart_path(settings.warehouse, "2025-09", "CASI", "rank_movements")
    other = chart_path(settings.warehouse, "2025-09", "CASI", "security_over_time").read_bytes()
    write_bytes_atomically(redrawn, other)  # what the other run drew, with the same rows as this run read
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        result = build_definitions(settings).resolve_job_def(PUBLISH_JOB).execute_in_process(
            asset_selection=[dg.AssetKey("board_reports")], instance=instance, raise_on_error=False)
    assert result.success
    page = report_path(settings.warehouse, "2025-09").read_text()
    assert page.count(base64.b64encode(other).decode()) == 2  # embedded where both charts are shown


def test_changes_of_a_board_that_shares_no_model_with_the_month_before():
    from casi_pipeline.reports.changes import board_changes

    previous = pd.DataFrame({"release_month": ["2025-10"], "model_id": ["a/old"], "rank": [1], "security": [90.0],
                             "security_change": [float("nan")]})
    current = pd.DataFrame({"release_month": ["2025-11"], "model_id": ["a/new"], "rank": [1], "security": [91.0],
                            "security_change": [float("nan")]})
    changes = board_changes(current, previous)
    assert changes.moves.empty
    assert changes.new["model_id"].tolist() == ["a/new"] and changes.gone["model_id"].tolist() == ["a/old"]
