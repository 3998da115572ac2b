"""How labels are compared: the publisher writes one model or benchmark several ways."""

from __future__ import annotations

import re
from collections.abc import Sequence

_SEPARATORS = re.compile(r"[\s\-_]+")


def match_key(label: str) -> str:
    """Case- and separator-insensitive form of a label: `GPT-5 Nano` = `GPT 5 Nano` = `gpt-5-nano`."""
    return _SEPARATORS.sub("", label).lower()


def split_label(label: str) -> tuple[str, str]:
    """`<Provider> <Model>`, split on the first space (the publisher's convention)."""
    provider, _, model = label.strip().partition(" ")
    return provider, model.strip()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown"


def first_clash(names: Sequence[Sequence[str]], *, repeats_within_entry: bool) -> tuple[int, int, int] | None:
    """The first name whose match_key an earlier name already has, as (entry, position in the entry, entry that
    has it first), or None. `names` holds each entry's names; with `repeats_within_entry` an entry may spell its own
    name twice."""
    owners: dict[str, int] = {}
    for index, spellings in enumerate(names):
        for position, name in enumerate(spellings):
            key = match_key(name)
            if key in owners and (owners[key] != index or not repeats_within_entry):
                return index, position, owners[key]
            owners[key] = index
    return None
