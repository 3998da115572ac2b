"""The validate stage: the ingest table's strings as typed values."""

from __future__ import annotations

import pandas as pd

from casi_pipeline.release.tables import VALIDATE


def validate(ingested: pd.DataFrame, metric_names: tuple[str, ...]) -> pd.DataFrame:
    """Typed values. Text that is not a number becomes NaN here, but the ingest suite has already refused it."""
    frame = ingested.copy()
    frame["label"] = frame["label"].str.strip()
    for name in (*metric_names, "benchmark_score"):
        frame[name] = pd.to_numeric(frame[name].str.strip(), errors="coerce")
    frame["benchmark"] = frame["benchmark"].str.strip()
    return VALIDATE.conform(frame)
