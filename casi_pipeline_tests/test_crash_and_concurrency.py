"""A run killed in the middle of writing, and two runs of one release month at once: nothing lost, nothing mixed.

`casi-pipeline` runs in processes of its own (paused_cli.ForkedRun), which stop a writer at an exact point: its
temporary file written and flushed, not yet renamed into place.
"""

import signal
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from .conftest import DECEMBER as DECEMBER_WITH_GPT5  # what december_run adds
from .conftest import (ROLLING, WAIT_SECONDS, add_drop, committed_tables, copy_landed, landed_then_run,
                       paused_writer, plain_files, run_cli, start, tree_hashes, wait_for, waiting_for_a_lock)

RESTATED = "casi_rolling_12_months.restated-20260101T060000Z.csv"
# A December snapshot that also carries November: it changes the landed 2025-11 tables and adds 2025-12.
DECEMBER = "Model,Nov,Dec\nAnthropic Claude Sonnet 4.5,95.86,96.88\n"
LANDED_MONTHS = ("2025-09", "2025-11")


@pytest.fixture
def landed(settings, sample_run):
    return copy_landed(sample_run, settings)  # release months 2025-09 and 2025-11


def leftovers(warehouse: Path) -> list[Path]:
    return sorted(warehouse.rglob(".*.tmp"))


def test_a_run_killed_while_writing_loses_nothing_and_a_rerun_completes(settings, landed, sample_run, december_run,
                                                                         tmp_path):
    before = {month: committed_tables(sample_run.warehouse, month) for month in LANDED_MONTHS}
    add_drop(settings.data_raw, "2025-12", {ROLLING: DECEMBER_WITH_GPT5})
    # Killed in the middle of writing November: ingest and validate already renamed, normalise written aside.
    writer, control = paused_writer(settings, tmp_path, "normalise/release_month=2025-11/")
    writer.send_signal(signal.SIGKILL)
    writer.communicate()

    after = {path: digest for path, digest in tree_hashes(settings.warehouse).items()
             if not Path(path).name.startswith(".")}  # files under their final names
    for path in settings.warehouse.rglob("*.parquet"):
        pq.read_table(path)  # every file under its final name reads back whole
    for table in ("normalise", "restatements", "leaderboard", "models", "leaderboard_history"):
        assert {p: h for p, h in after.items() if p.startswith(table + "/")} == {
            p: h for p, h in landed.items() if p.startswith(table + "/")}, table
    # Readers that follow the commit records see each month whole as it was committed before: ingest and validate of
    # November are staged (dot-prefixed) beside it, so a plain glob still sees the previous run's files too.
    assert {month: committed_tables(settings.warehouse, month) for month in LANDED_MONTHS} == before
    assert plain_files(settings.warehouse, "2025-11") == before["2025-11"]
    [partial] = leftovers(settings.warehouse)
    # the temporary file of normalise's staged copy (storage.commits): dot-prefixed, like the staged file itself
    assert partial.parent.name == "release_month=2025-11" and partial.name.startswith("..part-0.parquet.")
    # Readers never take the killed writer's temporary file for data: pyarrow datasets and pandas skip it.
    stored = pq.read_table(settings.warehouse / "normalise" / "release_month=2025-11" / "part-0.parquet")
    as_dataset = ds.dataset(settings.warehouse / "normalise", partitioning="hive").to_table()
    assert as_dataset.num_rows == stored.num_rows + pq.read_table(
        settings.warehouse / "normalise" / "release_month=2025-09" / "part-0.parquet").num_rows
    assert len(pd.read_parquet(settings.warehouse / "normalise")) == as_dataset.num_rows

    assert run_cli(settings, "run") == 0  # the rerun completes the release ...
    assert leftovers(settings.warehouse) == []  # ... and clears what the killed writer left
    assert tree_hashes(settings.warehouse) == tree_hashes(december_run.warehouse)  # as one uninterrupted run


def test_two_runs_of_one_month_take_turns_and_end_as_one_run(settings, landed, sample_run, tmp_path):
    add_drop(settings.data_raw, "2025-12", {ROLLING: DECEMBER})
    first, control = paused_writer(settings, tmp_path, "ingest/release_month=2025-11/")  # holds November's lock
    # the raw data changes meanwhile: a restatement lands beside the snapshot (a landed file is never edited)
    add_drop(settings.data_raw, "2025-12", {RESTATED: DECEMBER_WITH_GPT5})
    second = start(settings)
    wait_for(lambda: waiting_for_a_lock(second.pid), "the second run to wait for November's lock", second)
    (control / "resume").touch()
    for process in (first, second):
        out, err = process.communicate(timeout=WAIT_SECONDS)
        assert process.returncode == 0, err
    # The second run read November only after the first had written all of it: one run's result, never a mixture.
    assert leftovers(settings.warehouse) == []
    reference = landed_then_run(tmp_path / "reference", sample_run, "2025-12",
                                {ROLLING: DECEMBER, RESTATED: DECEMBER_WITH_GPT5})
    assert tree_hashes(settings.warehouse) == tree_hashes(reference.warehouse)
