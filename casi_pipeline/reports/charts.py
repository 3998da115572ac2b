"""The board as pictures (PNG bytes), one function per chart.

matplotlib's object API on the Agg canvas: no pyplot, so no global figure state and no GUI backend. Labels come
from outside, so every text is drawn with `parse_math=False` (a `$` in a label is not mathtext). Small DPI: the
same PNGs are embedded in the Dagster UI and in the HTML report.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from casi_pipeline import months

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 80
SIZE = (8, 5)
TOP_LABELLED = 5
ISO_RTP_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9)
HIGHLIGHT = "#c0392b"
MUTED = "#9aa5b1"
# Charts that need a figure the board may lack (performance, prices) are left out rather than drawn empty.
SECURITY_OVER_TIME = "security_over_time"
SECURITY_VS_PERFORMANCE = "security_vs_performance"
RANK_MOVEMENTS = "rank_movements"
COST_VS_SECURITY = "cost_vs_security"
CHARTS = (SECURITY_OVER_TIME, SECURITY_VS_PERFORMANCE, RANK_MOVEMENTS, COST_VS_SECURITY)
TITLES = {
    SECURITY_OVER_TIME: "security score over time",
    SECURITY_VS_PERFORMANCE: "security against performance, with lines of equal RTP",
    RANK_MOVEMENTS: "rank movements since the previous month",
    COST_VS_SECURITY: "cost of security against security",
}


@dataclass(frozen=True)
class BoardView:
    """One board of one release month, with the history before it; rows carry a `label` column."""

    board: str
    release_month: str
    current: pd.DataFrame  # this month's rows, by rank
    previous: pd.DataFrame  # the previous release month's rows (empty if none)
    history: pd.DataFrame  # this board's rows of the months shown over time (the window ending this month)
    window: list[str]
    security_weight: float
    performance_weight: float


def _figure(title: str, with_key: bool = False):
    """A figure with one chart; with a key column on the right when points are marked by rank."""
    from matplotlib.figure import Figure  # imported where charts are drawn (casi_pipeline.workers), not at start-up

    # Fixed margins: the constrained layout engine is a large share of each chart's drawing time.
    figure = Figure(figsize=SIZE, dpi=DPI)
    figure.subplots_adjust(left=0.09, right=0.98, top=0.91, bottom=0.11, wspace=0.05)
    if with_key:
        axes, key = figure.subplots(1, 2, width_ratios=[2.6, 1])
        key.set_axis_off()
    else:
        axes, key = figure.add_subplot(), None
    figure.suptitle(title, x=0.01, ha="left", fontsize=11, parse_math=False)
    axes.grid(True, color="#e5e8eb", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes, key


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _mark_by_rank(axes, key, frame: pd.DataFrame, x: str, y: str) -> None:
    """Rank numbers beside the points and `rank label` lines in the key: long labels never overlap."""
    for row in frame.itertuples():
        axes.annotate(
            str(row.rank), (getattr(row, x), getattr(row, y)), xytext=(4, 3), textcoords="offset points", fontsize=8
        )
    key.text(
        0,
        1,
        "\n".join(f"{row.rank:>3}  {row.label}" for row in frame.itertuples()),
        va="top",
        fontsize=8,
        family="monospace",
        parse_math=False,
        transform=key.transAxes,
    )


def _spread(values: list[float], gap: float) -> list[float]:
    """Positions for labels at these heights (ascending), pushed apart so that no two are closer than `gap`."""
    placed: list[float] = []
    for value in values:
        placed.append(max(value, placed[-1] + gap) if placed else value)
    return placed


def security_over_time(view: BoardView) -> bytes:
    """A line per model across the window; the month's top models highlighted and labelled on the right."""
    figure, axes, _ = _figure(
        f"{view.board} {months.abbreviation(view.release_month)} {view.release_month[:4]}: {TITLES[SECURITY_OVER_TIME]}"
    )
    positions = {month: index for index, month in enumerate(view.window)}
    top = set(view.current.nsmallest(TOP_LABELLED, ["rank"])["model_id"])
    # (month, security, label) per model, as plain values: a pandas group per model costs more than its line
    points: dict[str, list[tuple[str, float, str]]] = {}
    columns = (view.history[c].tolist() for c in ("model_id", "release_month", "security", "label"))
    for model_id, month, security, label in zip(*columns, strict=True):
        points.setdefault(model_id, []).append((month, security, label))
    ends = []
    for model_id in sorted(sorted(points), key=lambda model: model in top):  # the top models drawn last
        rows = sorted(points[model_id])  # by month: one row per month
        highlighted = model_id in top
        lines = axes.plot(
            [positions[month] for month, _, _ in rows],
            [security for _, security, _ in rows],
            marker="o",
            markersize=3,
            linewidth=2 if highlighted else 1,
            color=None if highlighted else MUTED,
            zorder=3 if highlighted else 2,
        )
        if highlighted:
            month, security, label = rows[-1]
            ends.append((security, positions[month], label, lines[0].get_color()))
    low, high = axes.get_ylim()
    ends.sort(key=lambda end: end[0])
    label_x = len(view.window) - 0.6
    for (y, x, label, color), text_y in zip(ends, _spread([end[0] for end in ends], (high - low) * 0.045), strict=True):
        # a plain line to the label: an annotation arrow is a patch laid out in display space, several times dearer
        axes.plot([x, label_x - 0.1], [y, text_y], color=color, linewidth=0.6, zorder=1)
        axes.text(label_x, text_y, label, fontsize=8, va="center", color=color, parse_math=False)
    axes.set_xticks(range(len(view.window)), [months.abbreviation(m) for m in view.window])
    axes.set_xlim(-0.3, len(view.window) + 2.2)  # room for the labels on the right
    axes.set_ylim(low, max(high, ends[-1][0] + (high - low) * 0.045 * len(ends)) if ends else high)
    axes.set_ylabel(f"{view.board} (higher is more secure)")
    return _png(figure)


