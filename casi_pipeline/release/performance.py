"""The Average Performance computed from a month's benchmarks.csv with the versioned benchmark catalogue, and its
reconciliation with a published one."""

from __future__ import annotations

import math

import pandas as pd

from casi_pipeline.identity import Findings
from casi_pipeline.reference import BenchmarkCatalogue, match_key
from casi_pipeline.release.tables import COMPUTED_PERFORMANCE, METRIC_SOURCE_SUFFIX

COMPUTED_COLUMNS = [column.name for column in COMPUTED_PERFORMANCE]
UNKNOWN_BENCHMARKS = "unknown_benchmarks"
PERFORMANCE_MISMATCH = "performance_mismatch"


def benchmark_scores(
    validated: pd.DataFrame,
    identity: pd.DataFrame,
    benchmarks: BenchmarkCatalogue,
    findings: Findings,
    conflicts: dict[tuple[str, str], list[str]],
) -> pd.DataFrame:
    """The benchmarks.csv rows of catalogue benchmarks, with model identity and catalogue name. Unknown names are
    reported (WARN) and left out; a model with two rows for one benchmark (under any of its labels or spellings)
    is a conflict (ERROR)."""
    rows = validated[validated["benchmark"].notna()].merge(identity, on="label", how="left")
    names = {name: (known.name if (known := benchmarks.resolve(name)) else None) for name in set(rows["benchmark"])}
    rows = rows.assign(catalogue_name=rows["benchmark"].map(names))
    unknown = rows[rows["catalogue_name"].isna()]
    for (release_month, source_file, name), group in unknown.groupby(["release_month", "source_file", "benchmark"]):
        findings.add(
            UNKNOWN_BENCHMARKS,
            {
                "release_month": release_month,
                "benchmark": name,
                "source_file": source_file,
                "rows": ", ".join(map(str, sorted(group["source_row"]))),
            },
        )
    rows = rows.assign(benchmark_key=rows["catalogue_name"].fillna(rows["benchmark"].map(match_key)))
    twice = rows[rows.duplicated(["release_month", "model_id", "benchmark_key"], keep=False)]
    for (release_month, model_id, _), group in twice.groupby(["release_month", "model_id", "benchmark_key"]):
        conflicts.setdefault((release_month, model_id), []).append(
            f"benchmark {group['benchmark'].iloc[0]} listed twice in one file: "
            + " vs ".join(
                f"{row['source_file']} row {row['source_row']}: {row['benchmark_score']:g}"
                for _, row in group.iterrows()
            )
        )
    return rows[rows["catalogue_name"].notna()]


def average_performance(scores: pd.DataFrame, benchmarks: BenchmarkCatalogue) -> pd.DataFrame:
    """Per (release_month, model_id): the weighted mean of the model's scores over the catalogue benchmarks it has.

    `scores` holds catalogue benchmarks only (column `catalogue_name`). Coverage is the share of the catalogue's
    weight present; below the threshold the value is null. A missing benchmark is never counted as 0: the mean is
    taken over the benchmarks present, and only when they carry at least the threshold's share of the weight.
    """
    keys = ["release_month", "model_id"]
    if scores.empty:
        return pd.DataFrame(columns=[*keys, *COMPUTED_COLUMNS])
    order = {benchmark.name: position for position, benchmark in enumerate(benchmarks.benchmarks)}
    weights = {benchmark.name: benchmark.weight for benchmark in benchmarks.benchmarks}
    # one score per benchmark (a second one is refused by the suites); catalogue order keeps sums reproducible
    scores = scores.sort_values("source_row").drop_duplicates([*keys, "catalogue_name"])
    scores = scores.assign(weight=scores["catalogue_name"].map(weights), position=scores["catalogue_name"].map(order))
    scores = scores.assign(weighted=scores["weight"] * scores["benchmark_score"]).sort_values([*keys, "position"])
    per_model = (
        scores.groupby(keys, sort=True)
        .agg(
            weight=("weight", "sum"),
            weighted=("weighted", "sum"),
            performance_benchmarks=("catalogue_name", "; ".join),
            source_file=("source_file", "first"),
            source_rows=("source_row", lambda rows: ",".join(map(str, sorted(rows)))),
            performance_computed_sha256=("source_sha256", "first"),
        )
        .reset_index()
    )
    coverage = per_model["weight"] / benchmarks.total_weight
    enough = (coverage >= benchmarks.coverage_threshold) | coverage.map(
        lambda share: math.isclose(share, benchmarks.coverage_threshold)
    )
    return per_model.assign(
        performance_computed=(per_model["weighted"] / per_model["weight"]).where(enough),
        performance_coverage=coverage,
        performance_catalogue_version=benchmarks.version,
        performance_computed_source=per_model["source_file"] + ":" + per_model["source_rows"],
    )[[*keys, *COMPUTED_COLUMNS]]


def reconcile(record: dict, benchmarks: BenchmarkCatalogue, findings: Findings) -> None:
    """Both a published and a computed performance: both are kept; a difference above the tolerance is reported."""
    published, computed = record.get("performance"), record.get("performance_computed")
    if published is None or computed is None or pd.isna(published) or pd.isna(computed):
        return
    if abs(published - computed) > benchmarks.reconciliation_tolerance:
        findings.add(
            PERFORMANCE_MISMATCH,
            {
                "release_month": record["release_month"],
                "model_id": record["model_id"],
                "published": published,
                "published_source": record["performance" + METRIC_SOURCE_SUFFIX],
                "computed": computed,
                "coverage": record["performance_coverage"],
                "catalogue_version": record["performance_catalogue_version"],
                "difference": round(published - computed, 6),
            },
        )
