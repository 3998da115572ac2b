"""`casi-pipeline`: run every release month found in the raw root, backfill a range, or refresh from upstream,
through the Dagster instance."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import dagster as dg

from casi_pipeline import months
from casi_pipeline import refresh as upstream
from casi_pipeline.automation.drop_sensor import PARTITION_RANGE_END, PARTITION_RANGE_START
from casi_pipeline.definitions import PUBLISH_JOB, RELEASE_JOB, REDTEAM_JOB, build_definitions
from casi_pipeline.raw import drops
from casi_pipeline.redteam import raw as redteam_raw
from casi_pipeline.redteam import synth
from casi_pipeline.settings import DAGSTER_HOME_ENV, DATA_RAW_ENV, WAREHOUSE_ENV, Settings, prepare_dagster_home
from casi_pipeline.storage.objects import ObjectPath, StorageError, check_root

# Step events and errors go to the instance (and the UI); the terminal shows one line per failure (below).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def failure_lines(result: dg.ExecuteInProcessResult, what: str) -> list[str]:
    """One line per failure: the stage's own lines when it failed a check, else the step and the error."""
    lines = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            lines.extend(data.user_failure_data.description.splitlines())
        elif data.error is not None:
            lines.append(f"{what} {event.step_key}: {data.error.cls_name}: {data.error.message.strip().splitlines()[0]}")
    if not lines and not result.success:
        lines.append(f"{what}: run {result.run_id} failed")
    return lines


class Runner:
    def __init__(self, settings: Settings):
        os.environ[DAGSTER_HOME_ENV] = str(prepare_dagster_home(settings.dagster_home))
        self.settings = settings
        self.defs = build_definitions(settings)
        self.instance = dg.DagsterInstance.get()

    def _execute(self, job_name: str, what: str, **options) -> list[str]:
        job = self.defs.resolve_job_def(job_name)
        result = job.execute_in_process(instance=self.instance, raise_on_error=False, run_config=QUIET, **options)
        return failure_lines(result, what)

    def release_month(self, month: str) -> list[str]:
        return self._execute(RELEASE_JOB, month, partition_key=month)

    def release_range(self, first: str, last: str) -> list[str]:
        return self._execute(RELEASE_JOB, f"{first}..{last}",
                             tags={PARTITION_RANGE_START: first, PARTITION_RANGE_END: last})

    def redteam_month(self, month: str) -> list[str]:
        return self._execute(REDTEAM_JOB, f"{month} redteam", partition_key=month)

    def redteam_range(self, first: str, last: str) -> list[str]:
        return self._execute(REDTEAM_JOB, f"{first}..{last} redteam",
                             tags={PARTITION_RANGE_START: first, PARTITION_RANGE_END: last})

    def publish(self) -> list[str]:
        return self._execute(PUBLISH_JOB, "publish")


