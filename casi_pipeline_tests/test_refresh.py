"""`casi-pipeline refresh` against a real HTTP server on 127.0.0.1 serving the real file, and every way it fails: each
download failure's line where it is made (the refresh step, against the server), and end to end through the CLI."""

import hashlib
import json
import shutil
import time
from datetime import date, datetime

import dagster as dg
import pytest

from casi_pipeline import refresh
from casi_pipeline.raw import csv_reader, layout
from casi_pipeline.refresh.land import as_of_month
from casi_pipeline.settings import UPSTREAM_MAX_BYTES_ENV, UPSTREAM_TIMEOUT_ENV, UPSTREAM_URL_ENV, Settings

from .conftest import RANGE, REAL_ROLLING, Route, copy_landed, read_table, run_cli, settings_under, tree_hashes

MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]
REAL_SHA256 = "e69688100bfcb11d4418e172621953d924142f8856ced450a471111bd2c41b89"
TIMEOUT = 0.3


def point_at(monkeypatch, url: str) -> None:
    monkeypatch.setenv(UPSTREAM_URL_ENV, url)
    monkeypatch.setenv(UPSTREAM_TIMEOUT_ENV, str(TIMEOUT))


def run_count(settings: Settings) -> int:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        return instance.get_runs_count()


@pytest.fixture(scope="module")
def refreshed_once(tmp_path_factory, upstream, real_data_run):
    """What `casi-pipeline refresh` leaves in an empty raw root: the refresh step lands the real file from the server
    as 2026-02 (with its sidecar), and its nine months are run: the session's landing of the same bytes
    (conftest.real_data_run; a sidecar is not read by the stages), copied. That a CLI refresh which lands a drop runs
    its months in one release run, then publishes, is checked on a restatement below."""
    settings = settings_under(tmp_path_factory.mktemp("refreshed"))
    landed = refresh.refresh(settings.data_raw, upstream.url("/casi_rolling_12_months.csv"), TIMEOUT)
    assert landed is not None and not landed.restatement
    assert landed.path == settings.data_raw / "2026-02" / layout.ROLLING_FILE
    shutil.copytree(real_data_run.warehouse, settings.warehouse)
    shutil.copytree(real_data_run.dagster_home, settings.dagster_home)
    return settings


@pytest.fixture
def refreshed(settings, refreshed_once):
    """This test's own copy of the refreshed raw root, warehouse and instance."""
    copy_landed(refreshed_once, settings)
    return settings


@pytest.fixture
def refreshed_raw(tmp_path, refreshed_once):
    """This test's own copy of the refreshed raw root: what the refresh step reads and writes."""
    raw = tmp_path / "data_raw"
    shutil.copytree(refreshed_once.data_raw, raw)
    return raw


def refresh_fails(raw, url: str, timeout: float = TIMEOUT, max_bytes: int = Settings.upstream_max_bytes) -> str:
    """The refresh step's error (`casi-pipeline refresh` prints it after its name); it must land nothing."""
    before = tree_hashes(raw)
    with pytest.raises(refresh.REFRESH_ERRORS) as failure:
        refresh.refresh(raw, url, timeout, max_bytes=max_bytes)
    assert tree_hashes(raw) == before
    return str(failure.value)


def test_refresh_lands_the_real_file_with_its_sidecar(refreshed_once, upstream):
    drop = refreshed_once.data_raw / "2026-02"
    assert sorted(p.name for p in drop.iterdir()) == ["casi_rolling_12_months.csv",
                                                      "casi_rolling_12_months.csv.source.json"]
    assert (drop / "casi_rolling_12_months.csv").read_bytes() == REAL_ROLLING.read_bytes()
    sidecar = json.loads((drop / "casi_rolling_12_months.csv.source.json").read_text())
    assert sidecar["source_url"] == upstream.url("/casi_rolling_12_months.csv")
    assert sidecar["sha256"] == REAL_SHA256 and sidecar["as_of_month"] == "2026-02"
    assert sidecar["release_months"] == MONTHS
    assert datetime.fromisoformat(sidecar["fetched_at"]).utcoffset().total_seconds() == 0


