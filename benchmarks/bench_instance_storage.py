"""Benchmark of the local instance's storage (not a test): Dagster's SQLite storage against
casi_pipeline.instance_storage's, on the same operations, each in a fresh DAGSTER_HOME.

    python benchmarks/bench_instance_storage.py              # 3 rounds, medians
    python benchmarks/bench_instance_storage.py --events 500

Per storage: storing `--events` runless materialisations of a partitioned asset, then `--events // 2` reads of the
latest materialisation and of the newest runs (what a run, the staleness plan and the UI do most). It prints the
medians and the machine's load (`uptime`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from casi_pipeline.instance_storage import with_kept_engines
from casi_pipeline.settings import prepare_dagster_home

ASSET = dg.AssetKey("benchmarked")


def seconds(home: Path, kept_engines: bool, events: int) -> tuple[float, float]:
    ref = InstanceRef.from_dir(str(prepare_dagster_home(home)))
    with dg.DagsterInstance.from_ref(with_kept_engines(ref) if kept_engines else ref) as instance:
        started = time.perf_counter()
        for index in range(events):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=ASSET, partition=f"2025-{index % 12 + 1:02d}", metadata={"n": index})
            )
        stored = time.perf_counter()
        for _ in range(events // 2):
            instance.get_latest_materialization_event(ASSET)
            instance.get_runs(limit=5)
        return stored - started, time.perf_counter() - stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"Dagster's SQLite storage": [], "instance_storage": []}
    with tempfile.TemporaryDirectory(prefix="casi-bench-storage-") as work:
        for round_ in range(args.rounds):
            for name, kept in (("Dagster's SQLite storage", False), ("instance_storage", True)):
                figures[name].append(seconds(Path(work) / f"{round_}-{kept}", kept, args.events))
    print(f"median of {args.rounds} rounds: store {args.events} events, then {args.events // 2} reads")
    for name, rounds in figures.items():
        store = statistics.median(r[0] for r in rounds)
        read = statistics.median(r[1] for r in rounds)
        print(f"{name:<26} store {store:6.2f} s   read {read:6.2f} s")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
