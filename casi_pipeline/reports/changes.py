"""What changed on a board since the previous release month: who is new, who is gone, who moved most."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

BIGGEST_MOVES = 3


@dataclass(frozen=True)
class Changes:
    previous_month: str | None  # None when the board has no earlier release month on record
    new: pd.DataFrame  # this month's rows of models not on the previous board
    gone: pd.DataFrame  # the previous board's rows of models no longer on it
    moves: pd.DataFrame  # models on both boards, biggest security change first: + previous_rank, rank_change


def board_changes(current: pd.DataFrame, previous: pd.DataFrame) -> Changes:
    """Both frames are one board's rows (model_id, rank, security, ...); `previous` may be empty."""
    if previous.empty:
        return Changes(None, current.iloc[0:0], previous, current.iloc[0:0])
    before = previous.set_index("model_id")["rank"]
    stayed = current[current["model_id"].isin(before.index)].copy()
    # astype: mapping an empty selection would otherwise keep the id column's string dtype
    stayed["previous_rank"] = stayed["model_id"].map(before).astype("int64")
    stayed["rank_change"] = stayed["previous_rank"] - stayed["rank"]  # positive = climbed
    stayed["size"] = stayed["security_change"].abs()
    moves = (
        stayed[stayed["size"] > 0]
        .sort_values(["size", "model_id"], ascending=[False, True])
        .head(BIGGEST_MOVES)
        .drop(columns="size")
    )
    return Changes(
        previous["release_month"].iloc[0],
        current[~current["model_id"].isin(before.index)],
        previous[~previous["model_id"].isin(current["model_id"])],
        moves,
    )
