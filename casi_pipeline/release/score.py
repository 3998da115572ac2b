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
    """Both boards for one release month: competition rank, tie flag, RTP, CoS and change since the month before.

    Performance is the published value when the drop gives one (it is what was published), else the computed one;
    `performance_basis` says which, and RTP follows from it.
    """
    current = _performance_used(current)
    boards = []
    for board, metric in methodology.boards.items():
        on_board = current[current[metric].notna()].copy()
        if on_board.empty:
            continue
        on_board["board"] = board
        on_board["security"] = on_board[metric]
        on_board["rank"] = on_board["security"].rank(method="min", ascending=False).astype("int64")
        on_board["tied"] = on_board["security"].duplicated(keep=False)
        on_board["rtp"] = (
            methodology.security_weight * on_board["security"] / 100
            + methodology.performance_weight * on_board["performance"] / 100
        )
        # NaN propagates: an unknown price or performance gives an unknown figure, never 0.
        on_board["cos_usd"] = (on_board["input_usd_per_mtok"] + on_board["output_usd_per_mtok"]) / (
            on_board["security"] / 100
        )
        before = previous.loc[previous[metric].notna()].set_index("model_id")[metric]
        on_board["security_change"] = on_board["security"] - on_board["model_id"].map(before)
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
