"""Landed drops are immutable: a file edited in place after it landed is refused in one line, through the CLI and
through Dagster, and nothing it fed changes."""

import hashlib
import json

import dagster as dg
import pytest

from casi_pipeline.definitions import build_definitions
from casi_pipeline.job_names import RELEASE_JOB
from casi_pipeline.raw import ledger
from casi_pipeline.storage.warehouse import Warehouse

from .conftest import RANGE, Sensor, add_drop, add_real_rolling, copy_landed, run_cli, tree_hashes

ROLLING = "data_raw/2026-02/casi_rolling_12_months.csv"
REAL_SHA256 = "e69688100bfcb11d4418e172621953d924142f8856ced450a471111bd2c41b89"
EDITED = (f"2025-06..2026-02 ingest: {ROLLING}: changed in place (sha256 {{now}}, recorded e69688100bfc when it "
          "first landed): landed files are never edited; put a correction in a new drop or a restated file")


@pytest.fixture
def landed(settings, real_data_run):
    return copy_landed(real_data_run, settings)


def edit_in_place(settings) -> str:
    """Someone 'fixes' Claude Sonnet 4.5's February value inside the landed file; returns the new sha256."""
    path = settings.data_raw / "2026-02" / "casi_rolling_12_months.csv"
    data = path.read_bytes()
    assert data.count(b",98.06\n") == 1
    path.write_bytes(data.replace(b",98.06\n", b",97.5\n"))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_refuses_a_landed_file_edited_in_place_in_one_line_and_changes_nothing(settings, landed, capsys):
    now = edit_in_place(settings)
    raw = tree_hashes(settings.data_raw)
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    assert capsys.readouterr().err.splitlines() == [EDITED.format(now=now[:12]), "casi-pipeline: 1 failure(s)"]
    assert tree_hashes(settings.warehouse) == landed  # the boards and their history keep what was published
    assert tree_hashes(settings.data_raw) == raw


def test_backfill_refuses_a_range_fed_by_an_edited_file_before_any_run(settings, landed, capsys):
    now = edit_in_place(settings)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        runs = instance.get_runs_count()
    capsys.readouterr()
    assert run_cli(settings, "backfill", "--from", "2025-09", "--to", "2025-10") == 1
    assert capsys.readouterr().err.splitlines() == [EDITED.format(now=now[:12]), "casi-pipeline: 1 failure(s)"]
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        assert instance.get_runs_count() == runs
    assert tree_hashes(settings.warehouse) == landed


def test_the_sensor_run_for_an_edited_drop_fails_its_ingest_check_and_lands_nothing(settings, landed):
    sensor = Sensor(settings)
    sensor.evaluate()  # the landed drop as the daemon last saw it
    now = edit_in_place(settings)
    [(first, last, _)] = sensor.evaluate()  # the edit is a change: one run over the months the file feeds
    assert (first, last) == ("2025-06", "2026-02")
    job = build_definitions(settings).resolve_job_def(RELEASE_JOB)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        tags={RANGE[0]: first, RANGE[1]: last})
        assert not result.success
        record = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(dg.AssetKey("ingest"), "ingest_suite"))
    evaluation = record.event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["errors"].value == [EDITED.format(now=now[:12])]
    assert tree_hashes(settings.warehouse) == landed


def test_a_sidecar_records_the_landed_hash_before_any_run(settings):
    add_drop(settings.data_raw, "2026-02", {
        "casi_rolling_12_months.csv": "Model,Feb\nOpenAI GPT-5,80.31\n",
        "casi_rolling_12_months.csv.source.json": json.dumps({"sha256": REAL_SHA256}),
    })
    warehouse = Warehouse(root=str(settings.warehouse))
    [edited] = ledger.edited_files(settings.data_raw, lambda months: warehouse.read_partitions("ingest", months))
    assert (edited.source_file, edited.months) == (ROLLING, ["2026-02"])
    assert "recorded e69688100bfc in its .source.json" in str(edited.error)


def test_unchanged_files_and_files_without_a_record_pass(settings):
    add_real_rolling(settings.data_raw)
    (settings.data_raw / "2026-02" / "casi_rolling_12_months.csv.source.json").write_text(
        json.dumps({"sha256": REAL_SHA256}))
    add_drop(settings.data_raw, "2025-11", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,80.31\n"})
    warehouse = Warehouse(root=str(settings.warehouse))
    assert ledger.edited_files(settings.data_raw, lambda months: warehouse.read_partitions("ingest", months)) == []
