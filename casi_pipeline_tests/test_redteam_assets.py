"""The red-team stages on small synthetic drops: what lands, every gate's failing path, reconciliation, the CLI.
(`backfill` over red-team months: test_cli.py.)"""

import shutil

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from casi_pipeline.quality.sql_rules import KeyRule, RowRule, SqlSuite
from casi_pipeline.redteam import synth
from casi_pipeline.redteam.assets import redteam_raw, redteam_stages
from casi_pipeline.redteam.methodology import redteam_methodology
from casi_pipeline.redteam.suites import validate_suite
from casi_pipeline.storage.duckdb_sql import Query

from .conftest import (check_evaluations, copy_landed, failure_lines, materialize, read_table, run_cli,
                       settings_under, tree_hashes)

MONTH = "2025-09"
SMALL = {"models": 27,  # the 25 registered models and two synthetic ones
         "attacks": 40, "runs": 2, "campaigns": 12, "seed": 7}


REDTEAM = [redteam_raw, redteam_stages]


def rewrite(path, **changes):
    """Change cells of a raw file: column -> {row index: value}."""
    table = pq.read_table(path)
    for column, cells in changes.items():
        values = table.column(column).to_pylist()
        for row, value in cells.items():
            values[row] = value
        field = table.schema.field(column)
        data_type = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, type=data_type))
    pq.write_table(table, path)


@pytest.fixture
def drop(settings):
    synth.write_drop(settings.data_raw, MONTH, **SMALL)
    return settings.data_raw / MONTH


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """The synthesised month materialised once for the module (read, never changed): (settings, result)."""
    settings = settings_under(tmp_path_factory.mktemp("redteam"))
    synth.write_drop(settings.data_raw, MONTH, **SMALL)
    return settings, materialize(settings, REDTEAM, MONTH)


def test_a_synthesised_month_lands_both_boards_with_intervals_and_the_methodology_version(landed):
    settings, result = landed
    assert result.success
    checks = check_evaluations(result)
    assert {name for name, e in checks.items() if e.passed} == {
        "redteam_ingest_suite", "redteam_validate_suite", "redteam_normalise_suite", "redteam_scores_suite"}
    assert checks["unknown_models"].metadata["found"].value == [  # the synthetic models beyond the registry's
        {"label": "Acme Synth-001", "new_model_id": "acme/synth-001"},
        {"label": "Globex Synth-002", "new_model_id": "globex/synth-002"}]
    assert checks["redteam_validate_suite"].metadata["expectations_total"].value == len(validate_suite().rules)
    ingest = read_table(settings.warehouse, "redteam_ingest")
    assert sorted(ingest["kind"]) == ["agentic", "attacks"]
    assert ingest["rows"].sum() == 27 * 40 * 2 + 27 * 12
    scores = read_table(settings.warehouse, "redteam_scores")
    assert len(scores) == 2 * 27 and sorted(set(scores["board"])) == ["ARS", "CASI"]
    assert set(scores["methodology_version"]) == {redteam_methodology().version}
    assert (scores["score_low"] <= scores["score_high"]).all() and scores["score"].between(0, 100).all()
    assert (scores["rank_best"] <= scores["rank_worst"]).all()
    casi = scores[scores["board"] == "CASI"]
    assert (casi["units"] == 40).all() and casi["required_sophistication"].isna().all()
    ars = scores[scores["board"] == "ARS"]
    assert (ars["units"] == 12).all() and ars["defensive_endurance"].between(0, 1).all()
    assert sorted(casi["rank"]) == list(range(1, 28))


def test_scores_match_the_methodology_computed_by_hand(landed):
    settings, result = landed
    assert result.success
    drop = settings.data_raw / MONTH
    rows = pd.concat(pd.read_parquet(path) for path in sorted((drop / "attacks").glob("*.parquet")))
    rows["label"] = rows["provider"].astype(str) + " " + rows["model"].astype(str)
    method = redteam_methodology()
    per_attack = rows.groupby(["label", "attack_id"], observed=True).agg(
        severity=("severity", "first"), complexity=("complexity", "first"), trials=("trials", "sum"),
        successes=("successes", "sum")).reset_index()
    weight = per_attack["severity"].map(method.severity_weight) * per_attack["complexity"].map(method.simplicity_weight)
    per_attack["resisted"] = weight * (1 - per_attack["successes"] / per_attack["trials"])
    per_attack["weight"] = weight
    sums = per_attack.groupby("label")[["resisted", "weight"]].sum()
    expected = (100 * sums["resisted"] / sums["weight"]).to_dict()
    scores = read_table(settings.warehouse, "redteam_scores")
    for row in scores[scores["board"] == "CASI"].itertuples():
        assert row.score == pytest.approx(expected[f"{row.provider} {row.model}"], rel=1e-12)


