"""The project's own error type: one line that names the file, where in it, and what is wrong."""

from __future__ import annotations


class RawInputError(ValueError):
    def __init__(self, path: str, what: str, where: str | None = None):
        self.path, self.where, self.what = path, where, what
        super().__init__(f"{path}: {where}: {what}" if where else f"{path}: {what}")


class ReferenceDataError(ValueError):
    """A located error in one of the package's YAML reference files."""

    def __init__(self, path: str, where: str, what: str):
        self.path, self.where, self.what = path, where, what
        super().__init__(f"{path}: {where}: {what}")


class StageError(Exception):
    """A stage could not produce its table; one line per problem, each naming month, stage and file."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))
