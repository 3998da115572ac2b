"""The logic of the validate, normalise and score stages, as plain functions on DataFrames (one release month)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import pandas as pd

from casi_pipeline import months
from casi_pipeline.raw import layout
from casi_pipeline.reference import (
    BenchmarkCatalogue, Methodology, Registry, benchmark_catalogue, match_key, slug, split_label,
)
from casi_pipeline.release.tables import (
    COMPUTED_PERFORMANCE, LEADERBOARD, METRIC_SHA_SUFFIX, METRIC_SOURCE_SUFFIX, NORMALISE, VALIDATE,
)

NEAR_DUPLICATE_CUTOFF = 0.85
COMPUTED_COLUMNS = [column.name for column in COMPUTED_PERFORMANCE]


@dataclass
class Findings:
    """Drift that is not wrong, per WARN check name: a list of JSON-able rows each."""

    rows: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, check: str, row: dict) -> None:
        self.rows.setdefault(check, []).append(row)


def validate(ingested: pd.DataFrame, metric_names: tuple[str, ...]) -> pd.DataFrame:
    """Typed values. Text that is not a number becomes NaN here, but the ingest suite has already refused it."""
    frame = ingested.copy()
    frame["label"] = frame["label"].str.strip()
    for name in (*metric_names, "benchmark_score"):
        frame[name] = pd.to_numeric(frame[name].str.strip(), errors="coerce")
    frame["benchmark"] = frame["benchmark"].str.strip()
    return VALIDATE.conform(frame)


# --- normalise --------------------------------------------------------------------------------------------------

UNKNOWN_MODELS = "unknown_models"
NEAR_DUPLICATE_LABELS = "near_duplicate_labels"
RESTATED_VALUES = "restated_values"
UNKNOWN_BENCHMARKS = "unknown_benchmarks"
PERFORMANCE_MISMATCH = "performance_mismatch"


def identify_labels(labels: pd.Series, registry: Registry, findings: Findings) -> pd.DataFrame:
    """Canonical identity per distinct label; unknown labels become new models and are reported."""
    known_labels = {match_key(label): model.id for model in registry.models for label in (model.label, *model.aliases)}
    rows = []
    for label in sorted(set(labels)):
        model = registry.resolve(label)
        if model is not None:
            rows.append({"label": label, "model_id": model.id, "provider": model.provider, "model": model.model,
                         "registered": True})
            continue
        provider, name = split_label(label)
        model_id = f"{slug(provider)}/{slug(name)}"
        rows.append({"label": label, "model_id": model_id, "provider": provider, "model": name, "registered": False})
        findings.add(UNKNOWN_MODELS, {"label": label, "new_model_id": model_id})
        close = difflib.get_close_matches(match_key(label), known_labels, n=1, cutoff=NEAR_DUPLICATE_CUTOFF)
        if close:
            findings.add(NEAR_DUPLICATE_LABELS, {"label": label, "close_to": known_labels[close[0]]})
    return pd.DataFrame(rows, columns=["label", "model_id", "provider", "model", "registered"])


def _describe(row: pd.Series) -> str:
    return f"{row['source_file']} row {row['source_row']}: {row['metric']}={row['value']:g}"


def normalise(validated: pd.DataFrame, registry: Registry, metric_names: tuple[str, ...],
              benchmarks: BenchmarkCatalogue | None = None) -> tuple[pd.DataFrame, pd.Series, Findings]:
    """One row per (release_month, model_id): for each metric the value of the newest drop that carries it, and the
    Average Performance computed from the month's benchmarks.csv with the benchmark catalogue (default: the shipped one).

    Returns the table, the in-drop conflicts per row (None where the drop's files agree), and WARN findings.
    """
    benchmarks = benchmarks or benchmark_catalogue()
    findings = Findings()
    validated = validated[validated["value_month"] == validated["release_month"]]
    if validated.empty:
        return NORMALISE.empty(), pd.Series([], dtype="str"), findings
    identity = identify_labels(validated["label"], registry, findings)
    seen = validated[["release_month", "label"]].merge(identity, on="label", how="left")
    labels = seen.groupby(["release_month", "model_id"])["label"].agg(lambda group: "; ".join(sorted(set(group))))
    # benchmarks.csv rows carry no metric, so they drop out of `long`.
    long = validated.melt(
        id_vars=["release_month", "drop_month", "source_file", "source_sha256", "source_row", "source_column", "label"],
        value_vars=list(metric_names), var_name="metric", value_name="value",
    ).dropna(subset=["value"]).merge(identity, on="label", how="left")
    # A drop's restated snapshot is newer than the file it restates: (drop_month, revision) orders every value.
    long["revision"] = long["source_file"].map(layout.revision)
    long = long.sort_values(["release_month", "model_id", "metric", "drop_month", "revision", "source_file",
                             "source_row"])

    conflicts: dict[tuple[str, str], list[str]] = {}
    # The same model twice in one file and column (under any of its labels) is an error, even with equal values.
    for _, group in long.groupby(["release_month", "model_id", "metric", "source_file", "source_column"],
                                 dropna=False, sort=False):
        if len(group) > 1:
            conflicts.setdefault((group.iloc[0]["release_month"], group.iloc[0]["model_id"]), []).append(
                "listed twice in one file: " + " vs ".join(_describe(row) for _, row in group.iterrows()))
    # Within one drop, the rolling snapshot and metrics.csv must agree (a restatement may differ: it is newer).
    for _, group in long.groupby(["release_month", "model_id", "metric", "drop_month", "revision"], sort=False):
        if group["value"].nunique() > 1 and group["source_file"].nunique() > 1:
            conflicts.setdefault((group.iloc[0]["release_month"], group.iloc[0]["model_id"]), []).append(
                "files of one drop disagree: " + " vs ".join(_describe(row) for _, row in group.iterrows()))

    records: dict[tuple[str, str], dict] = {}
    for (release_month, model_id, metric), group in long.groupby(["release_month", "model_id", "metric"], sort=True):
        newest = group.iloc[-1]
        older = group[(group["drop_month"] < newest["drop_month"])
                      | ((group["drop_month"] == newest["drop_month"]) & (group["revision"] < newest["revision"]))]
        for _, old in older.drop_duplicates(["drop_month", "revision"], keep="last").iterrows():
            if old["value"] != newest["value"]:
                findings.add(RESTATED_VALUES, {
                    "release_month": release_month, "model_id": model_id, "metric": metric,
                    "old_value": old["value"], "old_source": f"{old['source_file']}:{old['source_row']}",
                    "new_value": newest["value"], "new_source": f"{newest['source_file']}:{newest['source_row']}",
                })
        record = records.setdefault((release_month, model_id), _model_record(newest, labels, registry))
        record[metric] = newest["value"]
        record[metric + METRIC_SOURCE_SUFFIX] = f"{newest['source_file']}:{newest['source_row']}"
        record[metric + METRIC_SHA_SUFFIX] = newest["source_sha256"]

    scores = _benchmark_scores(validated, identity, benchmarks, findings, conflicts)
    identity_of = scores.drop_duplicates(["release_month", "model_id"]).set_index(["release_month", "model_id"],
                                                                                  drop=False)
    for computed in average_performance(scores, benchmarks).to_dict("records"):
        key = (computed.pop("release_month"), computed.pop("model_id"))
        if key not in records:  # a model with benchmark results only
            records[key] = _model_record(identity_of.loc[key], labels, registry)
        records[key].update(computed)
        _reconcile(records[key], benchmarks, findings)

    table = NORMALISE.conform(pd.DataFrame([records[key] for key in sorted(records)]))
    conflict = pd.Series(
        [("; ".join(conflicts[key]) if key in conflicts else None) for key in zip(table["release_month"], table["model_id"])],
        dtype="str",
    )
    return table, conflict, findings


def _model_record(row: pd.Series, labels: pd.Series, registry: Registry) -> dict:
    """A normalise row's identity columns, from one of its model's rows."""
    return {"release_month": row["release_month"], "model_id": row["model_id"], "provider": row["provider"],
            "model": row["model"], "registered": bool(row["registered"]),
            "labels": labels[(row["release_month"], row["model_id"])], "registry_version": registry.version}


# --- Average Performance from benchmarks.csv ---------------------------------------------------------------------


def _benchmark_scores(validated: pd.DataFrame, identity: pd.DataFrame, benchmarks: BenchmarkCatalogue,
                      findings: Findings, conflicts: dict[tuple[str, str], list[str]]) -> pd.DataFrame:
    """The benchmarks.csv rows of catalogue benchmarks, with model identity and catalogue name. Unknown names are
    reported (WARN) and left out; a model with two rows for one benchmark (under any of its labels or spellings)
    is a conflict (ERROR)."""
    rows = validated[validated["benchmark"].notna()].merge(identity, on="label", how="left")
    names = {name: (known.name if (known := benchmarks.resolve(name)) else None) for name in set(rows["benchmark"])}
    rows = rows.assign(catalogue_name=rows["benchmark"].map(names))
    unknown = rows[rows["catalogue_name"].isna()]
    for (release_month, source_file, name), group in unknown.groupby(["release_month", "source_file", "benchmark"]):
        findings.add(UNKNOWN_BENCHMARKS, {"release_month": release_month, "benchmark": name, "source_file": source_file,
                                          "rows": ", ".join(map(str, sorted(group["source_row"])))})
    rows = rows.assign(benchmark_key=rows["catalogue_name"].fillna(rows["benchmark"].map(match_key)))
    twice = rows[rows.duplicated(["release_month", "model_id", "benchmark_key"], keep=False)]
    for (release_month, model_id, _), group in twice.groupby(["release_month", "model_id", "benchmark_key"]):
        conflicts.setdefault((release_month, model_id), []).append(
            f"benchmark {group['benchmark'].iloc[0]} listed twice in one file: " + " vs ".join(
                f"{row['source_file']} row {row['source_row']}: {row['benchmark_score']:g}"
                for _, row in group.iterrows()))
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
    per_model = scores.groupby(keys, sort=True).agg(
        weight=("weight", "sum"), weighted=("weighted", "sum"),
        performance_benchmarks=("catalogue_name", "; ".join),
        source_file=("source_file", "first"), source_rows=("source_row", lambda rows: ",".join(map(str, sorted(rows)))),
        performance_computed_sha256=("source_sha256", "first"),
    ).reset_index()
    coverage = per_model["weight"] / benchmarks.total_weight
    enough = (coverage >= benchmarks.coverage_threshold) | coverage.map(
        lambda share: math.isclose(share, benchmarks.coverage_threshold))
    return per_model.assign(
        performance_computed=(per_model["weighted"] / per_model["weight"]).where(enough),
        performance_coverage=coverage,
        performance_catalogue_version=benchmarks.version,
        performance_computed_source=per_model["source_file"] + ":" + per_model["source_rows"],
    )[[*keys, *COMPUTED_COLUMNS]]


def _reconcile(record: dict, benchmarks: BenchmarkCatalogue, findings: Findings) -> None:
    """Both a published and a computed performance: both are kept; a difference above the tolerance is reported."""
    published, computed = record.get("performance"), record.get("performance_computed")
    if published is None or computed is None or pd.isna(published) or pd.isna(computed):
        return
    if abs(published - computed) > benchmarks.reconciliation_tolerance:
        findings.add(PERFORMANCE_MISMATCH, {
            "release_month": record["release_month"], "model_id": record["model_id"],
            "published": published, "published_source": record["performance" + METRIC_SOURCE_SUFFIX],
            "computed": computed, "coverage": record["performance_coverage"],
            "catalogue_version": record["performance_catalogue_version"],
            "difference": round(published - computed, 6)})


# --- score ------------------------------------------------------------------------------------------------------


def _split_source(source: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = source.str.rsplit(":", n=1, expand=True)
    return parts[0], pd.to_numeric(parts[1]).astype("int64")


def score(current: pd.DataFrame, previous: pd.DataFrame, methodology: Methodology) -> pd.DataFrame:
    """Both boards for one release month: competition rank, tie flag, RTP, CoS and change since the month before.

    Performance is the published value when the drop gives one (it is what was published), else the computed one;
    `performance_basis` says which, and RTP follows from it.
    """
    current = _performance_used(current)
    boards = []
    for board, metric in methodology.boards.items():
        on_board = current[current[metric].notna()].copy()
        if on_board.empty:
            continue
        on_board["board"] = board
        on_board["security"] = on_board[metric]
        on_board["rank"] = on_board["security"].rank(method="min", ascending=False).astype("int64")
        on_board["tied"] = on_board["security"].duplicated(keep=False)
        on_board["rtp"] = (methodology.security_weight * on_board["security"] / 100
                           + methodology.performance_weight * on_board["performance"] / 100)
        # NaN propagates: an unknown price or performance gives an unknown figure, never 0.
        on_board["cos_usd"] = ((on_board["input_usd_per_mtok"] + on_board["output_usd_per_mtok"])
                               / (on_board["security"] / 100))
        before = previous.loc[previous[metric].notna()].set_index("model_id")[metric]
        on_board["security_change"] = on_board["security"] - on_board["model_id"].map(before)
        on_board["source_file"], on_board["source_row"] = _split_source(on_board[metric + METRIC_SOURCE_SUFFIX])
        on_board["source_sha256"] = on_board[metric + METRIC_SHA_SUFFIX]
        on_board["methodology_version"] = methodology.version
        boards.append(on_board)
    if not boards:
        return LEADERBOARD.empty()
    table = pd.concat(boards, ignore_index=True).sort_values(["release_month", "board", "rank", "model_id"])
    return LEADERBOARD.conform(table)


def _performance_used(normalised: pd.DataFrame) -> pd.DataFrame:
    """`performance` becomes the value the boards use, with its basis; coverage and catalogue version stay only
    for a computed one."""
    published = normalised["performance"].notna()
    computed = ~published & normalised["performance_computed"].notna()
    return normalised.assign(
        performance=normalised["performance"].where(published, normalised["performance_computed"]),
        performance_basis=pd.Series(None, index=normalised.index, dtype="str").mask(published, "published")
                                                                             .mask(computed, "computed"),
        performance_coverage=normalised["performance_coverage"].where(computed),
        performance_catalogue_version=normalised["performance_catalogue_version"].where(computed),
    )


def retain_published(published: pd.DataFrame, current: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Append-only in effect: the current rows, plus every published row whose key the current data no longer
    produces (e.g. its drop was removed). A key still produced takes the current row; what changed is in the
    restatements table."""
    gone = ~published.set_index(key).index.isin(current.set_index(key).index)
    return pd.concat([current, published[gone]], ignore_index=True).sort_values(key, ignore_index=True)


def previous_month(release_month: str) -> str:
    return months.shift(release_month, -1)
