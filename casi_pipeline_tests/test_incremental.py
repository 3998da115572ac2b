"""Incremental runs: only missing or stale months run, in one run; Dagster sees the same staleness; a file refused at
any stage stops every month it feeds while the other months land; progress as it works; deleted drops reported."""

import io
import shutil

import dagster as dg
import pytest
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver  # Dagster's own resolver, as the UI uses

from casi_pipeline import staleness, versions
from casi_pipeline.progress import Progress
from casi_pipeline.release import assets as release_assets
from casi_pipeline.settings import Settings

from .conftest import add_drop, copy_landed, land, read_table, run_cli, tree_hashes

ROLLING = "casi_rolling_12_months.csv"
MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]


def release_runs(settings: Settings) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        return [run for run in reversed(instance.get_runs()) if run.job_name == "release_job"]  # oldest first


def run_count(settings: Settings) -> int:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        return instance.get_runs_count()


@pytest.fixture
def landed(settings, real_data_run) -> dict[str, str]:
    return copy_landed(real_data_run, settings)


def test_a_fresh_run_is_one_release_run_for_all_nine_months(real_data_run):
    [release] = release_runs(real_data_run)
    assert (release.tags["dagster/asset_partition_range_start"],
            release.tags["dagster/asset_partition_range_end"]) == ("2025-06", "2026-02")
    assert run_count(real_data_run) == 2  # and one publish run


def test_an_unchanged_rerun_does_no_stage_work_and_no_publishing_and_says_so(settings, landed, capsys):
    runs = run_count(settings)
    capsys.readouterr()
    assert run_cli(settings, "run") == 0
    assert capsys.readouterr().out.splitlines() == ["nothing stale: 9 release months up to date"]
    assert run_count(settings) == runs
    assert tree_hashes(settings.warehouse) == landed


def test_run_all_rebuilds_every_month_in_one_run_with_identical_tables(settings, landed, capsys):
    runs = run_count(settings)
    assert run_cli(settings, "run", "--all") == 0
    out = capsys.readouterr().out
    assert "stale: 2025-06: rebuild requested (--all)" in out
    assert run_count(settings) == runs + 2  # one release run, one publish run
    assert tree_hashes(settings.warehouse) == landed


def stale_status(settings: Settings, stage: str, month: str) -> tuple[StaleStatus, list[str]]:
    """What the Dagster UI shows for one stage and month (the instance's own staleness resolver)."""
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        resolver = get_stale_status_resolver(instance, release_assets.assets)
        key = dg.AssetKey(stage)
        causes = resolver.get_stale_root_causes(key, month)
        return resolver.get_status(key, month), [
            f"{cause.key.asset_key.to_user_string()} {cause.key.partition_key}: {cause.reason}" for cause in causes]


def test_a_changed_drop_makes_its_months_stale_in_dagster_and_in_the_cli(settings, landed, capsys):
    assert stale_status(settings, "ingest", "2025-11") == (StaleStatus.FRESH, [])
    add_drop(settings.data_raw, "2025-11", {"metrics.csv": "provider,model,ars\nAnthropic,Claude Sonnet 4.5,80\n"})
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        plan = staleness.plan(instance, settings.data_raw, staleness.RELEASE)  # observes raw_drops, as run does
    # November's drop changed; December's change since the month before reads November. Nothing else.
    assert plan.stale == {"2025-11": "data_raw/2025-11/metrics.csv is new",
                          "2025-12": "data_raw/2025-11/metrics.csv is new"}
    status, causes = stale_status(settings, "ingest", "2025-11")
    assert status == StaleStatus.STALE and causes == ["raw_drops 2025-11: has a new data version"]
    assert stale_status(settings, "ingest", "2025-12")[0] == StaleStatus.STALE
    assert stale_status(settings, "ingest", "2025-10") == (StaleStatus.FRESH, [])

    capsys.readouterr()
    assert run_cli(settings, "run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["stale: 2025-11: data_raw/2025-11/metrics.csv is new",
                       "stale: 2025-12: data_raw/2025-11/metrics.csv is new"]
    assert "2025-11..2025-12: normalise passed its suite" in out
    assert out[-1].startswith("release months 2025-06..2026-02 (9) -> ") and out[-1].endswith("; ran 2 stale")
    [_, last] = release_runs(settings)
    assert (last.tags["dagster/asset_partition_range_start"], last.tags["dagster/asset_partition_range_end"]) == (
        "2025-11", "2025-12")
    assert stale_status(settings, "ingest", "2025-11") == (StaleStatus.FRESH, [])
    assert stale_status(settings, "leaderboard", "2025-12") == (StaleStatus.FRESH, [])


