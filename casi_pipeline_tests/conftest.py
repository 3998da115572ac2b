"""Shared fixtures: real data from ../shared, temporary raw roots, warehouses and Dagster instances."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, redirect_stdout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from filelock import FileLock

from casi_pipeline.automation import drop_sensor
from casi_pipeline.cli import QUIET
from casi_pipeline.job_names import RELEASE_JOB
from casi_pipeline.settings import DAGSTER_HOME_ENV, DATA_RAW_ENV, WAREHOUSE_ENV, Settings, prepare_dagster_home
from casi_pipeline.storage import commits
from casi_pipeline.storage.parquet_io import partition_path
from casi_pipeline.storage.warehouse import DATA_DOCS_FOLDER, LOCKS_FOLDER

from . import scheduling
from .paused_cli import ForkedRun

# DEFINITIONS_LATE: the definitions (and Great Expectations with them, most of the import time) are imported where they
# are used, so that xdist's controller, which loads this module but runs no test, starts its workers seconds earlier.

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
REAL_ROLLING = SHARED_DATA / "f5-labs-ai-leaderboards" / "casi_rolling_12_months.csv"
PUBLISHED_INPUTS = SHARED_DATA / "published-boards" / "inputs_2025-09_and_2025-11.csv"
SAMPLE_RAW = REPO / "data_raw"


ARTIFACTS = REPO / "test-artifacts"  # screenshots people look at (git-ignored)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


# The long modules, longest first: on the workers (pyproject's -n 3, one module per worker at a time) the short modules
# not listed here then fill in beside the long ones at the end, instead of one long module running alone at the end.
LONGEST_FIRST = ("test_ui.py", "test_object_storage.py", "test_postgres_instance.py", "test_object_storage_crash.py",
                 "test_bad_input.py", "test_incremental.py", "test_crash_and_concurrency.py",
                 "test_incremental_publish.py", "test_automation.py", "test_refresh.py", "test_data_docs.py",
                 "test_cli.py", "test_history.py", "test_first_release_month.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    place = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: place.get(item.path.name, len(place)))  # stable: each module keeps its own order


def pytest_xdist_make_scheduler(config, log):
    """A worker kept for the UI module while it waits (scheduling.py)."""
    return scheduling.make_scheduler(config, log)


def chromium() -> str:
    """Debian's chromium: the browser tests fail without it under CI (.ci/run installs it) and skip elsewhere."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install -y --no-install-recommends chromium")
    return found


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def chromium_screenshot(url: str, name: str, width: int, height: int, profile: Path, *extra_flags: str,
                        timeout: float = 180) -> bytes:
    """Render `url` in headless Chromium into test-artifacts/<name> and return the PNG (checked to be that size)."""
    browser = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    completed = subprocess.run(
        [browser, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile}", f"--screenshot={shot}",
         f"--window-size={width},{height}", url], capture_output=True, text=True, timeout=timeout, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == (width, height)
    return data


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 for the tests' own servers, distinct from each other (all held until all are bound)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def require_shared() -> None:
    if not REAL_ROLLING.exists():
        pytest.fail(f"the real CASI data is missing: {REAL_ROLLING} (CI lays ../shared beside the clone)")


def roots_under(base: Path) -> Settings:
    """The raw root, warehouse and Dagster home a test keeps under `base`."""
    return Settings(data_raw=base / "data_raw", warehouse=base / "warehouse", dagster_home=base / "dagster_home")


def settings_under(base: Path) -> Settings:
    """A raw root (created, empty), a warehouse and a Dagster home under `base`."""
    settings = roots_under(base)
    settings.data_raw.mkdir(parents=True)
    return settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_under(tmp_path)


def add_drop(raw: Path, month: str, files: dict[str, str | bytes]) -> Path:
    """Write a release drop: file name -> text (written as UTF-8) or raw bytes."""
    drop = raw / month
    drop.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (drop / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return drop


def add_real_rolling(raw: Path, month: str = "2026-02") -> Path:
    require_shared()
    drop = raw / month
    drop.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL_ROLLING, drop / "casi_rolling_12_months.csv")
    return drop / "casi_rolling_12_months.csv"


