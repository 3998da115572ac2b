"""The raw root's layout: one folder per drop (`data_raw/<YYYY-MM>/`), the files the pipeline reads in it, restated
snapshots beside the first one, and the release months each drop feeds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from casi_pipeline import months
from casi_pipeline.errors import RawInputError
from casi_pipeline.raw.contracts import rolling_months
from casi_pipeline.raw.csv_reader import read_csv_file
from casi_pipeline.storage.objects import Root

ROLLING_FILE = "casi_rolling_12_months.csv"
METRICS_FILE = "metrics.csv"
BENCHMARKS_FILE = "benchmarks.csv"
# A changed rolling snapshot for a month that already has one (a restatement) lands beside it, never over it, as
# casi_rolling_12_months.restated-<UTC YYYYMMDDTHHMMSSZ>.csv; the newest one wins, the older ones stay readable.
RESTATEMENT = re.compile(r"^casi_rolling_12_months\.restated-(\d{8}T\d{6}Z)\.csv$")


@dataclass(frozen=True)
class Drop:
    month: str
    path: Root

    def file(self, name: str) -> Root | None:
        candidate = self.path / name
        return candidate if candidate.is_file() else None

    def rolling_files(self) -> list[Root]:
        """The rolling snapshot as first landed, then its restatements, oldest first (the last one wins)."""
        first = self.file(ROLLING_FILE)
        restated = sorted(p for p in self.path.iterdir() if p.is_file() and RESTATEMENT.match(p.name))
        return ([first] if first else []) + restated

    def data_files(self) -> list[Root]:
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


def list_drops(root: Root) -> list[Drop]:
    """Every `YYYY-MM` folder under the raw root, oldest first. Other names are never read."""
    if not root.is_dir():
        return []
    return sorted(
        (Drop(child.name, child) for child in root.iterdir() if child.is_dir() and months.is_month_key(child.name)),
        key=lambda drop: drop.month,
    )


def months_fed(drop: Drop, root: Root) -> list[str]:
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


def release_months(root: Root) -> list[str]:
    """Every release month that some drop in the raw root feeds, oldest first."""
    fed: set[str] = set()
    for drop in list_drops(root):
        if drop.data_files():
            fed.update(months_fed(drop, root))
    return sorted(fed)


def before_first_release(root: Root, first: str, other_months: Sequence[str] = ()) -> list[str]:
    """One line per drop that feeds release months before `first` (the CASI_FIRST_RELEASE_MONTH setting): they
    have no partition, so they are refused by name rather than silently left out. `other_months`: drop months
    fed by files other than the CSVs (red-team results)."""
    lines = []
    for drop in list_drops(root):
        fed = months_fed(drop, root) if drop.data_files() else [drop.month] if drop.month in other_months else []
        early = [month for month in fed if month < first]
        if early:
            lines.append(
                f"{early[0]} ingest: {root.name}/{drop.month}: feeds release months {early[0]}..{early[-1]}, "
                f"before the first release month {first} (set CASI_FIRST_RELEASE_MONTH to include them)"
            )
    return lines