def test_a_new_stage_code_version_makes_every_month_stale(settings, landed, monkeypatch):
    monkeypatch.setitem(versions.STAGES, "leaderboard", ("2", versions.STAGES["leaderboard"][1]))
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        plan = staleness.plan(instance, settings.data_raw, staleness.RELEASE)
    assert sorted(plan.stale) == MONTHS
    new = versions.code_version("leaderboard")
    assert new.startswith("2+models.yaml:")
    assert plan.stale["2025-06"] == f"leaderboard code version 1{new[1:]} -> {new}"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_live_line_on_a_terminal_and_plain_lines_otherwise():
    terminal, plain = Terminal(), io.StringIO()
    for stream in (terminal, plain):
        progress = Progress(stream=stream)
        progress.line("stale: 2025-11: new")
        progress.status("2025-11..2025-12: ingest passed its suite")
        progress.status("2025-11..2025-12: validate passed its suite")
        progress.done()
    assert plain.getvalue().splitlines() == ["stale: 2025-11: new", "2025-11..2025-12: ingest passed its suite",
                                             "2025-11..2025-12: validate passed its suite"]
    shown = terminal.getvalue()
    assert "\n" not in shown.split("stale: 2025-11: new\n", 1)[1]  # the status line is rewritten in place
    assert "\r" in shown and shown.endswith("\r")


# --- refused whole ----------------------------------------------------------------------------------------------

GOOD = {month: f"provider,model,casi\nOpenAI,GPT-5,{score}\n"
        for month, score in (("2025-10", 78.96), ("2025-11", 80.31), ("2025-12", 84.08), ("2026-01", 81.98))}


@pytest.fixture(scope="module")
def four_months(tmp_path_factory) -> Settings:
    return land(tmp_path_factory.mktemp("four"),
                lambda raw: [add_drop(raw, month, {"metrics.csv": text}) for month, text in GOOD.items()])


def test_a_bad_drop_among_good_ones_stops_only_the_months_its_file_feeds(settings, four_months, capsys):
    before = copy_landed(four_months, settings)
    # December's new snapshot carries November and December, with a bad cell; February is a new good month.
    add_drop(settings.data_raw, "2025-12", {ROLLING: "Model,Nov,Dec\nOpenAI GPT-5,80.31,n/a\n"})
    add_drop(settings.data_raw, "2026-02", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,83.5\n"})
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"2025-11 ingest: data_raw/2025-12/{ROLLING} row 2 column Dec: casi is not a number (found 'n/a')",
        f"2025-12 ingest: data_raw/2025-12/{ROLLING} row 2 column Dec: casi is not a number (found 'n/a')",
        f"data_raw/2025-12/{ROLLING}: refused whole: it feeds release months 2025-11, 2025-12; not run: 2025-11, "
        "2025-12",
        "casi-pipeline: 2 failure(s)"]
    assert "stale: 2026-01: data_raw/2025-12/casi_rolling_12_months.csv is new" in captured.out
    after = tree_hashes(settings.warehouse)
    for month in ("2025-10", "2025-11", "2025-12", "2026-01"):  # stored as they were (January re-ran: the same)
        path = f"leaderboard/release_month={month}/part-0.parquet"
        assert after[path] == before[path], month
    boards = read_table(settings.warehouse, "leaderboard_history")
    assert boards.query("release_month == '2026-02'")["security"].tolist() == [83.5]  # February landed
    # Two release runs: 2025-11..2026-02 failed on the file; then 2026-01..2026-02 without its months.
    ranges = [(run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"],
               run.status) for run in release_runs(settings)][-2:]
    assert ranges == [("2025-11", "2026-02", dg.DagsterRunStatus.FAILURE),
                      ("2026-01", "2026-02", dg.DagsterRunStatus.SUCCESS)]


