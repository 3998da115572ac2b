"""Labels come from outside: make them inert wherever the project writes them for people or their tools."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

# A spreadsheet treats a cell starting with one of these as a formula (or strips it before one).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = str.maketrans({ch: f"\\{ch}" for ch in "\\`*_{}[]()<>#+-.!|"})


def neutralise_formula(cell: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate with an apostrophe, so it shows as text (OWASP CSV injection)."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def escape_markdown(text: str) -> str:
    """Text shown literally in Markdown (the Dagster UI renders metadata Markdown); HTML is escaped too."""
    return html.escape(text, quote=False).translate(_MARKDOWN_SPECIAL)


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown pipe table: every text cell and header escaped, None left empty, any other value as str()."""

    def cell(value: object) -> str:
        return "" if value is None else escape_markdown(value) if isinstance(value, str) else str(value)

    lines = ["| " + " | ".join(map(escape_markdown, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def first_unprintable(text: str) -> str | None:
    """The first character a terminal would not show as itself (C0/C1 controls such as ESC, DEL, format and
    separator characters): exactly those that repr() shows escaped."""
    return next((character for character in text if not character.isprintable()), None)


def escape_unprintable(text: str) -> str:
    """Text safe to print on a terminal: each unprintable character as its escape (ESC as \\x1b)."""
    if first_unprintable(text) is None:
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
