"""The red-team stage logic: DuckDB queries that stream the raw Parquet files, and numpy for the scores.

No function here loads raw rows into pandas: DuckDB aggregates them to one row per (model, attack) or
(model, campaign) first, which is what the methodology and the bootstrap need. That aggregation is the validate
suite's own pass (`unit_scans`): the raw rows are read once for the rules, the label counts and the scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from casi_pipeline.identity import Findings, identify_labels
from casi_pipeline.quality.sql_rules import ROWS, Counted, Scan
from casi_pipeline.redteam import scoring
from casi_pipeline.redteam.methodology import RedTeamMethodology
from casi_pipeline.redteam.raw import AGENTIC, ATTACKS, BOOLEAN, INTEGER, KINDS, RawKind, raw_path
from casi_pipeline.redteam.suites import scope
from casi_pipeline.redteam.tables import NORMALISE, RECONCILIATION, SCORES
from casi_pipeline.reference import Registry
from casi_pipeline.storage.duckdb_sql import Query, duckdb_connection, identifier, parquet_scan
from casi_pipeline.storage.objects import Root

SQL_TYPES = {INTEGER: "BIGINT", BOOLEAN: "BOOLEAN"}  # anything else is text
LABEL_SQL = "trim(provider) || ' ' || trim(model)"


def _empty_relation() -> str:
    """Zero rows with every column of every kind, so rules and queries always find their columns."""
    columns = {name: SQL_TYPES.get(kind, "VARCHAR") for raw in KINDS.values() for name, kind in raw.columns.items()}
    selected = ", ".join(f"NULL::{sql_type} AS {identifier(name)}" for name, sql_type in columns.items())
    return (
        f"SELECT NULL::VARCHAR AS kind, NULL::VARCHAR AS release_month, NULL::VARCHAR AS source_file, "
        f"NULL::BIGINT AS source_row, {selected} WHERE false"
    )


def raw_rows(root: Root, manifest: pd.DataFrame, located: bool = True) -> Query:
    """Every raw row of the manifest's files, with kind and release month, and when `located` the file and 1-based
    row (what the validate suite's samples need; reading row numbers costs a little). A SQL query; DuckDB streams it.
    The one place where raw file paths become SQL (bound as parameters `$<name>_<file index>`)."""
    parts = [_empty_relation()]
    params: dict[str, object] = {}
    for index, file in enumerate(manifest.itertuples()):
        scan = parquet_scan([raw_path(root, file.source_file)], f"path_{index}", file_row_number=located)
        location = (
            f"$file_{index} AS source_file, file_row_number + 1 AS source_row, * EXCLUDE (file_row_number)"
            if located
            else "*"
        )
        parts.append(f"SELECT $kind_{index} AS kind, $month_{index} AS release_month, {location} FROM {scan.sql}")
        params |= {**scan.params, f"kind_{index}": file.kind, f"month_{index}": file.release_month}
        if located:
            params[f"file_{index}"] = file.source_file
    return Query(" UNION ALL BY NAME ".join(parts), params)


def unit_scans() -> list:
    """The validate suite's one pass per kind, grouped by unit (model and attack, model and campaign), with what the
    scores are computed from. Grouping by the raw provider and model keeps the key rules' keys in the group; an
    attack's family, severity and complexity are in it too (one per attack when the key rule holds, so the groups
    do not multiply), which decides their rules on the groups instead of on every row."""
    return [
        Scan(
            scope(ATTACKS),
            ("release_month", "kind", "provider", "model", "attack_id", "attack_family", "severity", "complexity"),
            ("sum(trials)::BIGINT AS trials", "sum(successes)::BIGINT AS successes"),
        ),
        Scan(
            scope(AGENTIC),
            ("release_month", "kind", "provider", "model", "campaign_id"),
            tuple(
                f"any_value({column}) AS {column}"
                for column in (
                    "breached",
                    "sophistication_at_breach",
                    "turns_survived",
                    "max_turns",
                    "leaked_signals",
                    "attempts",
                )
            ),
        ),
    ]


def units(counted: Counted, kind: RawKind) -> pa.Table:
    """The grouped rows of one kind, from the validate suite's pass."""
    return counted.groups[scope(kind)]


def label_counts(groups: list[pa.Table]) -> pd.DataFrame:
    """Raw rows per (month, kind, label), from the grouped rows of every kind."""
    # sum on the raw columns first (few distinct values, cheap in pyarrow), build labels on the sums only
    sums = pa.concat_tables(
        table.group_by(["release_month", "kind", "provider", "model"]).aggregate([(ROWS, "sum")]) for table in groups
    )
    with duckdb_connection() as connection:
        connection.register("sums", sums)
        return connection.sql(
            f"SELECT release_month, kind, {LABEL_SQL} AS label, sum({ROWS}_sum)::BIGINT AS rows FROM sums "
            "GROUP BY ALL ORDER BY release_month, kind, label"
        ).df()


