"""Each stage's expectation suite, run by Great Expectations on a good frame and on a broken one."""

import dagster as dg
import pandas as pd
import pytest

from casi_pipeline.published.assets import HISTORY, MODELS
from casi_pipeline.published.suites import history_suite, models_suite
from casi_pipeline.quality.gx import run_suite
from casi_pipeline.quality.suite_parts import BOARD_LOCATION, RAW_LOCATION
from casi_pipeline.reference import metric_catalogue, methodology, registry
from casi_pipeline.release import suites
from casi_pipeline.release.normalise import normalise
from casi_pipeline.release.tables import INGEST, LEADERBOARD, RESTATEMENTS, VALIDATE
from casi_pipeline.release.validate import validate

FILE = "data_raw/2026-02/casi_rolling_12_months.csv"


def ingest_frame(**changes) -> pd.DataFrame:
    row = {"release_month": "2026-02", "value_month": "2026-02", "drop_month": "2026-02", "source_file": FILE, "source_sha256": "a" * 64,
           "source_row": 9, "source_column": "Feb", "label": "Anthropic Claude Sonnet 4.5", "casi": "98.06"}
    other = {**row, "source_row": 10, "label": "OpenAI GPT-5.2", "casi": "93.37"}
    return INGEST.conform(pd.DataFrame([{**row, **changes}, other]))


def check(frame, suite, locate=RAW_LOCATION):
    return run_suite(frame, suite, locate)


INGEST_SUITE = suites.ingest_suite(INGEST.names, metric_catalogue())
VALIDATE_SUITE = suites.validate_suite(metric_catalogue())


def test_ingest_suite_passes_clean_rows():
    report = check(ingest_frame(), INGEST_SUITE)
    assert report.success and report.failed == []


@pytest.mark.parametrize("changes, line", [
    ({"casi": "n/a"}, f"2026-02 ingest: {FILE} row 9 column Feb: casi is not a number (found 'n/a')"),
    ({"casi": "95,12"}, f"2026-02 ingest: {FILE} row 9 column Feb: casi is not a number (found '95,12')"),
    ({"label": "Sonnet"}, f"2026-02 ingest: {FILE} row 9 column Feb: model label is not `<Provider> <Model>` "
                          "(found 'Sonnet')"),
    ({"source_sha256": "xyz"}, f"2026-02 ingest: {FILE} row 9 column Feb: source_sha256 is not a sha256 (found 'xyz')"),
])
def test_ingest_suite_fails_with_a_located_line(changes, line):
    report = check(ingest_frame(**changes), INGEST_SUITE)
    assert not report.success
    assert report.failure_lines("ingest") == [line]


def test_check_result_metadata_names_failed_expectations_with_samples():
    result = check(ingest_frame(casi="n/a"), INGEST_SUITE).check_result("ingest_suite", None)
    assert not result.passed and result.severity.value == "ERROR"
    failed = result.metadata["failed"].value
    assert [f["expectation"] for f in failed] == ["expect_column_values_to_match_regex"]
    assert failed[0]["unexpected_count"] == 1 and failed[0]["sample_values"] == ["n/a"]
    assert failed[0]["sample_locations"][0]["source_row"] == 9
    assert result.metadata["expectations_failed"].value == 1
    assert "❌" in result.metadata["summary"].value


def validate_frame(**changes) -> pd.DataFrame:
    return validate(ingest_frame(**changes), metric_catalogue().raw_metrics)


def test_validate_suite_passes_clean_rows():
    assert check(validate_frame(), VALIDATE_SUITE).success


@pytest.mark.parametrize("changes, line", [
    ({"casi": "108.06"}, f"2026-02 validate: {FILE} row 9 column Feb: casi must be within 0..100 (found 108.06)"),
    ({"casi": "-3"}, f"2026-02 validate: {FILE} row 9 column Feb: casi must be within 0..100 (found -3.0)"),
    ({"label": "  OpenAI GPT-5.2 "}, f"2026-02 validate: {FILE} row 9 column Feb: the same model label appears twice "
                                     "in one file (found 'OpenAI GPT-5.2'; 2 row(s) in all)"),
])
def test_validate_suite_fails_with_a_located_line(changes, line):
    report = check(validate_frame(**changes), VALIDATE_SUITE)
    assert not report.success
    assert report.failure_lines("validate") == [line]


def test_validate_suite_checks_prices_are_not_negative():
    frame = VALIDATE.conform(pd.DataFrame([{"release_month": "2025-09", "value_month": "2025-09", "drop_month": "2025-09", "source_file": "m.csv",
                                            "source_sha256": "a" * 64, "source_row": 2, "label": "A B",
                                            "input_usd_per_mtok": -1.0}]))
    assert check(frame, VALIDATE_SUITE).failure_lines("validate") == [
        "2025-09 validate: m.csv row 2: input_usd_per_mtok must be >= 0 (found -1.0)"]


NORMALISE_SUITE = suites.normalise_suite(metric_catalogue())


def normalised(*rows):
    table, conflicts, _ = normalise(validate(INGEST.conform(pd.DataFrame(rows)), metric_catalogue().raw_metrics),
                                    registry(), metric_catalogue().raw_metrics)
    return table.assign(in_drop_conflict=conflicts)


def raw_row(**values):
    return {"release_month": "2025-09", "value_month": "2025-09", "drop_month": "2025-09", "source_sha256": "a" * 64,
            **values}


def test_normalise_suite_passes_clean_rows():
    frame = normalised(raw_row(source_file="m.csv", source_row=2, label="OpenAI GPT-5", casi="82.34"))
    assert check(frame, NORMALISE_SUITE, suites.MODEL_LOCATION).success


