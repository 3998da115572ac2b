"""Benchmark of the red-team stages (not a test): rows per second, peak RSS, and the ratio to a DuckDB baseline.

    python benchmarks/bench_scoring.py --rows 10000000            # 60 models x 12,000 attacks x 14 runs
    python benchmarks/bench_scoring.py --rows 50000000 --workdir /tmp/casi-bench-50m
    python benchmarks/bench_scoring.py --repeat 1                 # one round (a quick check that it works)

It writes a synthetic drop with `casi-pipeline synth` in a child process (so the generator's memory is not
counted), then, in this process: the baseline (one DuckDB query computing the same per-model weighted sums from
the same Parquet files), the four gated stages exactly as the pipeline runs them (build, checks, suite), and the
bootstrap alone for 60 models x 1,000 resamples. Peak RSS is this process's maximum resident set size.
The baseline and the chain are measured `--repeat` times, one after the other in each round (the same machine
for both), and their medians compared; each round's own ratio is printed too, since the machine's speed moves by a
third within minutes here.
"""

from __future__ import annotations

import argparse
import math
import statistics
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq

from casi_pipeline.factory import build_and_check
from casi_pipeline.raw.resource import RawDrops
from casi_pipeline.redteam import raw, scoring
from casi_pipeline.redteam.assets import STAGES
from casi_pipeline.redteam.methodology import redteam_methodology
from casi_pipeline.settings import DATA_RAW_ENV
from casi_pipeline.storage.duckdb_sql import duckdb_connection, parquet_scan

MONTH = "2025-10"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def ensure_drop(root: Path, models: int, attacks: int, runs: int, seed: int) -> int:
    files = raw.files(root, MONTH, raw.ATTACKS)
    expected = models * attacks * runs
    if sum(pq.ParquetFile(f).metadata.num_rows for f in files) != expected:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "casi_pipeline", "synth", "--month", MONTH, "--models", str(models),
                        "--attacks", str(attacks), "--runs", str(runs), "--seed", str(seed)],
                       env={**os.environ, DATA_RAW_ENV: str(root)}, check=True)
        print(f"synth: {expected:,} rows in {time.perf_counter() - started:.1f} s (child process)")
    return expected


def baseline(root: Path) -> tuple[float, dict[str, float]]:
    """One DuckDB query: the CASI-style score per model (per-attack sums over runs, then weighted) from Parquet."""
    method = redteam_methodology()
    severity = " ".join(f"WHEN {k} THEN {v}" for k, v in method.severity_weight.items())
    simplicity = " ".join(f"WHEN {k} THEN {v}" for k, v in method.simplicity_weight.items())
    files = parquet_scan(raw.files(root, MONTH, raw.ATTACKS), "files")
    query = f"""
        WITH per_attack AS (
            SELECT provider, model, attack_id, any_value(severity) AS severity, any_value(complexity) AS complexity,
                   sum(trials) AS trials, sum(successes) AS successes
            FROM {files.sql} GROUP BY ALL)
        SELECT provider || ' ' || model AS label,
               100 * sum((CASE severity {severity} END) * (CASE complexity {simplicity} END)
                         * (1 - successes / trials))
                   / sum((CASE severity {severity} END) * (CASE complexity {simplicity} END)) AS score
        FROM per_attack GROUP BY ALL"""
    with duckdb_connection() as connection:
        started = time.perf_counter()
        rows = connection.execute(query, files.params).fetchall()
        elapsed = time.perf_counter() - started
    return elapsed, dict(rows)


def simple_baseline(root: Path) -> float:
    """For reference: per-row weighted sums per model in one pass (no per-attack step; not the same score when
    an attack has several runs)."""
    method = redteam_methodology()
    severity = " ".join(f"WHEN {k} THEN {v}" for k, v in method.severity_weight.items())
    simplicity = " ".join(f"WHEN {k} THEN {v}" for k, v in method.simplicity_weight.items())
    files = parquet_scan(raw.files(root, MONTH, raw.ATTACKS), "files")
    weight = f"(CASE severity {severity} END) * (CASE complexity {simplicity} END)"
    with duckdb_connection() as connection:
        started = time.perf_counter()
        connection.execute(f"SELECT provider, model, sum({weight} * (1 - successes / trials)), sum({weight}) "
                           f"FROM {files.sql} GROUP BY ALL", files.params).fetchall()
        elapsed = time.perf_counter() - started
    return elapsed