def _report(failures: list[str], done: str) -> int:
    for line in failures:
        print(line, file=sys.stderr)
    if failures:
        print(f"casi-pipeline: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print(done)
    return 0


def run(settings: Settings) -> int:
    """Each release month in its own run, oldest first: a bad drop stops only the months it feeds."""
    release_months = drops.release_months(settings.data_raw)
    redteam_months = redteam_raw.redteam_months(settings.data_raw)
    if not release_months and not redteam_months:
        print(f"casi-pipeline: no release drops under {settings.data_raw}", file=sys.stderr)
        return 1
    runner = Runner(settings)
    failures = [line for month in release_months for line in runner.release_month(month)]
    failures += [line for month in redteam_months for line in runner.redteam_month(month)]
    failures += runner.publish()
    every = sorted({*release_months, *redteam_months})
    return _report(failures, f"release months {every[0]}..{every[-1]} ({len(every)}) -> {settings.warehouse}")


def backfill(settings: Settings, first: str, last: str) -> int:
    """One run over the whole range (single-run backfill, as from the UI), then the cross-release tables."""
    for value in (first, last):
        if not months.is_month_key(value):
            print(f"casi-pipeline: {value!r} is not a release month (YYYY-MM)", file=sys.stderr)
            return 2
    newest = months.current_month()
    if first > last or first < months.FIRST_RELEASE_MONTH or last > newest:
        print(f"casi-pipeline: range {first}..{last} must lie within {months.FIRST_RELEASE_MONTH}..{newest}",
              file=sys.stderr)
        return 2
    runner = Runner(settings)
    # the red-team stages only over the months in range that have red-team results (one run, first to last)
    redteam = [month for month in redteam_raw.redteam_months(settings.data_raw) if first <= month <= last]
    failures = (runner.release_range(first, last) or (runner.redteam_range(redteam[0], redteam[-1]) if redteam else [])
                or runner.publish())
    return _report(failures, f"backfilled {first}..{last} -> {settings.warehouse}")


def refresh(settings: Settings) -> int:
    """Land the upstream snapshot if it is new or changed, then run the release months it affects as one run."""
    try:
        landed = upstream.refresh(settings.data_raw, settings.upstream_url, settings.upstream_timeout)
    except upstream.REFRESH_ERRORS as error:
        print(f"casi-pipeline refresh: {error}", file=sys.stderr)
        return 1
    if landed is None:
        print(f"upstream unchanged ({settings.upstream_url}): no new drop, nothing to run")
        return 0
    affected = drops.affected_months(drops.Drop(landed.month, landed.path.parent), settings.data_raw)
    print(f"landed {landed.path} ({'restatement, ' if landed.restatement else ''}sha256 {landed.sha256})")
    runner = Runner(settings)
    failures = runner.release_range(affected[0], affected[-1]) or runner.publish()
    return _report(failures, f"release months {affected[0]}..{affected[-1]} ({len(affected)}) -> {settings.warehouse}")


def synthesise(settings: Settings, args: argparse.Namespace) -> int:
    if isinstance(settings.data_raw, ObjectPath):  # its streamed Parquet writer needs a local file
        print(f"casi-pipeline synth: writes a local raw root only ({settings.data_raw} is on object storage); "
              f"write it locally, then copy the drop into the bucket", file=sys.stderr)
        return 2
    if not months.is_month_key(args.month):
        print(f"casi-pipeline: {args.month!r} is not a release month (YYYY-MM)", file=sys.stderr)
        return 2
    result = synth.write_drop(settings.data_raw, args.month, models=args.models, attacks=args.attacks,
                              runs=args.runs, campaigns=args.campaigns, seed=args.seed)
    print(f"wrote {result.attack_rows:,} attack rows and {result.campaign_rows:,} campaign rows into "
          f"{settings.data_raw / args.month} ({len(result.files)} files)")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="casi-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="materialise every release month found in the raw root, then the history")
    backfill_parser = commands.add_parser("backfill", help="re-run a range of release months as one run")
    backfill_parser.add_argument("--from", dest="first", required=True, metavar="YYYY-MM")
    backfill_parser.add_argument("--to", dest="last", required=True, metavar="YYYY-MM")
    commands.add_parser("refresh", help="download the upstream snapshot; if new or changed, land it and run its months")
    synth_parser = commands.add_parser("synth", help="write seeded synthetic red-team results into a drop")
    synth_parser.add_argument("--month", required=True, metavar="YYYY-MM")
    synth_parser.add_argument("--models", type=_positive, default=60)
    synth_parser.add_argument("--attacks", type=_positive, default=12_000)
    synth_parser.add_argument("--runs", type=_positive, default=1,
                              help="rows per (model, attack); rows = models x attacks x runs")
    synth_parser.add_argument("--campaigns", type=_positive, default=200, help="agentic campaigns per model")
    synth_parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:  # a bucket that is missing, refuses us or cannot be reached stops here, before anything is written
        check_root(settings.data_raw, f"raw root ({DATA_RAW_ENV})")
        check_root(settings.warehouse, f"warehouse ({WAREHOUSE_ENV})")
    except StorageError as error:
        print(f"casi-pipeline: {error}", file=sys.stderr)
        return 1
    if args.command == "run":
        return run(settings)
    if args.command == "refresh":
        return refresh(settings)
    if args.command == "synth":
        return synthesise(settings, args)
    return backfill(settings, args.first, args.last)


if __name__ == "__main__":
    sys.exit(main())
