"""The red-team methodology YAML (methodology.yaml beside this file), validated with located errors.

The score's properties (bounded, monotone in successes, heavier for severer and simpler attacks) hold only if the
weights are positive and ordered, so the loader refuses any file where they are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from casi_pipeline.errors import ReferenceDataError
from casi_pipeline.reference import read_yaml, require_field

PATH = Path(__file__).parent / "methodology.yaml"
LEVELS = (1, 2, 3, 4, 5)  # severity and complexity are rated 1..5
DIMENSIONS = ("required_sophistication", "defensive_endurance", "counter_intelligence")
MIN_RESAMPLES = 1000


@dataclass(frozen=True)
class RedTeamMethodology:
    version: str
    severity_weight: dict[int, float]
    simplicity_weight: dict[int, float]  # by complexity
    dimension_weights: dict[str, float]
    max_sophistication: int
    resamples: int
    confidence: float
    seed: int


def _levels(path: Path, where: str, value, increasing: bool) -> dict[int, float]:
    if not isinstance(value, dict) or sorted(value) != list(LEVELS):
        raise ReferenceDataError(str(path), where, f"expected one weight for each of {list(LEVELS)}, got {value!r}")
    weights = {}
    for level in LEVELS:
        weight = value[level]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ReferenceDataError(str(path), f"{where}.{level}", f"expected a positive number, got {weight!r}")
        weights[level] = float(weight)
    ordered = list(weights.values())
    if any((b <= a) if increasing else (b >= a) for a, b in zip(ordered, ordered[1:])):
        raise ReferenceDataError(str(path), where, f"weights must strictly {'increase' if increasing else 'decrease'} "
                                 f"from level 1 to 5, got {ordered}")
    return weights


def parse(path: Path) -> RedTeamMethodology:
    data = read_yaml(path)
    security = require_field(path, "top level", data, "security", dict)
    agentic = require_field(path, "top level", data, "agentic", dict)
    bootstrap = require_field(path, "top level", data, "bootstrap", dict)
    weights = require_field(path, "agentic", agentic, "weights", dict)
    if sorted(weights) != sorted(DIMENSIONS):
        raise ReferenceDataError(str(path), "agentic.weights", f"expected exactly {list(DIMENSIONS)}, got {list(weights)}")
    for name in DIMENSIONS:
        weight = require_field(path, "agentic.weights", weights, name, (int, float))
        if weight < 0:
            raise ReferenceDataError(str(path), f"agentic.weights.{name}", f"must not be negative, got {weight}")
    if abs(sum(weights.values()) - 1) > 1e-9:
        raise ReferenceDataError(str(path), "agentic.weights", f"weights must add up to 1, got {sum(weights.values())}")
    resamples = require_field(path, "bootstrap", bootstrap, "resamples", int)
    if resamples < MIN_RESAMPLES:
        raise ReferenceDataError(str(path), "bootstrap.resamples", f"at least {MIN_RESAMPLES}, got {resamples}")
    confidence = require_field(path, "bootstrap", bootstrap, "confidence", float)
    if not 0 < confidence < 1:
        raise ReferenceDataError(str(path), "bootstrap.confidence", f"must be between 0 and 1, got {confidence}")
    return RedTeamMethodology(
        version=str(data["version"]),
        severity_weight=_levels(path, "security.severity_weight", security.get("severity_weight"), increasing=True),
        simplicity_weight=_levels(path, "security.simplicity_weight", security.get("simplicity_weight"),
                                  increasing=False),
        dimension_weights={name: float(weights[name]) for name in DIMENSIONS},
        max_sophistication=require_field(path, "agentic", agentic, "max_sophistication", int),
        resamples=resamples, confidence=confidence, seed=require_field(path, "bootstrap", bootstrap, "seed", int),
    )


@lru_cache(maxsize=1)
def redteam_methodology() -> RedTeamMethodology:
    return parse(PATH)
