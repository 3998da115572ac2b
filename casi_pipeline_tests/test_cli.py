"""`casi-pipeline run` and `backfill` on the bundled sample, and what a broken drop does: one line, nothing lost."""

import csv
import gc
import subprocess
import sys

import pandas as pd
import pytest

from casi_pipeline.redteam import synth
from casi_pipeline.release.assets import raw_drops, release_stages

from .conftest import (PUBLISHED_INPUTS, add_drop, add_real_rolling, add_sample, copy_landed, failure_lines,
                       landing_output, materialize, read_table, run_cli, tree_hashes)

RELEASE = [raw_drops, release_stages]


def published_board_inputs(month: str) -> list[dict]:
    with PUBLISHED_INPUTS.open() as handle:
        return [row for row in csv.DictReader(handle) if row["release_month"] == month]


def expected_figures(row: dict, security: float) -> tuple[float, float | None]:
    """The published formulas, applied to the published inputs independently of the pipeline."""
    rtp = 0.6 * security / 100 + 0.4 * float(row["performance"]) / 100
    prices = row["input_usd_per_mtok"], row["output_usd_per_mtok"]
    cos = (float(prices[0]) + float(prices[1])) / (security / 100) if all(prices) else None
    return round(rtp, 2), (round(cos, 2) if cos is not None else None)


def test_bundled_sample_reproduces_september_rtp_and_cos_on_both_boards(sample_run):
    """The session's `casi-pipeline run` of the bundled sample (conftest.sample_run), read as it landed."""
    assert "release months 2025-09..2025-11 (2)" in landing_output(sample_run)
    boards = read_table(sample_run.warehouse, "leaderboard")
    september = boards[boards["release_month"] == "2025-09"].set_index(["board", "model"])
    checked = 0
    for row in published_board_inputs("2025-09"):
        for board, metric in (("CASI", "casi"), ("ARS", "ars")):
            if not row[metric]:
                assert (board, row["model"]) not in september.index
                continue
            got = september.loc[(board, row["model"])]
            rtp, cos = expected_figures(row, float(row[metric]))
            assert round(got["rtp"], 2) == rtp, (board, row["model"])
            assert (None if pd.isna(got["cos_usd"]) else round(got["cos_usd"], 2)) == cos, (board, row["model"])
            checked += 1
    assert checked == 20  # ten models on each board
    sonnet = september.loc[("CASI", "Claude Sonnet 4")]
    assert (round(sonnet["rtp"], 2), round(sonnet["cos_usd"], 2), sonnet["rank"]) == (0.75, 18.94, 1)
    assert pd.isna(september.loc[("CASI", "DeepSeek-R1-Distill-Llama-70B"), "cos_usd"])
    assert september.loc[("ARS", "GPT-OSS 20b"), "rank"] == 10
    november = boards[boards["release_month"] == "2025-11"]
    assert november["model"].tolist() == ["Claude Sonnet 4.5"] and november["security"].tolist() == [95.86]


@pytest.fixture
def landed(settings, real_data_run):
    """This test's own copy of the session's landed real snapshot (nine release months): raw root, warehouse and
    Dagster instance (the reports' data-quality summary comes from the instance); returns the warehouse hashes."""
    return copy_landed(real_data_run, settings)


def replace_cell(path, label: str, old: str, new: str, target=None) -> None:
    """Write `path` with one cell changed, to `target` (a new file) or over `path` itself (an edit in place)."""
    text = path.read_text()
    line = next(line for line in text.splitlines() if line.startswith(label + ","))
    assert old in line
    (target or path).write_text(text.replace(line, line.replace(old, new)))


# A landed file is never edited (test_immutability.py): the broken snapshot arrives as a restatement beside it.
RESTATED = "casi_rolling_12_months.restated-20260305T060000Z.csv"
ROLLING = f"data_raw/2026-02/{RESTATED}"


BROKEN_VALUES = {  # the line each gives, and how many lines name the file
    # One run over the nine months: the suite's sample (5 rows) names the first five months, with the run's count.
    "above 100": ("98.06", "108.06", f"2025-06 validate: {ROLLING} row 10 column Feb: casi must be within 0..100 "
                                     "(found 108.06; 9 row(s) in all)", 5),
    "not a number": ("98.06", "n/a", f"2025-06 ingest: {ROLLING} row 10 column Feb: casi is not a number (found 'n/a'; "
                                     "9 row(s) in all)", 5),
    "a cell short": (",98.06", "", f"2026-02 ingest: {ROLLING}: row 10: expected 10 cells as in the header, found 9",
                     9),
}


