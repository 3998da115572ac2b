"""The Dagster UI for real: `dagster dev` on 127.0.0.1 after a run, its GraphQL API, a UI backfill, and headless
Chromium showing the asset graph (the screenshot lands in test-artifacts/, git-ignored)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from casi_pipeline.settings import DAGSTER_HOME_ENV, DATA_RAW_ENV, WAREHOUSE_ENV, Settings

from .conftest import (REPO, add_drop, add_real_rolling, add_sample, chromium_screenshot, free_ports, run_cli,
                       settings_under)

LAUNCHER = Path(__file__).with_name("ui_launcher.py")
DAGSTER = Path(sys.executable).with_name("dagster")
STAGES = ["ingest", "validate", "normalise", "leaderboard"]
MONTHS = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]
# Guards so that a broken server fails the test instead of hanging it; not performance assertions.
STARTUP_LIMIT, BACKFILL_LIMIT, STOP_LIMIT = 300, 600, 120
class Webserver:
    def __init__(self, url: str, settings: Settings):
        self.url = url
        self.settings = settings  # the roots and instance it serves
        self.backfill_id = ""  # the UI backfill of the nine months, launched as soon as the server is up

    def graphql(self, query: str, **variables) -> dict:
        request = urllib.request.Request(f"{self.url}/graphql", json.dumps({"query": query, "variables": variables})
                                         .encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(1)
    pytest.fail(f"dagster dev did not answer /server_info within {STARTUP_LIMIT} s")


def stop(process: subprocess.Popen) -> None:
    """SIGINT to dagster dev's process id, then wait for its whole session (webserver, daemon, code servers)."""
    os.kill(process.pid, signal.SIGINT)
    returncode = process.wait(timeout=STOP_LIMIT)
    deadline = time.monotonic() + STOP_LIMIT
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # the launcher made dagster dev a session leader: pgid == its pid
        except ProcessLookupError:
            break
        time.sleep(1)
    else:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("dagster dev left processes behind after SIGINT")
    assert returncode == 0, f"dagster dev exited with {returncode} on SIGINT"


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> Webserver:
    """`dagster dev` against a temporary DAGSTER_HOME, after `casi-pipeline run` on the sample and the real file."""
    base = tmp_path_factory.mktemp("ui")
    settings = settings_under(base)
    add_sample(settings.data_raw)
    add_real_rolling(settings.data_raw)
    assert run_cli(settings, "run") == 0
    port, log = free_ports(1)[0], base / "dagster_dev.log"
    environment = {**os.environ, DAGSTER_HOME_ENV: str(settings.dagster_home),
                   DATA_RAW_ENV: str(settings.data_raw), WAREHOUSE_ENV: str(settings.warehouse)}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), str(DAGSTER), "dev", "-h", "127.0.0.1", "-p", str(port),
             "-w", str(REPO / "workspace.yaml")],
            cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log)
        server = Webserver(url, settings)
        # The daemon takes up a new backfill on its next 30-s pass: launched now, the graph tests run meanwhile.
        server.backfill_id = launch_backfill(server)
        yield server
    finally:
        stop(process)


ASSET_GRAPH = """{ assetNodes {
  assetKey { path } groupName description owners { ... on TeamAssetOwner { team } } kinds
  dependencyKeys { path }
  assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  metadataEntries { label }
  assetMaterializations(limit: 1) { metadataEntries { label
    ... on IntMetadataEntry { intValue }
    ... on TableColumnLineageMetadataEntry { lineage { columnName columnDeps { assetKey { path } columnName } } }
  } }
} }"""


def test_the_asset_graph_in_graphql_has_lineage_checks_and_metadata(webserver):
    nodes = {node["assetKey"]["path"][-1]: node for node in webserver.graphql(ASSET_GRAPH)["assetNodes"]}
    for previous, stage in zip(["raw_drops", *STAGES], STAGES):
        node = nodes[stage]
        assert [key["path"][-1] for key in node["dependencyKeys"]] == [previous], stage
        assert {"name": f"{stage}_suite", "blocking": True} in node["assetChecksOrError"]["checks"], stage
        assert node["description"] and node["groupName"] == "release" and node["owners"] == [{"team": "leaderboard"}]
        assert {"pandas", "parquet"} <= set(node["kinds"])
        assert {"dagster/column_schema", "dagster/code_references"} <= {e["label"] for e in node["metadataEntries"]}
        latest = {entry["label"]: entry for entry in node["assetMaterializations"][0]["metadataEntries"]}
        assert latest["dagster/row_count"]["intValue"] > 0, stage
        upstream = {dep["assetKey"]["path"][-1] for column in latest["dagster/column_lineage"]["lineage"]
                    for dep in column["columnDeps"]}
        assert upstream == {previous}, stage
    raw_metadata = {entry["label"] for entry in nodes["raw_drops"]["metadataEntries"]}
    assert {"dagster/column_schema", "dagster/code_references"} <= raw_metadata
    latest = {entry["label"]: entry for entry in nodes["ingest"]["assetMaterializations"][0]["metadataEntries"]}
    lineage = {column["columnName"]: {(d["assetKey"]["path"][-1], d["columnName"]) for d in column["columnDeps"]}
               for column in latest["dagster/column_lineage"]["lineage"]}
    assert lineage["label"] == {("raw_drops", "Model"), ("raw_drops", "provider"), ("raw_drops", "model")}
    assert [key["path"][-1] for key in nodes["leaderboard_history"]["dependencyKeys"]] == ["leaderboard"]


