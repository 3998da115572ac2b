"""The release ingest: every value a release month's drops carry, as written, with its file, row and sha256."""

from __future__ import annotations

import pandas as pd

from casi_pipeline.errors import RawInputError
from casi_pipeline.raw.contracts import LABEL_COLUMN, benchmarks_columns, check_labels, metrics_columns, rolling_months
from casi_pipeline.raw.csv_reader import RawFile, read_csv_file
from casi_pipeline.raw.layout import BENCHMARKS_FILE, METRICS_FILE, list_drops
from casi_pipeline.reference import metric_catalogue
from casi_pipeline.storage.objects import Root

# Columns of the ingest table. Values stay the strings written in the file (None = empty cell).
KEY_COLUMNS = (
    "release_month",
    "value_month",
    "drop_month",
    "source_file",
    "source_sha256",
    "source_row",
    "source_column",
    "label",
)
BENCHMARK_COLUMNS = ("benchmark", "benchmark_score")  # filled on benchmarks.csv rows only


def _empty(value: str) -> str | None:
    return value if value.strip() else None


def ingest_release(root: Root, release_month: str) -> pd.DataFrame:
    """Every file that feeds a release month, whole and as written, with file, row and sha256 for each value.

    A file is accepted or refused whole, so the rows of its other months come along (`value_month` tells them
    apart): a bad cell anywhere in a rolling snapshot stops every month that snapshot feeds.
    """
    records = []
    metric_names = metric_catalogue().raw_metrics
    for drop in list_drops(root):
        if drop.month < release_month:
            continue
        for rolling in drop.rolling_files():
            raw = read_csv_file(rolling, root)
            columns = rolling_months(raw, drop.month)
            check_labels(raw, (LABEL_COLUMN,))
            if release_month in columns:
                header = raw.rows[0][1]
                for line, cells in raw.rows[1:]:
                    for position, value_month in enumerate(columns, start=1):
                        if _empty(cells[position]) is not None:
                            records.append(
                                {
                                    "release_month": release_month,
                                    "value_month": value_month,
                                    "drop_month": drop.month,
                                    "source_file": raw.name,
                                    "source_sha256": raw.sha256,
                                    "source_row": line,
                                    "source_column": header[position].strip(),
                                    "label": cells[0],
                                    "casi": cells[position],
                                }
                            )
        metrics_path = drop.file(METRICS_FILE)
        if metrics_path is not None and drop.month == release_month:
            raw = read_csv_file(metrics_path, root)
            header = metrics_columns(raw)
            check_labels(raw, ("provider", "model"))
            for line, cells in raw.rows[1:]:
                cell = dict(zip(header, cells, strict=False))
                record = {
                    "release_month": release_month,
                    "value_month": drop.month,
                    "drop_month": drop.month,
                    "source_file": raw.name,
                    "source_sha256": raw.sha256,
                    "source_row": line,
                    "source_column": None,
                    # surrounding spaces in either part must not change the label
                    "label": f"{cell['provider'].strip()} {cell['model'].strip()}",
                }
                record.update({name: _empty(cell[name]) for name in metric_names if name in cell})
                records.append(record)
        benchmarks_path = drop.file(BENCHMARKS_FILE)
        if benchmarks_path is not None and drop.month == release_month:
            records.extend(benchmark_records(read_csv_file(benchmarks_path, root), release_month))
    return pd.DataFrame.from_records(records, columns=[*KEY_COLUMNS, *metric_names, *BENCHMARK_COLUMNS])


def benchmark_records(raw: RawFile, month: str) -> list[dict]:
    """One ingest row per benchmarks.csv row, its score as written. A row must name its benchmark and give a score:
    a benchmark a model has no result for is left out of the file (it is never 0)."""
    header = benchmarks_columns(raw)
    check_labels(raw, ("provider", "model", "benchmark"))
    records = []
    for line, cells in raw.rows[1:]:
        cell = dict(zip(header, cells, strict=False))
        for required, what in (
            ("benchmark", "empty benchmark name"),
            ("score", "empty score: leave out a benchmark the model has no result for"),
        ):
            if _empty(cell[required]) is None:
                raise RawInputError(
                    raw.name, what, where=f"row {line} column {header.index(required) + 1} ({required})"
                )
        records.append(
            {
                "release_month": month,
                "value_month": month,
                "drop_month": month,
                "source_file": raw.name,
                "source_sha256": raw.sha256,
                "source_row": line,
                "source_column": "score",
                "label": f"{cell['provider']} {cell['model']}",
                "benchmark": cell["benchmark"],
                "benchmark_score": cell["score"],
            }
        )
    return records
