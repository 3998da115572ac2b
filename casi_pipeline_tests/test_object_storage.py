"""The deployment: both roots in S3 buckets, served by a real SeaweedFS on 127.0.0.1, and the instance in a real
PostgreSQL: the same tables as the local run, its runs in PostgreSQL, nothing written to local disk, the warehouse
readable from the bucket by pyarrow, DuckDB and pandas; a missing bucket, wrong credentials, an unreachable or
refusing endpoint give one line and write nothing. A run killed mid-month on object storage:
test_object_storage_crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest

from casi_pipeline import staleness
from casi_pipeline.automation.drop_sensor import pending_runs
from casi_pipeline.raw import layout
from casi_pipeline.redteam import synth
from casi_pipeline.settings import POSTGRES_URL_ENV, Settings
from casi_pipeline.storage import objects
from casi_pipeline.storage.duckdb_sql import register_object_store
from casi_pipeline.storage.objects import ObjectPath, open_root

from .conftest import (NOT_DATA, RANGE, ROLLING, SAMPLE_RAW, Route, UpstreamServer, add_real_rolling, free_ports,
                       run_cli, serving)
from .postgres import deploy_home, postgres, runs_in_postgres  # noqa: F401 (postgres: the session's server fixture)
from .seaweed import object_tree, upload_tree

CLI = Path(sys.executable).with_name("casi-pipeline")
WAIT_SECONDS = 600  # upper bound for a loaded machine; nothing here measures speed
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL")


def environment(roots: dict[str, str], home: Path, tmp: Path, aws: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in AWS_VARIABLES}
    return {**env, **(aws or {}), **roots, "DAGSTER_HOME": str(home), "TMPDIR": str(tmp)}


def casi(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=WAIT_SECONDS)


def empty_folders(base: Path, *names: str) -> list[Path]:
    folders = [base / name for name in names]
    for folder in folders:
        folder.mkdir(parents=True)
    return folders


def local_tree(root: Path) -> dict[str, bytes]:
    """Every file of a local warehouse but its run locks and Data Docs (built for a local warehouse only)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not set(NOT_DATA) & set(p.relative_to(root).parts)}


def fill_real_raw(raw: Path) -> None:
    """The real rolling snapshot, and a small synthetic red-team drop so the DuckDB scans read from the bucket too."""
    add_real_rolling(raw)
    synth.write_drop(raw, "2025-10", models=4, attacks=40, runs=2, campaigns=12, seed=3)


@pytest.fixture(scope="module")
def both_runs(s3, postgres, tmp_path_factory):  # noqa: F811 (postgres: the session's server fixture)
    """The same raw drops run once with local roots and a local instance, and once deployed: deploy/dagster.yaml
    (PostgreSQL) in DAGSTER_HOME and both roots in buckets. A bucket run on a local instance: the S3 cases of
    test_object_storage_crash."""
    base = tmp_path_factory.mktemp("both")
    raw = base / "data_raw"
    fill_real_raw(raw)
    started = time.monotonic()  # in-process: only the deployed run's process is checked for what it writes locally
    assert run_cli(Settings(data_raw=raw, warehouse=base / "warehouse", dagster_home=base / "local_home"), "run") == 0
    print(f"local run: {time.monotonic() - started:.1f} s (loaded machine)")
    # Tables name a raw file `<raw root's last name>/<drop>/<file>`: a `data_raw` prefix names them as locally.
    upload_tree(s3, raw, f"{s3.bucket('casi-raw-real')}/data_raw")
    s3.bucket("casi-wh-real")
    cwd, tmp = empty_folders(base, "s3_cwd", "s3_tmp")
    home, url = deploy_home(base / "s3_home"), postgres.create_database()
    roots = {"CASI_DATA_RAW": "s3://casi-raw-real/data_raw", "CASI_WAREHOUSE": "s3://casi-wh-real/boards"}
    started = time.monotonic()
    remote = casi({**environment(roots, home, tmp, s3.env()), POSTGRES_URL_ENV: url}, cwd, "run")
    assert remote.returncode == 0, remote.stderr
    print(f"deployed run: {time.monotonic() - started:.1f} s (loaded machine)")
    return base, remote, cwd, tmp, home, url


def test_the_deployed_run_gives_the_local_runs_tables_and_writes_nothing_locally(s3, both_runs):
    base, remote, cwd, tmp, home, _ = both_runs
    assert remote.stdout.splitlines()[-1] == ("release months 2025-06..2026-02 (9) -> s3://casi-wh-real/boards; "
                                              "ran 9 stale")
    in_bucket, local = object_tree(s3, "casi-wh-real/boards"), local_tree(base / "warehouse")
    assert sorted(in_bucket) == sorted(local)
    assert {name for name in in_bucket if name.startswith("leaderboard/")} == {
        f"leaderboard/release_month={month}/part-0.parquet" for month in
        ("2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02")}
    different = [name for name in local if in_bucket[name] != local[name]]
    assert different == []  # tables, commit records, exports, charts and reports: the same bytes
    assert "redteam_scores/release_month=2025-10/part-0.parquet" in in_bucket  # scanned by DuckDB from the bucket
    assert list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []  # nothing on local disk
    assert sorted(path.name for path in home.iterdir()) == ["dagster.yaml"]  # the instance is in PostgreSQL


