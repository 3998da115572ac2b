"""Release months: `YYYY-MM` keys, the only folder names the pipeline reads or writes."""

from __future__ import annotations

import re
from datetime import date

# CASI boards were first published in 2025: the default of the CASI_FIRST_RELEASE_MONTH setting (settings.py).
# A drop older than the setting is refused rather than silently ignored.
FIRST_RELEASE_MONTH = "2025-01"

MONTH_KEY = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_month_key(text: str) -> bool:
    return bool(MONTH_KEY.match(text))


def parse(key: str) -> tuple[int, int]:
    match = MONTH_KEY.match(key)
    if not match:
        raise ValueError(f"{key!r} is not a release month (YYYY-MM)")
    return int(match.group(1)), int(match.group(2))


def key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift(month_key: str, months: int) -> str:
    year, month = parse(month_key)
    index = year * 12 + (month - 1) + months
    return key(index // 12, index % 12 + 1)


def abbreviation(month_key: str) -> str:
    return ABBREVIATIONS[parse(month_key)[1] - 1]


def span(first: str, last: str) -> list[str]:
    """Every month from first to last, inclusive."""
    months, current = [], first
    while current <= last:
        months.append(current)
        current = shift(current, 1)
    return months


def range_label(month_keys: list[str]) -> str:
    """`2025-06..2026-02` for sorted months, or the one month."""
    return month_keys[0] if len(month_keys) == 1 else f"{month_keys[0]}..{month_keys[-1]}"


def current_month(today: date | None = None) -> str:
    today = today or date.today()
    return key(today.year, today.month)