def add_sample(raw: Path) -> None:
    for drop in sorted(SAMPLE_RAW.glob("20??-??")):
        shutil.copytree(drop, raw / drop.name, dirs_exist_ok=True)


# Neither holds data: the run locks, and the Data Docs (a log of every run, a refused one too, with run ids and times).
NOT_DATA = (LOCKS_FOLDER, DATA_DOCS_FOLDER)


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, to prove nothing changed (see NOT_DATA)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not set(NOT_DATA) & set(p.relative_to(root).parts)}


def copy_instance(home: Path, to: Path) -> None:
    """A copy of a landed Dagster home: its write-ahead logs folded in first, then without SQLite's `-wal` and `-shm`
    files (a test on another worker reading the same session run has them open for a moment)."""
    fold_in_write_ahead_logs(home)
    shutil.copytree(home, to, ignore=shutil.ignore_patterns("*.db-wal", "*.db-shm"))


def copy_landed(template: Settings, settings: Settings) -> dict[str, str]:
    """Give a test its own copy of a landed raw root, warehouse and Dagster instance (built once per module; the
    reports' data-quality summary reads the instance); returns the warehouse hashes."""
    shutil.copytree(template.data_raw, settings.data_raw, dirs_exist_ok=True)
    shutil.copytree(template.warehouse, settings.warehouse)
    copy_instance(template.dagster_home, settings.dagster_home)
    return tree_hashes(settings.warehouse)


LANDING_OUTPUT = "run.out"  # beside the landed roots: what the landing run printed


def land(base: Path, fill) -> Settings:
    """A raw root filled by `fill(raw)` and run once through `casi-pipeline run`: a landed template (module or
    session) that tests read as it is or copy (copy_landed). What the run printed is kept (landing_output)."""
    settings = settings_under(base)
    fill(settings.data_raw)
    out = io.StringIO()
    with redirect_stdout(out):
        code = run_cli(settings, "run")
    (base / LANDING_OUTPUT).write_text(out.getvalue())
    assert code == 0, out.getvalue()
    return settings


def landing_output(landed: Settings) -> str:
    """What `casi-pipeline run` printed on standard output when `land` built this template."""
    return (landed.data_raw.parent / LANDING_OUTPUT).read_text()


