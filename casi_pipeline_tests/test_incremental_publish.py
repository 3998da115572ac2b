"""Publishing in proportion to the change: a new month redraws its own charts and report and what its rows reach,
leaves every other file untouched, and the result is byte-identical to a fresh full build."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from casi_pipeline.reports.assets import chart_path, charts_digest, report_path
from casi_pipeline.reports.charts import BoardView
from casi_pipeline.reports.inputs import MANIFEST, Manifest

from .conftest import REAL_ROLLING, SAMPLE_RAW, add_drop, require_shared, run_cli, settings_under, tree_hashes

OLD_MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09"]
NEW_MONTH = "2025-10"


def one_month_snapshot(abbreviation: str) -> str:
    """The real rolling file cut to one month's column: a drop that feeds only its own month."""
    require_shared()
    rows = list(csv.reader(io.StringIO(REAL_ROLLING.read_text(encoding="utf-8"))))
    column = rows[0].index(abbreviation)
    kept = [["Model", abbreviation]] + [[row[0], row[column]] for row in rows[1:] if row[column].strip()]
    return "".join(",".join(row) + "\n" for row in kept)


def add_month(raw: Path, month: str) -> None:
    if month == "2025-09":  # the published September boards: performance and prices, so all four charts
        shutil.copytree(SAMPLE_RAW / month, raw / month)
    else:
        add_drop(raw, month, {"casi_rolling_12_months.csv": one_month_snapshot(
            {"2025-06": "Jun", "2025-07": "Jul", "2025-08": "Aug", "2025-10": "Oct"}[month])})


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file: an atomic rewrite gives a new inode even when the bytes are the same."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def incremental_and_fresh(tmp_path_factory):
    incremental = settings_under(tmp_path_factory.mktemp("incremental"))
    for month in OLD_MONTHS:
        add_month(incremental.data_raw, month)
    assert run_cli(incremental, "run") == 0
    before = {month: stamps(incremental.warehouse / "reports" / month) for month in OLD_MONTHS}
    add_month(incremental.data_raw, NEW_MONTH)
    assert run_cli(incremental, "run") == 0
    fresh = settings_under(tmp_path_factory.mktemp("fresh"))
    for month in [*OLD_MONTHS, NEW_MONTH]:
        add_month(fresh.data_raw, month)
    assert run_cli(fresh, "run") == 0
    return incremental, fresh, before


def test_adding_a_month_gives_the_same_files_as_a_fresh_full_build(incremental_and_fresh):
    incremental, fresh, _ = incremental_and_fresh
    built = tree_hashes(incremental.warehouse)
    assert built == tree_hashes(fresh.warehouse)
    # the new month was drawn, with its rank movements since September
    assert chart_path(incremental.warehouse, NEW_MONTH, "CASI", "rank_movements").is_file()
    assert "since Sep 2025" in report_path(incremental.warehouse, NEW_MONTH).read_text()
    assert f"reports/{NEW_MONTH}/{MANIFEST}" in built


def test_adding_a_month_leaves_the_files_of_the_months_it_does_not_reach_untouched(incremental_and_fresh):
    incremental, _, before = incremental_and_fresh
    for month in OLD_MONTHS:
        assert stamps(incremental.warehouse / "reports" / month) == before[month], month
    # September has all four charts of both boards and its report: none was rewritten
    assert len(before["2025-09"]) == 4 + 4 + 1 + 1


def test_the_publish_run_says_what_it_redrew_and_what_it_kept(incremental_and_fresh):
    incremental, _, _ = incremental_and_fresh
    instance = dg.DagsterInstance.from_config(str(incremental.dagster_home))
    try:
        charts = instance.get_latest_materialization_event(dg.AssetKey("board_charts")).asset_materialization.metadata
        reports = instance.get_latest_materialization_event(dg.AssetKey("board_reports")).asset_materialization.metadata
    finally:
        instance.dispose()
    # 2025-10 has the CASI board's two charts; the other 5 boards' 2 + 2 + 2 + 4 + 4 charts were kept
    assert (charts["charts written"].value, charts["charts unchanged"].value) == (2, 14)
    assert (reports["reports written"].value, reports["reports unchanged"].value) == (1, 4)
    assert charts["CASI rank_movements"].value.startswith("**CASI: rank movements")


def test_a_changed_input_redraws_and_a_missing_file_is_redrawn(incremental_and_fresh, tmp_path):
    """The digest covers exactly what is drawn: a changed value changes it, an unchanged view keeps it; a file
    removed behind the manifest's back is not taken as drawn."""
    incremental, _, _ = incremental_and_fresh
    import pandas as pd

    from casi_pipeline.published.assets import HISTORY, MODELS
    from casi_pipeline.reference import methodology
    from casi_pipeline.reports.assets import board_views

    history = HISTORY.conform(pd.read_parquet(incremental.warehouse / "leaderboard_history"))
    models = MODELS.conform(pd.read_parquet(incremental.warehouse / "models"))
    views = {(v.release_month, v.board): v for v in board_views(history, models, methodology())}
    september = views[("2025-09", "CASI")]
    assert charts_digest(september) == charts_digest(views[("2025-09", "CASI")])
    changed = september.current.copy()
    changed.loc[changed.index[0], "security"] += 0.01
    assert charts_digest(BoardView(**{**september.__dict__, "current": changed})) != charts_digest(september)
    # only what is drawn counts: the source file a value came from is not on any chart
    moved = september.current.assign(source_file="elsewhere.csv")
    assert charts_digest(BoardView(**{**september.__dict__, "current": moved})) == charts_digest(september)

    folder = tmp_path / "2025-09"
    shutil.copytree(incremental.warehouse / "reports" / "2025-09", folder)
    manifest = Manifest(folder)
    files = [folder / "casi_security_over_time.png"]
    assert manifest.current("casi_charts", charts_digest(september), files)
    os.unlink(files[0])
    assert not manifest.current("casi_charts", charts_digest(september), files)
    (folder / MANIFEST).write_text("{not json")
    assert Manifest(folder).recorded == {}
