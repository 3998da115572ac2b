"""Average Performance computed from benchmarks.csv with the versioned benchmark catalogue: the file, the catalogue,
the coverage rule, the reconciliation with a published value, the checks, and boards that use the result."""

import math
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from casi_pipeline.errors import RawInputError, ReferenceDataError
from casi_pipeline.published.assets import assets as published
from casi_pipeline.quality.gx import run_suite
from casi_pipeline.quality.suite_parts import RAW_LOCATION
from casi_pipeline.raw import layout
from casi_pipeline.reference import (
    BenchmarkCatalogue, benchmark_catalogue, load, methodology, metric_catalogue, registry,
)
from casi_pipeline.release import ingest, suites
from casi_pipeline.release.assets import raw_drops, release_stages
from casi_pipeline.release.normalise import normalise
from casi_pipeline.release.performance import PERFORMANCE_MISMATCH, UNKNOWN_BENCHMARKS
from casi_pipeline.release.score import score as score_boards
from casi_pipeline.release.tables import INGEST
from casi_pipeline.release.validate import validate

from .conftest import add_drop, check_evaluations, materialize, read_table, tree_hashes

FILE = "benchmarks.csv"
SHIPPED = ["MMLU-Pro", "GPQA Diamond", "Humanity's Last Exam", "AIME 2025", "MATH-500", "LiveCodeBench", "SciCode",
           "IFBench"]


def benchmarks_csv(scores: dict[str, dict[str, float | str]]) -> str:
    """`provider,model,benchmark,score` rows from {`<Provider> <Model>`: {benchmark: score}}."""
    lines = ["provider,model,benchmark,score"]
    for label, by_benchmark in scores.items():
        provider, model = label.split(" ", 1)
        lines += [f"{provider},{model},{benchmark},{score}" for benchmark, score in by_benchmark.items()]
    return "\n".join(lines) + "\n"


def first(n: int, score: float = 80.0, **overrides: float) -> dict[str, float]:
    """Scores for the first n shipped benchmarks."""
    return {**{name: score for name in SHIPPED[:n]}, **overrides}


