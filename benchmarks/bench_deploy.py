"""Benchmark of `casi-pipeline run` on the real 9-month history as deployed (not a test): the default (SQLite
instance, local folders) beside the instance on PostgreSQL, both roots in S3 buckets, and both together.

    python benchmarks/bench_deploy.py               # median of 3 fresh runs per setup

Each run is a fresh `casi-pipeline run` subprocess (new instance, empty warehouse) over the real rolling CSV from
../shared (copied into a temporary raw root at run time, never into the repository) plus a small synthetic red-team
drop, so the DuckDB scans read from the bucket too. PostgreSQL and SeaweedFS are the tests' own servers, started on
127.0.0.1 and stopped by process id. It prints a table and the machine's load (`uptime`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casi_pipeline.redteam import synth  # noqa: E402
from casi_pipeline.settings import POSTGRES_URL_ENV  # noqa: E402
from casi_pipeline_tests.conftest import REAL_ROLLING  # noqa: E402
from casi_pipeline_tests.postgres import PostgresServer, _binaries, deploy_home  # noqa: E402
from casi_pipeline_tests.seaweed import seaweedfs, upload_tree  # noqa: E402

CLI = Path(sys.executable).with_name("casi-pipeline")


def timed_run(env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run([str(CLI), "run", "--quiet"], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"casi-pipeline run failed: {completed.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh runs per setup (the median is shown)")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="casi-bench-deploy-"))
    # its own folder: the server runs as the postgres user, which cannot enter `work` (0700, root's)
    postgres = PostgresServer(_binaries(), Path(tempfile.mkdtemp(prefix="casi-postgres-")))
    try:
        raw = work / "data_raw"
        (raw / "2026-02").mkdir(parents=True)
        shutil.copyfile(REAL_ROLLING, raw / "2026-02" / "casi_rolling_12_months.csv")
        synth.write_drop(raw, "2025-10", models=4, attacks=40, runs=2, campaigns=12, seed=3)
        postgres.start()
        (work / "seaweedfs").mkdir()
        with seaweedfs(work / "seaweedfs") as s3:
            upload_tree(s3, raw, f"{s3.bucket('casi-raw')}/data_raw")
            base = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CASI_"))}
            figures = {}
            for setup in ("SQLite, local folders", "PostgreSQL, local folders", "SQLite, S3 buckets",
                          "PostgreSQL, S3 buckets"):
                times = []
                for attempt in range(args.repeat):
                    folder = work / f"{len(figures)}-{attempt}"
                    home = folder / "home"
                    env = {**base, "DAGSTER_HOME": str(home)}
                    if setup.startswith("PostgreSQL"):
                        deploy_home(home)
                        env[POSTGRES_URL_ENV] = postgres.create_database()
                    if setup.endswith("S3 buckets"):
                        env.update(s3.env(), CASI_DATA_RAW="s3://casi-raw/data_raw",
                                   CASI_WAREHOUSE=f"s3://{s3.bucket(f'casi-wh-{len(figures)}-{attempt}')}/boards")
                    else:
                        env.update(CASI_DATA_RAW=str(raw), CASI_WAREHOUSE=str(folder / "warehouse"))
                    times.append(timed_run(env))
                figures[setup] = statistics.median(times)
    finally:
        postgres.stop()
        shutil.rmtree(postgres.base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    local = figures["SQLite, local folders"]
    print(f"{'setup':<28} {'seconds':>8} {'vs default':>10}")
    for setup, seconds in figures.items():
        print(f"{setup:<28} {seconds:>8.2f} {seconds / local:>10.2f}")
    print(f"load after: {os.getloadavg()[0]:.2f} (`uptime`: {subprocess.getoutput('uptime').strip()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
