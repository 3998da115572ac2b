"""Check a download as a rolling snapshot, work out its month, and land it immutably in the raw root."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from casi_pipeline import months
from casi_pipeline.errors import RawInputError
from casi_pipeline.raw.contracts import LABEL_COLUMN, check_labels, rolling_months
from casi_pipeline.raw.csv_reader import RawFile, read_csv_bytes
from casi_pipeline.raw.layout import ROLLING_FILE, Drop, restatement_name
from casi_pipeline.raw.ledger import SIDECAR_SUFFIX  # beside each landed file: where from, when, its sha256
from casi_pipeline.refresh.fetch import Download
from casi_pipeline.settings import FIRST_RELEASE_MONTH_ENV, first_release_month
from casi_pipeline.storage.files import sha256_of, write_new
from casi_pipeline.storage.objects import Root

HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


@dataclass(frozen=True)
class Snapshot:
    download: Download
    raw: RawFile
    month: str  # the as-of month: the drop it lands in
    release_months: list[str]


@dataclass(frozen=True)
class Landed:
    path: Root
    sidecar: Root
    month: str
    sha256: str
    restatement: bool


def as_of_month(raw: RawFile, today: date) -> str:
    """The newest month, not after today, whose abbreviation is the file's last column."""
    last = raw.rows[0][1][-1].strip()
    if last not in months.ABBREVIATIONS:
        raise RawInputError(
            raw.name,
            f"last column {last!r} is not a month abbreviation (Jan..Dec)",
            where=f"column {len(raw.rows[0][1])}",
        )
    month = months.current_month(today)
    while months.abbreviation(month) != last:
        month = months.shift(month, -1)
    return month


def check(download: Download, today: date) -> Snapshot:
    """Refuse what is not a whole rolling snapshot (HTML error pages, garbage, truncated bodies) before landing."""
    content_type = (download.content_type or "").split(";")[0].strip().lower()
    if content_type == "text/html" or download.body.lstrip()[:16].lower().startswith(HTML_STARTS):
        raise RawInputError(download.url, f"an HTML page, not the CSV (Content-Type {content_type or 'none'})")
    raw = read_csv_bytes(download.body, download.url)
    month = as_of_month(raw, today)
    check_labels(raw, (LABEL_COLUMN,))
    first = first_release_month()
    if month < first:
        raise RawInputError(
            raw.name, f"as of {month}, before the first release month {first} ({FIRST_RELEASE_MONTH_ENV})"
        )
    return Snapshot(download, raw, month, rolling_months(raw, month))


def _sidecar(snapshot: Snapshot, name: str) -> bytes:
    return (
        json.dumps(
            {
                "file": name,
                "source_url": snapshot.download.url,
                "fetched_at": snapshot.download.fetched_at.isoformat(timespec="seconds"),
                "sha256": snapshot.raw.sha256,
                "bytes": len(snapshot.download.body),
                "as_of_month": snapshot.month,
                "release_months": snapshot.release_months,
            },
            indent=2,
        )
        + "\n"
    ).encode()


def land(root: Root, snapshot: Snapshot) -> Landed | None:
    """Land the snapshot as data_raw/<month>/; None when the drop's newest version already has these bytes.

    A new month gets casi_rolling_12_months.csv; a changed file for a month that has one is a restatement and
    lands beside it under a dated name. The sidecar is written first, so the data file appears complete with it.
    """
    drop = Drop(snapshot.month, root / snapshot.month)
    existing = drop.rolling_files() if drop.path.is_dir() else []
    if existing and sha256_of(existing[-1]) == snapshot.raw.sha256:
        return None
    name = restatement_name(snapshot.download.fetched_at.strftime("%Y%m%dT%H%M%SZ")) if existing else ROLLING_FILE
    drop.path.mkdir(parents=True, exist_ok=True)
    path, sidecar = drop.path / name, drop.path / (name + SIDECAR_SUFFIX)
    write_new(sidecar, _sidecar(snapshot, name))  # landed raw files are read-only
    write_new(path, snapshot.download.body)
    return Landed(path, sidecar, snapshot.month, snapshot.raw.sha256, restatement=bool(existing))
