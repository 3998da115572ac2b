"""The normalise stage: one row per (release month, model) with canonical identity, the newest value of each metric,
and the Average Performance computed from benchmarks.csv."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from casi_pipeline.identity import Findings, identify_labels
from casi_pipeline.raw import layout
from casi_pipeline.reference import BenchmarkCatalogue, Registry, benchmark_catalogue
from casi_pipeline.release.performance import average_performance, benchmark_scores, reconcile
from casi_pipeline.release.tables import METRIC_SHA_SUFFIX, METRIC_SOURCE_SUFFIX, NORMALISE

RESTATED_VALUES = "restated_values"

ROW_KEY = ["release_month", "model_id"]  # one row of the normalise table
VALUE_KEY = [*ROW_KEY, "metric"]  # one metric value of a row

Conflicts = dict[tuple[str, str], list[str]]  # (release_month, model_id) -> why the drop's files disagree
Labels = dict[tuple[str, str], str]  # (release_month, model_id) -> every label seen for it, '; '-joined


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
    newest = values.drop_duplicates(VALUE_KEY, keep="last")  # values are sorted oldest first
    _report_restated(values, newest, findings)
    records = _records(newest, labels, registry)
    scores = benchmark_scores(validated, identity, benchmarks, findings, conflicts)
    _add_computed_performance(records, scores, labels, registry, benchmarks, findings)
    table = NORMALISE.conform(pd.DataFrame([records[key] for key in sorted(records)]))
    return table, _conflict_column(table, conflicts), findings


def _labels_per_model(validated: pd.DataFrame, identity: pd.DataFrame) -> Labels:
    """Every label seen for a (release_month, model_id), sorted and '; '-joined."""
    seen = validated[["release_month", "label"]].drop_duplicates().merge(identity, on="label", how="left")
    return seen.sort_values("label").groupby(ROW_KEY)["label"].agg("; ".join).to_dict()


def _metric_values(validated: pd.DataFrame, identity: pd.DataFrame, metric_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per metric value with its model and source (`<file>:<row>`), oldest first per (release_month,
    model_id, metric)."""
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
    values["source"] = values["source_file"] + ":" + values["source_row"].astype("str")
    # A drop's restated snapshot is newer than the file it restates: (drop_month, revision) orders every value.
    values["revision"] = values["source_file"].map(layout.revision)
    return values.sort_values(
        ["release_month", "model_id", "metric", "drop_month", "revision", "source_file", "source_row"]
    )


def _conflicts(values: pd.DataFrame) -> Conflicts:
    """Why the files of a (release_month, model_id) disagree. Conflicts are rare: masks over all values find them,
    and only the values found are described."""
    conflicts: Conflicts = {}
    # The same model twice in one file and column (under any of its labels) is an error, even with equal values.
    one_column = [*VALUE_KEY, "source_file", "source_column"]
    listed_twice = values[values.duplicated(one_column, keep=False)]
    _add_conflicts(conflicts, "listed twice in one file", listed_twice, one_column)
    # Within one drop, the rolling snapshot and metrics.csv must agree (a restatement may differ: it is newer).
    one_revision = [*VALUE_KEY, "drop_month", "revision"]
    per_revision = values.groupby(one_revision, sort=False)
    disagree = values[
        (per_revision["value"].transform("nunique") > 1) & (per_revision["source_file"].transform("nunique") > 1)
    ]
    _add_conflicts(conflicts, "files of one drop disagree", disagree, one_revision)
    return conflicts


def _add_conflicts(conflicts: Conflicts, reason: str, found: pd.DataFrame, by: list[str]) -> None:
    """One conflict per group of the values found, naming each of its values, in the order they come."""
    # metrics.csv values have no column: a missing key is a key like any other
    for _, group in found.groupby(by, dropna=False, sort=False):
        key = (group["release_month"].iloc[0], group["model_id"].iloc[0])
        conflicts.setdefault(key, []).append(f"{reason}: " + " vs ".join(_describe(row) for _, row in group.iterrows()))


def _describe(row: pd.Series) -> str:
    return f"{row['source_file']} row {row['source_row']}: {row['metric']}={row['value']:g}"


def _report_restated(values: pd.DataFrame, newest: pd.DataFrame, findings: Findings) -> None:
    """Every older drop (or restated file) whose value of a metric differs from the newest one, oldest first."""
    # An older (drop_month, revision) counts once, with the value of its last file and row.
    per_revision = values.drop_duplicates([*VALUE_KEY, "drop_month", "revision"], keep="last")
    older = per_revision[per_revision.duplicated(VALUE_KEY, keep="last")]  # every revision but the newest
    compared = older[[*VALUE_KEY, "value", "source"]].merge(
        newest[[*VALUE_KEY, "value", "source"]], on=VALUE_KEY, how="left", suffixes=("_old", "_new")
    )
    restated = compared[compared["value_old"] != compared["value_new"]].rename(
        columns={
            "value_old": "old_value",
            "source_old": "old_source",
            "value_new": "new_value",
            "source_new": "new_source",
        }
    )
    for row in restated.to_dict("records"):
        findings.add(RESTATED_VALUES, row)


def _records(newest: pd.DataFrame, labels: Labels, registry: Registry) -> dict[tuple[str, str], dict]:
    """Per (release_month, model_id): its identity columns, and for each metric its newest value with source and
    sha256."""
    # The identity comes from the model's first metric (in name order): two unknown labels that derive one model id
    # may spell its provider and name differently.
    records = {
        (row["release_month"], row["model_id"]): _model_record(row, labels, registry)
        for row in newest.drop_duplicates(ROW_KEY).to_dict("records")
    }
    # numpy floats, not Python floats: reconcile rounds the published minus the computed performance, and numpy
    # rounds some halves differently (round(3.0000045, 6) is 3.000005, numpy's 3.000004).
    for release_month, model_id, metric, value, source, sha256 in zip(
        newest["release_month"],
        newest["model_id"],
        newest["metric"],
        newest["value"].to_numpy(),
        newest["source"],
        newest["source_sha256"],
        strict=True,
    ):
        records[(release_month, model_id)].update(
            {metric: value, metric + METRIC_SOURCE_SUFFIX: source, metric + METRIC_SHA_SUFFIX: sha256}
        )
    return records


def _add_computed_performance(
    records: dict[tuple[str, str], dict],
    scores: pd.DataFrame,
    labels: Labels,
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


def _model_record(row: Mapping[str, Any], labels: Labels, registry: Registry) -> dict:
    """A normalise row's identity columns, from one of its model's rows (a Series or a dict)."""
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