def test_normalise_suite_fails_on_an_in_drop_conflict():
    frame = normalised(raw_row(source_file="m.csv", source_row=2, label="OpenAI GPT-5", casi="82.34"),
                       raw_row(source_file="r.csv", source_row=5, source_column="Sep", label="OpenAI GPT-5",
                               casi="82.35"))
    report = check(frame, NORMALISE_SUITE, suites.MODEL_LOCATION)
    assert report.failure_lines("normalise") == [
        "2025-09 normalise: model_id openai/gpt-5: one drop gives two different values for one model (found "
        "'files of one drop disagree: m.csv row 2: casi=82.34 vs r.csv row 5: casi=82.35')"]


LEADERBOARD_SUITE = suites.leaderboard_suite(metric_catalogue(), methodology())


def leaderboard_rows(**changes):
    row = {"release_month": "2025-09", "board": "CASI", "rank": 1, "tied": False, "model_id": "a/b", "security": 95.0,
           "rtp": 0.75, "cos_usd": 18.9, "methodology_version": "v", "source_row": 7}
    return LEADERBOARD.conform(pd.DataFrame([{**row, **changes}]))


def test_leaderboard_suite_passes_and_fails():
    assert check(leaderboard_rows(), LEADERBOARD_SUITE, BOARD_LOCATION).success
    report = check(leaderboard_rows(board="ELO", rtp=1.5), LEADERBOARD_SUITE, BOARD_LOCATION)
    assert report.failure_lines("leaderboard") == [
        "2025-09 leaderboard: board ELO model_id a/b: unknown board (found 'ELO')",
        "2025-09 leaderboard: board ELO model_id a/b: rtp must be within 0..1 (found 1.5)"]


def test_models_suite_passes_and_fails():
    good = MODELS.conform(pd.DataFrame([{"model_id": "a/b", "first_release_month": "2025-06",
                                         "last_release_month": "2025-09"}]))
    assert check(good, models_suite(), ("model_id",)).success
    bad = pd.concat([good, good.assign(last_release_month="2025-01")], ignore_index=True)
    lines = check(bad, models_suite(), ("model_id",)).failure_lines("models")
    assert "models: model_id a/b: a model id appears twice (found 'a/b'; 2 row(s) in all)" in lines
    assert any("last release month is before the first" in line for line in lines)


def test_history_suite_passes_and_fails():
    good = HISTORY.conform(leaderboard_rows())
    suite = history_suite(methodology())
    assert check(good, suite, BOARD_LOCATION).success
    bad = pd.concat([good, good], ignore_index=True)
    assert not check(bad, suite, BOARD_LOCATION).success


def test_restatements_suite_passes_and_fails():
    row = {"release_month": "2025-12", "model_id": "openai/gpt-5", "metric": "casi", "old_value": 84.08,
           "old_source": "data_raw/2025-12/casi_rolling_12_months.csv:2", "new_value": 84.1,
           "new_source": "data_raw/2026-01/casi_rolling_12_months.csv:2"}
    suite = suites.restatements_suite(metric_catalogue())
    assert check(RESTATEMENTS.conform(pd.DataFrame([row])), suite, suites.MODEL_LOCATION).success
    bad = RESTATEMENTS.conform(pd.DataFrame([{**row, "metric": "elo", "old_source": None}]))
    assert check(bad, suite, suites.MODEL_LOCATION).failure_lines("restatements") == [
        "2025-12 restatements: model_id openai/gpt-5: restated metric is not a raw metric (found 'elo')",
        "2025-12 restatements: model_id openai/gpt-5: restatement has no old source (found None)"]


def test_check_summary_escapes_values_from_outside():
    frame = ingest_frame(casi="<script>alert(1)</script> | x")
    summary = check(frame, INGEST_SUITE).check_result("ingest_suite", dg.AssetKey("ingest")).metadata["summary"].value
    assert "&lt;script&gt;" in summary and "<script>" not in summary and "\\| x" in summary


# --- the suites as Great Expectations JSON in the repository -------------------------------------------------------

def test_the_committed_suite_files_are_what_the_catalogues_give():
    from casi_pipeline.quality import suite_files

    current = suite_files.current_suites()
    assert sorted(path.stem for path in suite_files.FOLDER.glob("*.json")) == sorted(s.name for s in current)
    for suite in current:  # on a difference: python -m casi_pipeline.quality.suite_files, then review the diff
        assert suite_files.suite_path(suite.name).read_text() == suite_files.suite_json(suite), suite.name


def test_a_committed_suite_is_read_back_by_great_expectations_and_runs_the_same():
    from casi_pipeline.quality import suite_files

    loaded = suite_files.load("validate")
    assert loaded.name == "validate" and len(loaded.expectations) == len(VALIDATE_SUITE.expectations)
    broken = validate(ingest_frame(casi="108.06"), metric_catalogue().raw_metrics)
    assert check(broken, loaded).failure_lines("validate") == check(broken, VALIDATE_SUITE).failure_lines("validate") \
        == [f"2026-02 validate: {FILE} row 9 column Feb: casi must be within 0..100 (found 108.06)"]


def test_a_changed_catalogue_bound_shows_in_the_suite_json():
    from dataclasses import replace

    from casi_pipeline.quality import suite_files

    metrics = metric_catalogue().metrics
    wider = replace(metric_catalogue(), metrics={**metrics, "casi": replace(metrics["casi"], max=110)})
    assert suite_files.suite_json(suites.validate_suite(wider)) != suite_files.suite_path("validate").read_text()