def restate_sonnet(raw, old: str, new: str) -> None:
    rolling = raw / "2026-02" / "casi_rolling_12_months.csv"
    replace_cell(rolling, "Anthropic Claude Sonnet 4.5", old, new, target=rolling.with_name(RESTATED))


@pytest.mark.parametrize("case", BROKEN_VALUES)
def test_a_broken_value_gives_its_line_for_the_months_it_feeds(settings, case):
    """The release stages over the nine months, as `run` runs them: the lines it prints, nothing written."""
    old, new, line, lines = BROKEN_VALUES[case]
    add_sample(settings.data_raw)
    add_real_rolling(settings.data_raw)
    restate_sonnet(settings.data_raw, old, new)
    raw_before = tree_hashes(settings.data_raw)
    result = materialize(settings, RELEASE, "2025-06", last="2026-02")
    errors = failure_lines(result)
    assert line in errors
    assert len([e for e in errors if e.startswith("20") and ROLLING in e]) == lines
    assert tree_hashes(settings.warehouse) == {}  # nothing but the run lock
    assert tree_hashes(settings.data_raw) == raw_before


def test_a_broken_value_fails_with_one_line_and_changes_nothing(settings, landed, capsys):
    old, new, line, lines = BROKEN_VALUES["above 100"]
    restate_sonnet(settings.data_raw, old, new)
    raw_before = tree_hashes(settings.data_raw)
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    errors = capsys.readouterr().err.splitlines()
    assert line in errors
    assert len([e for e in errors if e.startswith("20") and ROLLING in e]) == lines
    # The file feeds all nine months: it is named once, refused whole, with every month it stops.
    assert errors[-2] == (f"{ROLLING}: refused whole: it feeds release months 2025-06, 2025-07, 2025-08, 2025-09, "
                          "2025-10, 2025-11, 2025-12, 2026-01, 2026-02; not run: 2025-06, 2025-07, 2025-08, 2025-09, "
                          "2025-10, 2025-11, 2025-12, 2026-01, 2026-02")
    assert errors[-1] == f"casi-pipeline: {lines} failure(s)"
    assert tree_hashes(settings.warehouse) == landed
    assert tree_hashes(settings.data_raw) == raw_before


def test_a_bad_drop_stops_only_the_months_it_feeds(settings, landed, capsys):
    # a new drop (the landed November one is never edited): October's metrics feed October alone
    add_drop(settings.data_raw, "2025-10", {"metrics.csv": "provider,model,casi\nAnthropic,Claude Sonnet 4.5,95.86\n"
                                                           "Anthropic,Claude Sonnet 4.5,95.86\n"})
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors[:-1] == ["2025-10 validate: data_raw/2025-10/metrics.csv row 2: the same model label appears twice "
                           "in one file (found 'Anthropic Claude Sonnet 4.5'; 2 row(s) in all)",
                           "data_raw/2025-10/metrics.csv: refused whole: it feeds release months 2025-10; not run: "
                           "2025-10"]
    # 2025-11 reads October: it ran again (against October's stored table) and wrote identical tables.
    assert tree_hashes(settings.warehouse) == landed


def test_backfill_refuses_a_bad_range(settings, capsys):
    add_sample(settings.data_raw)
    assert run_cli(settings, "backfill", "--from", "2025-9", "--to", "2025-11") == 2
    assert run_cli(settings, "backfill", "--from", "2025-11", "--to", "2025-09") == 2
    assert run_cli(settings, "backfill", "--from", "2024-01", "--to", "2025-09") == 2
    err = capsys.readouterr().err
    assert "'2025-9' is not a release month (YYYY-MM)" in err
    assert "range 2025-11..2025-09 must lie within 2025-01.." in err
    assert not settings.warehouse.exists()


