"""The instance of a deployment (deploy/dagster.yaml) on a real PostgreSQL on 127.0.0.1: `casi-pipeline run` records
its runs there and lands the same tables as on the default SQLite instance; two runs of one month take turns through
the concurrency pool; the daemon's run monitoring fails a run whose worker died and frees its slot; a wrong
DAGSTER_POSTGRES_URL is one line, exit 1, nothing written."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from casi_pipeline.pools import RELEASE_POOL
from casi_pipeline.settings import POSTGRES_URL_ENV, Settings

from .conftest import (REPO, WAIT_SECONDS, add_sample, paused_writer, run_cli, start, tree_hashes, wait_for,
                       waiting_for_a_lock)
from .postgres import deploy_home, postgres, runs_in_postgres  # noqa: F401 (postgres: the session's server fixture)

RELEASE_STEP = "release_stages"
WRONG_PASSWORD = "not-the-password"


@pytest.fixture
def on_postgres(settings, postgres, monkeypatch):  # noqa: F811
    """The test's roots, with the instance in a new PostgreSQL database (DAGSTER_POSTGRES_URL set)."""
    deploy_home(settings.dagster_home)
    url = postgres.create_database()
    monkeypatch.setenv(POSTGRES_URL_ENV, url)
    return settings, url


def open_instance(settings: Settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def test_the_sample_run_records_its_runs_in_postgres_and_lands_the_same_tables(on_postgres, sample_run):
    settings, url = on_postgres
    add_sample(settings.data_raw)
    assert run_cli(settings, "run") == 0
    # 2025-09 and 2025-11 each in a release run, then publish; nothing of the instance on local disk
    assert runs_in_postgres(url) == [("release_job", "SUCCESS"), ("publish_job", "SUCCESS")]  # stale months: one run
    assert sorted(path.name for path in settings.dagster_home.iterdir()) == ["dagster.yaml"]
    assert tree_hashes(settings.warehouse) == tree_hashes(sample_run.warehouse)


def test_the_real_data_run_on_postgres_lands_the_same_nine_months(on_postgres, real_data_run):
    settings, url = on_postgres
    shutil.copytree(real_data_run.data_raw, settings.data_raw, dirs_exist_ok=True)
    assert run_cli(settings, "run") == 0
    runs = runs_in_postgres(url)
    assert runs == [("release_job", "SUCCESS"), ("publish_job", "SUCCESS")]  # the nine months in one run
    instance = open_instance(settings)
    try:
        [record] = instance.get_run_records(dg.RunsFilter(job_name="release_job"))
    finally:
        instance.dispose()
    tags = record.dagster_run.tags
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == ("2025-06",
                                                                                                      "2026-02")
    assert tree_hashes(settings.warehouse) == tree_hashes(real_data_run.warehouse)


@pytest.mark.parametrize("fault", ["port", "password", "database", "unset", "not a URL"])
def test_a_wrong_postgres_url_is_one_line_exit_1_and_nothing_written(fault, on_postgres, postgres, monkeypatch,  # noqa: F811
                                                                     capsys):
    settings, _ = on_postgres
    add_sample(settings.data_raw)
    raw_before = tree_hashes(settings.data_raw)
    url, expected = {
        "port": (postgres.url("postgres", port=1), 'connection to server at "127.0.0.1", port 1 failed: '
                                                  "Connection refused"),
        "password": (postgres.url("postgres", password=WRONG_PASSWORD), 'password authentication failed for user "casi"'),
        "database": (postgres.url("no_such_db"), 'database "no_such_db" does not exist'),
        "unset": (None, f"{POSTGRES_URL_ENV} is not set"),
        "not a URL": ("casi@127.0.0.1/dagster", f"{POSTGRES_URL_ENV}: Could not parse SQLAlchemy URL"),
    }[fault]
    if url is None:
        monkeypatch.delenv(POSTGRES_URL_ENV)
    else:
        monkeypatch.setenv(POSTGRES_URL_ENV, url)
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert line.startswith(f"casi-pipeline: cannot open the Dagster instance of {settings.dagster_home}/dagster.yaml: ")
    assert expected in line and WRONG_PASSWORD not in line
    assert out == ""
    assert not settings.warehouse.exists()
    assert tree_hashes(settings.data_raw) == raw_before


def concurrency(settings: Settings):
    instance = open_instance(settings)
    try:
        return instance.event_log_storage.get_concurrency_info(RELEASE_POOL)
    finally:
        instance.dispose()


def step_events(settings: Settings, run_id: str) -> dict[str, float]:
    """Event type name -> timestamp of the release step's start and end in a run."""
    instance = open_instance(settings)
    try:
        return {event.dagster_event.event_type_value: event.timestamp
                for event in instance.all_logs(run_id)
                if event.dagster_event is not None and event.dagster_event.step_key == RELEASE_STEP}
    finally:
        instance.dispose()


def test_a_second_run_of_the_same_month_waits_for_the_pool_slot(on_postgres, tmp_path):
    settings, _ = on_postgres
    add_sample(settings.data_raw)
    # Run A holds the release pool's one slot, stopped inside its write of September's normalise table.
    first, control = paused_writer(settings, tmp_path, "normalise/release_month=2025-09/")
    [holder] = concurrency(settings).claimed_slots
    second = start(settings)
    try:
        # Run B's step is queued for the slot: it has not started, so it cannot be waiting on a file lock either.
        def second_is_pending() -> bool:
            return bool(concurrency(settings).pending_run_ids - {holder.run_id})

        wait_for(second_is_pending, "the second run to queue for the release pool", second)
        [waiting] = concurrency(settings).pending_run_ids - {holder.run_id}
        time.sleep(2)  # B stays queued while A holds the slot
        assert "STEP_START" not in step_events(settings, waiting)
        assert not waiting_for_a_lock(second.pid)
        assert concurrency(settings).active_run_ids == {holder.run_id}
        (control / "resume").touch()
        for process in (first, second):
            _, err = process.communicate(timeout=WAIT_SECONDS)
            assert process.returncode == 0, err
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.communicate()
    # B's step started only after A's step had ended
    assert step_events(settings, waiting)["STEP_START"] >= step_events(settings, holder.run_id)["STEP_SUCCESS"]
    assert concurrency(settings).claimed_slots == []


def stop(process: subprocess.Popen) -> None:
    """End a process group we started (the daemon and the code server it spawned), by its id."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


def test_run_monitoring_fails_a_run_whose_worker_died_and_frees_its_slot(on_postgres, tmp_path):
    settings, _ = on_postgres
    # No health check for in-process or default-launcher workers: max_runtime_seconds is what ends them (1 s here).
    deploy_home(settings.dagster_home, max_runtime_seconds=1, poll_interval_seconds=1,
                free_slots_after_run_end_seconds=1)  # 0 would turn the freeing off
    add_sample(settings.data_raw)
    worker, _ = paused_writer(settings, tmp_path, "normalise/release_month=2025-09/")
    [held] = concurrency(settings).claimed_slots
    worker.send_signal(signal.SIGKILL)
    worker.communicate()

    log = tmp_path / "daemon.log"
    with log.open("wb") as sink:  # the daemon keeps its own copy of the descriptor
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "--workspace", str(REPO / "workspace.yaml")],
            cwd=REPO, env={**os.environ, "DAGSTER_HOME": str(settings.dagster_home),
                           "CASI_DATA_RAW": str(settings.data_raw), "CASI_WAREHOUSE": str(settings.warehouse)},
            stdout=sink, stderr=sink, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            instance = open_instance(settings)
            try:
                status = instance.get_run_by_id(held.run_id).status
            finally:
                instance.dispose()
            if status == dg.DagsterRunStatus.FAILURE and concurrency(settings).claimed_slots == []:
                break
            assert daemon.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"run {held.run_id} still {status} after {WAIT_SECONDS} s"
            time.sleep(1)
    finally:
        stop(daemon)
    assert run_cli(settings, "run") == 0  # nothing left holding the slot: the next run lands the release
