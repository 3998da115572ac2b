"""A sensor on the raw root: every release month that is missing or stale (casi_pipeline.staleness) is brought up to
date, in one run per contiguous range, whether its drop is new, changed, or landed earlier and never run.

Each tick records the drops' versions as observations of `raw_drops` (so the UI shows which months are stale and
why), then asks for a run of each range. The run key is the range, a digest of its months' data versions and the
attempt number: a failed run is retried on a later tick, at most MAX_ATTEMPTS times for the same drop contents
(a changed drop starts again at 1), with the attempt and the previous failure in the run's tags. A failed run's
failure lines name the files it refused: every month those files feed is left out (kept in the cursor with the
file's sha256, so a fixed file runs again) and the other months run. A deleted drop is reported in the tick's
log. When there is nothing to ask for, the skip reason says why.

(No `from __future__ import annotations` here: Dagster reads the sensor's resource type hint at definition time.)
"""

import hashlib
import json
from dataclasses import dataclass, field

import dagster as dg

from casi_pipeline import staleness
from casi_pipeline.automation.failure_alert import step_failure_lines
from casi_pipeline.raw.resource import RawDrops

SENSOR_NAME = "raw_drop_sensor"
INTERVAL_SECONDS = 15
PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"
RUN_KEY_TAG = "dagster/run_key"
ATTEMPT_TAG = "casi/attempt"
STALE_TAG = "casi/stale"
PREVIOUS_FAILURE_TAG = "casi/previous_failure"
MAX_ATTEMPTS = 3
TAG_LENGTH = 500  # run tags stay short; the full reasons are in the tick's log
IN_PROGRESS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class PendingRun:
    first: str
    last: str
    digest: str  # of the data versions of the months in the range
    attempt: int = 1
    reason: str = ""
    previous_failure: str = ""

    @property
    def request_key(self) -> str:
        return f"{self.first}..{self.last}:{self.digest[:16]}"

    @property
    def run_key(self) -> str:
        return f"{self.request_key}:{self.attempt}"

    def run_request(self) -> dg.RunRequest:
        tags = {
            PARTITION_RANGE_START: self.first,
            PARTITION_RANGE_END: self.last,
            ATTEMPT_TAG: str(self.attempt),
            STALE_TAG: self.reason[:TAG_LENGTH],
        }
        if self.previous_failure:
            tags[PREVIOUS_FAILURE_TAG] = self.previous_failure[:TAG_LENGTH]
        return dg.RunRequest(run_key=self.run_key, tags=tags)


@dataclass
class Decision:
    runs: list[PendingRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a stale month is not asked for, deleted drops
    cursor: dict = field(default_factory=dict)


def _failure_lines(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    events = [
        entry.dagster_event
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if entry.dagster_event is not None
    ]  # of_type: every entry is an event
    return step_failure_lines(events, run.job_name)


def _last_run(instance: dg.DagsterInstance, run_key: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    return runs[0] if runs else None


def pending_runs(instance: dg.DagsterInstance, plan: staleness.Plan, state: dict) -> Decision:
    """The runs to ask for now, given the stale months and the cursor (attempts per request, refused files)."""
    current = {name: digest for files in plan.files.values() for name, digest in files.items()}
    fed_by = plan.months_fed_by()
    # a refused file stays refused while its contents are the same
    refused = {name: digest for name, digest in state.get("refused", {}).items() if current.get(name) == digest}
    attempts: dict[str, int] = state.get("attempts", {})
    decision = Decision(notes=staleness.describe_deleted(plan))
    retried = True
    while retried:  # a failure that refuses new files changes the ranges: plan them again
        retried = False
        stopped = {month for name in refused for month in fed_by.get(name, [])}
        decision.runs, kept = [], {}
        for first, last in staleness.blocks(sorted(plan.stale), stopped):
            months = [month for month in plan.stale if first <= month <= last]
            versions = " ".join(f"{month}={plan.versions[month]}" for month in months)
            digest = hashlib.sha256(versions.encode()).hexdigest()
            reason = "; ".join(f"{month}: {plan.stale[month]}" for month in months)
            run = PendingRun(first, last, digest, reason=reason)
            attempt = attempts.get(run.request_key, 0)
            kept[run.request_key] = attempt
            if attempt == 0:
                kept[run.request_key] = 1
                decision.runs.append(run)
                continue
            previous = _last_run(instance, PendingRun(first, last, digest, attempt).run_key)
            if previous is None or previous.status not in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                decision.notes.append(
                    f"{first}..{last}: attempt {attempt} "
                    f"{'not started yet' if previous is None else previous.status.value.lower()}"
                )
                continue
            lines = _failure_lines(instance, previous)
            newly = {name: current[name] for line in lines for name in fed_by if name in line and name not in refused}
            if newly:
                refused.update(newly)
                retried = True
                break
            failure = lines[0] if lines else f"run {previous.run_id} {previous.status.value.lower()}"
            if attempt >= MAX_ATTEMPTS:
                decision.notes.append(
                    f"{first}..{last}: {attempt} attempts failed for these drop contents, the "
                    f"last: {failure}; a changed drop retries"
                )
                continue
            kept[run.request_key] = attempt + 1
            decision.runs.append(PendingRun(first, last, digest, attempt + 1, reason, failure))
    for name in refused:
        decision.notes.append(
            f"{name}: refused whole: release months {', '.join(fed_by.get(name, []))} wait for a changed file"
        )
    decision.cursor = {"attempts": kept, "refused": refused}
    return decision


def build_drop_sensor(release_job) -> dg.SensorDefinition:  # an asset job, resolved by Definitions
    @dg.sensor(
        name=SENSOR_NAME,
        job=release_job,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches data_raw/<YYYY-MM>/: every release month that is missing or stale (a new, changed "
        "or never-run drop) is run, one run per contiguous range; a failed run is retried up to "
        f"{MAX_ATTEMPTS} times per drop contents, a refused file's months wait for a new file.",
    )
    def raw_drop_sensor(context: dg.SensorEvaluationContext, raw: RawDrops) -> dg.SensorResult:
        busy = context.instance.get_runs(dg.RunsFilter(job_name=release_job.name, statuses=IN_PROGRESS), limit=1)
        if busy:
            return dg.SensorResult(skip_reason=f"release run {busy[0].run_id} is in progress", cursor=context.cursor)
        plan = staleness.plan(context.instance, raw.path, staleness.RELEASE)
        decision = pending_runs(context.instance, plan, json.loads(context.cursor) if context.cursor else {})
        for note in decision.notes:
            context.log.info(note)
        skip = (
            None
            if decision.runs
            else (
                "; ".join(decision.notes)
                or f"nothing stale: {staleness.count(plan.months, 'release month')} up to date"
            )
        )
        return dg.SensorResult(
            run_requests=[run.run_request() for run in decision.runs],
            skip_reason=skip,
            cursor=json.dumps(decision.cursor, sort_keys=True),
        )

    return raw_drop_sensor
