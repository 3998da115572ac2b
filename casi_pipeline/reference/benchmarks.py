"""The benchmark catalogue (benchmarks.yaml): what the computed Average Performance is made of, and when it is
allowed to exist."""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path
from typing import Annotated

from annotated_types import Ge, Gt, Le, MinLen
from pydantic import Strict, model_validator

from casi_pipeline.reference.labels import first_clash, match_key
from casi_pipeline.reference.loading import Aliases, Record, Text, Version, error_message, invalid, load, record


@record
class Benchmark(Record):
    name: Text
    """As benchmarks.csv spells it."""
    category: Text
    weight: Annotated[float, Strict(), Gt(0), error_message("expected a number above 0, got {value!r}")]
    aliases: Annotated[Aliases, error_message("expected a list of names", every_fault=True)] = ()
    """Other spellings of the same benchmark."""

    @property
    def names(self) -> tuple[str, ...]:
        return self.name, *self.aliases


@record
class BenchmarkCatalogue(Record):
    version: Version
    coverage_threshold: Annotated[
        float, Strict(), Gt(0), Le(1), error_message("expected a number above 0 and at most 1, got {value!r}")
    ]
    """Share of the total weight below which a model has no computed Average Performance."""
    reconciliation_tolerance: Annotated[float, Strict(), Ge(0), error_message("expected a number >= 0, got {value!r}")]
    """A computed and a published value further apart than this raise a WARN check."""
    categories: Annotated[
        tuple[Text, ...], MinLen(1), error_message("expected a list of category names", every_fault=True)
    ]
    benchmarks: Annotated[tuple[Benchmark, ...], MinLen(1), error_message("expected a list of benchmarks")]

    @model_validator(mode="after")
    def _categories_known_and_names_unique(self) -> BenchmarkCatalogue:
        for index, benchmark in enumerate(self.benchmarks):
            if benchmark.category not in self.categories:
                raise invalid(
                    f"{benchmark.category!r} is not one of the categories ({', '.join(self.categories)})",
                    "benchmarks",
                    index,
                    "category",
                )
        clash = first_clash([benchmark.names for benchmark in self.benchmarks], repeats_within_entry=False)
        if clash:
            index, position, owner = clash
            name = ("aliases", position - 1) if position else ("name",)
            raise invalid(
                f"{self.benchmarks[index].names[position]!r} already names benchmarks[{owner}]",
                "benchmarks",
                index,
                *name,
            )
        return self

    @cached_property
    def _by_key(self) -> dict[str, Benchmark]:
        return {match_key(name): benchmark for benchmark in self.benchmarks for name in benchmark.names}

    def resolve(self, name: str) -> Benchmark | None:
        return self._by_key.get(match_key(name))

    @property
    def total_weight(self) -> float:
        return sum(benchmark.weight for benchmark in self.benchmarks)


@cache
def benchmark_catalogue() -> BenchmarkCatalogue:
    return load(Path(__file__).with_name("benchmarks.yaml"), BenchmarkCatalogue)