def test_a_re_run_is_byte_identical(settings, landed):
    """The same drop materialised again, over a copy of the module's landed warehouse."""
    template, result = landed
    assert result.success
    shutil.copytree(template.data_raw, settings.data_raw, dirs_exist_ok=True)
    shutil.copytree(template.warehouse, settings.warehouse)
    first = tree_hashes(settings.warehouse)
    assert first == tree_hashes(template.warehouse) and any(path.startswith("redteam_scores/") for path in first)
    assert materialize(settings, REDTEAM, MONTH).success
    assert tree_hashes(settings.warehouse) == first


def test_a_row_out_of_range_fails_validate_with_its_file_row_and_column_and_nothing_lands(settings, drop):
    before = tree_hashes(drop)
    rewrite(drop / "attacks" / "part-0000.parquet", severity={41: 7}, successes={3: 99})
    changed = tree_hashes(drop)
    result = materialize(settings, REDTEAM, MONTH)
    assert not result.success
    assert check_evaluations(result)["redteam_ingest_suite"].passed
    assert not check_evaluations(result)["redteam_validate_suite"].passed
    assert failure_lines(result) == [
        "2025-09 redteam_validate: data_raw/2025-09/attacks/part-0000.parquet row 42 column severity: "
        "attacks: severity must be within 1..5 (found 7)",
        "2025-09 redteam_validate: data_raw/2025-09/attacks/part-0000.parquet row 4 column successes: "
        "attacks: successes must be within 0..trials (found 99)",
        # the changed severity also breaks "one attack, one severity"
        "2025-09 redteam_validate: data_raw/2025-09/attacks/part-0000.parquet row 2: attacks: one attack_id has "
        "two different severities, complexities or families (found '2025-09 / attacks / atk-000001')",
    ]
    assert tree_hashes(settings.warehouse) == {}  # nothing but the run lock
    assert before != changed and tree_hashes(drop) == changed  # raw files are read, never changed


def test_agentic_rules_check_every_row(settings, drop):
    path = drop / "agentic" / "part-0000.parquet"
    table = pq.read_table(path)
    never = table.column("breached").to_pylist().index(False)
    rewrite(path, sophistication_at_breach={never: 3}, leaked_signals={0: 1000})
    result = materialize(settings, REDTEAM, MONTH)
    assert not result.success
    lines = failure_lines(result)
    assert any(f"agentic/part-0000.parquet row {never + 1} column sophistication_at_breach" in line
               and "must be 1..5 when breached and empty otherwise (found 3)" in line for line in lines)
    assert any("row 1 column leaked_signals: agentic: leaked_signals must be within 0..attempts (found 1000)" in line
               for line in lines)


def test_a_file_with_a_wrong_type_is_refused_by_ingest_with_its_column(settings, drop):
    path = drop / "attacks" / "part-0000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.set_column(4, "severity", table.column("severity").cast(pa.string())), path)
    (drop / "agentic" / "notes.parquet").write_text("not parquet")
    result = materialize(settings, REDTEAM, MONTH)
    assert not result.success
    assert failure_lines(result) == [
        "2025-09 redteam_ingest: data_raw/2025-09/attacks/part-0000.parquet: column severity: expected integer "
        "values, found Parquet type string",
        "2025-09 redteam_ingest: data_raw/2025-09/agentic/notes.parquet: not a readable Parquet file "
        "(Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.)",
    ]


def test_a_month_without_red_team_files_lands_empty_tables(settings):
    (settings.data_raw / MONTH).mkdir()
    result = materialize(settings, REDTEAM, MONTH)
    assert result.success
    assert read_table(settings.warehouse, "redteam_scores").empty


def test_sql_rules_count_nulls_as_broken_and_find_duplicate_keys():
    relation = Query("SELECT * FROM (VALUES ('2025-09', 'f', 1, 'a', 3), ('2025-09', 'f', 2, 'a', NULL), "
                     "('2025-09', 'f', 3, 'b', 4)) t(release_month, source_file, source_row, key, value)")
    report = SqlSuite("t", (RowRule("value", "value >= 3", "value must be 3 or more"),
                            KeyRule(("key",), (), "key twice"),
                            KeyRule(("key",), ("value",), "key with two values"))).run(
        relation, ("release_month", "source_file", "source_row", "source_column"))
    assert not report.success
    nulls, twice, two_values = report.outcomes
    assert (nulls.unexpected_count, nulls.sample_values) == (1, [None])
    assert nulls.sample_locations == [{"release_month": "2025-09", "source_file": "f", "source_row": 2,
                                       "source_column": "value"}]
    assert (twice.unexpected_count, twice.sample_values) == (1, ["a"])
    assert two_values.success  # min/max ignore the null; the null is the row rule's business
    assert report.failure_lines("t")[0] == "2025-09 t: f row 2 column value: value must be 3 or more (found None)"


