"""Versions Dagster compares to tell which release months are stale: a code version per stage and a data version
per release month of the raw sources.

A stage's code version is its logic version (bump it when the stage's code changes what it writes) plus the content
hash of the reference files it reads, so editing the model registry or the methodology makes every month stale
without a code change. A release month's data version is the sha256 of the files that feed it and the month before
(its leaderboard's change since the previous month reads that month's normalise table).

Imports neither Great Expectations nor the asset modules: `casi-pipeline run` decides what is stale from these and
the instance alone, before (or instead of) loading the code location.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from functools import cache
from pathlib import Path

from casi_pipeline import months
from casi_pipeline.errors import RawInputError
from casi_pipeline.raw.contracts import rolling_months
from casi_pipeline.raw.csv_reader import read_csv_file
from casi_pipeline.raw.layout import BENCHMARKS_FILE, METRICS_FILE, list_drops
from casi_pipeline.storage.files import sha256_of
from casi_pipeline.storage.objects import Root, relative_to

REFERENCE = Path(__file__).parent / "reference"
REDTEAM_METHODOLOGY = Path(__file__).parent / "redteam" / "methodology.yaml"
REGISTRY, METRICS, METHODOLOGY, BENCHMARKS = (
    REFERENCE / name for name in ("models.yaml", "metrics.yaml", "methodology.yaml", "benchmarks.yaml")
)

# stage (table name) -> (logic version, the reference files it reads). Bump the logic version with the code.
STAGES: dict[str, tuple[str, tuple[Path, ...]]] = {
    "ingest": ("1", (METRICS,)),
    "validate": ("1", (METRICS,)),
    "normalise": ("1", (REGISTRY, METRICS, BENCHMARKS)),
    "restatements": ("1", (REGISTRY, METRICS, BENCHMARKS)),
    "leaderboard": ("1", (REGISTRY, METRICS, BENCHMARKS, METHODOLOGY)),
    "redteam_ingest": ("1", ()),
    "redteam_validate": ("1", ()),
    "redteam_normalise": ("1", (REGISTRY,)),
    "redteam_scores": ("1", (REGISTRY, REDTEAM_METHODOLOGY)),
    "models": ("1", (REGISTRY,)),
    "leaderboard_history": ("1", (METHODOLOGY,)),
    "redteam_reconciliation": ("1", ()),
}


@cache
def _content_hash(path: Path) -> str:
    return sha256_of(path)[:12]


def code_version(stage: str) -> str:
    """`<logic>` then `<file>:<hash>` of each reference file, e.g. `1+models.yaml:3f2a...` (shown in the UI)."""
    logic, references = STAGES[stage]
    return "+".join([logic, *(f"{path.name}:{_content_hash(path)}" for path in references)])


def files_by_month(root: Root) -> dict[str, dict[str, str]]:
    """For each release month, the files that feed it: display name -> sha256. A rolling snapshot whose header
    cannot be read feeds every release month up to its drop's (its ingest reads it for each of them)."""
    fed: dict[str, dict[str, str]] = defaultdict(dict)
    unreadable: list[tuple[str, str, str]] = []
    for drop in list_drops(root):
        for path in drop.data_files():
            name, digest = f"{root.name}/{relative_to(path, root).as_posix()}", sha256_of(path)
            if path.name in (METRICS_FILE, BENCHMARKS_FILE):
                fed[drop.month][name] = digest
                continue
            try:
                raw = read_csv_file(path, root, check_shape=False)
                covered = rolling_months(raw, drop.month) if raw.rows else [drop.month]
            except RawInputError:
                unreadable.append((drop.month, name, digest))
                covered = [drop.month]
            for month in covered:
                fed[month][name] = digest
    for drop_month, name, digest in unreadable:
        for month in [month for month in fed if month <= drop_month]:
            fed[month][name] = digest
    return dict(fed)


def _digest(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{name}\0{digest}\n" for name, digest in sorted(files.items())).encode()).hexdigest()


def release_data_versions(root: Root, fed: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """Data version of each release month of `raw_drops`: the files that feed it and the month before."""
    fed = files_by_month(root) if fed is None else fed
    return {month: _digest({**fed.get(months.shift(month, -1), {}), **files}) for month, files in fed.items()}


def redteam_files_by_month(root: Root) -> dict[str, dict[str, str]]:
    """For each month with red-team results, its files: display name -> fingerprint. Those files run to gigabytes,
    so the fingerprint is size and modification time rather than a hash of the bytes (ingest hashes them)."""
    from casi_pipeline.redteam import raw as redteam_raw

    fed: dict[str, dict[str, str]] = {}
    for month in redteam_raw.redteam_months(root):
        fed[month] = {}
        for kind in redteam_raw.KINDS.values():
            for path in redteam_raw.files(root, month, kind):
                status = path.stat()
                fed[month][redteam_raw.display_name(root, path)] = f"{status.st_size}:{status.st_mtime_ns}"
    return fed


def redteam_data_versions(root: Root, fed: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    fed = redteam_files_by_month(root) if fed is None else fed
    return {month: _digest(files) for month, files in fed.items()}