def test_the_bucket_warehouse_reads_with_pyarrow_duckdb_and_pandas(s3, both_runs, monkeypatch):
    local = ds.dataset(both_runs[0] / "warehouse" / "leaderboard", partitioning="hive").to_table()
    fs = s3.admin()
    # pyarrow
    boards = ds.dataset("casi-wh-real/boards/leaderboard", filesystem=fs, partitioning="hive")
    assert boards.count_rows() == local.num_rows == 90
    # pandas
    frame = pd.read_parquet("casi-wh-real/boards/leaderboard", filesystem=fs)
    assert len(frame) == 90 and set(frame["release_month"].astype(str)) >= {"2025-06", "2026-02"}
    # DuckDB, without httpfs: scanning the pyarrow dataset (streamed), or s3:// paths through the registered
    # filesystem
    assert duckdb.sql("SELECT count(*) FROM boards WHERE board = 'CASI'").fetchall() == [(90,)]
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    connection = duckdb.connect()
    register_object_store(connection)
    [(count, newest)] = connection.sql(
        "SELECT count(*), max(release_month) FROM read_parquet('s3://casi-wh-real/boards/leaderboard/*/*.parquet', "
        "hive_partitioning = true) WHERE board = 'CASI'").fetchall()
    assert (count, str(newest)) == (90, "2026-02")


class RefusingServer(UpstreamServer):
    """An endpoint that answers every S3 request with an error (HEAD is not implemented: 501)."""


@pytest.fixture
def refusing():
    with serving(RefusingServer()) as server:
        yield server


@pytest.mark.parametrize("fault", ["missing bucket", "wrong credentials", "unreachable endpoint",
                                   "refusing endpoint"])
