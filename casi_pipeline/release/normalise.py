"""The normalise stage: one row per (release month, model) with canonical identity, the newest value of each metric,
and the Average Performance computed from benchmarks.csv."""

from __future__ import annotations

import pandas as pd

from casi_pipeline.identity import Findings, identify_labels
from casi_pipeline.raw import layout
from casi_pipeline.reference import BenchmarkCatalogue, Registry, benchmark_catalogue
from casi_pipeline.release.performance import average_performance, benchmark_scores, reconcile
from casi_pipeline.release.tables import METRIC_SHA_SUFFIX, METRIC_SOURCE_SUFFIX, NORMALISE

RESTATED_VALUES = "restated_values"

Conflicts = dict[tuple[str, str], list[str]]  # (release_month, model_id) -> why the drop's files disagree


def normalise(
    validated: pd.DataFrame,
    registry: Registry,
    metric_names: tuple[str, ...],
    benchmarks: BenchmarkCatalogue | None = None,
) -> tuple[pd.DataFrame, pd.Series, Findings]:
    """One row per (release_month, model_id): for each metric the value of the newest drop that carries it, and the
    Average Performance computed from the month's benchmarks.csv with the benchmark catalogue (default: the shipped
    one).

    Returns the table, the in-drop conflicts per row (None where the drop's files agree), and WARN findings.
    """
    benchmarks = benchmarks or benchmark_catalogue()
    findings = Findings()
    validated = validated[validated["value_month"] == validated["release_month"]]
    if validated.empty:
        return NORMALISE.empty(), pd.Series([], dtype="str"), findings
    identity = identify_labels(validated["label"], registry, findings)
    labels = _labels_per_model(validated, identity)
    values = _metric_values(validated, identity, metric_names)
    conflicts = _conflicts(values)
    records = _newest_values(values, labels, registry, findings)
    scores = benchmark_scores(validated, identity, benchmarks, findings, conflicts)
    _add_computed_performance(records, scores, labels, registry, benchmarks, findings)
    table = NORMALISE.conform(pd.DataFrame([records[key] for key in sorted(records)]))
    return table, _conflict_column(table, conflicts), findings


def _labels_per_model(validated: pd.DataFrame, identity: pd.DataFrame) -> pd.Series:
    """Every label seen for a (release_month, model_id), '; '-joined."""
    seen = validated[["release_month", "label"]].merge(identity, on="label", how="left")
    return seen.groupby(["release_month", "model_id"])["label"].agg(lambda group: "; ".join(sorted(set(group))))


def _metric_values(validated: pd.DataFrame, identity: pd.DataFrame, metric_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per metric value with its model, oldest first per (release_month, model_id, metric)."""
    # benchmarks.csv rows carry no metric, so they drop out here.
    values = (
        validated.melt(
            id_vars=[
                "release_month",
                "drop_month",
                "source_file",
                "source_sha256",
                "source_row",
                "source_column",
                "label",
            ],
            value_vars=list(metric_names),
            var_name="metric",
            value_name="value",
        )
        .dropna(subset=["value"])
        .merge(identity, on="label", how="left")
    )
    # A drop's restated snapshot is newer than the file it restates: (drop_month, revision) orders every value.
    values["revision"] = values["source_file"].map(layout.revision)
    return values.sort_values(
        ["release_month", "model_id", "metric", "drop_month", "revision", "source_file", "source_row"]
    )


def _describe(row: pd.Series) -> str:
    return f"{row['source_file']} row {row['source_row']}: {row['metric']}={row['value']:g}"


def _conflicts(values: pd.DataFrame) -> Conflicts:
    conflicts: Conflicts = {}
    # The same model twice in one file and column (under any of its labels) is an error, even with equal values.
    for _, group in values.groupby(
        ["release_month", "model_id", "metric", "source_file", "source_column"], dropna=False, sort=False
    ):
        if len(group) > 1:
            conflicts.setdefault((group.iloc[0]["release_month"], group.iloc[0]["model_id"]), []).append(
                "listed twice in one file: " + " vs ".join(_describe(row) for _, row in group.iterrows())
            )
    # Within one drop, the rolling snapshot and metrics.csv must agree (a restatement may differ: it is newer).
    for _, group in values.groupby(["release_month", "model_id", "metric", "drop_month", "revision"], sort=False):
        if group["value"].nunique() > 1 and group["source_file"].nunique() > 1:
            conflicts.setdefault((group.iloc[0]["release_month"], group.iloc[0]["model_id"]), []).append(
                "files of one drop disagree: " + " vs ".join(_describe(row) for _, row in group.iterrows())
            )
    return conflicts


def _newest_values(
    values: pd.DataFrame, labels: pd.Series, registry: Registry, findings: Findings
) -> dict[tuple[str, str], dict]:
    """Per (release_month, model_id) the newest value of each metric with its source; older values that differ are
    reported as restated."""
    records: dict[tuple[str, str], dict] = {}
    for (release_month, model_id, metric), group in values.groupby(["release_month", "model_id", "metric"], sort=True):
        newest = group.iloc[-1]
        older = (
            group[
                (group["drop_month"] < newest["drop_month"])
                | ((group["drop_month"] == newest["drop_month"]) & (group["revision"] < newest["revision"]))
            ]
            if len(group) > 1
            else group.iloc[:0]  # most values were published once: nothing older to compare
        )
        for _, old in older.drop_duplicates(["drop_month", "revision"], keep="last").iterrows():
            if old["value"] != newest["value"]:
                findings.add(
                    RESTATED_VALUES,
                    {
                        "release_month": release_month,
                        "model_id": model_id,
                        "metric": metric,
                        "old_value": old["value"],
                        "old_source": f"{old['source_file']}:{old['source_row']}",
                        "new_value": newest["value"],
                        "new_source": f"{newest['source_file']}:{newest['source_row']}",
                    },
                )
        record = records.setdefault((release_month, model_id), _model_record(newest, labels, registry))
        record[metric] = newest["value"]
        record[metric + METRIC_SOURCE_SUFFIX] = f"{newest['source_file']}:{newest['source_row']}"
        record[metric + METRIC_SHA_SUFFIX] = newest["source_sha256"]
    return records


def _add_computed_performance(
    records: dict[tuple[str, str], dict],
    scores: pd.DataFrame,
    labels: pd.Series,
    registry: Registry,
    benchmarks: BenchmarkCatalogue,
    findings: Findings,
) -> None:
    identity_of = scores.drop_duplicates(["release_month", "model_id"]).set_index(
        ["release_month", "model_id"], drop=False
    )
    for computed in average_performance(scores, benchmarks).to_dict("records"):
        key = (computed.pop("release_month"), computed.pop("model_id"))
        if key not in records:  # a model with benchmark results only
            records[key] = _model_record(identity_of.loc[key], labels, registry)
        records[key].update(computed)
        reconcile(records[key], benchmarks, findings)


def _model_record(row: pd.Series, labels: pd.Series, registry: Registry) -> dict:
    """A normalise row's identity columns, from one of its model's rows."""
    return {
        "release_month": row["release_month"],
        "model_id": row["model_id"],
        "provider": row["provider"],
        "model": row["model"],
        "registered": bool(row["registered"]),
        "labels": labels[(row["release_month"], row["model_id"])],
        "registry_version": registry.version,
    }


def _conflict_column(table: pd.DataFrame, conflicts: Conflicts) -> pd.Series:
    """Per table row, its in-drop conflicts '; '-joined, or None."""
    keys = zip(table["release_month"], table["model_id"], strict=True)
    return pd.Series([("; ".join(conflicts[key]) if key in conflicts else None) for key in keys], dtype="str")
