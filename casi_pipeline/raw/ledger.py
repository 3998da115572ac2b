"""Landed drops are immutable: a file that no longer has the sha256 recorded when it was first read is refused.

The record is what the warehouse already keeps: the `.source.json` sidecar of a file the refresh landed, and the
`source_sha256` that the `ingest` table stores for every file that fed a landed month (written only when the month
landed whole, so a refused run records nothing). Edits are refused rather than merged: a correction comes as a new
drop or a restated file, and a refused month keeps its published tables and history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from casi_pipeline.errors import RawInputError
from casi_pipeline.raw import layout
from casi_pipeline.storage.files import sha256_of
from casi_pipeline.storage.objects import Root, relative_to

SIDECAR_SUFFIX = ".source.json"  # written by casi_pipeline.refresh.land beside each file it lands

# release months -> the stored ingest rows of those months (at least source_file and source_sha256)
StoredIngest = Callable[[list[str]], pd.DataFrame]


@dataclass(frozen=True)
class Edited:
    source_file: str  # as named in tables and messages: `<raw root name>/<drop>/<file>`
    months: list[str]  # the release months the file's drop feeds
    error: RawInputError


def _path(root: Root, source_file: str) -> Root:
    return root / source_file.split("/", 1)[1]


def _sidecar_sha256(root: Root, source_file: str) -> str | None:
    path = _path(root, source_file)
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        return json.loads(sidecar.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):  # no sidecar, or not one the refresh wrote: no record there
        return None


def recorded(stored_ingest: pd.DataFrame) -> dict[str, str]:
    """source_file -> sha256 as the warehouse's ingest table recorded it."""
    if stored_ingest.empty:
        return {}
    pairs = stored_ingest[["source_file", "source_sha256"]].drop_duplicates()
    return dict(zip(pairs["source_file"], pairs["source_sha256"], strict=True))


def refuse_edits(root: Root, current: Mapping[str, str], stored_ingest: pd.DataFrame) -> list[RawInputError]:
    """One error per file in `current` (source_file -> sha256 now) whose sha256 differs from its sidecar's or from
    the one the warehouse's ingest table recorded."""
    in_warehouse = recorded(stored_ingest)
    errors = []
    for source_file, sha256 in sorted(current.items()):
        for where, expected in (
            ("in its .source.json", _sidecar_sha256(root, source_file)),
            ("when it first landed", in_warehouse.get(source_file)),
        ):
            if expected is not None and expected != sha256:
                errors.append(
                    RawInputError(
                        source_file,
                        (
                            f"changed in place (sha256 {sha256[:12]}, recorded {expected[:12]} {where}): "
                            "landed files are never edited; put a correction in a new drop or a restated file"
                        ),
                    )
                )
                break
    return errors


def edited_files(root: Root, stored: StoredIngest) -> list[Edited]:
    """Every file in the raw root that no longer matches its record, with the release months its drop feeds."""
    fed = {drop.month: layout.months_fed(drop, root) for drop in layout.list_drops(root) if drop.data_files()}
    stored_ingest = stored(sorted({month for months in fed.values() for month in months}))
    edited = []
    for drop in layout.list_drops(root):
        current = {f"{root.name}/{relative_to(path, root).as_posix()}": sha256_of(path) for path in drop.data_files()}
        edited += [Edited(error.path, fed[drop.month], error) for error in refuse_edits(root, current, stored_ingest)]
    return edited
