"""The score stage: both boards of a release month from its normalise table and the month before."""

from __future__ import annotations

import pandas as pd

from casi_pipeline import months
from casi_pipeline.reference import Methodology
from casi_pipeline.release.tables import LEADERBOARD, METRIC_SHA_SUFFIX, METRIC_SOURCE_SUFFIX


def _split_source(source: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = source.str.rsplit(":", n=1, expand=True)
    return parts[0], pd.to_numeric(parts[1]).astype("int64")


def score(current: pd.DataFrame, previous: pd.DataFrame, methodology: Methodology) -> pd.DataFrame:
    """Both boards of every release month in `current`: competition rank, tie flag, RTP, CoS and change since the
    month before, whose rows are looked up in `previous` (normalise rows of any months; the others are not read).

    Performance is the published value when the drop gives one (it is what was published), else the computed one;
    `performance_basis` says which, and RTP follows from it. All months at once: a range run scores them in one
    pass of each column operation, not one per month.
    """
    current = _performance_used(current)
    month_before = {month: previous_month(month) for month in current["release_month"].unique()}
    boards = []
    for board, metric in methodology.boards.items():
        on_board = current[current[metric].notna()].copy()
        if on_board.empty:
            continue
        on_board["board"] = board
        on_board["security"] = on_board[metric]
        by_month = on_board.groupby("release_month", sort=False)["security"]
        on_board["rank"] = by_month.rank(method="min", ascending=False).astype("int64")
        on_board["tied"] = on_board.duplicated(["release_month", "security"], keep=False)
        on_board["rtp"] = (
            methodology.security_weight * on_board["security"] / 100
            + methodology.performance_weight * on_board["performance"] / 100
        )
        # NaN propagates: an unknown price or performance gives an unknown figure, never 0.
        on_board["cos_usd"] = (on_board["input_usd_per_mtok"] + on_board["output_usd_per_mtok"]) / (
            on_board["security"] / 100
        )
        before = previous.loc[previous[metric].notna(), ["release_month", "model_id", metric]].set_index(
            ["release_month", "model_id"]
        )[metric]
        wanted = pd.MultiIndex.from_arrays([on_board["release_month"].map(month_before), on_board["model_id"]])
        on_board["security_change"] = on_board["security"] - before.reindex(wanted).to_numpy()
        on_board["source_file"], on_board["source_row"] = _split_source(on_board[metric + METRIC_SOURCE_SUFFIX])
        on_board["source_sha256"] = on_board[metric + METRIC_SHA_SUFFIX]
        on_board["methodology_version"] = methodology.version
        boards.append(on_board)
    if not boards:
        return LEADERBOARD.empty()
    table = pd.concat(boards, ignore_index=True).sort_values(["release_month", "board", "rank", "model_id"])
    return LEADERBOARD.conform(table)


def _performance_used(normalised: pd.DataFrame) -> pd.DataFrame:
    """`performance` becomes the value the boards use, with its basis; coverage and catalogue version stay only
    for a computed one."""
    published = normalised["performance"].notna()
    computed = ~published & normalised["performance_computed"].notna()
    return normalised.assign(
        performance=normalised["performance"].where(published, normalised["performance_computed"]),
        performance_basis=pd.Series(None, index=normalised.index, dtype="str")
        .mask(published, "published")
        .mask(computed, "computed"),
        performance_coverage=normalised["performance_coverage"].where(computed),
        performance_catalogue_version=normalised["performance_catalogue_version"].where(computed),
    )


def previous_month(release_month: str) -> str:
    return months.shift(release_month, -1)