def gated_stages(root: Path) -> tuple[dict[str, float], object]:
    """The four stages as the pipeline runs them: build, WARN checks, blocking suite; seconds per stage."""
    context = SimpleNamespace(resources=SimpleNamespace(raw=RawDrops(root=str(root))))
    tables, seconds = {}, {}
    for stage in STAGES:
        started = time.perf_counter()
        for item in build_and_check(stage, [MONTH], tables, context):
            if not hasattr(item, "check_name"):
                tables[stage.table.name] = item
        seconds[stage.table.name] = time.perf_counter() - started
    return seconds, tables["redteam_scores"]


def bootstrap_seconds(models: int, attacks: int) -> float:
    rng = np.random.default_rng(0)
    method = redteam_methodology()
    numerator, denominator = rng.random((attacks, models)), np.ones((attacks, models))
    started = time.perf_counter()
    scoring.bootstrap_intervals(numerator, denominator, method.resamples, method.confidence, np.random.SeedSequence(1))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--attacks", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/casi-bench"))
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the baseline and the chain (medians shown)")
    args = parser.parse_args()
    root = args.workdir / "data_raw"
    runs = max(1, math.ceil(args.rows / (args.models * args.attacks)))
    rows = ensure_drop(root, args.models, args.attacks, runs, args.seed)
    print(f"rows: {rows:,} ({args.models} models x {args.attacks:,} attacks x {runs} runs); "
          f"cores: {os.cpu_count()}; RSS after imports: {peak_rss_mib():.0f} MiB")

    simple_seconds = simple_baseline(root)
    baselines, chains, stage_seconds = [], [], []
    for _ in range(args.repeat):
        base_seconds, base_scores = baseline(root)
        seconds, board = gated_stages(root)
        baselines.append(base_seconds)
        chains.append(sum(seconds.values()))
        stage_seconds.append(seconds)
    casi = board[board["board"] == "CASI"]
    worst_gap = max(abs(base_scores[f"{r.provider} {r.model}"] - r.score) for r in casi.itertuples()
                    if f"{r.provider} {r.model}" in base_scores)
    base_seconds, chain = statistics.median(baselines), statistics.median(chains)
    per_stage = {name: statistics.median(round_[name] for round_ in stage_seconds) for name in stage_seconds[0]}
    score = per_stage["redteam_scores"]
    print(f"median of {args.repeat} round(s), each the baseline then the chain")
    print(f"baseline DuckDB query: {base_seconds:.2f} s ({rows / base_seconds / 1e6:.1f} M rows/s; rounds "
          f"{', '.join(f'{value:.2f}' for value in baselines)}); same scores to {worst_gap:.1e}")
    print(f"(reference: one-level per-row weighted sums per model, not the same score: {simple_seconds:.2f} s)")
    for name, value in per_stage.items():
        print(f"  {name:<18} {value:6.2f} s")
    print(f"score stage (gated): {score:.2f} s, {rows / score / 1e6:.1f} M rows/s, "
          f"ratio to baseline {score / base_seconds:.1f}")
    print(f"whole chain (4 gated stages): {chain:.2f} s, {rows / chain / 1e6:.1f} M rows/s, "
          f"ratio to baseline {chain / base_seconds:.1f} (rounds "
          f"{', '.join(f'{c / b:.1f}' for c, b in zip(chains, baselines, strict=True))})")
    print(f"bootstrap {args.models} models x {redteam_methodology().resamples} resamples x {args.attacks:,} attacks: "
          f"{bootstrap_seconds(args.models, args.attacks):.2f} s")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
