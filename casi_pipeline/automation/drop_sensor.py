"""A sensor on the raw root: a new or changed drop requests one run over exactly the release months it affects.

The cursor remembers a digest of each drop's data files, so a repeat evaluation requests nothing; the run key is
the months plus the digest of the drops behind them, so the instance never launches the same request twice.

(No `from __future__ import annotations` here: Dagster reads the sensor's resource type hint at definition time.)
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from casi_pipeline import months
from casi_pipeline.raw import drops
from casi_pipeline.raw.resource import RawDrops

SENSOR_NAME = "raw_drop_sensor"
INTERVAL_SECONDS = 15
PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"


def drop_digest(drop: drops.Drop) -> str:
    """sha256 over the names and bytes of the files the pipeline reads from the drop (sidecars are not read)."""
    digest = hashlib.sha256()
    for path in drop.data_files():
        digest.update(f"{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class PendingRun:
    first: str
    last: str
    digests: tuple[str, ...]  # `<drop month>=<digest>` of the drops that asked for these months

    @property
    def run_key(self) -> str:
        return f"{self.first}..{self.last}:{hashlib.sha256(' '.join(self.digests).encode()).hexdigest()[:16]}"


def pending_runs(root: Path, seen: dict[str, str]) -> tuple[list[PendingRun], dict[str, str]]:
    """Runs for the drops whose digest differs from `seen`, and the digests to remember.

    Changed drops whose months overlap or touch are merged into one run (oldest month first inside it): a month's
    leaderboard reads the month before, so two such runs must not race or run out of order.
    """
    current, wanted = {}, []
    for drop in drops.list_drops(root):
        if not drop.data_files():
            continue
        current[drop.month] = drop_digest(drop)
        if seen.get(drop.month) != current[drop.month]:
            affected = drops.affected_months(drop, root)
            wanted.append((affected[0], affected[-1], f"{drop.month}={current[drop.month]}"))
    runs: list[PendingRun] = []
    for first, last, digest in sorted(wanted):
        if runs and first <= months.shift(runs[-1].last, 1):
            merged = runs.pop()
            runs.append(PendingRun(merged.first, max(merged.last, last), (*merged.digests, digest)))
        else:
            runs.append(PendingRun(first, last, (digest,)))
    return runs, current


def build_drop_sensor(release_job) -> dg.SensorDefinition:  # an asset job, resolved by Definitions
    @dg.sensor(name=SENSOR_NAME, job=release_job, minimum_interval_seconds=INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Watches data_raw/<YYYY-MM>/: a new or changed drop (copied in, or landed by the refresh) "
                           "starts one release run over exactly the months it affects.")
    def raw_drop_sensor(context: dg.SensorEvaluationContext, raw: RawDrops) -> dg.SensorResult:
        runs, current = pending_runs(raw.path, json.loads(context.cursor) if context.cursor else {})
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run.run_key,
                                        tags={PARTITION_RANGE_START: run.first, PARTITION_RANGE_END: run.last})
                          for run in runs],
            cursor=json.dumps(current, sort_keys=True),
        )

    return raw_drop_sensor
