"""A run killed mid-month leaves every month whole (all its tables from one run), on object storage as locally, and
the next run completes the month as one uninterrupted run would.

The killed run is `casi-pipeline` in a process of its own, stopped through paused_cli.py before a chosen write goes
into place, then SIGKILLed. It starts from the landed sample with its Dagster instance (copied to local roots, or
uploaded into buckets as a bucket run leaves them), so it has only December's work to do. The same kill between two
tables on local roots is test_crash_and_concurrency's first test.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from casi_pipeline import cli
from casi_pipeline.settings import Settings
from casi_pipeline.storage.objects import ObjectPath, open_root

from .conftest import (DECEMBER, NOT_DATA, ROLLING, committed_tables, copy_instance, copy_landed, pause_at, plain_files,
                       tree_hashes, wait_until_paused)
from .paused_cli import ForkedRun
from .seaweed import S3Server, object_tree, upload_tree

PAUSED_CLI = Path(__file__).with_name("paused_cli.py")  # casi-pipeline, stopped before a chosen write goes into place
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL")
LANDED_MONTHS = ("2025-09", "2025-11")
# Between two tables: normalise is being staged, ingest and validate are staged. While moving: the record already
# names the new staged files and every table but the leaderboard has been copied into place.
KILL_POINTS = {"between two tables": "normalise/release_month=2025-11/",
               "while moving the files into place": "leaderboard/release_month=2025-11/part-0.parquet"}


@pytest.fixture(scope="module")
def december_states(sample_run, december_run):
    """What readers must see: the sample's months as landed (before), and after one uninterrupted run that adds the
    December snapshot, which changes November (after); and the whole warehouse after that run (final)."""
    before = {month: committed_tables(sample_run.warehouse, month) for month in LANDED_MONTHS}
    after = {month: committed_tables(december_run.warehouse, month) for month in (*LANDED_MONTHS, "2025-12")}
    return before, after, tree_hashes(december_run.warehouse)


def landed_roots(kind: str, s3: S3Server, sample_run: Settings, base: Path,
                 name: str) -> tuple[dict[str, str], dict[str, str], Path]:
    """The landed sample (release months 2025-09 and 2025-11) on local roots or in two buckets, its Dagster home
    copied; the roots' variables, the AWS variables and the Dagster home."""
    home = base / "home"
    if kind == "local":
        settings = Settings(data_raw=base / "data_raw", warehouse=base / "warehouse", dagster_home=home)
        copy_landed(sample_run, settings)
        return {"CASI_DATA_RAW": str(settings.data_raw), "CASI_WAREHOUSE": str(settings.warehouse)}, {}, home
    # Tables name a raw file `<raw root's last name>/<drop>/<file>` and the instance versions it by its sha256: under
    # a `data_raw` prefix the bucket holds what the instance recorded. A bucket run leaves no run locks and no Data
    # Docs (built for a local warehouse only).
    upload_tree(s3, sample_run.data_raw, f"{s3.bucket(f'casi-raw-{name}')}/data_raw")
    upload_tree(s3, sample_run.warehouse, f"{s3.bucket(f'casi-wh-{name}')}/boards", skip=NOT_DATA)
    copy_instance(sample_run.dagster_home, home)
    return ({"CASI_DATA_RAW": f"s3://casi-raw-{name}/data_raw", "CASI_WAREHOUSE": f"s3://casi-wh-{name}/boards"},
            s3.env(), home)


def killed_run(roots: dict[str, str], home: Path, aws: dict[str, str], base: Path, match: str) -> None:
    """`casi-pipeline run` in a process of its own, SIGKILLed once it is stopped before the write of the file whose
    path contains `match` goes into place. On local roots it is forked from this process; with buckets it is a fresh
    interpreter (paused_cli.py as a script), since pyarrow's S3 client does not survive a fork."""
    env = {key: value for key, value in os.environ.items() if key not in AWS_VARIABLES}
    env = {**env, **aws, **roots, "DAGSTER_HOME": str(home)}
    control = pause_at(base, match)
    if aws:
        writer: ForkedRun | subprocess.Popen = subprocess.Popen(
            [sys.executable, str(PAUSED_CLI), str(control), "run"], env=env, cwd=base, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
    else:
        writer = ForkedRun(env, ["run"], control)
    wait_until_paused(writer, control)
    writer.send_signal(signal.SIGKILL)
    writer.communicate()


@pytest.mark.parametrize(("kind", "killed_at"), [("local", "while moving the files into place"),
                                                 ("s3", "between two tables"),
                                                 ("s3", "while moving the files into place")])
def test_a_run_killed_mid_month_leaves_every_month_whole(s3, sample_run, december_states, tmp_path, monkeypatch,
                                                         capsys, kind, killed_at):
    before, after, final = december_states
    name = f"kill-{'tables' if killed_at.startswith('between') else 'move'}"
    roots, aws, home = landed_roots(kind, s3, sample_run, tmp_path, name)
    for variable in AWS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in aws.items():
        monkeypatch.setenv(variable, value)
    raw, warehouse = open_root(roots["CASI_DATA_RAW"]), open_root(roots["CASI_WAREHOUSE"])
    assert {month: committed_tables(warehouse, month) for month in LANDED_MONTHS} == before  # as landed
    december = raw / "2025-12" / ROLLING
    december.parent.mkdir()  # nothing on object storage
    december.write_text(DECEMBER)

    killed_run(roots, home, aws, tmp_path, KILL_POINTS[killed_at])

    # Every month reads whole, all its tables from one run: the previous commit, or the new one once it moved.
    expected = before if killed_at.startswith("between") else {**before, "2025-11": after["2025-11"]}
    assert {month: committed_tables(warehouse, month) for month in LANDED_MONTHS} == expected
    glob = plain_files(warehouse, "2025-11")
    if killed_at.startswith("between"):
        assert glob == before["2025-11"]  # staged files are dot-prefixed: a glob still sees the previous run
    else:  # the documented window: a plain glob sees the month half moved
        assert glob == {**after["2025-11"], "leaderboard": before["2025-11"]["leaderboard"]}

    # The next run (in-process: the kill is what needs a process of its own) completes the month and clears what was
    # left; the killed run's months were all it had to run again.
    for variable, value in {**roots, "DAGSTER_HOME": str(home)}.items():
        monkeypatch.setenv(variable, value)
    capsys.readouterr()
    assert cli.main(["run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"release months 2025-09..2025-12 (3) -> {warehouse}; ran 2 stale")
    if isinstance(warehouse, ObjectPath):
        stored = {key: hashlib.sha256(data).hexdigest() for key, data in
                  object_tree(s3, f"casi-wh-{name}/boards").items()}
        assert stored == final
    else:
        assert tree_hashes(warehouse) == final