def test_a_second_refresh_of_unchanged_content_lands_nothing_and_runs_nothing(refreshed, upstream, monkeypatch,
                                                                                 capsys):
    point_at(monkeypatch, upstream.url("/casi_rolling_12_months.csv"))
    raw, warehouse, runs = tree_hashes(refreshed.data_raw), tree_hashes(refreshed.warehouse), run_count(refreshed)
    assert run_cli(refreshed, "refresh") == 0
    out = capsys.readouterr().out
    assert "upstream unchanged" in out and "nothing stale: 9 release months up to date" in out
    assert (tree_hashes(refreshed.data_raw), tree_hashes(refreshed.warehouse)) == (raw, warehouse)
    assert run_count(refreshed) == runs


def test_a_refresh_with_unchanged_upstream_still_runs_a_drop_that_never_ran(refreshed, upstream, monkeypatch,
                                                                             capsys):
    """Nothing left behind: a drop that landed (here copied in by hand) but never ran is run by the next refresh."""
    point_at(monkeypatch, upstream.url("/casi_rolling_12_months.csv"))
    runs = run_count(refreshed)
    drop = refreshed.data_raw / "2025-11"
    drop.mkdir()
    (drop / "metrics.csv").write_text("provider,model,ars\nAnthropic,Claude Sonnet 4.5,80\n")
    assert run_cli(refreshed, "refresh") == 0
    out = capsys.readouterr().out
    assert "upstream unchanged" in out and "stale: 2025-11: data_raw/2025-11/metrics.csv is new" in out
    assert run_count(refreshed) == runs + 2  # one release run over 2025-11..2025-12, then publish
    boards = read_table(refreshed.warehouse, "leaderboard")
    assert boards.query("release_month == '2025-11' and board == 'ARS'")["security"].tolist() == [80.0]


REAL = REAL_ROLLING.read_bytes() if REAL_ROLLING.exists() else b""
CUT = REAL.index(b"\n", 700) + 25  # mid-row: the body stops inside the label of row 14


@pytest.mark.parametrize("route, error, attempts", [
    (Route(404, b"404: Not Found"), "HTTP 404 Not Found", 1),
    (Route(500, b"oops"), "HTTP 500 Internal Server Error (gave up after 3 attempts)", 3),
    (Route(body=REAL, delay=5), f"timed out after {TIMEOUT:g} s (gave up after 3 attempts)", 3),
    (Route(body=b"<!DOCTYPE html><html><body>Rate limited</body></html>", content_type="text/html; charset=utf-8"),
     "an HTML page, not the CSV (Content-Type text/html)", 1),
    (Route(body=b"\n  <html><head><title>Sign in</title></head></html>"),
     "an HTML page, not the CSV (Content-Type text/plain)", 1),
    (Route(body=bytes(range(256))), "not UTF-8 (byte 0x80 at offset 128)", 1),
    (Route(body=b"hello,world\n1,2\n"), "column 2: last column 'world' is not a month abbreviation (Jan..Dec)", 1),
    (Route(body=REAL[:CUT]), "row 14: expected 10 cells as in the header, found 1", 1),
    (Route(body=b"Model,Feb\nOpenAI \x1b[31mGPT-5,80.31\n"),
     "row 2 column 1 (Model): 'OpenAI \\x1b[31mGPT-5' holds the control character U+001B; labels must be readable text",
     1),
    (Route(body=REAL[:600], announced=len(REAL)),
     f"truncated body: 600 bytes of {len(REAL)} announced (gave up after 3 attempts)", 3),
], ids=["404", "500", "timeout", "html", "html-as-text", "garbage-bytes", "garbage-csv", "truncated-rows",
        "control-characters-in-a-label", "truncated-body"])
def test_a_failed_download_says_why_in_one_line_and_lands_nothing(refreshed_raw, upstream, route, error, attempts):
    path = f"/failure-{len(upstream.routes)}.csv"
    upstream.routes[path] = route
    url = upstream.url(path)
    assert refresh_fails(refreshed_raw, url) == f"{url}: {error}"
    assert upstream.hits[path] == attempts