def normalise(counts: pd.DataFrame, registry: Registry) -> tuple[pd.DataFrame, Findings]:
    """One row per (month, kind, label) with the canonical model it names (the release stages' matching)."""
    findings = Findings()
    identities = identify_labels(counts["label"], registry, findings) if not counts.empty else None
    if identities is None:
        return NORMALISE.empty(), findings
    table = counts.merge(identities, on="label", how="left").assign(registry_version=registry.version)
    return NORMALISE.conform(table), findings


# --- score ------------------------------------------------------------------------------------------------------


def _month_units(grouped: pa.Table, month: str) -> pa.Table:
    """The units of one month: the pass's groups hold every month of the run (copied only when there are others)."""
    in_month = pc.equal(grouped.column("release_month"), month)
    return grouped if pc.all(in_month).as_py() else grouped.filter(in_month)


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _codes(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a text column (sorted) and each row's index into them, without a Python string sort."""
    encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
    values = encoded.dictionary.to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(values, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return values[order], position[encoded.indices.to_numpy()]


def _sum_cells(rows: np.ndarray, columns: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A units x models matrix of `values` summed per cell (aliases of one model add up)."""
    return np.bincount(rows * shape[1] + columns, weights=values, minlength=shape[0] * shape[1]).reshape(shape)


@dataclass
class UnitMatrices:
    """What a board is computed from: per unit and model, the score's numerator and denominator."""

    model_ids: np.ndarray
    numerator: np.ndarray  # units x models
    denominator: np.ndarray  # units x models; 0 where the model did not face the unit
    per_model: dict[str, np.ndarray]  # units, trials, breaches and the ARS dimensions


def _labels(providers: pa.Array, models: pa.Array) -> list[str]:
    """The label (`LABEL_SQL`) of each (provider, model) pair, in order."""
    with duckdb_connection() as connection:
        connection.register(
            "pairs", pa.table({"pair": np.arange(len(providers)), "provider": providers, "model": models})
        )
        return [label for (label,) in connection.sql(f"SELECT {LABEL_SQL} FROM pairs ORDER BY pair").fetchall()]


@dataclass
class _RowModels:
    """Which model and label each row is of, as integer codes."""

    model_ids: np.ndarray  # sorted
    model_index: np.ndarray  # per row, into model_ids
    label_rank: np.ndarray  # per row, of its label among the sorted labels


def _models(rows: pa.Table, label_to_model: dict[str, str]) -> _RowModels:
    """Each row's model and label. Labels are built per distinct raw (provider, model) pair, not per row: 60 models
    x 12,000 attacks need 60 labels, and the rows need only integer codes."""
    providers, models = (pc.dictionary_encode(rows.column(name)).combine_chunks() for name in ("provider", "model"))
    per_provider = len(models.dictionary)
    pair_codes = providers.indices.to_numpy().astype(np.int64) * per_provider + models.indices.to_numpy()
    pairs = pc.dictionary_encode(pa.array(pair_codes))  # hashing, not sorting, the 720,000 codes
    distinct, pair_index = pairs.dictionary.to_numpy(), pairs.indices.to_numpy()
    labels = _labels(
        providers.dictionary.take(distinct // per_provider), models.dictionary.take(distinct % per_provider)
    )
    model_ids, model_of_pair = np.unique([label_to_model[label] for label in labels], return_inverse=True)
    label_rank_of_pair = np.unique(labels, return_inverse=True)[1]
    return _RowModels(model_ids, model_of_pair[pair_index], label_rank_of_pair[pair_index])


def _attack_matrices(rows: pa.Table, label_to_model: dict[str, str], method: RedTeamMethodology) -> UnitMatrices:
    """Rows in no particular order: every sum here is of integers or per cell."""
    models = _models(rows, label_to_model)
    model_ids, model_index = models.model_ids, models.model_index
    units, unit_index = _codes(rows, ATTACKS.unit)
    shape = (len(units), len(model_ids))
    trials = _sum_cells(unit_index, model_index, _column(rows, "trials"), shape)
    successes = _sum_cells(unit_index, model_index, _column(rows, "successes"), shape)
    severity, complexity = np.ones(len(units), dtype=np.int64), np.ones(len(units), dtype=np.int64)
    severity[unit_index], complexity[unit_index] = _column(rows, "severity"), _column(rows, "complexity")
    faced = trials > 0
    numerator, denominator = scoring.security_contributions(
        severity[:, None], complexity[:, None], np.where(faced, trials, 1), successes, method
    )
    return UnitMatrices(
        model_ids,
        numerator * faced,
        denominator * faced,
        {"units": faced.sum(axis=0), "trials": trials.sum(axis=0), "breaches": successes.sum(axis=0)},
    )


def _campaign_matrices(rows: pa.Table, label_to_model: dict[str, str], method: RedTeamMethodology) -> UnitMatrices:
    """Rows ordered by label and campaign first: the per-model means of fractions depend on the order."""
    models = _models(rows, label_to_model)
    units, unit_index = _codes(rows, AGENTIC.unit)
    order = np.lexsort((unit_index, models.label_rank))
    rows, model_index, unit_index = rows.take(order), models.model_index[order], unit_index[order]
    model_ids = models.model_ids
    dimensions = scoring.agentic_dimensions(
        _column(rows, "breached"),
        rows.column("sophistication_at_breach").to_numpy(zero_copy_only=False),
        _column(rows, "turns_survived"),
        _column(rows, "max_turns"),
        _column(rows, "leaked_signals"),
        _column(rows, "attempts"),
        method,
    )
    shape = (len(units), len(model_ids))
    campaigns = np.bincount(model_index, minlength=len(model_ids))
    return UnitMatrices(
        model_ids,
        _sum_cells(unit_index, model_index, scoring.agentic_value(dimensions, method), shape),
        _sum_cells(unit_index, model_index, np.ones(rows.num_rows), shape),
        {
            "units": campaigns,
            "trials": campaigns,
            "breaches": np.bincount(model_index, weights=_column(rows, "breached"), minlength=len(model_ids)),
            **{
                name: np.bincount(model_index, weights=values, minlength=len(model_ids)) / campaigns
                for name, values in dimensions.items()
            },
        },
    )


def score_board(
    grouped: pa.Table, identities: pd.DataFrame, month: str, kind: RawKind, method: RedTeamMethodology
) -> pd.DataFrame:
    """The board of one month and kind, from its units (`unit_scans`): score, bootstrap interval, competition rank
    and rank interval."""
    rows = _month_units(grouped, month)
    if rows.num_rows == 0:
        return SCORES.empty()
    names = identities[(identities["release_month"] == month) & (identities["kind"] == kind.name)]
    label_to_model = dict(zip(names["label"], names["model_id"], strict=True))
    build = _attack_matrices if kind is ATTACKS else _campaign_matrices
    cells = build(rows, label_to_model, method)
    score = scoring.ratio_scores(cells.numerator, cells.denominator)
    low, high = scoring.bootstrap_intervals(
        cells.numerator,
        cells.denominator,
        method.resamples,
        method.confidence,
        scoring.board_seed(method.seed, month, kind.board),
    )
    best, worst = scoring.rank_interval(low, high)
    display = names.drop_duplicates("model_id").set_index("model_id").loc[cells.model_ids]
    board = pd.DataFrame(
        {
            "release_month": month,
            "board": kind.board,
            "rank": scoring.competition_rank(score),
            "tied": (score[None, :] == score[:, None]).sum(axis=1) > 1,
            "model_id": cells.model_ids,
            "provider": display["provider"].to_numpy(),
            "model": display["model"].to_numpy(),
            "score": score,
            "score_low": low,
            "score_high": high,
            "rank_best": best,
            "rank_worst": worst,
            **{name: values for name, values in cells.per_model.items()},
            "methodology_version": method.version,
        }
    )
    return SCORES.conform(board.sort_values(["rank", "model_id"]))


def reconcile(scores: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Side by side where a month has raw results and the published board also scores the model."""
    both = scores.merge(published, on=["release_month", "board", "model_id"], suffixes=("_redteam", ""))
    if both.empty:
        return RECONCILIATION.empty()
    both = both.rename(
        columns={
            "security": "published_security",
            "rank": "published_rank",
            "score": "redteam_score",
            "score_low": "redteam_low",
            "score_high": "redteam_high",
            "rank_redteam": "redteam_rank",
            "methodology_version": "published_methodology_version",
            "methodology_version_redteam": "redteam_methodology_version",
        }
    )
    both["difference"] = both["redteam_score"] - both["published_security"]
    both["published_within_interval"] = both["published_security"].between(both["redteam_low"], both["redteam_high"])
    return RECONCILIATION.conform(both.sort_values(["release_month", "board", "published_rank", "model_id"]))
