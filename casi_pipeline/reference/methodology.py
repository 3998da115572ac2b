"""The scoring methodology of the published boards (methodology.yaml): each board's security metric, the RTP
weights."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from annotated_types import MinLen
from pydantic import AfterValidator, AliasPath, BeforeValidator, Field, model_validator

from casi_pipeline.reference.loading import Number, Record, Version, error_message, invalid, load, record
from casi_pipeline.reference.metrics import metric_catalogue


def _in_metric_catalogue(metric: Any) -> str:
    if not isinstance(metric, str) or metric not in metric_catalogue().metrics:
        raise invalid(f"{metric!r} is not in the metric catalogue")
    return metric


Weight = Annotated[Number, AfterValidator(float)]


@record
class Methodology(Record):
    version: Version
    boards: Annotated[
        dict[str, Annotated[str, BeforeValidator(_in_metric_catalogue)]],
        MinLen(1),
        error_message("expected a mapping of board name to security metric"),
    ]
    """Board name -> the metric that is its security score."""
    security_weight: Weight = Field(validation_alias=AliasPath("rtp", "security_weight"))
    performance_weight: Weight = Field(validation_alias=AliasPath("rtp", "performance_weight"))

    @model_validator(mode="after")
    def _weights_add_up(self) -> Methodology:
        total = self.security_weight + self.performance_weight
        if abs(total - 1) > 1e-9:
            raise invalid(f"weights must add up to 1, got {total}", "rtp")
        return self


@cache
def methodology() -> Methodology:
    return load(Path(__file__).with_name("methodology.yaml"), Methodology)