def test_object_store_faults_give_one_line_and_write_nothing(s3, refusing, tmp_path, fault):
    raw, warehouse = "s3://casi-raw-faults", "s3://casi-wh-faults/boards"
    s3.bucket("casi-raw-faults")
    upload_tree(s3, SAMPLE_RAW, "casi-raw-faults")
    s3.bucket("casi-wh-faults")
    aws = s3.env()
    expected = {
        "missing bucket": "casi-pipeline: s3://no-such-bucket/boards: warehouse (CASI_WAREHOUSE): "
                          "bucket no-such-bucket does not exist",
        "wrong credentials": "casi-pipeline: s3://casi-raw-faults: raw root (CASI_DATA_RAW): access denied: "
                             "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        "unreachable endpoint": "casi-pipeline: s3://casi-raw-faults: raw root (CASI_DATA_RAW): cannot reach the "
                                "object store at http://127.0.0.1:{port} (AWS_ENDPOINT_URL)",
        "refusing endpoint": "casi-pipeline: s3://casi-raw-faults: raw root (CASI_DATA_RAW): When getting "
                             "information for bucket 'casi-raw-faults': AWS Error UNKNOWN (HTTP status 501) during "
                             "HeadBucket operation: No response body.",
    }[fault]
    if fault == "missing bucket":
        warehouse = "s3://no-such-bucket/boards"
    elif fault == "wrong credentials":
        aws["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    elif fault == "unreachable endpoint":
        [port] = free_ports(1)  # nothing listens there
        aws["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        expected = expected.format(port=port)
    else:
        aws["AWS_ENDPOINT_URL"] = refusing.url("")
    before = object_tree(s3, "casi-wh-faults")
    home, cwd, tmp = empty_folders(tmp_path, "home", "cwd", "tmp")
    started = time.monotonic()
    result = casi(environment({"CASI_DATA_RAW": raw, "CASI_WAREHOUSE": warehouse}, home, tmp, aws), cwd, "run")
    assert (result.returncode, result.stderr.strip(), result.stdout) == (1, expected, "")
    assert time.monotonic() - started < 120  # bounded: timeouts and three attempts, not a hang
    assert object_tree(s3, "casi-wh-faults") == before
    assert list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []


def test_a_landed_object_is_never_replaced(s3, monkeypatch):
    """The refresh lands raw files with a conditional PUT (If-None-Match), which SeaweedFS honours."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    target = ObjectPath(f"{s3.bucket('casi-raw-landing')}/2026-02/{ROLLING}")
    objects.put_new(target, b"first")
    with pytest.raises(FileExistsError, match=f"s3://casi-raw-landing/2026-02/{ROLLING}: already exists"):
        objects.put_new(target, b"second")
    assert target.read_bytes() == b"first"


# --- the refresh landing and the sensor's digests, on a raw bucket ------------------------------------------------


@pytest.fixture
def raw_bucket(s3, monkeypatch, request) -> ObjectPath:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return open_root(f"s3://{s3.bucket('casi-raw-' + request.node.name[5:25].replace('_', '-'))}/data_raw")


def test_the_refresh_lands_into_a_raw_bucket_once_and_a_restatement_beside_it(raw_bucket, upstream):
    from casi_pipeline.refresh import refresh

    url = upstream.url("/casi_rolling_12_months.csv")
    landed = refresh(raw_bucket, url, 10.0, today=date(2026, 2, 20))
    assert (landed.path, landed.restatement) == (raw_bucket / "2026-02" / ROLLING, False)
    assert landed.path.read_bytes() == upstream.routes["/casi_rolling_12_months.csv"].body
    assert json.loads(landed.sidecar.read_bytes())["sha256"] == landed.sha256
    assert refresh(raw_bucket, url, 10.0, today=date(2026, 2, 20)) is None  # unchanged: nothing lands
    upstream.routes["/restated.csv"] = Route(body=upstream.routes["/casi_rolling_12_months.csv"].body.replace(
        b"98.06", b"98.07"))
    restated = refresh(raw_bucket, upstream.url("/restated.csv"), 10.0, today=date(2026, 2, 20))
    assert restated.restatement and restated.path.name.startswith("casi_rolling_12_months.restated-")
    assert landed.path.read_bytes() == upstream.routes["/casi_rolling_12_months.csv"].body  # never replaced
    assert layout.Drop("2026-02", raw_bucket / "2026-02").rolling_files() == [landed.path, restated.path]


def test_the_sensor_digests_a_raw_bucket_as_it_digests_a_folder(s3, raw_bucket, tmp_path):
    upload_tree(s3, SAMPLE_RAW, raw_bucket.key)
    local = tmp_path / "data_raw"
    for drop in sorted(SAMPLE_RAW.glob("20??-??")):
        (local / drop.name).mkdir(parents=True)
        for path in drop.iterdir():
            (local / drop.name / path.name).write_bytes(path.read_bytes())
    decided = []
    for root in (raw_bucket, local):
        with dg.DagsterInstance.ephemeral() as instance:
            plan = staleness.plan(instance, root, staleness.RELEASE)
            decided.append((plan.files, [(run.first, run.last) for run in pending_runs(instance, plan, {}).runs]))
    assert decided[0] == decided[1]
    assert decided[0][1] == [("2025-09", "2025-11")]  # one covering run: the month between is a short gap


def test_roots_are_plain_paths_locally_and_object_paths_on_s3(tmp_path, monkeypatch):
    from casi_pipeline.settings import Settings

    monkeypatch.setenv("CASI_DATA_RAW", "s3://casi-raw/data_raw/")
    monkeypatch.setenv("CASI_WAREHOUSE", str(tmp_path / "warehouse"))
    settings = Settings.from_env(tmp_path)
    assert settings.warehouse == tmp_path / "warehouse" and type(settings.warehouse) is type(tmp_path)
    raw = settings.data_raw
    assert (str(raw), raw.name, raw.bucket, raw.key) == ("s3://casi-raw/data_raw", "data_raw", "casi-raw",
                                                         "casi-raw/data_raw")
    file = raw / "2026-02" / ROLLING
    assert (str(file.parent), file.relative_to(raw).as_posix()) == ("s3://casi-raw/data_raw/2026-02",
                                                                    f"2026-02/{ROLLING}")
    assert raw.joinpath("2026-02", ROLLING) == file and sorted([file, raw]) == [raw, file]
    with pytest.raises(ValueError, match="opened for reading only"):
        file.open("wb")


def test_the_deployed_run_puts_its_runs_and_the_nine_months_in_one_run_in_postgres(both_runs):
    """Issue 10's deployment: its instance in PostgreSQL, as the run opened it from DAGSTER_HOME."""
    *_, home, url = both_runs
    assert runs_in_postgres(url) == [("release_job", "SUCCESS"), ("redteam_job", "SUCCESS"),
                                     ("publish_job", "SUCCESS")]
    with pytest.MonkeyPatch.context() as patch:  # the instance dagster.yaml configures, as the run opened it
        patch.setenv(POSTGRES_URL_ENV, url)
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            [release] = instance.get_run_records(dg.RunsFilter(job_name="release_job"))
        finally:
            instance.dispose()
    tags = release.dagster_run.tags
    assert (tags[RANGE[0]], tags[RANGE[1]]) == ("2025-06", "2026-02")  # the nine months in one run
