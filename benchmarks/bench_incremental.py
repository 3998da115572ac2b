"""Benchmark of whole `casi-pipeline run`s (not a test): each figure as a ratio to the import floor of the stack.

    python benchmarks/bench_incremental.py                 # 3 runs per figure, medians
    python benchmarks/bench_incremental.py --repeat 1      # one run per figure (a quick check that it works)

Figures, each the median of `--repeat` runs of `casi-pipeline run` as a subprocess with its own DAGSTER_HOME,
CASI_DATA_RAW and CASI_WAREHOUSE in a temporary folder:
- import floor: `python -c "import dagster, great_expectations, pandas, pyarrow"`, run once just before each timed
  run and taken as the median of all of them (its range is printed): the floor moves by 10-20% over minutes on
  this machine, and a floor taken only at the start compares figures with a machine of a few minutes before;
- the real 9-month history fresh: ../shared's rolling CSV copied in as data_raw/2026-02/ at run time (CC BY-NC:
  never into the repository);
- 23 monthly drops fresh: 2025-01..2026-11, one rolling snapshot a month (up to 12 columns), generated here,
  seeded, from the model registry: a value once published never changes, so no drop restates another;
- an unchanged re-run of those 23 months;
- adding the 23rd month to 22 processed months, and checking every file of the warehouse (tables, exports,
  charts, reports) is byte-identical to the fresh 23-month run's.
It prints a table and the machine's load (`uptime`): on a loaded machine the figures are indicative only.
The script only drives the CLI, so it measures whatever `casi-pipeline run` does (one run per month, or one run for
the stale months).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_ROLLING = REPO.parent / "shared" / "data" / "f5-labs-ai-leaderboards" / "casi_rolling_12_months.csv"
IMPORT_FLOOR = "import dagster, great_expectations, pandas, pyarrow"
# casi_pipeline.storage.warehouse.DATA_DOCS_FOLDER (not imported: this script only drives the CLI)
DATA_DOCS = "quality"
FIRST, LAST = "2025-01", "2026-11"  # 23 monthly drops
BOARD_SIZE = 10
WINDOW = 12
TARGETS = {"real 9 months, fresh": 1.5, "23 months, fresh": 2.5, "23 months, unchanged re-run": 1.2,
           "add 1 month to 22 processed": 1.5}
ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_span(first: str, last: str) -> list[str]:
    year, month = map(int, first.split("-"))
    span = []
    while f"{year:04d}-{month:02d}" <= last:
        span.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return span


def registry_labels() -> list[str]:
    from casi_pipeline.reference import registry

    return sorted(model.label for model in registry().models)


def boards(months: list[str], seed: int) -> dict[str, dict[str, float]]:
    """Per month, ten registry models with seeded CASI values (two decimals, like the publisher's)."""
    rng, labels = random.Random(seed), registry_labels()
    return {month: {label: round(rng.uniform(40, 99), 2) for label in rng.sample(labels, BOARD_SIZE)}
            for month in months}


def write_drops(raw: Path, months: list[str], values: dict[str, dict[str, float]]) -> None:
    """One rolling snapshot per month: the last (up to) 12 months ending with it, empty = not on that board."""
    every = list(values)
    for month in months:
        columns = every[max(0, every.index(month) - WINDOW + 1):every.index(month) + 1]
        labels = sorted({label for column in columns for label in values[column]})
        lines = ["Model," + ",".join(ABBREVIATIONS[int(m[5:]) - 1] for m in columns)]
        lines += [label + "," + ",".join(str(values[m].get(label, "")) for m in columns) for label in labels]
        (raw / month).mkdir(parents=True, exist_ok=True)
        (raw / month / "casi_rolling_12_months.csv").write_text("\n".join(lines) + "\n")


def run_seconds(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench_incremental: {' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


class Roots:
    """A raw root, warehouse and Dagster instance of their own under `base`."""

    def __init__(self, base: Path):
        self.base, self.raw, self.warehouse, self.home = base, base / "data_raw", base / "warehouse", base / "home"
        self.raw.mkdir(parents=True, exist_ok=True)

    def run(self) -> float:
        env = {**os.environ, "CASI_DATA_RAW": str(self.raw), "CASI_WAREHOUSE": str(self.warehouse),
               "DAGSTER_HOME": str(self.home)}
        return run_seconds([sys.executable, "-m", "casi_pipeline", "run"], env)

    def copy_to(self, base: Path) -> "Roots":
        shutil.copytree(self.base, base)
        return Roots(base)


def warehouse_hashes(root: Path) -> dict[str, str]:
    """Every published file; not the run locks, nor the Data Docs (a log of runs, with run ids and times)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not {".locks", DATA_DOCS} & set(p.relative_to(root).parts)}


def measure(args: argparse.Namespace, work: Path) -> tuple[list[float], dict[str, float], bool]:
    floors: list[float] = []

    def timed(roots: Roots) -> float:
        floors.append(run_seconds([sys.executable, "-c", IMPORT_FLOOR]))  # the floor, on the machine of this run
        return roots.run()

    figures: dict[str, list[float]] = {name: [] for name in TARGETS}
    months = month_span(FIRST, LAST)
    values = boards(months, args.seed)
    for attempt in range(args.repeat):
        real = Roots(work / f"real-{attempt}")
        (real.raw / "2026-02").mkdir()
        shutil.copyfile(REAL_ROLLING, real.raw / "2026-02" / "casi_rolling_12_months.csv")
        figures["real 9 months, fresh"].append(timed(real))

        fresh = Roots(work / f"fresh-{attempt}")
        write_drops(fresh.raw, months, values)
        figures["23 months, fresh"].append(timed(fresh))
        figures["23 months, unchanged re-run"].append(timed(fresh))

    processed = Roots(work / "processed-22")
    write_drops(processed.raw, months[:-1], values)
    processed.run()  # not timed: the state a monthly refresh starts from
    identical = True
    for attempt in range(args.repeat):
        added = processed.copy_to(work / f"added-{attempt}")
        write_drops(added.raw, months[-1:], values)
        figures["add 1 month to 22 processed"].append(timed(added))
        added_files, fresh_files = warehouse_hashes(added.warehouse), warehouse_hashes(work / "fresh-0" / "warehouse")
        different = sorted(name for name in {*added_files, *fresh_files}
                           if added_files.get(name) != fresh_files.get(name))
        if different:
            print(f"differ from the fresh run: {', '.join(different[:10])}{' ...' if len(different) > 10 else ''}")
        identical &= not different
    return floors, {name: statistics.median(seconds) for name, seconds in figures.items()}, identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is shown)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated 23 monthly drops")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    if not REAL_ROLLING.exists():
        sys.exit(f"bench_incremental: the real data is missing: {REAL_ROLLING}")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        floors, figures, identical = measure(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="casi-bench-incremental-") as work:
            floors, figures, identical = measure(args, Path(work))
    floor = statistics.median(floors)
    print(f"import floor ({IMPORT_FLOOR}): {floor:.2f} s, the median of {len(floors)} runs, one before each timed "
          f"run ({min(floors):.2f}-{max(floors):.2f} s); median of {args.repeat} run(s) per figure")
    print(f"{'figure':<32} {'seconds':>8} {'ratio':>6} {'target':>7}")
    for name, seconds in figures.items():
        ratio = seconds / floor
        print(f"{name:<32} {seconds:8.2f} {ratio:6.2f} {'<= ' + str(TARGETS[name]):>7}"
              f"{'' if ratio <= TARGETS[name] else '  (over)'}")
    print(f"boards after adding a month byte-identical to a fresh run: {'yes' if identical else 'NO'}")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
