"""The metric catalogue (metrics.yaml): every figure the pipeline reads or computes, with its range and display."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from annotated_types import MinLen
from pydantic import model_validator

from casi_pipeline.reference.loading import (
    Flag,
    Integer,
    Number,
    Record,
    Text,
    VersionNumber,
    error_message,
    invalid,
    load,
    record,
)

Bound = Annotated[Number | None, error_message("expected a number or null, got {value!r}", every_fault=True)]


@record
class Metric(Record):
    name: str
    """Its key in the file, also its column name."""
    display: Text
    description: Text
    unit: Text
    min: Bound
    """Lowest plausible value; null = unbounded."""
    max: Bound
    higher_is_better: Flag
    decimals: Integer
    """Decimals shown in reports."""
    raw: Flag
    """May appear as a column of a drop's metrics.csv."""

    @model_validator(mode="after")
    def _range_is_not_inverted(self) -> Metric:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise invalid(f"min {self.min} is above max {self.max}")
        return self


@record
class MetricCatalogue(Record):
    version: VersionNumber
    metrics: Annotated[dict[str, Metric], MinLen(1), error_message("expected a mapping of metric name to definition")]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            data = {
                **data,
                "metrics": {
                    name: {**entry, "name": name} if isinstance(entry, dict) else entry
                    for name, entry in data["metrics"].items()
                },
            }
        return data

    @property
    def raw_metrics(self) -> tuple[str, ...]:
        return tuple(name for name, metric in self.metrics.items() if metric.raw)


@cache
def metric_catalogue() -> MetricCatalogue:
    return load(Path(__file__).with_name("metrics.yaml"), MetricCatalogue)
