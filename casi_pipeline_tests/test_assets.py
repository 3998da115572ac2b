"""The release stages materialised with Dagster into tmp_path: gates, check metadata, lineage and the IO manager."""

import dagster as dg
import pandas as pd
import pytest

from casi_pipeline.release.assets import raw_drops, release_stages
from casi_pipeline.storage import parquet_io

from .conftest import add_drop, check_evaluations, materialize, tree_hashes

SEPTEMBER = ("provider,model,casi,ars,performance,input_usd_per_mtok,output_usd_per_mtok\n"
             "Anthropic,Claude Sonnet 4,95.03,86.53,45.7,3,15\n"
             "OpenAI,GPT-OSS 20b,,76.65,49.0,0.05,0.20\n")


RELEASE = [raw_drops, release_stages]


def test_a_clean_month_lands_every_stage_with_lineage_and_row_counts(settings):
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": SEPTEMBER})
    result = materialize(settings, RELEASE, "2025-09")
    assert result.success
    evaluations = check_evaluations(result)
    assert all(e.passed for e in evaluations.values()) and len(evaluations) == 10
    by_asset = {event.asset_key.path[-1]: event.materialization.metadata
                for event in result.get_asset_materialization_events()}
    assert set(by_asset) == {"ingest", "validate", "normalise", "restatements", "leaderboard"}
    assert by_asset["leaderboard"]["dagster/row_count"].value == 3  # 1 on CASI, 2 on ARS
    lineage = by_asset["leaderboard"]["dagster/column_lineage"].value.deps_by_column
    assert {(dep.asset_key.path[-1], dep.column_name) for dep in lineage["rtp"]} == {
        ("normalise", "casi"), ("normalise", "ars"), ("normalise", "performance"), ("normalise", "performance_computed")}
    ingest_lineage = by_asset["ingest"]["dagster/column_lineage"].value.deps_by_column
    assert {dep.column_name for dep in ingest_lineage["label"]} == {"Model", "provider", "model"}
    assert "Claude Sonnet 4" in by_asset["leaderboard"]["preview"].value
    stored = pd.read_parquet(settings.warehouse / "leaderboard" / "release_month=2025-09")
    assert sorted(stored["board"]) == ["ARS", "ARS", "CASI"]


def test_a_failing_suite_blocks_every_stage_and_records_its_samples(settings):
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": SEPTEMBER.replace("95.03", "108.06")})
    result = materialize(settings, RELEASE, "2025-09")
    assert not result.success
    evaluations = check_evaluations(result)
    assert evaluations["ingest_suite"].passed
    failed = evaluations["validate_suite"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    [expectation] = failed.metadata["failed"].value
    assert expectation["expectation"] == "expect_column_values_to_be_between"
    assert expectation["sample_values"] == [108.06] and expectation["unexpected_count"] == 1
    assert expectation["sample_locations"][0]["source_row"] == 2
    assert "normalise_suite" not in evaluations  # the stages after it never ran
    assert result.get_asset_materialization_events() == []
    assert tree_hashes(settings.warehouse) == {}  # nothing but the run lock


def test_an_in_drop_disagreement_is_refused_by_normalise_and_nothing_lands(settings):
    add_drop(settings.data_raw, "2025-09", {
        "metrics.csv": SEPTEMBER,
        "casi_rolling_12_months.csv": "Model,Aug,Sep\nAnthropic Claude Sonnet 4,94.57,95.04\n",
    })
    result = materialize(settings, RELEASE, "2025-09")
    assert not result.success
    evaluations = check_evaluations(result)
    assert evaluations["validate_suite"].passed and not evaluations["normalise_suite"].passed
    [expectation] = evaluations["normalise_suite"].metadata["failed"].value
    assert "files of one drop disagree" in expectation["sample_values"][0]
    assert tree_hashes(settings.warehouse) == {}  # nothing but the run lock


def test_an_unreadable_file_fails_the_ingest_check_with_its_line(settings):
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": "provider,model,elo\nA,B,1\n"})
    result = materialize(settings, RELEASE, "2025-09")
    assert not result.success
    failed = check_evaluations(result)["ingest_suite"]
    assert not failed.passed
    assert failed.metadata["errors"].value == [
        "2025-09 ingest: data_raw/2025-09/metrics.csv: column 3: unknown column 'elo' "
        "(allowed: provider, model, casi, ars, performance, input_usd_per_mtok, output_usd_per_mtok)"]


def test_unknown_model_lands_with_a_warning(settings):
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": SEPTEMBER + "Acme,Rocket-1,50,,,,\n"})
    result = materialize(settings, RELEASE, "2025-09")
    assert result.success
    warning = check_evaluations(result)["unknown_models"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.metadata["found"].value == [{"label": "Acme Rocket-1", "new_model_id": "acme/rocket-1"}]


def test_parquet_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    path = tmp_path / "t" / "part-0.parquet"
    parquet_io.write_atomically(pd.DataFrame({"a": [1, 2]}), path)
    before = tree_hashes(tmp_path)


    with pytest.raises(Exception):
        parquet_io.write_atomically(pd.DataFrame({"a": [object()]}), path)  # pyarrow cannot convert it
    assert tree_hashes(tmp_path) == before  # the old file is whole and no temporary file is left
    assert pd.read_parquet(path)["a"].tolist() == [1, 2]


def test_partitions_read_back_in_order_with_their_month_also_across_a_changed_column(tmp_path):
    for month, frame in {
        "2025-01": pd.DataFrame({"model": ["a", "b"], "score": [1.5, 2.0]}),
        "2025-02": pd.DataFrame({"model": ["c"], "score": [3.0]}),
        "2025-03": pd.DataFrame({"model": ["d"], "score": [4.0], "added": [True]}),  # stored after a column came
    }.items():
        parquet_io.write_atomically(frame, parquet_io.partition_path(tmp_path, "t", month))

    same = parquet_io.read_partitions(tmp_path, "t", ["2025-02", "2025-01", "2024-12"])  # 2024-12: never stored
    assert same.to_dict("list") == {
        "release_month": ["2025-02", "2025-01", "2025-01"],
        "model": ["c", "a", "b"],
        "score": [3.0, 1.5, 2.0],
    }
    assert same.dtypes.astype(str).tolist() == ["str", "str", "float64"]

    changed = parquet_io.read_partitions(tmp_path, "t", ["2025-01", "2025-03"])
    assert changed["release_month"].tolist() == ["2025-01", "2025-01", "2025-03"]
    assert changed["added"].isna().tolist() == [True, True, False] and changed["added"].iloc[2]
    assert parquet_io.read_partitions(tmp_path, "t", ["2024-12"]).empty


@pytest.mark.parametrize("month", ["../x", "2025-13", "2025-9", "latest"])
def test_partition_paths_accept_only_release_months(tmp_path, month):
    with pytest.raises(ValueError, match="is not a release month"):
        parquet_io.partition_path(tmp_path, "leaderboard", month)
