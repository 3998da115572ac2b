"""A drop's CSV file as rows of cells, exactly as written: UTF-8, strict CSV, and (by default) a rectangular shape."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

from casi_pipeline.errors import RawInputError
from casi_pipeline.storage.objects import Root, relative_to


@dataclass(frozen=True)
class RawFile:
    path: Root | None  # None for bytes not (yet) in the raw root
    name: str  # as shown in tables and messages: `<raw root name>/<drop>/<file>`
    sha256: str
    rows: list[tuple[int, list[str]]]  # (line number, cells), header first


def read_csv_file(path: Root, root: Root, check_shape: bool = True) -> RawFile:
    """A drop's CSV as rows of cells. `check_shape` refuses empty files and rows whose width differs from the header."""
    return read_csv_bytes(path.read_bytes(), f"{root.name}/{relative_to(path, root).as_posix()}", path, check_shape)


def read_csv_bytes(data: bytes, name: str, path: Root | None = None, check_shape: bool = True) -> RawFile:
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
    raw = RawFile(path, name, hashlib.sha256(data).hexdigest(), rows)  # of the very bytes parsed
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
            raise RawInputError(
                name, f"expected {width} cells as in the header, found {len(cells)}", where=f"row {line}"
            )