def write_catalogue(tmp_path: Path, version: str = "test-1", threshold: float = 0.75,
                    benchmarks: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "benchmarks.yaml"
    path.write_text(f"""
version: {version}
coverage_threshold: {threshold}
reconciliation_tolerance: 0.05
categories: [reasoning, code]
benchmarks:
{benchmarks or '''  - {name: GPQA Diamond, category: reasoning, weight: 2}
  - {name: LiveCodeBench, category: code, weight: 1}
  - {name: SciCode, category: code, weight: 1}'''}
""")
    return path


def normalised(tmp_path: Path, files: dict[str, str], benchmarks=None, month: str = "2025-09"):
    """The drop read, typed and normalised as the stages do; returns (table, conflicts, findings)."""
    add_drop(tmp_path / "raw", month, files)
    ingested = INGEST.conform(ingest.ingest_release(tmp_path / "raw", month))
    validated = validate(ingested, metric_catalogue().raw_metrics)
    return normalise(validated, registry(), metric_catalogue().raw_metrics, benchmarks)


# --- the catalogue --------------------------------------------------------------------------------------------


def test_shipped_catalogue_loads():
    shipped = benchmark_catalogue()
    assert [b.name for b in shipped.benchmarks] == SHIPPED
    assert shipped.version == "seed-1" and shipped.coverage_threshold == 0.75 and shipped.total_weight == 8
    assert shipped.resolve("humanity's-last-exam").name == shipped.resolve("HLE").name == "Humanity's Last Exam"
    assert shipped.resolve("GPQA") is None  # not GPQA Diamond


@pytest.mark.parametrize("entries, threshold, message", [
    ("  - {name: A, category: maths, weight: 1}", 0.75,
     r"benchmarks\[0\]\.category: 'maths' is not one of the categories \(reasoning, code\)"),
    ("  - {name: A, category: code, weight: 0}", 0.75, r"benchmarks\[0\]\.weight: expected a number above 0, got 0"),
    ("  - {name: A, category: code, weight: 1}\n  - {name: B, category: code, weight: 1, aliases: [a]}", 0.75,
     r"benchmarks\[1\]\.aliases\[0\]: 'a' already names benchmarks\[0\]"),
    ("  - {name: A, category: code, weight: 1}", 1.5,
     r"coverage_threshold: expected a number above 0 and at most 1, got 1.5"),
    ("  - {category: code, weight: 1}", 0.75, r"benchmarks\[0\]\.name: expected str, got None"),
])
def test_catalogue_errors_are_located(tmp_path, entries, threshold, message):
    with pytest.raises(ReferenceDataError, match=r"benchmarks\.yaml: " + message):
        load(write_catalogue(tmp_path, threshold=threshold, benchmarks=entries), BenchmarkCatalogue)


# --- the raw file ---------------------------------------------------------------------------------------------


def test_benchmarks_file_is_ingested_as_written_for_its_own_month_only(tmp_path):
    add_drop(tmp_path, "2025-09", {FILE: benchmarks_csv({"OpenAI GPT-5": {"GPQA Diamond": " 85.2", "SciCode": 43}})})
    add_drop(tmp_path, "2025-10", {FILE: benchmarks_csv({"OpenAI GPT-5": {"SciCode": 44}})})
    assert layout.release_months(tmp_path) == ["2025-09", "2025-10"]
    frame = ingest.ingest_release(tmp_path, "2025-09")
    assert frame[["label", "benchmark", "benchmark_score", "source_row", "source_column"]].values.tolist() == [
        ["OpenAI GPT-5", "GPQA Diamond", " 85.2", 2, "score"], ["OpenAI GPT-5", "SciCode", "43", 3, "score"]]
    assert set(frame["source_file"]) == {f"{tmp_path.name}/2025-09/{FILE}"} and frame["casi"].isna().all()


@pytest.mark.parametrize("content, message", [
    ("provider,model,benchmark\nA,B,C\n", r"benchmarks\.csv: missing column 'score'"),
    ("provider,model,benchmark,score,notes\nA,B,C,1,x\n", r"benchmarks\.csv: column 5: unknown column 'notes'"),
    ("provider,model,benchmark,score,score\nA,B,C,1,2\n", r"benchmarks\.csv: column 4: column 'score' appears twice"),
    ("provider,model,benchmark,score\nA,B,C,1\nA,B,D,\n",
     r"benchmarks\.csv: row 3 column 4 \(score\): empty score: leave out a benchmark the model has no result for"),
    ("provider,model,benchmark,score\nA,B, ,1\n", r"benchmarks\.csv: row 2 column 3 \(benchmark\): empty benchmark name"),
    ("provider,model,benchmark,score\nA,B,C\n", r"benchmarks\.csv: row 2: expected 4 cells as in the header, found 3"),
])
def test_structural_faults_name_file_and_place(tmp_path, content, message):
    add_drop(tmp_path, "2025-09", {FILE: content})
    with pytest.raises(RawInputError, match=message):
        ingest.ingest_release(tmp_path, "2025-09")


# --- the coverage rule ----------------------------------------------------------------------------------------


def test_at_the_threshold_the_mean_is_over_the_benchmarks_present(tmp_path):
    # 6 of 8 equally weighted benchmarks = coverage 0.75, the threshold: the two missing ones are not zeros.
    table, _, _ = normalised(tmp_path, {FILE: benchmarks_csv({"OpenAI GPT-5": first(6, 80.0, LiveCodeBench=60.0)})})
    row = table.iloc[0]
    assert row["performance_coverage"] == 0.75
    assert row["performance_computed"] == pytest.approx((5 * 80 + 60) / 6)  # not (5 * 80 + 60) / 8
    assert row["performance_catalogue_version"] == "seed-1"
    assert row["performance_benchmarks"] == "; ".join(SHIPPED[:6])
    assert row["performance_computed_source"] == f"raw/2025-09/{FILE}:2,3,4,5,6,7"


def test_below_the_threshold_the_value_is_null_but_coverage_is_kept(tmp_path):
    table, _, _ = normalised(tmp_path, {FILE: benchmarks_csv({"OpenAI GPT-5": first(5, 99.0)})})
    row = table.iloc[0]
    assert math.isnan(row["performance_computed"]) and row["performance_coverage"] == 0.625
    assert row["performance_catalogue_version"] == "seed-1"


def test_weights_count_and_a_missing_heavy_benchmark_drops_coverage_below_the_threshold(tmp_path):
    weighted = load(write_catalogue(tmp_path), BenchmarkCatalogue)  # GPQA Diamond 2, LiveCodeBench 1, SciCode 1
    table, _, _ = normalised(tmp_path, {FILE: benchmarks_csv({
        "OpenAI GPT-5": {"GPQA Diamond": 90, "LiveCodeBench": 60},   # weight 3 of 4
        "OpenAI GPT-5 Mini": {"LiveCodeBench": 70, "SciCode": 50},   # weight 2 of 4
    })}, benchmarks=weighted)
    by_model = table.set_index("model_id")
    assert by_model.loc["openai/gpt-5", "performance_computed"] == pytest.approx((2 * 90 + 60) / 3)
    assert by_model.loc["openai/gpt-5", "performance_coverage"] == 0.75
    assert math.isnan(by_model.loc["openai/gpt-5-mini", "performance_computed"])
    assert by_model.loc["openai/gpt-5-mini", "performance_coverage"] == 0.5


def test_a_new_catalogue_version_changes_the_values_and_the_recorded_version(tmp_path):
    files = {FILE: benchmarks_csv({"OpenAI GPT-5": {"GPQA Diamond": 90, "LiveCodeBench": 60, "SciCode": 40}})}
    old = load(write_catalogue(tmp_path / "v1", version="test-1"), BenchmarkCatalogue)
    new = load(write_catalogue(tmp_path / "v2", version="test-2", benchmarks="""
  - {name: GPQA Diamond, category: reasoning, weight: 1}
  - {name: LiveCodeBench, category: code, weight: 1}"""), BenchmarkCatalogue)
    before = normalised(tmp_path / "a", files, benchmarks=old)[0].iloc[0]
    after = normalised(tmp_path / "b", files, benchmarks=new)[0].iloc[0]
    assert (before["performance_computed"], before["performance_catalogue_version"]) == (70.0, "test-1")
    assert (after["performance_computed"], after["performance_catalogue_version"]) == (75.0, "test-2")
    assert after["performance_benchmarks"] == "GPQA Diamond; LiveCodeBench"  # SciCode left the composite


# --- reconciliation and the boards ----------------------------------------------------------------------------


@pytest.mark.parametrize("published, warns", [("74.0", False), ("74.05", False), ("74.1", True), ("73.9", True)])
def test_published_and_computed_are_both_kept_and_a_difference_warns(tmp_path, published, warns):
    table, _, findings = normalised(tmp_path, {
        "metrics.csv": f"provider,model,casi,performance\nOpenAI,GPT-5,82.34,{published}\n",
        FILE: benchmarks_csv({"OpenAI GPT-5": first(8, 74.0)}),
    })
    row = table.iloc[0]
    assert (row["performance"], row["performance_computed"]) == (float(published), 74.0)
    assert (PERFORMANCE_MISMATCH in findings.rows) == warns
    if warns:
        [finding] = findings.rows[PERFORMANCE_MISMATCH]
        assert finding["published_source"] == "raw/2025-09/metrics.csv:2" and finding["catalogue_version"] == "seed-1"
    board = score_boards(table, table.iloc[0:0], methodology()).iloc[0]
    assert (board["performance"], board["performance_basis"]) == (float(published), "published")
    assert board["rtp"] == pytest.approx(0.6 * 0.8234 + 0.4 * float(published) / 100)
    assert pd.isna(board["performance_catalogue_version"])


def test_unknown_benchmark_warns_and_is_left_out_of_the_composite(tmp_path):
    table, conflicts, findings = normalised(tmp_path, {FILE: benchmarks_csv(
        {"OpenAI GPT-5": first(6, 80.0, **{"Vibe Check": 0}), "OpenAI GPT-5 Mini": {"Vibe Check": 5}})})
    assert findings.rows[UNKNOWN_BENCHMARKS] == [{
        "release_month": "2025-09", "benchmark": "Vibe Check", "source_file": f"raw/2025-09/{FILE}", "rows": "8, 9"}]
    row = table.set_index("model_id").loc["openai/gpt-5"]
    assert (row["performance_computed"], row["performance_coverage"]) == (80.0, 0.75)
    assert conflicts.isna().all()


def test_a_model_with_benchmark_results_only_gets_a_row_with_its_identity(tmp_path):
    table, conflicts, _ = normalised(tmp_path, {
        "metrics.csv": "provider,model,casi\nOpenAI,GPT-5,82.34\n",
        FILE: benchmarks_csv({"OpenAI gpt 5 mini": first(8, 70.0)}),
    })
    assert table[["model_id", "provider", "model", "labels", "registered", "casi", "performance_computed"]].to_dict(
        "records") == [
        {"model_id": "openai/gpt-5", "provider": "OpenAI", "model": "GPT-5", "labels": "OpenAI GPT-5",
         "registered": True, "casi": 82.34, "performance_computed": pytest.approx(math.nan, nan_ok=True)},
        {"model_id": "openai/gpt-5-mini", "provider": "OpenAI", "model": "GPT-5 Mini", "labels": "OpenAI gpt 5 mini",
         "registered": True, "casi": pytest.approx(math.nan, nan_ok=True), "performance_computed": 70.0}]
    assert conflicts.isna().all()


def test_without_benchmarks_there_is_no_unknown_benchmark_warning(tmp_path):
    _, _, findings = normalised(tmp_path, {FILE: benchmarks_csv({"OpenAI GPT-5": first(8)})})
    assert findings.rows == {}


# --- ERRORs: out-of-range scores and duplicate rows -----------------------------------------------------------

VALIDATE_SUITE = suites.validate_suite(metric_catalogue())
NORMALISE_SUITE = suites.normalise_suite(metric_catalogue())


def validated(tmp_path: Path, content: str) -> pd.DataFrame:
    add_drop(tmp_path, "2025-09", {FILE: content})
    return validate(INGEST.conform(ingest.ingest_release(tmp_path, "2025-09")), metric_catalogue().raw_metrics)


@pytest.mark.parametrize("score", ["0", "100", "55.5"])
def test_scores_within_0_to_100_pass(tmp_path, score):
    assert run_suite(validated(tmp_path, benchmarks_csv({"OpenAI GPT-5": {"SciCode": score}})), VALIDATE_SUITE,
                     RAW_LOCATION).success


@pytest.mark.parametrize("score", ["100.5", "-1"])
def test_scores_outside_0_to_100_fail_with_a_located_line(tmp_path, score):
    frame = validated(tmp_path, benchmarks_csv({"OpenAI GPT-5": {"GPQA Diamond": 70, "SciCode": score}}))
    assert run_suite(frame, VALIDATE_SUITE, RAW_LOCATION).failure_lines("validate") == [
        f"2025-09 validate: {tmp_path.name}/2025-09/{FILE} row 3 column score: benchmark_score must be within 0..100 "
        f"(found {float(score)})"]


def test_a_score_that_is_not_a_number_fails_the_ingest_suite(tmp_path):
    add_drop(tmp_path, "2025-09", {FILE: benchmarks_csv({"OpenAI GPT-5": {"SciCode": "n/a"}})})
    frame = INGEST.conform(ingest.ingest_release(tmp_path, "2025-09"))
    report = run_suite(frame, suites.ingest_suite(INGEST.names, metric_catalogue()), RAW_LOCATION)
    assert report.failure_lines("ingest") == [
        f"2025-09 ingest: {tmp_path.name}/2025-09/{FILE} row 2 column score: benchmark_score is not a number "
        "(found 'n/a')"]


def test_one_label_twice_for_one_benchmark_fails_validate_with_its_rows(tmp_path):
    content = benchmarks_csv({"OpenAI GPT-5": {"SciCode": 43, "GPQA Diamond": 85}}) + "OpenAI,GPT-5,SciCode,43\n"
    report = run_suite(validated(tmp_path, content), VALIDATE_SUITE, RAW_LOCATION)
    [line] = report.failure_lines("validate")
    assert line.startswith(f"2025-09 validate: {tmp_path.name}/2025-09/{FILE} row 2 column score: "
                           "a model has two rows for one benchmark (found ")
    assert line.endswith("'label': 'OpenAI GPT-5', 'benchmark': 'SciCode'}; 2 row(s) in all)")


def test_one_model_twice_for_one_benchmark_under_other_spellings_fails_normalise(tmp_path):
    table, conflicts, _ = normalised(tmp_path, {FILE: benchmarks_csv({"OpenAI GPT-5": {"SciCode": 43},
                                                                      "OpenAI gpt 5": {"scicode": 44}})})
    report = run_suite(table.assign(in_drop_conflict=conflicts), NORMALISE_SUITE, suites.MODEL_LOCATION)
    assert report.failure_lines("normalise") == [
        "2025-09 normalise: model_id openai/gpt-5: one drop gives two different values for one model (found "
        f"'benchmark SciCode listed twice in one file: raw/2025-09/{FILE} row 2: 43 vs raw/2025-09/{FILE} row 3: "
        "44')"]


def test_distinct_benchmarks_of_one_model_pass_both_suites(tmp_path):
    frame = validated(tmp_path / "raw", benchmarks_csv({"OpenAI GPT-5": first(8), "OpenAI GPT-5 Mini": first(8)}))
    assert run_suite(frame, VALIDATE_SUITE, RAW_LOCATION).success
    table, conflicts, _ = normalise(frame, registry(), metric_catalogue().raw_metrics)
    assert run_suite(table.assign(in_drop_conflict=conflicts), NORMALISE_SUITE, suites.MODEL_LOCATION).success


# --- through Dagster ------------------------------------------------------------------------------------------


def test_warn_checks_report_unknown_benchmarks_and_a_performance_mismatch(settings):
    add_drop(settings.data_raw, "2025-09", {
        "metrics.csv": "provider,model,casi,performance\nOpenAI,GPT-5,82.34,69.0\n",
        FILE: benchmarks_csv({"OpenAI GPT-5": first(8, 74.0, **{"Vibe Check": 3})}),
    })
    result = materialize(settings, [raw_drops, release_stages], "2025-09")
    assert result.success
    evaluations = check_evaluations(result)
    unknown, mismatch = evaluations[UNKNOWN_BENCHMARKS], evaluations[PERFORMANCE_MISMATCH]
    assert not unknown.passed and unknown.severity == dg.AssetCheckSeverity.WARN
    assert [row["benchmark"] for row in unknown.metadata["found"].value] == ["Vibe Check"]
    assert not mismatch.passed and mismatch.severity == dg.AssetCheckSeverity.WARN
    assert mismatch.metadata["found"].value[0]["difference"] == pytest.approx(-5.0)
    board = read_table(settings.warehouse, "leaderboard").iloc[0]
    assert (board["performance"], board["performance_basis"]) == (69.0, "published")


def test_a_duplicate_benchmark_row_blocks_the_month(settings):
    add_drop(settings.data_raw, "2025-09", {
        "metrics.csv": "provider,model,casi\nOpenAI,GPT-5,82.34\n",
        FILE: benchmarks_csv({"OpenAI GPT-5": first(8)}) + "OpenAI,GPT-5,SciCode,81\n",
    })
    result = materialize(settings, [raw_drops, release_stages], "2025-09")
    assert not result.success
    assert not check_evaluations(result)["validate_suite"].passed
    assert tree_hashes(settings.warehouse) == {}  # nothing but the run lock


def test_boards_of_a_drop_without_published_performance_come_from_the_catalogue(settings):
    """Done when: performance and RTP on the boards come from benchmarks.csv and the catalogue."""
    add_drop(settings.data_raw, "2025-09", {
        "metrics.csv": "provider,model,casi,ars\nOpenAI,GPT-5,82.34,77.20\nAnthropic,Claude Sonnet 4,95.03,\n"
                       "OpenAI,GPT-5 Mini,84.14,\n",
        FILE: benchmarks_csv({
            "OpenAI GPT-5": {"MMLU-Pro": 87, "GPQA Diamond": 85, "Humanity's Last Exam": 26, "AIME 2025": 94,
                             "MATH-500": 99, "LiveCodeBench": 84, "SciCode": 43, "IFBench": 74},
            "Anthropic Claude Sonnet 4": {"MMLU-Pro": 84, "GPQA Diamond": 68, "HLE": 4, "AIME 2025": 38,
                                          "LiveCodeBench": 45, "SciCode": 40},  # 6 of 8: coverage 0.75
            "OpenAI GPT-5 Mini": {"MMLU-Pro": 83, "GPQA Diamond": 80},       # 2 of 8: below the threshold
        }),
    })
    # the month's release stages, then the cross-release tables, as `run` materialises them (without publishing)
    assert materialize(settings, [raw_drops, release_stages], "2025-09").success
    assert materialize(settings, [raw_drops, release_stages, *published], selection=published).success
    history = read_table(settings.warehouse, "leaderboard_history")
    boards = history.set_index(["board", "model_id"])
    gpt5 = (87 + 85 + 26 + 94 + 99 + 84 + 43 + 74) / 8
    sonnet = (84 + 68 + 4 + 38 + 45 + 40) / 6
    for key, performance, security, coverage in [(("CASI", "openai/gpt-5"), gpt5, 82.34, 1.0),
                                                 (("ARS", "openai/gpt-5"), gpt5, 77.20, 1.0),
                                                 (("CASI", "anthropic/claude-sonnet-4"), sonnet, 95.03, 0.75)]:
        row = boards.loc[key]
        assert row["performance"] == pytest.approx(performance)
        assert (row["performance_basis"], row["performance_catalogue_version"]) == ("computed", "seed-1")
        assert row["performance_coverage"] == coverage
        assert row["rtp"] == pytest.approx(0.6 * security / 100 + 0.4 * performance / 100)
    mini = boards.loc[("CASI", "openai/gpt-5-mini")]
    assert pd.isna(mini["performance"]) and pd.isna(mini["performance_basis"]) and pd.isna(mini["rtp"])
    normalised_table = read_table(settings.warehouse, "normalise").set_index("model_id")
    assert normalised_table.loc["openai/gpt-5-mini", "performance_coverage"] == 0.25