def test_a_normalise_conflict_stops_every_month_the_file_feeds(settings, capsys):
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,82.34\n"})
    add_drop(settings.data_raw, "2025-12", {
        ROLLING: "Model,Oct,Nov,Dec\nOpenAI GPT-5,78.96,80.31,84.08\n",
        "metrics.csv": "provider,model,casi\nOpenAI,GPT-5,84.1\n"})  # disagrees with the snapshot's December
    add_drop(settings.data_raw, "2026-01", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,81.98\n"})
    assert run_cli(settings, "run") == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "2025-12 normalise: model_id openai/gpt-5: one drop gives two different values for one model (found 'files "
        f"of one drop disagree: data_raw/2025-12/{ROLLING} row 2: casi=84.08 vs data_raw/2025-12/metrics.csv row 2: "
        "casi=84.1')",
        f"data_raw/2025-12/{ROLLING}: refused whole: it feeds release months 2025-10, 2025-11, 2025-12; not run: "
        "2025-10, 2025-11, 2025-12",
        "data_raw/2025-12/metrics.csv: refused whole: it feeds release months 2025-12; not run: 2025-12",
        "2026-01: not run: it reads release month 2025-12, which is not run and has no normalise table yet",
        "casi-pipeline: 1 failure(s)"]
    # Only September landed: October and November do not land from the refused snapshot.
    assert sorted(read_table(settings.warehouse, "leaderboard")["release_month"].unique()) == ["2025-09"]


def test_a_deleted_drop_is_reported_and_its_history_kept(settings, capsys):
    add_drop(settings.data_raw, "2025-09", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,82.34\n"})
    add_drop(settings.data_raw, "2025-11", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,80.31\n"})
    capsys.readouterr()
    assert run_cli(settings, "run", "--quiet") == 0  # --quiet keeps the single closing line of a run that works
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("release months 2025-09..2025-11 (2)") and line.endswith("; ran 2 stale")
    shutil.rmtree(settings.data_raw / "2025-09")
    capsys.readouterr()
    assert run_cli(settings, "run") == 0
    assert capsys.readouterr().out.splitlines() == [
        "data_raw/2025-09/metrics.csv was deleted: release months 2025-09 keep their published history (rows no "
        "drop produces any more stay, in_current_data = false)",
        "nothing stale: 1 release month up to date"]
    history = read_table(settings.warehouse, "leaderboard_history")
    assert history["release_month"].tolist() == ["2025-09", "2025-11"]


def test_stale_months_run_as_one_covering_range_unless_a_long_gap_or_a_refused_month_splits_them():
    assert staleness.blocks(["2025-03", "2025-05", "2025-06"], set()) == [("2025-03", "2025-06")]
    assert staleness.blocks(["2025-03", "2025-06"], set()) == [("2025-03", "2025-06")]  # a gap of 2: covered
    assert staleness.blocks(["2025-03", "2025-07"], set()) == [("2025-03", "2025-03"), ("2025-07", "2025-07")]
    assert staleness.blocks(["2025-03", "2025-04", "2025-05"], {"2025-04"}) == [("2025-03", "2025-03"),
                                                                               ("2025-05", "2025-05")]


def test_the_raw_sources_are_observable_by_month_and_every_stage_has_a_code_version():
    from casi_pipeline.definitions import build_definitions

    graph = build_definitions(Settings.from_env()).resolve_asset_graph()
    for source in ("raw_drops", "redteam_raw"):
        node = graph.get(dg.AssetKey(source))
        assert node.is_observable and node.partitions_def is not None and node.owners == ["team:leaderboard"]
    for stage in versions.STAGES:
        assert graph.get(dg.AssetKey(stage)).code_version == versions.code_version(stage), stage
    assert versions.code_version("normalise").startswith("1+models.yaml:")
