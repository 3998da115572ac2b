"""Read release drops from the raw root, exactly as written, and work out which release months each one feeds."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from casi_pipeline import months
from casi_pipeline.errors import RawInputError
from casi_pipeline.reference import catalogue
from casi_pipeline.safe_text import first_unprintable

ROLLING_FILE = "casi_rolling_12_months.csv"
METRICS_FILE = "metrics.csv"
BENCHMARKS_FILE = "benchmarks.csv"
BENCHMARKS_HEADER = ("provider", "model", "benchmark", "score")
# A changed rolling snapshot for a month that already has one (a restatement) lands beside it, never over it, as
# casi_rolling_12_months.restated-<UTC YYYYMMDDTHHMMSSZ>.csv; the newest one wins, the older ones stay readable.
RESTATEMENT = re.compile(r"^casi_rolling_12_months\.restated-(\d{8}T\d{6}Z)\.csv$")
LABEL_COLUMN = "Model"
MAX_ROLLING_MONTHS = 12  # more columns would repeat a month abbreviation

# Columns of the ingest table. Values stay the strings written in the file (None = empty cell).
KEY_COLUMNS = ("release_month", "value_month", "drop_month", "source_file", "source_sha256", "source_row",
               "source_column", "label")
BENCHMARK_COLUMNS = ("benchmark", "benchmark_score")  # filled on benchmarks.csv rows only


@dataclass(frozen=True)
class RawFile:
    path: Path | None  # None for bytes not (yet) in the raw root
    name: str  # as shown in tables and messages: `<raw root name>/<drop>/<file>`
    sha256: str
    rows: list[tuple[int, list[str]]]  # (line number, cells), header first


@dataclass(frozen=True)
class Drop:
    month: str
    path: Path

    def file(self, name: str) -> Path | None:
        candidate = self.path / name
        return candidate if candidate.is_file() else None

    def rolling_files(self) -> list[Path]:
        """The rolling snapshot as first landed, then its restatements, oldest first (the last one wins)."""
        first = self.file(ROLLING_FILE)
        restated = sorted(p for p in self.path.iterdir() if p.is_file() and RESTATEMENT.match(p.name))
        return ([first] if first else []) + restated

    def data_files(self) -> list[Path]:
        """Every file the pipeline reads from this drop (sidecars and other files are not read)."""
        singles = [self.file(name) for name in (METRICS_FILE, BENCHMARKS_FILE)]
        return self.rolling_files() + [path for path in singles if path]


def restatement_name(stamp: str) -> str:
    name = f"casi_rolling_12_months.restated-{stamp}.csv"
    if not RESTATEMENT.match(name):
        raise ValueError(f"{stamp!r} is not a UTC stamp YYYYMMDDTHHMMSSZ")
    return name


def revision(source_file: str) -> str:
    """Order of a file within its drop: '' as first landed, else its restatement stamp (later stamps win)."""
    match = RESTATEMENT.match(source_file.rsplit("/", 1)[-1])
    return match.group(1) if match else ""


def list_drops(root: Path) -> list[Drop]:
    """Every `YYYY-MM` folder under the raw root, oldest first. Other names are never read."""
    if not root.is_dir():
        return []
    return sorted(
        (Drop(child.name, child) for child in root.iterdir() if child.is_dir() and months.is_month_key(child.name)),
        key=lambda drop: drop.month,
    )


def read_csv_file(path: Path, root: Path, check_shape: bool = True) -> RawFile:
    """A drop's CSV as rows of cells. `check_shape` refuses empty files and rows whose width differs from the header."""
    return read_csv_bytes(path.read_bytes(), f"{root.name}/{path.relative_to(root).as_posix()}", path, check_shape)