def test_a_failed_refresh_prints_its_line_exits_1_and_writes_nothing(refreshed, upstream, monkeypatch, capsys):
    """End to end (the CLI reads the URL and timeout from the environment): one line, no run, nothing written."""
    upstream.routes["/failing.csv"] = Route(500, b"oops")
    url = upstream.url("/failing.csv")
    point_at(monkeypatch, url)
    raw, warehouse, runs = tree_hashes(refreshed.data_raw), tree_hashes(refreshed.warehouse), run_count(refreshed)
    capsys.readouterr()
    assert run_cli(refreshed, "refresh") == 1
    assert capsys.readouterr().err.splitlines() == [
        f"casi-pipeline refresh: {url}: HTTP 500 Internal Server Error (gave up after 3 attempts)"]
    assert upstream.hits["/failing.csv"] == 3
    assert (tree_hashes(refreshed.data_raw), tree_hashes(refreshed.warehouse)) == (raw, warehouse)
    assert run_count(refreshed) == runs


CAP = 1024 * 1024


@pytest.mark.parametrize("route, timeout, error, attempts", [
    # one byte every 20 ms, forever: every read succeeds, so only a deadline for the whole attempt stops it
    (Route(stream=b"M", interval=0.02), 0.3, "timed out after 0.3 s (gave up after 3 attempts)", 3),
    # 64 KiB chunks without end and without a Content-Length: only the size cap stops it
    (Route(stream=b"x" * 65536), 30, f"body larger than the limit of {CAP:,} bytes (stopped reading)", 1),
    (Route(body=b"Model,Feb\n" + b"A B,1\n" * (CAP // 6 + 1)), 30,
     f"body of {10 + 6 * (CAP // 6 + 1):,} bytes announced, more than the limit of {CAP:,} bytes", 1),
], ids=["drips-forever", "streams-without-end", "announces-too-much"])
def test_a_download_is_bounded_in_time_and_size_and_lands_nothing(refreshed_raw, upstream, route, timeout, error,
                                                                  attempts):
    path = f"/unbounded-{len(upstream.routes)}.csv"
    upstream.routes[path] = route
    url = upstream.url(path)
    started = time.monotonic()
    assert refresh_fails(refreshed_raw, url, timeout, CAP) == f"{url}: {error}"
    elapsed = time.monotonic() - started
    assert upstream.hits[path] == attempts
    # 3 attempts of 0.3 s and pauses of 0.3 s: far below what one dripping read per attempt would allow
    assert elapsed < 5, elapsed
    deadline = time.monotonic() + 5  # the server's handler ends once the client has hung up
    while upstream.streaming and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.streaming == 0


def test_the_size_cap_comes_from_the_environment(refreshed, upstream, monkeypatch, capsys):
    """End to end: CASI_UPSTREAM_MAX_BYTES reaches the download; one line, no run, nothing written."""
    upstream.routes["/too-large.csv"] = Route(body=b"Model,Feb\n" + b"A B,1\n" * 200)
    url = upstream.url("/too-large.csv")
    point_at(monkeypatch, url)
    monkeypatch.setenv(UPSTREAM_MAX_BYTES_ENV, "1024")
    raw, warehouse, runs = tree_hashes(refreshed.data_raw), tree_hashes(refreshed.warehouse), run_count(refreshed)
    capsys.readouterr()
    assert run_cli(refreshed, "refresh") == 1
    assert capsys.readouterr().err.splitlines() == [
        f"casi-pipeline refresh: {url}: body of 1,210 bytes announced, more than the limit of 1,024 bytes"]
    assert (tree_hashes(refreshed.data_raw), tree_hashes(refreshed.warehouse)) == (raw, warehouse)
    assert run_count(refreshed) == runs


@pytest.mark.parametrize("url, error", [
    ("http://127.0.0.1:9/casi.csv",  # the discard port: nothing listens there
     "ConnectionRefusedError: [Errno 111] Connection refused (gave up after 3 attempts)"),
    ("file:///nonexistent/casi_rolling_12_months.csv", "no such file"),
    ("ftp://example.org/casi.csv", "only http://, https:// and file:// sources are supported"),
])
def test_unreachable_sources_fail_in_one_line(settings, monkeypatch, capsys, url, error):
    point_at(monkeypatch, url)
    assert run_cli(settings, "refresh") == 1
    assert capsys.readouterr().err.splitlines() == [f"casi-pipeline refresh: {url}: {error}"]
    assert tree_hashes(settings.data_raw) == {} and not settings.warehouse.exists()


def test_a_restatement_lands_beside_the_original_and_its_differences_are_reported(refreshed, upstream, monkeypatch,
                                                                                    capsys):
    line = next(row for row in REAL.splitlines() if row.startswith(b"Anthropic Claude Sonnet 4.5,"))
    assert line.endswith(b",98.06")
    restated = REAL.replace(line, line[:-len(b"98.06")] + b"97.5")
    upstream.routes["/restated.csv"] = Route(body=restated)
    point_at(monkeypatch, upstream.url("/restated.csv"))
    runs = run_count(refreshed)
    assert run_cli(refreshed, "refresh") == 0
    assert "restatement" in capsys.readouterr().out
    # the landed file feeds the nine months: one release run over them, then publish
    assert run_count(refreshed) == runs + 2
    with dg.DagsterInstance.from_config(str(refreshed.dagster_home)) as instance:
        [release] = [run for run in instance.get_runs(limit=2) if run.job_name == "release_job"]
    assert (release.tags[RANGE[0]], release.tags[RANGE[1]]) == ("2025-06", "2026-02")
    assert sorted(read_table(refreshed.warehouse, "leaderboard")["release_month"].unique()) == MONTHS
    assert sorted(read_table(refreshed.warehouse, "leaderboard_history")["release_month"].unique()) == MONTHS

    drop = refreshed.data_raw / "2026-02"
    assert (drop / layout.ROLLING_FILE).read_bytes() == REAL  # never overwritten
    [new] = [p for p in drop.iterdir() if layout.RESTATEMENT.match(p.name)]
    assert new.read_bytes() == restated
    sidecar = json.loads((drop / (new.name + ".source.json")).read_text())
    assert sidecar["sha256"] == hashlib.sha256(restated).hexdigest() and sidecar["file"] == new.name

    normalised = read_table(refreshed.warehouse, "normalise")
    sonnet = normalised[(normalised["release_month"] == "2026-02")
                        & (normalised["model_id"] == "anthropic/claude-sonnet-4.5")].iloc[0]
    assert sonnet["casi"] == 97.5 and sonnet["casi_source"].startswith(f"data_raw/2026-02/{new.name}:")
    with dg.DagsterInstance.from_config(str(refreshed.dagster_home)) as instance:
        record = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(dg.AssetKey("restatements"), "restated_values"))
    evaluation = record.event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert [(f["release_month"], f["old_value"], f["new_value"]) for f in evaluation.metadata["found"].value] == [
        ("2026-02", 98.06, 97.5)]

    # The same restated content again is unchanged: nothing lands, nothing runs.
    raw, runs = tree_hashes(refreshed.data_raw), run_count(refreshed)
    assert run_cli(refreshed, "refresh") == 0
    assert tree_hashes(refreshed.data_raw) == raw and run_count(refreshed) == runs


@pytest.mark.parametrize("last, today, month", [
    ("Feb", date(2026, 11, 27), "2026-02"),
    ("Feb", date(2026, 2, 1), "2026-02"),
    ("Feb", date(2026, 1, 31), "2025-02"),
    ("Dec", date(2026, 1, 5), "2025-12"),
])
def test_the_as_of_month_is_the_newest_month_not_after_today_with_that_abbreviation(last, today, month):
    raw = csv_reader.read_csv_bytes(f"Model,{last}\nA B,1\n".encode(), "upstream")
    assert as_of_month(raw, today) == month