def test_the_asset_graph_page_renders_in_headless_chromium(webserver, tmp_path):
    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True  # the first-visit dialog covers the page
    data = chromium_screenshot(f"{webserver.url}/locations/casi_pipeline/asset-groups/release/lineage",
                               "asset_graph.png", 1600, 1000, tmp_path / "chromium",
                               "--virtual-time-budget=15000",  # let the page fetch its data and render first
                               timeout=STARTUP_LIMIT)
    assert len(data) > 30_000  # a blank page compresses to ~7 kB; the rendered graph is ~100 kB


PUBLISH_RUNS = """{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "publish_after_release"}]}) {
  ... on Runs { results { status assetSelection { path } assetCheckSelection { name } } } } }"""
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def wait_until(found, what: str):
    """What `found()` returns once it is truthy, asked every second (the daemon's work shows within a second)."""
    deadline = time.monotonic() + BACKFILL_LIMIT
    while not (value := found()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(1)
    return value


def launch_backfill(webserver: Webserver) -> str:
    """What the partitions page's "Materialize" over the nine months sends; the backfill's id."""
    launched = webserver.graphql("""mutation($params: LaunchBackfillParams!) {
        launchPartitionBackfill(backfillParams: $params) {
          __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                                 # the whole release multi-asset: its stages land together, so it cannot be subset
                                 params={"assetSelection": [{"path": [key]} for key in [*STAGES, "restatements"]],
                                         "partitionNames": MONTHS})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def test_a_backfill_of_nine_months_from_the_ui_is_one_run_then_published(webserver):
    """The backfill the fixture launched as the UI does: one single-run backfill, then publishing."""

    def backfill() -> dict:
        return webserver.graphql("""query($id: String!) { partitionBackfillOrError(backfillId: $id) {
            ... on PartitionBackfill { status runs(limit: 20) { status tags { key value } } } } }""",
                                 id=webserver.backfill_id)["partitionBackfillOrError"]

    # The daemon marks the backfill done on its next pass after the run (its loop is 30 s), while the publish sensor
    # reacts within seconds: wait for the run, then for publishing, then for the backfill's status.
    [run] = wait_until(lambda: [run for run in backfill()["runs"] if run["status"] in DONE], "the backfill's run")
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert run["status"] == "SUCCESS"
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (MONTHS[0],
                                                                                                      MONTHS[-1])
    # The publish sensor's automation conditions then publish the months: one run, with the suites of the tables
    # and without the `fresh` check (its own schedule), whose outcome would change the reports from day to day.
    [run] = wait_until(lambda: [run for run in webserver.graphql(PUBLISH_RUNS)["runsOrError"]["results"]
                                if run["status"] in DONE], "publishing after the backfill")
    assert run["status"] == "SUCCESS"
    assert {key["path"][-1] for key in run["assetSelection"]} == {
        "models", "leaderboard_history", "redteam_reconciliation", "board_exports", "board_charts", "board_reports"}
    checks = {check["name"] for check in run["assetCheckSelection"]}
    assert "leaderboard_history_suite" in checks and "fresh" not in checks

    def finished() -> dict | None:
        found = backfill()
        return found if found["status"] != "REQUESTED" else None

    done = wait_until(finished, "the backfill's status")
    assert done["status"] == "COMPLETED_SUCCESS" and len(done["runs"]) == 1


STALE = """query Stale($partition: String) { assetNodes(assetKeys: [{path: ["ingest"]}]) {
  staleStatus(partition: $partition) staleCauses(partition: $partition) { key { path } partitionKey reason }
} }"""


def stale_in_ui(webserver: Webserver, month: str) -> tuple[str, list[tuple[str, str, str]]]:
    [node] = webserver.graphql(STALE, partition=month)["assetNodes"]
    return node["staleStatus"], [(c["key"]["path"][-1], c["partitionKey"], c["reason"]) for c in node["staleCauses"]]


def test_the_ui_shows_a_month_stale_when_its_drop_changes_and_the_sensor_brings_it_up_to_date(webserver):
    """Runs last in this module: it changes the raw root that `dagster dev` (and its daemon) watch."""
    import dagster as dg

    from casi_pipeline import staleness

    assert stale_in_ui(webserver, "2025-11") == ("FRESH", [])
    # a new file in the drop (a landed file is never edited: test_immutability.py)
    benchmarks = "provider,model,benchmark,score\nAnthropic,Claude Sonnet 4.5,GPQA Diamond,83.4\n"
    add_drop(webserver.settings.data_raw, "2025-11", {"benchmarks.csv": benchmarks})
    with dg.DagsterInstance.from_config(str(webserver.settings.dagster_home)) as instance:
        staleness.plan(instance, webserver.settings.data_raw, staleness.RELEASE)  # observes, as each sensor tick does
    status, causes = stale_in_ui(webserver, "2025-11")
    assert status == "STALE" and ("raw_drops", "2025-11", "has a new data version") in causes
    assert stale_in_ui(webserver, "2025-10") == ("FRESH", [])
    # The daemon's raw-drop sensor runs the stale months (2025-11 and 2025-12, which reads it): fresh again.
    wait_until(lambda: stale_in_ui(webserver, "2025-11")[0] == stale_in_ui(webserver, "2025-12")[0] == "FRESH",
               "the sensor to bring 2025-11 and 2025-12 up to date")
