"""Published tables only grow: what the current data no longer produces stays published."""

from __future__ import annotations

import pandas as pd


def retain_published(published: pd.DataFrame, current: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Append-only in effect: the current rows, plus every published row whose key the current data no longer
    produces (e.g. its drop was removed). A key still produced takes the current row; what changed is in the
    restatements table."""
    gone = ~published.set_index(key).index.isin(current.set_index(key).index)
    return pd.concat([current, published[gone]], ignore_index=True).sort_values(key, ignore_index=True)
