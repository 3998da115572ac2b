"""Wiring of what people look at, downstream of the history: exports, charts, and the monthly HTML reports.

Files, not tables: each asset writes its files atomically under the warehouse root and returns a
MaterializeResult (no IO manager output). Charts are also shown in the Dagster UI as Markdown images.
"""

import hashlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from casi_pipeline import months, reference
from casi_pipeline.automation.publish_sensor import AFTER_UPSTREAM_UPDATE
from casi_pipeline.factory import OWNERS, markdown_preview
from casi_pipeline.pools import PUBLISHED_POOL
from casi_pipeline.published.assets import HISTORY, MODELS
from casi_pipeline.reference import Methodology, methodology
from casi_pipeline.release.assets import STAGES
from casi_pipeline.release.tables import LEADERBOARD
from casi_pipeline.reports import changes, charts, exports, quality, report_page
from casi_pipeline.reports.changes import board_changes
from casi_pipeline.reports.charts import TITLES, BoardView, draw_task, drawable
from casi_pipeline.reports.inputs import Manifest, code_version, digest
from casi_pipeline.storage.files import write_bytes_atomically, write_text_atomically
from casi_pipeline.storage.warehouse import PUBLISHED_LOCK
from casi_pipeline.workers import on_every_core

GROUP = "reports"
EXPORTS = "exports"  # warehouse/exports/
REPORTS = "reports"  # warehouse/reports/<YYYY-MM>/
JSON_EXPORT = "leaderboard.json"
REPORT_FILE = "report.html"


def rolling_export_name(board: str) -> str:
    return f"{board.lower()}_rolling_12_months.csv"


def chart_path(warehouse: Path, release_month: str, board: str, chart: str) -> Path:
    months.parse(release_month)  # only YYYY-MM folder names
    return warehouse / REPORTS / release_month / f"{board.lower()}_{chart}.png"


def report_path(warehouse: Path, release_month: str) -> Path:
    months.parse(release_month)
    return warehouse / REPORTS / release_month / REPORT_FILE


def board_views(history: pd.DataFrame, models: pd.DataFrame, method: Methodology) -> list[BoardView]:
    """One view per (release month, board) on record, oldest first, each with the months before it."""
    labelled = history.assign(label=history["model_id"].map(exports.labels(models)))
    every_month = sorted(labelled["release_month"].unique())
    views = []
    for board, on_board in labelled.groupby("board", sort=True):  # each board's rows split by month once
        by_month = {month: rows for month, rows in on_board.groupby("release_month", sort=True)}
        month_of_row = on_board["release_month"].to_numpy()
        for month, current in by_month.items():
            window = exports.window(every_month, last=month)
            views.append(
                BoardView(
                    board=board,
                    release_month=month,
                    current=current.sort_values(["rank", "model_id"]),
                    previous=by_month.get(months.shift(month, -1), on_board.iloc[:0]).sort_values(["rank", "model_id"]),
                    history=on_board[np.isin(month_of_row, window)],
                    window=window,
                    security_weight=method.security_weight,
                    performance_weight=method.performance_weight,
                )
            )
    return sorted(views, key=lambda view: (view.release_month, view.board))


# What each output is drawn from, besides its rows: the drawing code and the reference data it formats with.
REFERENCE = Path(inspect.getfile(reference)).parent
CHARTS_CODE = code_version(Path(inspect.getfile(charts)), Path(inspect.getfile(months)))
REPORT_CODE = code_version(
    *(Path(inspect.getfile(module)) for module in (report_page, changes, charts, quality, months)),
    *sorted((Path(inspect.getfile(report_page)).parent / report_page.TEMPLATES).glob("*.html")),
    *sorted(REFERENCE.glob("*.yaml")),
)
CHART_COLUMNS = ["release_month", "rank", "model_id", "label", "security", "performance", "cos_usd"]


def charts_digest(view: BoardView) -> str:
    """Exactly what the charts of one board and month are drawn from."""
    return digest(
        CHARTS_CODE,
        view.board,
        view.release_month,
        view.window,
        (view.security_weight, view.performance_weight),
        *(frame[CHART_COLUMNS] for frame in (view.current, view.previous, view.history)),
    )


def _charts_name(board: str) -> str:
    return f"{board.lower()}_charts"


def _warehouse(context: dg.AssetExecutionContext) -> Path:
    return context.resources.warehouse.path  # a local folder or an s3:// prefix