def read_csv_bytes(data: bytes, name: str, path: Path | None = None, check_shape: bool = True) -> RawFile:
    """CSV bytes as rows of cells, named `name` in errors (e.g. a download checked before it lands)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RawInputError(name, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from exc
    if "\x00" in text:
        raise RawInputError(name, "contains NUL bytes: not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for cells in reader:
            if cells and any(cell.strip() for cell in cells):  # blank lines (e.g. trailing ones) carry nothing
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise RawInputError(name, f"not valid CSV: {exc}", where=f"row {reader.line_num}") from exc
    raw = RawFile(path, name, hashlib.sha256(data).hexdigest(), rows)
    if check_shape:
        _check_shape(raw)
    return raw


def _check_shape(raw: RawFile) -> None:
    name, rows = raw.name, raw.rows
    if not rows:
        raise RawInputError(name, "empty file: no header and no rows")
    if len(rows) == 1:
        raise RawInputError(name, "header only: no data rows")
    width = len(rows[0][1])
    for line, cells in rows[1:]:
        if len(cells) != width:
            raise RawInputError(name, f"expected {width} cells as in the header, found {len(cells)}", where=f"row {line}")


def rolling_months(raw: RawFile, drop_month: str) -> list[str]:
    """The release month of each month column; the last column must be the drop's own month."""
    header = [cell.strip() for cell in raw.rows[0][1]]
    if header[0] != LABEL_COLUMN:
        raise RawInputError(raw.name, f"first column must be {LABEL_COLUMN!r}, found {header[0]!r}", where="column 1")
    month_columns = header[1:]
    if not month_columns:
        raise RawInputError(raw.name, "no month columns after 'Model'")
    if len(month_columns) > MAX_ROLLING_MONTHS:
        raise RawInputError(raw.name, f"{len(month_columns)} month columns; a rolling snapshot holds at most 12")
    for position, name in enumerate(month_columns, start=2):
        if name not in months.ABBREVIATIONS:
            raise RawInputError(raw.name, f"{name!r} is not a month abbreviation (Jan..Dec)", where=f"column {position}")
    if month_columns[-1] != months.abbreviation(drop_month):
        raise RawInputError(
            raw.name, f"last column is {month_columns[-1]!r} but the drop is {drop_month} "
            f"({months.abbreviation(drop_month)!r})", where=f"column {len(header)}")
    release = [months.shift(drop_month, offset - len(month_columns) + 1) for offset in range(len(month_columns))]
    for position, (name, month) in enumerate(zip(month_columns, release), start=2):
        if name != months.abbreviation(month):
            raise RawInputError(
                raw.name, f"months are not consecutive: {name!r} where {months.abbreviation(month)!r} was expected",
                where=f"column {position}")
    return release


def check_labels(raw: RawFile, columns: tuple[str, ...]) -> None:
    """Labels are text a person can read: a control character (an escape sequence such as ESC [31m, a NUL, a line
    or paragraph separator) in one of `columns` refuses the file, naming the row and showing the label escaped."""
    header = [cell.strip() for cell in raw.rows[0][1]]
    positions = [(header.index(column), column) for column in columns if column in header]
    for line, cells in raw.rows[1:]:
        for position, column in positions:
            character = first_unprintable(cells[position]) if position < len(cells) else None
            if character is not None:
                raise RawInputError(
                    raw.name, f"{cells[position]!r} holds the control character U+{ord(character):04X}; labels must "
                    "be readable text", where=f"row {line} column {position + 1} ({column})")


def metrics_columns(raw: RawFile) -> list[str]:
    header = [cell.strip() for cell in raw.rows[0][1]]
    allowed = set(catalogue().raw_metrics)
    for required in ("provider", "model"):
        if required not in header:
            raise RawInputError(raw.name, f"missing column {required!r}")
    for position, name in enumerate(header, start=1):
        if name not in allowed | {"provider", "model"}:
            raise RawInputError(raw.name, f"unknown column {name!r} (allowed: provider, model, "
                                f"{', '.join(catalogue().raw_metrics)})", where=f"column {position}")
        if header.count(name) > 1:
            raise RawInputError(raw.name, f"column {name!r} appears twice", where=f"column {position}")
    return header


def months_fed(drop: Drop, root: Path) -> list[str]:
    """The release months a drop carries values for, from its header alone, so that a fault in a row is reported
    by every month the file feeds. With no readable header, the drop's own month reports it."""
    fed = {drop.month}
    for rolling in drop.rolling_files():
        try:
            raw = read_csv_file(rolling, root, check_shape=False)
            if raw.rows:
                fed.update(rolling_months(raw, drop.month))
        except RawInputError:
            pass
    return sorted(fed)


def release_months(root: Path) -> list[str]:
    """Every release month that some drop in the raw root feeds, oldest first."""
    fed: set[str] = set()
    for drop in list_drops(root):
        if drop.data_files():
            fed.update(months_fed(drop, root))
    return sorted(fed)