def read_table(warehouse: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(warehouse / table)


def run_cli(settings: Settings, *args: str) -> int:
    """`casi-pipeline <args>` in-process, against the given roots and a Dagster instance of its own."""
    from casi_pipeline import cli

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CASI_DATA_RAW", str(settings.data_raw))
        patch.setenv("CASI_WAREHOUSE", str(settings.warehouse))
        patch.setenv("DAGSTER_HOME", str(settings.dagster_home))
        return cli.main(list(args))


# Dagster's tags for one run over a range of partitions (a single-run backfill, as the CLI and the sensor launch).
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def materialize(settings: Settings, assets: list, month: str | None = None, last: str | None = None,
                selection: list | None = None) -> dg.ExecuteInProcessResult:
    """`dg.materialize` of `assets` into the settings' roots on an ephemeral instance, for one release month (or one
    run over month..last) when partitioned: a stage's gates and failure lines without a CLI run or publishing."""
    from casi_pipeline.definitions import resources  # Great Expectations: see DEFINITIONS_LATE

    tags = {RANGE[0]: month, RANGE[1]: last} if last else None
    return dg.materialize(assets, partition_key=None if last else month, tags=tags, selection=selection,
                          resources=resources(settings), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


def failure_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """The lines a failed stage gives (`casi-pipeline run` prints each, then the files it refuses)."""
    return [line for event in result.get_step_failure_events()
            for line in event.step_failure_data.user_failure_data.description.splitlines()]


# Session runs: read them as they are; a test that changes one works on its own copy (copy_landed).


def built_once(tmp_path_factory, name: str, build: Callable[[Path], Settings]) -> Settings:
    """A session run built once for the whole test session: under xdist the first worker to ask builds it in the
    folder the workers share, and the others wait for it and read the same files."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # pytest-of-<user>/pytest-<n>/, above each worker's own folder
    base, built = shared / name, shared / f"{name}.built"
    with FileLock(shared / f"{name}.lock"):
        if not built.exists():
            shutil.rmtree(base, ignore_errors=True)  # what a failed attempt left
            settings = build(base)
            fold_in_write_ahead_logs(settings.dagster_home)
            built.touch()
    return roots_under(base)


def fold_in_write_ahead_logs(home: Path) -> None:
    """Every SQLite database of a landed Dagster home with its write-ahead log checkpointed into the main file. A
    session run is folded in before other workers open it: they only read, so its logs stay empty."""
    for database in home.rglob("*.db"):
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def real_data_run(tmp_path_factory) -> Settings:
    """The real rolling CSV as data_raw/2026-02/, run once through `casi-pipeline run`."""
    return built_once(tmp_path_factory, "real", lambda base: land(base, add_real_rolling))


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Settings:
    """The bundled sample (release months 2025-09 and 2025-11), run once through `casi-pipeline run`."""
    return built_once(tmp_path_factory, "sample", lambda base: land(base, add_sample))


ROLLING = "casi_rolling_12_months.csv"
# A December snapshot that also carries November: after the sample it changes the 2025-11 tables and adds 2025-12.
DECEMBER = "Model,Nov,Dec\nAnthropic Claude Sonnet 4.5,95.86,96.88\nOpenAI GPT-5,80.31,84.08\n"


def landed_then_run(base: Path, template: Settings, month: str, drop: dict[str, str]) -> Settings:
    """One uninterrupted `casi-pipeline run` (in-process) on a copy of a landed template with a drop added (file
    name -> text): the state a run that was interrupted, or had to wait, must end in."""
    settings = settings_under(base)
    copy_landed(template, settings)
    add_drop(settings.data_raw, month, drop)
    assert run_cli(settings, "run") == 0
    return settings


@pytest.fixture(scope="session")
def december_run(tmp_path_factory, sample_run) -> Settings:
    """The landed sample, then one uninterrupted run after the DECEMBER snapshot lands as data_raw/2025-12/."""
    return built_once(tmp_path_factory, "december",
                      lambda base: landed_then_run(base, sample_run, "2025-12", {ROLLING: DECEMBER}))


# --- what readers of a release month get ------------------------------------------------------------------------

RELEASE_TABLES = ("ingest", "validate", "normalise", "restatements", "leaderboard")


def committed_tables(warehouse, month: str) -> dict[str, str]:
    """sha256 of what a reader that follows the commit record gets for each release table of the month (the
    warehouse a local Path or an ObjectPath)."""
    return {table: hashlib.sha256(commits.read_committed(
        warehouse, table, month, partition_path(warehouse, table, month))).hexdigest() for table in RELEASE_TABLES}


def plain_files(warehouse, month: str) -> dict[str, str]:
    """sha256 of what a plain `*.parquet` glob reads for each release table of the month."""
    return {table: hashlib.sha256(partition_path(warehouse, table, month).read_bytes()).hexdigest()
            for table in RELEASE_TABLES}


# --- a real S3 server (SeaweedFS), one per session (per xdist worker) ---------------------------------------------


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    from .seaweed import seaweedfs  # seaweed imports this module

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


# --- the raw-drop sensor, evaluated as the daemon does ----------------------------------------------------------


class Sensor:
    """Evaluates the code location's raw-drop sensor against a raw root and the real Dagster instance in
    settings.dagster_home, carrying its cursor like the daemon."""

    def __init__(self, settings: Settings):
        from casi_pipeline.definitions import build_definitions, resources  # see DEFINITIONS_LATE

        self.settings = settings
        self.definitions = build_definitions(settings)
        self.sensor = self.definitions.resolve_sensor_def(drop_sensor.SENSOR_NAME)
        self.resources = resources(settings)
        self.cursor = None
        self.skip_reason = None
        self.requests: list[dg.RunRequest] = []

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(prepare_dagster_home(self.settings.dagster_home)))

    def evaluate(self) -> list[tuple[str, str, str]]:
        with self.instance() as instance, dg.build_sensor_context(cursor=self.cursor, resources=self.resources,
                                                                  instance=instance) as context:
            result = self.sensor.evaluate_tick(context)
        self.cursor, self.skip_reason = result.cursor, result.skip_message
        self.requests = list(result.run_requests)
        return [(request.tags[RANGE[0]], request.tags[RANGE[1]], request.run_key) for request in result.run_requests]

    def launch(self, request: dg.RunRequest) -> bool:
        """Run a request as the daemon would (its tags and run key), in-process on the same instance."""
        job = self.definitions.resolve_job_def(RELEASE_JOB)
        with self.instance() as instance:
            return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET,
                                          tags={**request.tags, drop_sensor.RUN_KEY_TAG: request.run_key}).success


# --- `casi-pipeline run` as a process of its own (paused_cli.ForkedRun) -------------------------------------------

WAIT_SECONDS = 300  # an upper bound for a loaded machine; nothing here measures speed


def start(settings, pause: Path | None = None) -> ForkedRun:
    """`casi-pipeline run` in a process of its own, forked from this one; with `pause`, stopped before a write there
    (paused_cli.py)."""
    env = {**os.environ, DATA_RAW_ENV: str(settings.data_raw), WAREHOUSE_ENV: str(settings.warehouse),
           DAGSTER_HOME_ENV: str(settings.dagster_home)}
    return ForkedRun(env, ["run"], pause)


def wait_for(condition, what: str, process: ForkedRun | subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"casi-pipeline ended before {what}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def pause_at(base: Path, match: str) -> Path:
    """The control folder (paused_cli.py) that stops a writer before the file whose path contains `match` goes
    into place."""
    control = base / "pause"
    control.mkdir()
    (control / "match").write_text(match)
    return control


def wait_until_paused(writer: ForkedRun | subprocess.Popen, control: Path) -> None:
    wait_for((control / "paused").exists, f"the write of {(control / 'match').read_text()}", writer)


def paused_writer(settings, tmp_path, match: str) -> tuple[ForkedRun, Path]:
    """A `casi-pipeline run` stopped just before renaming the file whose path contains `match` into place."""
    control = pause_at(tmp_path, match)
    writer = start(settings, control)
    wait_until_paused(writer, control)
    return writer, control


def waiting_for_a_lock(pid: int) -> bool:
    """True when the process is blocked on a file lock (Linux lists waiters as `->` lines in /proc/locks)."""
    return any(line.split()[1] == "->" and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines() if "->" in line)


# --- a real HTTP server on 127.0.0.1 standing in for the upstream publisher -----------------------------------


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"  # what raw.githubusercontent.com sends for a CSV
    delay: float = 0.0  # seconds before answering (longer than the client's timeout: a timeout)
    announced: int | None = None  # Content-Length to announce when it differs from the body (a truncated body)
    stream: bytes = b""  # when set: no Content-Length, then this chunk over and over, without end
    interval: float = 0.0  # seconds between two chunks of `stream` (a server dripping bytes)


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.streaming = 0  # handlers still streaming without end; they stop when the client hangs up

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out has hung up: expected
            super().handle_error(request, client_address)


class _UpstreamHandler(BaseHTTPRequestHandler):
    server: UpstreamServer

    def do_GET(self):
        self.server.hits[self.path] += 1
        route = self.server.routes.get(self.path, Route(404, b"404: Not Found"))
        if route.delay and self.server.stopping.wait(route.delay):
            return
        if route.stream:
            self._stream(route)
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(route.announced or len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)
        self.close_connection = True

    def _stream(self, route: Route) -> None:
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.end_headers()
        self.close_connection = True
        self.server.streaming += 1
        try:
            while not self.server.stopping.wait(route.interval):
                self.wfile.write(route.stream)
                self.wfile.flush()
        except ConnectionError:  # the client gave up: what a bounded download must do
            pass
        finally:
            self.server.streaming -= 1

    def log_message(self, *args):  # quiet: the tests assert on what the client saw
        pass


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Serve on a thread while the block runs; then stop the server and wait for its thread (also on failure)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    """The real rolling CSV served at /casi_rolling_12_months.csv on a random port; stopped afterwards."""
    require_shared()
    server = UpstreamServer()
    server.routes["/casi_rolling_12_months.csv"] = Route(body=REAL_ROLLING.read_bytes())
    with serving(server):
        try:
            yield server
        finally:
            server.stopping.set()  # handlers still waiting or streaming end before the server stops