def security_vs_performance(view: BoardView) -> bytes:
    """Each model at (security, performance); dashed lines join the points of equal RTP."""
    known = view.current.dropna(subset=["performance"])
    figure, axes, key = _figure(f"{view.board} {view.release_month}: {TITLES[SECURITY_VS_PERFORMANCE]}", True)
    low = min(known["security"].min(), 50.0)
    security = np.linspace(low - 2, 100, 50)
    for level in ISO_RTP_LEVELS:
        performance = (level - view.security_weight * security / 100) * 100 / view.performance_weight
        visible = (performance >= 0) & (performance <= 100)
        if visible.any():
            axes.plot(security[visible], performance[visible], linestyle="--", linewidth=0.8, color=MUTED)
            axes.annotate(
                f"RTP {level:.1f}",
                (security[visible][0], performance[visible][0]),
                fontsize=7,
                color="#616e7c",
                xytext=(3, -10),
                textcoords="offset points",
            )
    axes.scatter(known["security"], known["performance"], color=HIGHLIGHT, zorder=3)
    _mark_by_rank(axes, key, known, "security", "performance")
    axes.set_xlim(low - 2, 101)
    axes.set_ylim(0, 100)
    axes.set_xlabel(f"{view.board} security score")
    axes.set_ylabel("Average Performance (%)")
    return _png(figure)


def rank_movements(view: BoardView) -> bytes:
    """Previous month's ranks on the left, this month's on the right; new entries and exits end in the middle."""
    figure, axes, _ = _figure(f"{view.board} {view.release_month}: {TITLES[RANK_MOVEMENTS]}")
    before = view.previous.set_index("model_id")["rank"]
    now = view.current.set_index("model_id")["rank"]
    for model_id in sorted(set(before.index) | set(now.index)):
        if model_id in before.index and model_id in now.index:
            moved = before[model_id] - now[model_id]
            color = "#2f855a" if moved > 0 else HIGHLIGHT if moved < 0 else MUTED
            axes.plot([0, 1], [before[model_id], now[model_id]], marker="o", color=color, linewidth=1.5)
        elif model_id in now.index:
            axes.plot([0.6, 1], [now[model_id]] * 2, marker="o", color="#2b6cb0", linestyle=":")
        else:
            axes.plot([0, 0.4], [before[model_id]] * 2, marker="o", color=MUTED, linestyle=":")
    for row in view.current.itertuples():
        change = (
            "new"
            if row.model_id not in before.index
            else f"{int(before[row.model_id] - row.rank):+d}"
            if before[row.model_id] != row.rank
            else "="
        )
        axes.annotate(
            f"#{row.rank} {row.label} ({change})",
            (1, row.rank),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            parse_math=False,
        )
    for row in view.previous.itertuples():
        if row.model_id not in now.index:
            axes.annotate(
                f"{row.label} (gone)",
                (0, row.rank),
                xytext=(-8, 0),
                textcoords="offset points",
                va="center",
                ha="right",
                fontsize=8,
                parse_math=False,
                color="#616e7c",
            )
    deepest = max([*before.tolist(), *now.tolist(), 1])
    axes.set_ylim(deepest + 0.5, 0.5)
    axes.set_xlim(-1.8, 3.3)  # room for the labels on both sides
    previous_label = view.previous["release_month"].iloc[0] if not view.previous.empty else "(none)"
    axes.set_xticks([0, 1], [previous_label, view.release_month])
    axes.set_ylabel("rank")
    return _png(figure)


def cost_vs_security(view: BoardView) -> bytes:
    """Cost of Security (USD per million tokens per unit of security) against security; log scale for the cost."""
    known = view.current.dropna(subset=["cos_usd"])
    figure, axes, key = _figure(f"{view.board} {view.release_month}: {TITLES[COST_VS_SECURITY]}", True)
    axes.scatter(known["security"], known["cos_usd"], color=HIGHLIGHT, zorder=3)
    _mark_by_rank(axes, key, known, "security", "cos_usd")
    if (known["cos_usd"] > 0).all():
        axes.set_yscale("log")
    axes.set_xlabel(f"{view.board} security score")
    axes.set_ylabel("Cost of Security (USD per Mtok / security)")
    return _png(figure)


RENDERERS = {
    SECURITY_OVER_TIME: security_over_time,
    SECURITY_VS_PERFORMANCE: security_vs_performance,
    RANK_MOVEMENTS: rank_movements,
    COST_VS_SECURITY: cost_vs_security,
}
NEEDS = {SECURITY_VS_PERFORMANCE: "performance", COST_VS_SECURITY: "cos_usd"}


def drawable(view: BoardView) -> list[str]:
    """The charts the board has the figures for, in display order."""
    return [name for name in CHARTS if name not in NEEDS or view.current[NEEDS[name]].notna().any()]


def draw(chart: str, view: BoardView) -> bytes:
    """One chart of one board, as PNG."""
    return RENDERERS[chart](view)


def draw_task(task: tuple[str, BoardView]) -> bytes:
    """draw() of a (chart, view) pair: one task of casi_pipeline.workers."""
    return draw(*task)
