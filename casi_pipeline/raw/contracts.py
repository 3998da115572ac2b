"""What a drop's files must look like: the header of each kind of file, and labels a person can read.

Each check raises RawInputError naming the file and the column or row.
"""

from __future__ import annotations

from collections.abc import Sequence

from casi_pipeline import months
from casi_pipeline.errors import RawInputError
from casi_pipeline.raw.csv_reader import RawFile
from casi_pipeline.reference import metric_catalogue
from casi_pipeline.safe_text import first_unprintable

LABEL_COLUMN = "Model"
MAX_ROLLING_MONTHS = 12  # more columns would repeat a month abbreviation
BENCHMARKS_HEADER = ("provider", "model", "benchmark", "score")
METRICS_KEY = ("provider", "model")


def check_columns(file: str, header: Sequence[str], allowed: Sequence[str], required: Sequence[str]) -> None:
    """Every column of `header` is allowed and appears once (checked left to right), then every required one is
    there. `file` names the file in the error, which lists `allowed` in its order."""
    for position, name in enumerate(header, start=1):
        if name not in allowed:
            raise RawInputError(
                file, f"unknown column {name!r} (allowed: {', '.join(allowed)})", where=f"column {position}"
            )
        if header.count(name) > 1:
            raise RawInputError(file, f"column {name!r} appears twice", where=f"column {position}")
    for name in required:
        if name not in header:
            raise RawInputError(file, f"missing column {name!r}")


def _header(raw: RawFile) -> list[str]:
    return [cell.strip() for cell in raw.rows[0][1]]


def rolling_months(raw: RawFile, drop_month: str) -> list[str]:
    """The release month of each month column; the last column must be the drop's own month."""
    header = _header(raw)
    if header[0] != LABEL_COLUMN:
        raise RawInputError(raw.name, f"first column must be {LABEL_COLUMN!r}, found {header[0]!r}", where="column 1")
    month_columns = header[1:]
    if not month_columns:
        raise RawInputError(raw.name, "no month columns after 'Model'")
    if len(month_columns) > MAX_ROLLING_MONTHS:
        raise RawInputError(raw.name, f"{len(month_columns)} month columns; a rolling snapshot holds at most 12")
    for position, name in enumerate(month_columns, start=2):
        if name not in months.ABBREVIATIONS:
            raise RawInputError(
                raw.name, f"{name!r} is not a month abbreviation (Jan..Dec)", where=f"column {position}"
            )
    if month_columns[-1] != months.abbreviation(drop_month):
        raise RawInputError(
            raw.name,
            f"last column is {month_columns[-1]!r} but the drop is {drop_month} ({months.abbreviation(drop_month)!r})",
            where=f"column {len(header)}",
        )
    release = [months.shift(drop_month, offset - len(month_columns) + 1) for offset in range(len(month_columns))]
    for position, (name, month) in enumerate(zip(month_columns, release, strict=True), start=2):
        if name != months.abbreviation(month):
            raise RawInputError(
                raw.name,
                f"months are not consecutive: {name!r} where {months.abbreviation(month)!r} was expected",
                where=f"column {position}",
            )
    return release


def check_labels(raw: RawFile, columns: tuple[str, ...]) -> None:
    """Labels are text a person can read: a control character (an escape sequence such as ESC [31m, a NUL, a line
    or paragraph separator) in one of `columns` refuses the file, naming the row and showing the label escaped."""
    header = _header(raw)
    positions = [(header.index(column), column) for column in columns if column in header]
    for line, cells in raw.rows[1:]:
        for position, column in positions:
            character = first_unprintable(cells[position]) if position < len(cells) else None
            if character is not None:
                raise RawInputError(
                    raw.name,
                    f"{cells[position]!r} holds the control character U+{ord(character):04X}; labels must "
                    "be readable text",
                    where=f"row {line} column {position + 1} ({column})",
                )


def metrics_columns(raw: RawFile) -> list[str]:
    """metrics.csv: provider, model and any of the catalogue's raw metrics, in any order."""
    header = _header(raw)
    check_columns(raw.name, header, (*METRICS_KEY, *metric_catalogue().raw_metrics), METRICS_KEY)
    return header


def benchmarks_columns(raw: RawFile) -> list[str]:
    """benchmarks.csv has exactly the columns provider, model, benchmark, score, in any order."""
    header = _header(raw)
    check_columns(raw.name, header, BENCHMARKS_HEADER, BENCHMARKS_HEADER)
    return header
