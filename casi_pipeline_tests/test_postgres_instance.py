"""The instance of a deployment (deploy/dagster.yaml) on a real PostgreSQL on 127.0.0.1: two runs of one month take
turns through the concurrency pool; the daemon's run monitoring fails a run whose worker died and frees its slot,
and the next run lands the same tables as on the default SQLite instance; a wrong DAGSTER_POSTGRES_URL is one line,
exit 1, nothing written (at once when the server answers no); a server that comes back within seconds is waited
for."""

import os
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from casi_pipeline.instance import REACH_SECONDS, open_instance
from casi_pipeline.pools import RELEASE_POOL
from casi_pipeline.settings import POSTGRES_URL_ENV, Settings

from .conftest import (RANGE, WAIT_SECONDS, add_sample, free_ports, paused_writer, run_cli, start, tree_hashes, wait_for,
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


@contextmanager
def instance_of(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The test's own connection to the instance, open for as long as it looks (each look reads the database)."""
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        yield instance
    finally:
        instance.dispose()


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
    logged = len(server_log(postgres))
    assert run_cli(settings, "run") == 1
    out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert line.startswith(f"casi-pipeline: cannot open the Dagster instance of {settings.dagster_home}/dagster.yaml: ")
    assert expected in line and WRONG_PASSWORD not in line
    assert out == ""
    assert not settings.warehouse.exists()
    assert tree_hashes(settings.data_raw) == raw_before
    if fault in ("password", "database"):  # the server answered no: asked once (dagster-postgres asks six times)
        assert server_log(postgres)[logged:].count(expected) == 1


def server_log(server) -> str:
    """What the server logged (its FATAL lines: one per refused connection)."""
    return (server.base / "server.log").read_text()


@contextmanager
def relay_after(delay: float, port: int, target: int) -> Iterator[None]:
    """127.0.0.1:port refuses connections for `delay` seconds (a server restarting), then relays each to `target`."""
    class Relay(socketserver.BaseRequestHandler):
        def handle(self):
            with socket.create_connection(("127.0.0.1", target)) as upstream:
                ends = {self.request: upstream, upstream: self.request}
                while True:
                    for end in select.select(list(ends), [], [])[0]:
                        data = end.recv(65536)
                        if not data:
                            return
                        ends[end].sendall(data)

    servers: list[socketserver.ThreadingTCPServer] = []

    def listen():
        server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Relay)
        server.daemon_threads = True
        servers.append(server)
        server.serve_forever(poll_interval=0.05)

    timer = threading.Timer(delay, listen)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        for server in servers:  # ends serve_forever, so the timer's thread ends too
            server.shutdown()
            server.server_close()
        timer.join(timeout=10)


def test_a_server_that_comes_back_within_seconds_is_waited_for(on_postgres, postgres, monkeypatch):  # noqa: F811
    """A refused connection is tried again for REACH_SECONDS (3 s): a restart does not fail the run."""
    settings, url = on_postgres
    [port] = free_ports(1)
    monkeypatch.setenv(POSTGRES_URL_ENV, postgres.url(url.rsplit("/", 1)[1], port=port))
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    began = time.monotonic()
    assert REACH_SECONDS > 1.0
    with relay_after(1.0, port, postgres.port):
        opened = open_instance(settings.dagster_home)
        try:
            assert time.monotonic() - began >= 1.0  # refused at first
            assert opened.get_runs() == []
        finally:
            opened.dispose()


def concurrency(instance: dg.DagsterInstance):
    return instance.event_log_storage.get_concurrency_info(RELEASE_POOL)


def step_events(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Event type name -> timestamp of the release step's start and end in a run."""
    return {event.dagster_event.event_type_value: event.timestamp
            for event in instance.all_logs(run_id)
            if event.dagster_event is not None and event.dagster_event.step_key == RELEASE_STEP}


def test_a_second_run_of_the_same_month_waits_for_the_pool_slot(on_postgres, tmp_path):
    settings, _ = on_postgres
    add_sample(settings.data_raw)
    with instance_of(settings) as instance:  # opened first: it creates the instance's tables
        # Run A holds the release pool's one slot, stopped inside its write of September's normalise table.
        first, control = paused_writer(settings, tmp_path, "normalise/release_month=2025-09/")
        processes = [first]
        try:
            [holder] = concurrency(instance).claimed_slots
            processes.append(second := start(settings))

            def second_is_pending() -> bool:
                return bool(concurrency(instance).pending_run_ids - {holder.run_id})

            wait_for(second_is_pending, "the second run to queue for the release pool", second)
            [waiting] = concurrency(instance).pending_run_ids - {holder.run_id}
            time.sleep(2)  # B stays queued while A holds the slot
            # B's step has not started, so it cannot be waiting on a file lock either
            assert "STEP_START" not in step_events(instance, waiting)
            assert not waiting_for_a_lock(second.pid)
            assert concurrency(instance).active_run_ids == {holder.run_id}
            (control / "resume").touch()
            for process in processes:
                _, err = process.communicate(timeout=WAIT_SECONDS)
                assert process.returncode == 0, err
            # B's step started only after A's step had ended
            assert step_events(instance, waiting)["STEP_START"] >= step_events(instance, holder.run_id)["STEP_SUCCESS"]
            assert concurrency(instance).claimed_slots == []
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()


def stop(process: subprocess.Popen) -> None:
    """End a process group we started (the daemon and the code server it spawned), by its id."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


def test_run_monitoring_fails_a_run_whose_worker_died_and_frees_its_slot(on_postgres, tmp_path, sample_run):
    """Then the next run lands the sample's tables, the same as on the default SQLite instance. The real nine months
    on this instance, with nothing on local disk but dagster.yaml, are test_object_storage's deployed run."""
    settings, url = on_postgres
    # No health check for in-process or default-launcher workers: max_runtime_seconds is what ends them (1 s here).
    deploy_home(settings.dagster_home, max_runtime_seconds=1, poll_interval_seconds=1,
                free_slots_after_run_end_seconds=1)  # 0 would turn the freeing off
    add_sample(settings.data_raw)
    worker, _ = paused_writer(settings, tmp_path, "normalise/release_month=2025-09/")
    with instance_of(settings) as instance:
        [held] = concurrency(instance).claimed_slots
        worker.send_signal(signal.SIGKILL)
        worker.communicate()

        # Run monitoring reads the runs from the instance and needs no code location: the daemon runs without one
        # (with the workspace it would also start a code server and the raw-drop sensor, which launches runs).
        log = tmp_path / "daemon.log"
        with log.open("wb") as sink:  # the daemon keeps its own copy of the descriptor
            daemon = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster-daemon")), "run", "--empty-workspace"],
                cwd=tmp_path, env={**os.environ, "DAGSTER_HOME": str(settings.dagster_home)},
                stdout=sink, stderr=sink, start_new_session=True)
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                status = instance.get_run_by_id(held.run_id).status
                if status == dg.DagsterRunStatus.FAILURE and concurrency(instance).claimed_slots == []:
                    break
                assert daemon.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, f"run {held.run_id} still {status} after {WAIT_SECONDS} s"
                time.sleep(0.2)
        finally:
            stop(daemon)
    assert run_cli(settings, "run") == 0  # nothing left holding the slot: the next run lands the release
    assert runs_in_postgres(url) == [("release_job", "FAILURE"), ("release_job", "SUCCESS"), ("publish_job", "SUCCESS")]
    # 2025-09..2025-11 in one release run (the month between is a short gap), as Dagster reads it back
    with instance_of(settings) as instance:
        [_, record] = instance.get_run_records(dg.RunsFilter(job_name="release_job"), ascending=True)
    assert tuple(record.dagster_run.tags[tag] for tag in RANGE) == ("2025-09", "2025-11")
    assert tree_hashes(settings.warehouse) == tree_hashes(sample_run.warehouse)  # the same tables as on SQLite