def before_first_release(root: Path, first: str, other_months: list[str] = ()) -> list[str]:
    """One line per drop that feeds release months before `first` (the CASI_FIRST_RELEASE_MONTH setting): they
    have no partition, so they are refused by name rather than silently left out. `other_months`: drop months
    fed by files other than the CSVs (red-team results)."""
    lines = []
    for drop in list_drops(root):
        fed = months_fed(drop, root) if drop.data_files() else [drop.month] if drop.month in other_months else []
        early = [month for month in fed if month < first]
        if early:
            lines.append(f"{early[0]} ingest: {root.name}/{drop.month}: feeds release months {early[0]}..{early[-1]}, "
                         f"before the first release month {first} (set CASI_FIRST_RELEASE_MONTH to include them)")
    return lines


def _empty(value: str) -> str | None:
    return value if value.strip() else None


def ingest_release(root: Path, release_month: str) -> pd.DataFrame:
    """Every file that feeds a release month, whole and as written, with file, row and sha256 for each value.

    A file is accepted or refused whole, so the rows of its other months come along (`value_month` tells them
    apart): a bad cell anywhere in a rolling snapshot stops every month that snapshot feeds.
    """
    records = []
    metric_names = catalogue().raw_metrics
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
                            records.append({
                                "release_month": release_month, "value_month": value_month, "drop_month": drop.month,
                                "source_file": raw.name, "source_sha256": raw.sha256, "source_row": line,
                                "source_column": header[position].strip(), "label": cells[0],
                                "casi": cells[position]})
        metrics_path = drop.file(METRICS_FILE)
        if metrics_path is not None and drop.month == release_month:
            raw = read_csv_file(metrics_path, root)
            header = metrics_columns(raw)
            check_labels(raw, ("provider", "model"))
            for line, cells in raw.rows[1:]:
                cell = dict(zip(header, cells))
                record = {"release_month": release_month, "value_month": drop.month, "drop_month": drop.month,
                          "source_file": raw.name, "source_sha256": raw.sha256, "source_row": line,
                          "source_column": None,
                          # surrounding spaces in either part must not change the label
                          "label": f"{cell['provider'].strip()} {cell['model'].strip()}"}
                record.update({name: _empty(cell[name]) for name in metric_names if name in cell})
                records.append(record)
        benchmarks_path = drop.file(BENCHMARKS_FILE)
        if benchmarks_path is not None and drop.month == release_month:
            records.extend(benchmark_records(read_csv_file(benchmarks_path, root), release_month))
    return pd.DataFrame.from_records(records, columns=[*KEY_COLUMNS, *metric_names, *BENCHMARK_COLUMNS])


def benchmarks_columns(raw: RawFile) -> list[str]:
    """benchmarks.csv has exactly the columns provider, model, benchmark, score, in any order."""
    header = [cell.strip() for cell in raw.rows[0][1]]
    for position, name in enumerate(header, start=1):
        if name not in BENCHMARKS_HEADER:
            raise RawInputError(raw.name, f"unknown column {name!r} (allowed: {', '.join(BENCHMARKS_HEADER)})",
                                where=f"column {position}")
        if header.count(name) > 1:
            raise RawInputError(raw.name, f"column {name!r} appears twice", where=f"column {position}")
    for required in BENCHMARKS_HEADER:
        if required not in header:
            raise RawInputError(raw.name, f"missing column {required!r}")
    return header


def benchmark_records(raw: RawFile, month: str) -> list[dict]:
    """One ingest row per benchmarks.csv row, its score as written. A row must name its benchmark and give a score:
    a benchmark a model has no result for is left out of the file (it is never 0)."""
    header = benchmarks_columns(raw)
    check_labels(raw, ("provider", "model", "benchmark"))
    records = []
    for line, cells in raw.rows[1:]:
        cell = dict(zip(header, cells))
        for required, what in (("benchmark", "empty benchmark name"),
                                ("score", "empty score: leave out a benchmark the model has no result for")):
            if _empty(cell[required]) is None:
                raise RawInputError(raw.name, what, where=f"row {line} column {header.index(required) + 1} ({required})")
        records.append({"release_month": month, "value_month": month, "drop_month": month,
                        "source_file": raw.name, "source_sha256": raw.sha256, "source_row": line,
                        "source_column": "score", "label": f"{cell['provider']} {cell['model']}",
                        "benchmark": cell["benchmark"], "benchmark_score": cell["score"]})
    return records
