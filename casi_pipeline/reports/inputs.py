"""Publishing in proportion to the change: a chart or report is redrawn only when what it is drawn from changed.

Each month folder keeps a small dot-prefixed manifest (`reports/<YYYY-MM>/.inputs.json`: output -> digest) of the
digest of exactly the inputs each output was drawn from (its rows, the methodology, the code that draws it). When
the manifest holds the same digest and the files exist, the output is left as it is; else it is drawn and written
atomically, then the manifest. Drawing is deterministic, so a skipped output is byte-identical to a redrawn one,
and a new month redraws only what its rows reach: its own month, the next month's rank movements and changes, and
the over-time charts whose window holds it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from casi_pipeline.storage.files import write_text_atomically
from casi_pipeline.storage.objects import Root

MANIFEST = ".inputs.json"  # dot-prefixed: never listed as a report


def code_version(*paths: Path) -> str:
    """sha256 of the files that draw an output (and of the drawing library's version): a change to any redraws."""
    digest = hashlib.sha256(version("matplotlib").encode())  # its metadata: importing it costs 0.2 s
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def digest(*parts: str | pd.DataFrame | Iterable) -> str:
    """sha256 over text, frames (as CSV: every value at full precision, in order) and reprs of anything else."""
    hasher = hashlib.sha256()
    for part in parts:
        text = (
            part.to_csv(index=False)
            if isinstance(part, pd.DataFrame)
            else part
            if isinstance(part, str)
            else repr(part)
        )
        hasher.update(text.encode() + b"\0")
    return hasher.hexdigest()


class Manifest:
    """The digests recorded beside a month's outputs: `output name -> digest`."""

    def __init__(self, folder: Root):
        self.path = folder / MANIFEST
        try:
            self.recorded: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: everything in the folder is redrawn
            self.recorded = {}
        self.changed = False

    def current(self, name: str, value: str, files: Iterable[Root]) -> bool:
        """True when `name` was drawn from inputs with this digest and all its files are still there."""
        return self.recorded.get(name) == value and all(path.exists() for path in files)

    def record(self, name: str, value: str) -> None:
        if self.recorded.get(name) != value:
            self.recorded[name] = value
            self.changed = True

    def save(self) -> None:
        """After the outputs it describes are written: a run killed before this redraws them next time."""
        if self.changed:
            write_text_atomically(self.path, json.dumps(self.recorded, indent=1, sort_keys=True) + "\n")
            self.changed = False