def _markdown_images(view: BoardView, pngs: dict[str, bytes]) -> dict[str, dg.MetadataValue]:
    """The charts of the newest month, shown in the UI: `<board> <chart>` -> a Markdown image."""
    return {
        f"{view.board} {chart}": dg.MetadataValue.md(
            f"**{view.board}: {TITLES[chart]}**\n\n![{view.board} {chart}]({report_page.data_uri(png)})"
        )
        for chart, png in pngs.items()
    }


# Inputs are the two cross-release tables, conformed to their declared columns.
HISTORY_AND_MODELS = {"history": dg.AssetIn(key=HISTORY.name), "models": dg.AssetIn(key=MODELS.name)}
COMMON: dict[str, Any] = dict(
    group_name=GROUP,
    owners=OWNERS,
    required_resource_keys={"warehouse"},
    pool=PUBLISHED_POOL,
    automation_condition=AFTER_UPSTREAM_UPDATE,
)


@dg.asset(
    ins=HISTORY_AND_MODELS,
    kinds={"csv", "json"},
    **COMMON,
    description="warehouse/exports/: <board>_rolling_12_months.csv per board in the publisher's wide layout "
    "(canonical labels, last 12 release months, empty = not on the board, publisher's number format; "
    "label cells neutralised against spreadsheet formulas) and leaderboard.json (every board with its "
    "metrics, the model registry, methodology and provenance) for web pages.",
)
def board_exports(
    context: dg.AssetExecutionContext, history: pd.DataFrame, models: pd.DataFrame
) -> dg.MaterializeResult:
    history, models, method = HISTORY.conform(history), MODELS.conform(models), methodology()
    folder = _warehouse(context) / EXPORTS
    metadata: dict = {}
    for board, metric in method.boards.items():
        table = exports.rolling_table(history, models, board, metric)
        path = folder / rolling_export_name(board)
        write_bytes_atomically(path, exports.csv_bytes(table))
        metadata[path.name] = dg.MetadataValue.path(str(path))
        metadata[f"{board} preview"] = dg.MetadataValue.md(markdown_preview(table, rows=None))
    document = exports.leaderboard_document(history, models, method)
    write_bytes_atomically(folder / JSON_EXPORT, exports.json_bytes(document))
    metadata[JSON_EXPORT] = dg.MetadataValue.path(str(folder / JSON_EXPORT))
    metadata["boards"] = len(document["boards"])
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    ins=HISTORY_AND_MODELS,
    kinds={"png"},
    **COMMON,
    description="warehouse/reports/<YYYY-MM>/<board>_<chart>.png for every release month and board: security "
    "over time (top models labelled), security against performance with lines of equal RTP, rank "
    "movements since the previous month, cost of security against security (the last two only when "
    "performance and prices are published). The newest month's charts are shown here as metadata.",
)
def board_charts(
    context: dg.AssetExecutionContext, history: pd.DataFrame, models: pd.DataFrame
) -> dg.MaterializeResult:
    views = board_views(HISTORY.conform(history), MODELS.conform(models), methodology())
    warehouse, written, kept, newest = _warehouse(context), 0, 0, {}
    latest_month = max((view.release_month for view in views), default=None)
    manifests: dict[str, Manifest] = {}
    with context.resources.warehouse.locked([PUBLISHED_LOCK]):  # two publishing runs take turns on the files
        stale = []
        for view in views:
            manifest = manifests.setdefault(view.release_month, Manifest(warehouse / REPORTS / view.release_month))
            paths = {chart: chart_path(warehouse, view.release_month, view.board, chart) for chart in drawable(view)}
            inputs = charts_digest(view)
            if manifest.current(_charts_name(view.board), inputs, paths.values()):
                if view.release_month == latest_month:
                    newest.update(_markdown_images(view, {chart: path.read_bytes() for chart, path in paths.items()}))
                kept += len(paths)
            else:
                stale.append((view, paths, inputs, manifest))
        # one task per chart: a new month's two charts are drawn side by side
        drawn = iter(on_every_core(draw_task, [(chart, view) for view, paths, *_ in stale for chart in paths]))
        for view, paths, inputs, manifest in stale:
            pngs = {chart: next(drawn) for chart in paths}
            for chart, png in pngs.items():
                write_bytes_atomically(paths[chart], png)
            manifest.record(_charts_name(view.board), inputs)
            written += len(pngs)
            if view.release_month == latest_month:
                newest.update(_markdown_images(view, pngs))
        for manifest in manifests.values():
            manifest.save()
    return dg.MaterializeResult(
        metadata={
            "charts written": written,
            "charts unchanged": kept,
            "newest release month": latest_month or "",
            "folder": dg.MetadataValue.path(str(warehouse / REPORTS)),
            **newest,
        }
    )


