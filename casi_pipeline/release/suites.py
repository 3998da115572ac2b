"""One expectation suite per release stage, built in Python so that bounds come from the metric catalogue, not
copies of it.

Each expectation's `description` is the sentence a person reads when it fails.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from casi_pipeline.quality.suite_parts import SHA256_REGEX, month_expectations, suite
from casi_pipeline.reference import MODEL_ID, Methodology, MetricCatalogue

PERFORMANCE_BASES = ("published", "computed")
# benchmarks.csv holds one row per model and benchmark; the other files one row per model (and month column).
BENCHMARK_ROWS = Column("benchmark").is_not_null()
OTHER_ROWS = Column("benchmark").is_null()

NUMBER_REGEX = r"^\s*-?(?:\d+(?:\.\d*)?|\.\d+)\s*$"
LABEL_REGEX = r"^\s*\S+\s+\S"  # `<Provider> <Model>`

MODEL_LOCATION = ("release_month", "model_id")  # locates a bad value of normalise and restatements


def _within_catalogue(catalogue: MetricCatalogue, columns: list[str]) -> list:
    expectations = []
    for name in columns:
        metric = catalogue.metrics[name]
        if metric.min is None and metric.max is None:
            continue
        span = f"{metric.min}..{metric.max}" if metric.max is not None else f">= {metric.min}"
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=name,
                min_value=metric.min,
                max_value=metric.max,
                description=f"{name} must be {'within ' if metric.max is not None else ''}{span}",
            )
        )
    return expectations


def ingest_suite(columns: list[str], catalogue: MetricCatalogue) -> gx.ExpectationSuite:
    """Readable as written: the expected columns, a file hash, a label, and cells that are numbers."""
    return suite(
        "ingest",
        [
            gxe.ExpectTableColumnsToMatchOrderedList(column_list=columns, description="ingest columns changed"),
            *month_expectations("release_month", "value_month", "drop_month"),
            gxe.ExpectColumnValuesToMatchRegex(
                column="source_sha256", regex=SHA256_REGEX, description="source_sha256 is not a sha256"
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="label", description="model label is empty"),
            gxe.ExpectColumnValuesToMatchRegex(
                column="label", regex=LABEL_REGEX, description="model label is not `<Provider> <Model>`"
            ),
            *(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=name, regex=NUMBER_REGEX, description=f"{name} is not a number"
                )
                for name in (*catalogue.raw_metrics, "benchmark_score")
            ),
        ],
    )


def validate_suite(catalogue: MetricCatalogue) -> gx.ExpectationSuite:
    """Plausible values: every metric inside the catalogue's range, each label once per file and column (once per
    benchmark in benchmarks.csv)."""
    return suite(
        "validate",
        [
            *_within_catalogue(catalogue, [*catalogue.raw_metrics, "benchmark_score"]),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["release_month", "source_file", "source_column", "label"],
                row_condition=OTHER_ROWS,
                description="the same model label appears twice in one file",
            ),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["release_month", "source_file", "label", "benchmark"],
                row_condition=BENCHMARK_ROWS,
                description="a model has two rows for one benchmark",
            ),
        ],
    )


def normalise_suite(catalogue: MetricCatalogue) -> gx.ExpectationSuite:
    return suite(
        "normalise",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="model_id", description="model has no id"),
            gxe.ExpectColumnValuesToMatchRegex(
                column="model_id", regex=MODEL_ID.pattern, description="model id is not `provider/model`"
            ),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["release_month", "model_id"], description="a model appears twice in one release month"
            ),
            gxe.ExpectColumnValuesToBeNull(
                column="in_drop_conflict", description="one drop gives two different values for one model"
            ),
            *_within_catalogue(catalogue, [*catalogue.raw_metrics, "performance_computed", "performance_coverage"]),
        ],
    )


def restatements_suite(catalogue: MetricCatalogue) -> gx.ExpectationSuite:
    return suite(
        "restatements",
        [
            *month_expectations("release_month"),
            gxe.ExpectColumnValuesToNotBeNull(column="model_id", description="restated model has no id"),
            gxe.ExpectColumnValuesToBeInSet(
                column="metric",
                value_set=list(catalogue.raw_metrics),
                description="restated metric is not a raw metric",
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="old_source", description="restatement has no old source"),
            gxe.ExpectColumnValuesToNotBeNull(column="new_source", description="restatement has no new source"),
        ],
    )


def leaderboard_suite(catalogue: MetricCatalogue, methodology: Methodology) -> gx.ExpectationSuite:
    return suite(
        "leaderboard",
        [
            gxe.ExpectColumnValuesToBeInSet(
                column="board", value_set=sorted(methodology.boards), description="unknown board"
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="security", description="a ranked model has no security score"),
            gxe.ExpectColumnValuesToBeBetween(
                column="security", min_value=0, max_value=100, description="security must be within 0..100"
            ),
            gxe.ExpectColumnValuesToBeBetween(column="rank", min_value=1, description="rank must be 1 or more"),
            *_within_catalogue(catalogue, ["rtp", "cos_usd"]),
            gxe.ExpectColumnValuesToBeInSet(
                column="performance_basis",
                value_set=list(PERFORMANCE_BASES),
                description="performance basis is neither published nor computed",
            ),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["release_month", "board", "model_id"], description="a model is ranked twice on one board"
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="methodology_version", description="no methodology version"),
        ],
    )
