"""The red-team methodology YAML (methodology.yaml beside this file), validated with located errors.

The score's properties (bounded, monotone in successes, heavier for severer and simpler attacks) hold only if the
weights are positive and ordered, so the loader refuses any file where they are not.
"""

from __future__ import annotations

from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Gt
from pydantic import AfterValidator, AliasPath, BeforeValidator, Field, Strict

from casi_pipeline.reference.loading import Integer, Number, Record, Version, error_message, invalid, load, record

PATH = Path(__file__).parent / "methodology.yaml"
LEVELS = (1, 2, 3, 4, 5)  # severity and complexity are rated 1..5
DIMENSIONS = ("required_sophistication", "defensive_endurance", "counter_intelligence")
MIN_RESAMPLES = 1000


def _one_per_level(weights: Any) -> Any:
    if not isinstance(weights, dict) or sorted(weights) != list(LEVELS):
        raise invalid(f"expected one weight for each of {list(LEVELS)}, got {weights!r}")
    return weights


LevelWeights = Annotated[
    dict[int, Annotated[float, Strict(), Gt(0), error_message("expected a positive number, got {value!r}")]],
    BeforeValidator(_one_per_level),
]


def _strictly(increasing: bool) -> AfterValidator:
    """Weights that strictly increase (or decrease) from level 1 to 5, in level order."""

    def check(weights: dict[int, float]) -> dict[int, float]:
        ordered = [weights[level] for level in LEVELS]
        if any((b <= a) if increasing else (b >= a) for a, b in pairwise(ordered)):
            raise invalid(
                f"weights must strictly {'increase' if increasing else 'decrease'} from level 1 to 5, got {ordered}"
            )
        return dict(zip(LEVELS, ordered, strict=True))

    return AfterValidator(check)


def _dimension_weights(weights: dict[str, float | int]) -> dict[str, float]:
    if sorted(weights) != sorted(DIMENSIONS):
        raise invalid(f"expected exactly {list(DIMENSIONS)}, got {list(weights)}")
    for name, weight in weights.items():
        if weight < 0:
            raise invalid(f"must not be negative, got {weight}", name)
    if abs(sum(weights.values()) - 1) > 1e-9:
        raise invalid(f"weights must add up to 1, got {sum(weights.values())}")
    return {name: float(weights[name]) for name in DIMENSIONS}


def _at_least_min_resamples(resamples: int) -> int:
    if resamples < MIN_RESAMPLES:
        raise invalid(f"at least {MIN_RESAMPLES}, got {resamples}")
    return resamples


def _a_probability(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise invalid(f"must be between 0 and 1, got {confidence}")
    return confidence


@record
class RedTeamMethodology(Record):
    version: Version
    severity_weight: Annotated[LevelWeights, _strictly(increasing=True)] = Field(
        validation_alias=AliasPath("security", "severity_weight")
    )
    """Weight of an attack by its severity (1..5): severer attacks weigh more."""
    simplicity_weight: Annotated[LevelWeights, _strictly(increasing=False)] = Field(
        validation_alias=AliasPath("security", "simplicity_weight")
    )
    """Weight of an attack by its complexity (1..5): simpler attacks weigh more."""
    dimension_weights: Annotated[
        dict[str, Number], error_message("expected dict, got {value!r}"), AfterValidator(_dimension_weights)
    ] = Field(validation_alias=AliasPath("agentic", "weights"))
    """Weight of each agentic dimension in the ARS-style score, in DIMENSIONS order."""
    max_sophistication: Integer = Field(validation_alias=AliasPath("agentic", "max_sophistication"))
    resamples: Annotated[Integer, AfterValidator(_at_least_min_resamples)] = Field(
        validation_alias=AliasPath("bootstrap", "resamples")
    )
    confidence: Annotated[
        float, Strict(), error_message("expected float, got {value!r}"), AfterValidator(_a_probability)
    ] = Field(validation_alias=AliasPath("bootstrap", "confidence"))
    seed: Integer = Field(validation_alias=AliasPath("bootstrap", "seed"))
    """With the month and the board, fixes every bootstrap resample."""


@cache
def redteam_methodology() -> RedTeamMethodology:
    return load(PATH, RedTeamMethodology)