def _published_quality(instance: dg.DagsterInstance) -> list[quality.CheckOutcome]:
    """The checks of the run that landed the history (the same for every month)."""
    return quality.landed_with(instance, dg.AssetKey(HISTORY.name)) + quality.landed_with(
        instance, dg.AssetKey(MODELS.name)
    )


def _landed_boards(instance: dg.DagsterInstance) -> quality.LandedChecks:
    """The checks of the run that landed each month's board, read for every month at once."""
    return quality.LandedChecks(
        instance,
        dg.AssetKey(LEADERBOARD.name),
        [dg.AssetCheckKey(stage.key, spec.name) for stage in STAGES for spec in stage.check_specs()],
    )


@dg.asset(
    ins=HISTORY_AND_MODELS,
    deps=[board_charts],
    kinds={"html"},
    **COMMON,
    description="warehouse/reports/<YYYY-MM>/report.html: one self-contained page per release month (inline "
    "styles, charts as data URIs, no network) with the boards, the charts, what changed since the "
    "previous month and the data-quality summary read from the Dagster instance. Labels escaped.",
)
def board_reports(
    context: dg.AssetExecutionContext, history: pd.DataFrame, models: pd.DataFrame
) -> dg.MaterializeResult:
    history, models, method = HISTORY.conform(history), MODELS.conform(models), methodology()
    warehouse = _warehouse(context)
    by_month: dict[str, list[BoardView]] = {}
    for view in board_views(history, models, method):
        by_month.setdefault(view.release_month, []).append(view)
    published, landed = _published_quality(context.instance), _landed_boards(context.instance)
    metadata, stale = {}, []
    with context.resources.warehouse.locked([PUBLISHED_LOCK]):
        for month, views in by_month.items():
            sources = (
                history.loc[history["release_month"] == month, ["source_file", "source_sha256"]]
                .drop_duplicates()
                .sort_values(["source_file", "source_sha256"])
            )
            outcomes = landed.of(month) + published
            path, manifest = report_path(warehouse, month), Manifest(warehouse / REPORTS / month)
            # The charts as they are on disk, by their bytes: another publishing run may redraw them between this
            # run's board_charts and board_reports (each step takes the lock on its own), and a page must embed
            # the charts that are published, not those its own run drew.
            charts = [_drawn_charts(warehouse, view) for view in views]
            inputs = digest(
                REPORT_CODE,
                method.version,
                month,
                sources,
                outcomes,
                *(hashlib.sha256(png).hexdigest() for drawn in charts for png in drawn.values()),
                *(part for view in views for part in (view.current, view.previous)),
            )
            if not manifest.current(REPORT_FILE, inputs, [path]):
                stale.append((path, manifest, inputs, ReportInputs(month, views, charts, outcomes, sources, method)))
            metadata[month] = dg.MetadataValue.path(str(path))
        for (path, manifest, inputs, _), page in zip(
            stale, on_every_core(_report_page, [report for *_, report in stale]), strict=True
        ):
            write_text_atomically(path, page)
            manifest.record(REPORT_FILE, inputs)
            manifest.save()
    return dg.MaterializeResult(
        metadata={"reports written": len(stale), "reports unchanged": len(by_month) - len(stale), **metadata}
    )


@dataclass(frozen=True)
class ReportInputs:
    """What one month's report page is rendered from."""

    release_month: str
    views: list[BoardView]
    charts: list[dict[str, bytes]]  # per view: chart name -> PNG
    outcomes: list[quality.CheckOutcome]
    sources: pd.DataFrame
    method: Methodology


def _report_page(report: ReportInputs) -> str:
    sections = [
        report_page.BoardSection(view, board_changes(view.current, view.previous), charts)
        for view, charts in zip(report.views, report.charts, strict=True)
    ]
    return report_page.render_report(
        report.release_month, sections, report.outcomes, report.sources, report.method.version
    )


def _drawn_charts(warehouse: Path, view: BoardView) -> dict[str, bytes]:
    charts = {}
    for chart in drawable(view):
        path = chart_path(warehouse, view.release_month, view.board, chart)
        if not path.exists():
            raise dg.Failure(f"{view.release_month} report: chart {path} is missing; materialise board_charts")
        charts[chart] = path.read_bytes()
    return charts


assets = [board_exports, board_charts, board_reports]
