"""The logic of the validate, normalise and score stages, as plain functions on DataFrames (one release month)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import pandas as pd

from casi_pipeline import months
from casi_pipeline.reference import Methodology, Registry, match_key, slug, split_label
from casi_pipeline.release.tables import LEADERBOARD, METRIC_SHA_SUFFIX, METRIC_SOURCE_SUFFIX, NORMALISE, VALIDATE

NEAR_DUPLICATE_CUTOFF = 0.85


@dataclass
class Findings:
    """Drift that is not wrong, per WARN check name: a list of JSON-able rows each."""

    rows: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, check: str, row: dict) -> None:
        self.rows.setdefault(check, []).append(row)

    def extend(self, other: "Findings") -> None:
        for check, rows in other.rows.items():
            self.rows.setdefault(check, []).extend(rows)


def validate(ingested: pd.DataFrame, metric_names: tuple[str, ...]) -> pd.DataFrame:
    """Typed values. Text that is not a number becomes NaN here, but the ingest suite has already refused it."""
    frame = ingested.copy()
    frame["label"] = frame["label"].str.strip()
    for name in metric_names:
        frame[name] = pd.to_numeric(frame[name].str.strip(), errors="coerce")
    return VALIDATE.conform(frame)


# --- normalise --------------------------------------------------------------------------------------------------

UNKNOWN_MODELS = "unknown_models"
NEAR_DUPLICATE_LABELS = "near_duplicate_labels"
RESTATED_VALUES = "restated_values"


def _identify(labels: pd.Series, registry: Registry, findings: Findings) -> pd.DataFrame:
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


def normalise(validated: pd.DataFrame, registry: Registry, metric_names: tuple[str, ...]
              ) -> tuple[pd.DataFrame, pd.Series, Findings]:
    """One row per (release_month, model_id): for each metric the value of the newest drop that carries it.

    Returns the table, the in-drop conflicts per row (None where the drop's files agree), and WARN findings.
    """
    findings = Findings()
    validated = validated[validated["value_month"] == validated["release_month"]]
    if validated.empty:
        return NORMALISE.empty(), pd.Series([], dtype="str"), findings
    identity = _identify(validated["label"], registry, findings)
    long = validated.melt(
        id_vars=["release_month", "drop_month", "source_file", "source_sha256", "source_row", "source_column", "label"],
        value_vars=list(metric_names), var_name="metric", value_name="value",
    ).dropna(subset=["value"]).merge(identity, on="label", how="left")
    long = long.sort_values(["release_month", "model_id", "metric", "drop_month", "source_file", "source_row"])

    conflicts: dict[tuple[str, str], list[str]] = {}
    # The same model twice in one file and column (under any of its labels) is an error, even with equal values.
    for _, group in long.groupby(["release_month", "model_id", "metric", "source_file", "source_column"],
                                 dropna=False, sort=False):
        if len(group) > 1:
            conflicts.setdefault((group.iloc[0]["release_month"], group.iloc[0]["model_id"]), []).append(
                "listed twice in one file: " + " vs ".join(_describe(row) for _, row in group.iterrows()))
    # Within one drop, the rolling snapshot and metrics.csv must agree.
    for _, group in long.groupby(["release_month", "model_id", "metric", "drop_month"], sort=False):
        if group["value"].nunique() > 1 and group["source_file"].nunique() > 1:
            conflicts.setdefault((group.iloc[0]["release_month"], group.iloc[0]["model_id"]), []).append(
                "files of one drop disagree: " + " vs ".join(_describe(row) for _, row in group.iterrows()))

    records: dict[tuple[str, str], dict] = {}
    for (release_month, model_id, metric), group in long.groupby(["release_month", "model_id", "metric"], sort=True):
        newest = group.iloc[-1]
        older = group[group["drop_month"] < newest["drop_month"]]
        for _, old in older.drop_duplicates("drop_month", keep="last").iterrows():
            if old["value"] != newest["value"]:
                findings.add(RESTATED_VALUES, {
                    "release_month": release_month, "model_id": model_id, "metric": metric,
                    "old_value": old["value"], "old_source": f"{old['source_file']}:{old['source_row']}",
                    "new_value": newest["value"], "new_source": f"{newest['source_file']}:{newest['source_row']}",
                })
        record = records.setdefault((release_month, model_id), {
            "release_month": release_month, "model_id": model_id, "provider": newest["provider"],
            "model": newest["model"], "registered": bool(newest["registered"]),
            "labels": "; ".join(sorted(set(long.loc[(long["release_month"] == release_month)
                                                    & (long["model_id"] == model_id), "label"]))),
            "registry_version": registry.version,
        })
        record[metric] = newest["value"]
        record[metric + METRIC_SOURCE_SUFFIX] = f"{newest['source_file']}:{newest['source_row']}"
        record[metric + METRIC_SHA_SUFFIX] = newest["source_sha256"]

    table = NORMALISE.conform(pd.DataFrame(list(records.values())))
    conflict = pd.Series(
        [("; ".join(conflicts[key]) if key in conflicts else None) for key in zip(table["release_month"], table["model_id"])],
        dtype="str",
    )
    return table, conflict, findings


# --- score ------------------------------------------------------------------------------------------------------


def _split_source(source: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = source.str.rsplit(":", n=1, expand=True)
    return parts[0], pd.to_numeric(parts[1]).astype("int64")


def score(current: pd.DataFrame, previous: pd.DataFrame, methodology: Methodology) -> pd.DataFrame:
    """Both boards for one release month: competition rank, tie flag, RTP, CoS and change since the month before."""
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


def retain_published(published: pd.DataFrame, current: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Append-only in effect: the current rows, plus every published row whose key the current data no longer
    produces (e.g. its drop was removed). A key still produced takes the current row; what changed is in the
    restatements table."""
    gone = ~published.set_index(key).index.isin(current.set_index(key).index)
    return pd.concat([current, published[gone]], ignore_index=True).sort_values(key, ignore_index=True)


def previous_month(release_month: str) -> str:
    return months.shift(release_month, -1)
