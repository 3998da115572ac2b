"""`casi-pipeline`: run every release month found in the raw root, backfill a range, or refresh from upstream,
through the Dagster instance."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import dagster as dg

from casi_pipeline import months
from casi_pipeline import refresh as upstream
from casi_pipeline.automation.drop_sensor import PARTITION_RANGE_END, PARTITION_RANGE_START
from casi_pipeline.automation.failure_alert import step_failure_lines
from casi_pipeline.definitions import PUBLISH_JOB, RELEASE_JOB, REDTEAM_JOB, build_definitions
from casi_pipeline.instance import InstanceError, open_instance
from casi_pipeline.published import freshness
from casi_pipeline.published.assets import HISTORY
from casi_pipeline.raw import drops, ledger
from casi_pipeline.redteam import raw as redteam_raw
from casi_pipeline.redteam import synth
from casi_pipeline.release.tables import INGEST
from casi_pipeline.settings import DAGSTER_HOME_ENV, Settings, prepare_dagster_home
from casi_pipeline.storage.parquet_io import HiveParquetIOManager
from casi_pipeline.storage.safe_text import escape_unprintable

# Step events and errors go to the instance (and the UI); the terminal shows one line per failure (below).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
STALE_EXIT = 3  # `casi-pipeline freshness`: the boards are late (1 stays "a run failed")


def failure_lines(result: dg.ExecuteInProcessResult, what: str) -> list[str]:
    """One line per failure: the stage's own lines when it failed a check, else the step and the error."""
    lines = step_failure_lines(result.get_step_failure_events(), what)
    if not lines and not result.success:
        lines.append(f"{what}: run {result.run_id} failed")
    return lines


class Runner:
    def __init__(self, settings: Settings):
        os.environ[DAGSTER_HOME_ENV] = str(prepare_dagster_home(settings.dagster_home))
        self.settings = settings
        self.defs = build_definitions(settings)
        self.instance = open_instance(settings.dagster_home)  # InstanceError: one line, before any run writes

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


def _say(line: str) -> None:
    """A line for the terminal: whatever a label holds, control characters arrive escaped, never raw."""
    print(escape_unprintable(line), file=sys.stderr)


@contextmanager
def _escaped_warnings() -> Iterator[None]:
    """Python warnings (a third-party one may quote a label) reach the terminal with control characters escaped."""
    show = warnings.formatwarning
    warnings.formatwarning = lambda *args, **kwargs: escape_unprintable(show(*args, **kwargs).rstrip("\n")) + "\n"
    try:
        yield
    finally:
        warnings.formatwarning = show


def _report(failures: list[str], done: str) -> int:
    for line in failures:
        _say(line)
    if failures:
        _say(f"casi-pipeline: {len(failures)} failure(s)")
        return 1
    print(done)
    return 0


def _warehouse(settings: Settings) -> HiveParquetIOManager:
    return HiveParquetIOManager(root=str(settings.warehouse))


def refused_edits(settings: Settings) -> tuple[list[str], set[str]]:
    """Before any run: one line per landed file edited in place, and the release months it stops."""
    edited = ledger.edited_files(settings.data_raw, lambda wanted: _warehouse(settings).read_partitions(
        INGEST.name, wanted))
    lines = [f"{months.range_label(edit.months)} ingest: {edit.error}" for edit in edited]
    return lines, {month for edit in edited for month in edit.months}


def freshness_status(settings: Settings) -> freshness.Freshness:
    return freshness.freshness(freshness.latest_month(_warehouse(settings).read_table(HISTORY.name)),
                               settings.today or date.today(), settings.freshness_day)


def _warn_if_late(settings: Settings) -> None:
    """After a refresh: a publisher that is late, or a refresh that keeps finding nothing new, says so."""
    status = freshness_status(settings)
    if not status.passed:
        _say(f"casi-pipeline: {status.line}")


def check_freshness(settings: Settings) -> int:
    """Exit 0 when the newest release month is on time, STALE_EXIT when one is overdue."""
    status = freshness_status(settings)
    if status.passed:
        print(status.line)
        return 0
    _say(f"casi-pipeline: {status.line}")
    return STALE_EXIT


def run(settings: Settings) -> int:
    """Each release month in its own run, oldest first: a bad drop stops only the months it feeds."""
    first = settings.first_release_month
    release_months = drops.release_months(settings.data_raw)
    redteam_months = redteam_raw.redteam_months(settings.data_raw)
    if not release_months and not redteam_months:
        _say(f"casi-pipeline: no release drops under {settings.data_raw}")
        return 1
    failures = drops.before_first_release(settings.data_raw, first, redteam_months)
    release_months = [month for month in release_months if month >= first]
    redteam_months = [month for month in redteam_months if month >= first]
    if not release_months and not redteam_months:
        return _report(failures, "")
    edits, stopped = refused_edits(settings)
    runner = Runner(settings)
    failures += edits + [line for month in release_months if month not in stopped
                         for line in runner.release_month(month)]
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
    if first > last or first < settings.first_release_month or last > newest:
        print(f"casi-pipeline: range {first}..{last} must lie within {settings.first_release_month}..{newest}",
              file=sys.stderr)
        return 2
    edits, stopped = refused_edits(settings)
    if stopped & set(months.span(first, last)):  # the range lands whole or not at all
        return _report(edits, "")
    runner = Runner(settings)
    # the red-team stages only over the months in range that have red-team results (one run, first to last)
    redteam = [month for month in redteam_raw.redteam_months(settings.data_raw) if first <= month <= last]
    failures = (runner.release_range(first, last) or (runner.redteam_range(redteam[0], redteam[-1]) if redteam else [])
                or runner.publish())
    return _report(failures, f"backfilled {first}..{last} -> {settings.warehouse}")


def refresh(settings: Settings) -> int:
    """Land the upstream snapshot if it is new or changed, then run the release months it affects as one run."""
    try:
        landed = upstream.refresh(settings.data_raw, settings.upstream_url, settings.upstream_timeout,
                                  max_bytes=settings.upstream_max_bytes)
    except upstream.REFRESH_ERRORS as error:
        _say(f"casi-pipeline refresh: {error}")
        return 1
    if landed is None:
        print(f"upstream unchanged ({settings.upstream_url}): no new drop, nothing to run")
        _warn_if_late(settings)
        return 0
    affected = drops.affected_months(drops.Drop(landed.month, landed.path.parent), settings.data_raw)
    print(f"landed {landed.path} ({'restatement, ' if landed.restatement else ''}sha256 {landed.sha256})")
    runner = Runner(settings)
    failures = runner.release_range(affected[0], affected[-1]) or runner.publish()
    _warn_if_late(settings)
    return _report(failures, f"release months {affected[0]}..{affected[-1]} ({len(affected)}) -> {settings.warehouse}")


def synthesise(settings: Settings, args: argparse.Namespace) -> int:
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
    commands.add_parser("freshness", help=f"is the newest release month on time? exit 0 if so, {STALE_EXIT} if late")
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
    try:
        with _escaped_warnings():
            if args.command == "run":
                return run(settings)
            if args.command == "refresh":
                return refresh(settings)
            if args.command == "freshness":
                return check_freshness(settings)
            if args.command == "synth":
                return synthesise(settings, args)
            return backfill(settings, args.first, args.last)
    except InstanceError as error:
        print(f"casi-pipeline: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