def test_synth_is_seeded_and_writes_models_x_attacks_x_runs_rows(tmp_path):
    first = synth.write_drop(tmp_path / "a", MONTH, **SMALL)
    synth.write_drop(tmp_path / "b", MONTH, **SMALL)
    assert first.attack_rows == 27 * 40 * 2 and first.campaign_rows == 27 * 12
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")
    other = synth.write_drop(tmp_path / "c", MONTH, **{**SMALL, "seed": 8})
    assert other.attack_rows == first.attack_rows and tree_hashes(tmp_path / "c") != tree_hashes(tmp_path / "a")
    attacks = pd.read_parquet(first.files[0])
    assert attacks.groupby("attack_id", observed=True)["severity"].nunique().max() == 1
    assert (attacks["successes"] <= attacks["trials"]).all()
    agentic = pd.read_parquet(first.files[-1])
    assert agentic.loc[~agentic["breached"], "sophistication_at_breach"].isna().all()
    assert (agentic["turns_survived"] <= agentic["max_turns"]).all()


def test_cli_synth_run_and_reconciliation_with_the_published_board(settings, sample_run, capsys):
    copy_landed(sample_run, settings)  # the published September 2025 CASI and ARS boards, landed
    assert run_cli(settings, "synth", "--month", MONTH, "--models", "30", "--attacks", "30", "--campaigns", "10") == 0
    capsys.readouterr()
    assert run_cli(settings, "run") == 0
    # only the red-team month runs: the release months landed with the sample
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("stale: ")] == [
        "stale: 2025-09 redteam: never materialised"]
    reconciliation = read_table(settings.warehouse, "redteam_reconciliation")
    published = read_table(settings.warehouse, "leaderboard")
    scores = read_table(settings.warehouse, "redteam_scores")
    on_both = published.merge(scores, on=["release_month", "board", "model_id"])
    assert len(reconciliation) == len(on_both) > 10
    row = reconciliation[(reconciliation["board"] == "CASI")
                         & (reconciliation["model_id"] == "anthropic/claude-sonnet-4")].iloc[0]
    assert row["published_security"] == 95.03 and row["published_methodology_version"] == "published-2025.09"
    assert row["difference"] == pytest.approx(row["redteam_score"] - 95.03)
    assert row["published_within_interval"] == (row["redteam_low"] <= 95.03 <= row["redteam_high"])
    assert row["redteam_methodology_version"] == "redteam-v1"


def test_cli_synth_refuses_a_bad_month(settings, capsys):
    assert run_cli(settings, "synth", "--month", "2025-13") == 2
    assert "'2025-13' is not a release month" in capsys.readouterr().err
    assert np.all([not p.exists() for p in settings.data_raw.iterdir()])


def test_the_red_team_graph_job_and_checks():
    from casi_pipeline.definitions import defs
    from casi_pipeline.job_names import REDTEAM_JOB
    from casi_pipeline.partitions import release_month_partitions

    graph = defs.resolve_asset_graph()
    parents = {key.path[-1]: {parent.path[-1] for parent in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys()}
    chain = ["redteam_ingest", "redteam_validate", "redteam_normalise", "redteam_scores"]
    assert parents["redteam_ingest"] == {"redteam_raw"}
    for previous, stage in zip(chain, chain[1:]):
        assert parents[stage] == {previous}
        assert graph.get(dg.AssetKey(stage)).partitions_def == release_month_partitions
    assert parents["redteam_reconciliation"] == {"redteam_scores", "leaderboard"}
    assert graph.get(dg.AssetKey("redteam_reconciliation")).group_name == "published"
    for name in [*chain, "redteam_reconciliation"]:
        assert {key.name for key in graph.get(dg.AssetKey(name)).check_keys} >= {f"{name}_suite"}
    validate_check = next(spec for spec in redteam_stages.check_specs if spec.name == "redteam_validate_suite")
    assert validate_check.blocking and "row rules in DuckDB" in validate_check.description
    assert defs.resolve_job_def(REDTEAM_JOB)
