"""The sha256 of every published file after a fresh `casi-pipeline run` on the real data (not a test).

    python benchmarks/published_digest.py --out after.json                      # this checkout
    python benchmarks/published_digest.py --out after.json --compare before.json

It builds, in --workdir (removed first, and the same path for every build, so that no output can differ by its
folder), the raw root a user runs: the bundled sample (`data_raw/`), the real rolling snapshot from ../shared as
`data_raw/2026-02/` (CC BY-NC: copied at run time, never into the repository) and a small seeded red-team drop
(`casi-pipeline synth`), then runs `casi-pipeline run` (whichever `casi-pipeline` is on PATH: point PATH at another
checkout's virtual environment to digest that checkout) and hashes every file of the warehouse: the tables, the
commit records, the exports, charts and reports. Left out: Data Docs (`quality/`, GX writes run ids and times into
them), the run locks, and dot-prefixed bookkeeping such as `reports/<month>/.inputs.json` (it records the code
version of the drawing and report code, so any edit of that code changes it, by design). With --compare it names every file that differs, is missing or is new, and exits 1 if any.
Refactors that promise "every published byte stays the same" are checked with it: digest main before the change,
then the change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_ROLLING = REPO.parent / "shared" / "data" / "f5-labs-ai-leaderboards" / "casi_rolling_12_months.csv"
LEFT_OUT = ("quality/", ".locks/")
REDTEAM = ["--month", "2025-10", "--models", "12", "--attacks", "400", "--campaigns", "20", "--seed", "7"]


def build(workdir: Path) -> Path:
    shutil.rmtree(workdir, ignore_errors=True)
    raw, warehouse = workdir / "data_raw", workdir / "warehouse"
    shutil.copytree(REPO / "data_raw", raw)
    (raw / "2026-02").mkdir()
    shutil.copyfile(REAL_ROLLING, raw / "2026-02" / REAL_ROLLING.name)
    env = {**os.environ, "CASI_DATA_RAW": str(raw), "CASI_WAREHOUSE": str(warehouse),
           "DAGSTER_HOME": str(workdir / "dagster_home")}
    (workdir / "dagster_home").mkdir()
    for command in (["synth", *REDTEAM], ["run", "--quiet"]):
        subprocess.run(["casi-pipeline", *command], cwd=workdir, env=env, check=True)
    return warehouse


def digest(warehouse: Path) -> dict[str, str]:
    files = sorted(path for path in warehouse.rglob("*") if path.is_file())
    published = {path.relative_to(warehouse).as_posix(): path for path in files if not path.name.startswith(".")}
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in published.items()
            if not name.startswith(LEFT_OUT)}


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return ([f"missing: {name}" for name in sorted(before.keys() - after.keys())]
            + [f"new: {name}" for name in sorted(after.keys() - before.keys())]
            + [f"differs: {name}" for name in sorted(before.keys() & after.keys()) if before[name] != after[name]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where to write the digest (JSON)")
    parser.add_argument("--compare", type=Path, help="a digest to compare with")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/casi-published-digest"))
    args = parser.parse_args()
    files = digest(build(args.workdir))
    args.out.write_text(json.dumps(files, indent=1, sort_keys=True) + "\n")
    print(f"{len(files)} published files -> {args.out}")
    if args.compare is None:
        return 0
    found = differences(json.loads(args.compare.read_text()), files)
    print("\n".join(found) if found else f"byte-identical to {args.compare}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
