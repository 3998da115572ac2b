"""The code location loads, and its graph is the one the README describes."""

import dagster as dg

from casi_pipeline.definitions import build_definitions, defs
from casi_pipeline.job_names import PUBLISH_JOB, RELEASE_JOB
from casi_pipeline.partitions import release_month_partitions

STAGES = ["ingest", "validate", "normalise", "leaderboard"]


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(RELEASE_JOB) and defs.resolve_job_def(PUBLISH_JOB)


def test_each_stage_depends_on_the_one_before_and_the_history_on_them():
    graph = defs.resolve_asset_graph()
    parents = {key.path[-1]: {parent.path[-1] for parent in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys()}
    assert parents["ingest"] == {"raw_drops"}
    for previous, stage in zip(STAGES, STAGES[1:]):
        assert parents[stage] == {previous}
    assert parents["restatements"] == {"validate"}  # found while normalising, from the typed values
    assert parents["models"] == {"normalise"}
    assert parents["leaderboard_history"] == {"leaderboard"}


def test_every_table_has_its_blocking_suite_check_and_column_schema():
    from casi_pipeline.published.assets import assets as published
    from casi_pipeline.release.assets import release_stages

    specs = {(spec.asset_key.path[-1], spec.name): spec
             for definition in [release_stages, *published] for spec in definition.check_specs}
    graph = defs.resolve_asset_graph()
    for name in [*STAGES, "restatements", "models", "leaderboard_history"]:
        assert specs[(name, f"{name}_suite")].blocking, name
        node = graph.get(dg.AssetKey(name))
        first_column = node.metadata["dagster/column_schema"].columns[0]
        assert first_column.name in {"release_month", "model_id"} and first_column.description, name
        assert node.owners == ["team:leaderboard"], name
        assert node.group_name in {"release", "published"}
    normalise_checks = {key.name for key in graph.get(dg.AssetKey("normalise")).check_keys}
    assert normalise_checks == {"normalise_suite", "unknown_models", "near_duplicate_labels", "unknown_benchmarks",
                                "performance_mismatch"}
    assert {key.name for key in graph.get(dg.AssetKey("restatements")).check_keys} == {
        "restatements_suite", "restated_values"}
    assert not any(spec.blocking for (asset, name), spec in specs.items() if not name.endswith("_suite"))


def test_release_months_are_monthly_from_2025_and_include_the_current_month():
    keys = release_month_partitions.get_partition_keys()
    assert keys[0] == "2025-01"
    from casi_pipeline.months import current_month
    assert keys[-1] == current_month()


def test_roots_come_from_settings(tmp_path):
    from casi_pipeline.settings import Settings

    custom = build_definitions(Settings(tmp_path / "raw", tmp_path / "wh", tmp_path / "home"))
    assert custom.resources["warehouse"].root == str(tmp_path / "wh")
    assert custom.resources["raw"].root == str(tmp_path / "raw")
