"""What analysts and web pages load: the boards in the publisher's wide CSV layout, and everything as one JSON file."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from casi_pipeline import months
from casi_pipeline.json_values import json_safe
from casi_pipeline.reference import Methodology, metric_catalogue
from casi_pipeline.safe_text import neutralise_formula

WINDOW_MONTHS = 12  # the publisher's "rolling 12 months"
LABEL_COLUMN = "Model"
JSON_FORMAT_VERSION = 1


def labels(models: pd.DataFrame) -> pd.Series:
    """model_id -> canonical `<Provider> <Model>` label, as the publisher writes labels."""
    return (models["provider"] + " " + models["model"]).set_axis(models["model_id"])


def window(release_months: list[str], last: str | None = None) -> list[str]:
    """The publisher's columns: consecutive months ending with the newest release month, at most 12 of them."""
    if not release_months:
        return []
    last = last or max(release_months)
    return months.span(max(min(release_months), months.shift(last, 1 - WINDOW_MONTHS)), last)


def publisher_number(value: float, decimals: int) -> str:
    """As the publisher writes values: rounded, trailing zeros dropped but one decimal kept (67.2, 76.0, 95.75)."""
    return repr(round(float(value), decimals))


def rolling_table(history: pd.DataFrame, models: pd.DataFrame, board: str, security_metric: str) -> pd.DataFrame:
    """One row per canonical model on the board in the window, one text column per month; '' = not on the board.
    Rows sorted by label, as the publisher sorts them. Labels are neutralised: a spreadsheet shows them as text."""
    columns = window(sorted(history["release_month"].unique()))
    on_board = history[(history["board"] == board) & history["release_month"].isin(columns)]
    decimals = metric_catalogue().metrics[security_metric].decimals
    cells = on_board.pivot(index="model_id", columns="release_month", values="security").reindex(columns=columns)
    table = pd.DataFrame(
        {
            months.abbreviation(month): cells[month].map(lambda v: "" if pd.isna(v) else publisher_number(v, decimals))
            for month in columns
        },
        index=cells.index,
    )
    table.insert(0, LABEL_COLUMN, labels(models).reindex(table.index).map(neutralise_formula))
    return table.sort_values(LABEL_COLUMN).reset_index(drop=True)


def csv_bytes(table: pd.DataFrame) -> bytes:
    """Comma-separated, `\\n` line ends and minimal quoting, like the publisher's file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.itertuples(index=False))
    return buffer.getvalue().encode("utf-8")


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{key: json_safe(value) for key, value in row.items()} for row in frame.to_dict(orient="records")]


def leaderboard_document(history: pd.DataFrame, models: pd.DataFrame, methodology: Methodology) -> dict:
    """Every board with its metrics, the model registry and where every figure came from, for a web page.
    Figures are at full precision (round for display); no timestamps, so a re-run gives the same bytes."""
    label_of = labels(models)
    boards = []
    for (month, board), rows in history.groupby(["release_month", "board"], sort=True):
        rows = rows.sort_values(["rank", "model_id"]).drop(columns=["release_month", "board", "methodology_version"])
        boards.append(
            {
                "release_month": month,
                "board": board,
                "rows": _records(rows.assign(label=rows["model_id"].map(label_of))),
            }
        )
    sources = (
        history[["source_file", "source_sha256"]]
        .drop_duplicates()
        .sort_values(["source_file", "source_sha256"])
        .rename(columns={"source_file": "file", "source_sha256": "sha256"})
    )
    registry = models.assign(
        label=models["model_id"].map(label_of),
        aliases=models["aliases"].map(lambda text: [a for a in text.split("; ") if a]),
    )
    return {
        "format_version": JSON_FORMAT_VERSION,
        "release_months": sorted(history["release_month"].unique().tolist()),
        "methodology": {
            "version": methodology.version,
            "boards": methodology.boards,
            "rtp": {
                "security_weight": methodology.security_weight,
                "performance_weight": methodology.performance_weight,
            },
            "metrics": {
                name: {
                    "display": m.display,
                    "unit": m.unit,
                    "decimals": m.decimals,
                    "higher_is_better": m.higher_is_better,
                }
                for name, m in metric_catalogue().metrics.items()
            },
        },
        "provenance": {
            "generated_from": ["leaderboard_history", "models"],
            "methodology_versions": sorted(history["methodology_version"].unique().tolist()),
            "sources": _records(sources),
        },
        "boards": boards,
        "models": _records(registry.sort_values("model_id")),
    }


def json_bytes(document: dict) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