def test_backfill_is_one_run_and_lands_the_range_and_the_red_team_months_it_has(settings):
    add_sample(settings.data_raw)
    # red-team results for 2025-10 only (3 models): the red-team stages run only where there are results
    synth.write_drop(settings.data_raw, "2025-10", models=3, attacks=40, runs=2, campaigns=12, seed=7)
    assert run_cli(settings, "backfill", "--from", "2025-09", "--to", "2025-11") == 0
    folders = sorted(p.name for p in (settings.warehouse / "leaderboard").iterdir())
    # The month between two drops is a release month without boards: an empty table, not a missing one.
    assert folders == ["release_month=2025-09", "release_month=2025-10", "release_month=2025-11"]
    assert read_table(settings.warehouse, "leaderboard").groupby("release_month").size().to_dict() == {
        "2025-09": 20, "2025-11": 1}
    import dagster as dg
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        release_runs = [run for run in instance.get_runs() if run.job_name == "release_job"]
        assert len(release_runs) == 1
        assert release_runs[0].tags["dagster/asset_partition_range_start"] == "2025-09"
    finally:
        instance.dispose()
    assert sorted(p.name for p in (settings.warehouse / "redteam_scores").iterdir()) == ["release_month=2025-10"]
    assert len(read_table(settings.warehouse, "redteam_scores")) == 6  # 3 models on 2 boards
    assert read_table(settings.warehouse, "redteam_reconciliation").empty  # nothing published for 2025-10


def test_run_with_no_drops_says_so(settings, capsys):
    assert run_cli(settings, "run") == 1
    assert "no release drops under" in capsys.readouterr().err


def test_the_command_loads_without_collections_and_runs_with_them(settings):
    """casi_pipeline.command: the collector is off from the command's start until a Runner has loaded the
    definitions, then on, with what was loaded frozen, and the drawing workers are forked; a Runner made anywhere
    else (these tests, the code server) changes neither."""
    from casi_pipeline import command
    from casi_pipeline.cli import Runner
    from casi_pipeline import workers

    frozen = gc.get_freeze_count()
    Runner(settings)
    assert gc.isenabled() and gc.get_freeze_count() == frozen and workers._early is None
    try:
        command.start()
        assert not gc.isenabled()
        Runner(settings)
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        assert workers._early is not None  # the drawing workers forked, importing matplotlib meanwhile
    finally:
        gc.unfreeze()  # the test process goes on collecting what it frees
        gc.enable()
        workers.stop_early()


COMMAND_ENDING = """
import atexit, sys
from casi_pipeline import command
command.start()
class Teardown:
    def __del__(self, open=open):  # `open` kept: late in the teardown the builtins are gone
        open({torn!r}, "w").write("torn down")  # the interpreter's teardown frees module globals
kept = Teardown()
atexit.register(lambda: open({handled!r}, "w").write("ran"))
sys.stdout.write("a line not yet flushed")
{end}
"""


@pytest.mark.parametrize("end, status, torn_down", [
    ("sys.exit(command.returned(5))", 5, False),  # the command returned: no teardown
    ("raise RuntimeError('boom')", 1, True),  # the command raised: the usual ending, with its traceback
])
def test_the_command_ends_after_its_atexit_handlers_with_its_status_and_output(tmp_path, end, status, torn_down):
    """casi_pipeline.command: once the command has returned, the process ends after every atexit handler, with the
    command's status and its output flushed, and without the interpreter's teardown (a second or so of freeing the
    heap); a command that raised ends the usual way."""
    torn, handled = tmp_path / "torn", tmp_path / "handled"
    program = COMMAND_ENDING.format(torn=str(torn), handled=str(handled), end=end)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (status, "a line not yet flushed")
    assert handled.read_text() == "ran"
    assert torn.exists() is torn_down
    assert ("RuntimeError: boom" in done.stderr) is torn_down


def test_the_command_imports_what_great_expectations_needs_only_for_expectations_it_never_runs_on_first_use():
    """casi_pipeline.command.DEFERRED_IMPORTS: scipy.stats and altair stand deferred through Great Expectations'
    import and a scan of sys.modules, and work as themselves on first use (a submodule import too)."""
    program = """
import inspect, sys
from casi_pipeline import command
command.start()
import great_expectations
loaded = lambda: {"scipy.stats._stats_py", "altair.vegalite"} & set(sys.modules)
assert not loaded(), loaded()
inspect.getmodule(print)  # reads the `__file__` of every module in sys.modules
assert not loaded(), loaded()
from scipy import stats
import altair
import scipy.stats.distributions
assert abs(stats.entropy([0.5, 0.5], [0.9, 0.1]) - 0.5108256) < 1e-6
assert altair.Chart.__name__ == "Chart" and scipy.stats.distributions.norm.cdf(0) == 0.5
assert loaded() == {"scipy.stats._stats_py", "altair.vegalite"}
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
