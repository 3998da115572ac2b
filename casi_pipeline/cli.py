"""`casi-pipeline`: run every release month found in the raw root, backfill a range, or refresh from upstream,
through the Dagster instance."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date

import dagster as dg

from casi_pipeline import command, months, staleness
from casi_pipeline import refresh as upstream
from casi_pipeline.automation.drop_sensor import PARTITION_RANGE_END, PARTITION_RANGE_START
from casi_pipeline.automation.failure_alert import step_failure_lines
from casi_pipeline.instance import InstanceError
from casi_pipeline.instance import open_instance as open_configured_instance
from casi_pipeline.job_names import PUBLISH_JOB, REDTEAM_JOB, RELEASE_JOB
from casi_pipeline.progress import Progress
from casi_pipeline.raw import layout, ledger
from casi_pipeline.redteam import raw as redteam_raw
from casi_pipeline.release.tables import INGEST
from casi_pipeline.safe_text import escape_unprintable
from casi_pipeline.settings import DAGSTER_HOME_ENV, DATA_RAW_ENV, WAREHOUSE_ENV, Settings, prepare_dagster_home
from casi_pipeline.storage.objects import ObjectPath, StorageError, check_root
from casi_pipeline.storage.parquet_io import partition_path
from casi_pipeline.storage.warehouse import Warehouse

# A run that fails names the files it refused; their months are left out and the rest run again, this many times.
MAX_ATTEMPTS = 4

# Step events and errors go to the instance (and the UI); the terminal shows one line per failure (below).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
STALE_EXIT = 3  # `casi-pipeline freshness`: the boards are late (1 stays "a run failed")


def failure_lines(result: dg.ExecuteInProcessResult, what: str) -> list[str]:
    """One line per failure: the stage's own lines when it failed a check, else the step and the error."""
    lines = step_failure_lines(result.get_step_failure_events(), what)
    if not lines and not result.success:
        lines.append(f"{what}: run {result.run_id} failed")
    return lines


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance of settings.dagster_home; InstanceError (one line) before any run writes when it cannot open."""
    os.environ[DAGSTER_HOME_ENV] = str(prepare_dagster_home(settings.dagster_home))
    return open_configured_instance(settings.dagster_home)


class Runner:
    def __init__(
        self, settings: Settings, progress: Progress | None = None, instance: dg.DagsterInstance | None = None
    ):
        from casi_pipeline.definitions import build_definitions  # Great Expectations: only when something runs

        self.instance = instance or open_instance(settings)
        self.settings = settings
        self.defs = build_definitions(settings)
        command.loaded()  # the command has loaded what its runs need
        self.progress = progress or Progress(quiet=True)

    def _execute(self, job_name: str, what: str, **options) -> list[str]:
        job = self.defs.resolve_job_def(job_name)
        run_id = str(uuid.uuid4())
        self.progress.what = what
        self.progress.status(f"{what}: starting")
        self.instance.add_event_listener(run_id, self.progress.on_event)  # the run's events, as they are stored
        result = job.execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=QUIET, run_id=run_id, **options
        )
        return failure_lines(result, what)

    def chain_range(self, job_name: str, first: str, last: str) -> list[str]:
        """One run of a partitioned job over first..last."""
        what = f"{first}..{last}" + (" redteam" if job_name == REDTEAM_JOB else "")
        return self._execute(job_name, what, tags={PARTITION_RANGE_START: first, PARTITION_RANGE_END: last})

    def release_range(self, first: str, last: str) -> list[str]:
        return self.chain_range(RELEASE_JOB, first, last)

    def redteam_range(self, first: str, last: str) -> list[str]:
        return self.chain_range(REDTEAM_JOB, first, last)

    def publish(self) -> list[str]:
        return self._execute(PUBLISH_JOB, "publish")

    def finish(self) -> list[str]:
        """Wait for what the runs left working beside them (their Data Docs, on the command's early workers);
        one line if it failed. The published tables do not depend on it."""
        from casi_pipeline.quality import docs

        try:
            docs.finish_builds()
        except Exception as error:  # a page build that failed is reported like a failed run, in one line
            return [f"Data Docs: {type(error).__name__}: {error}"]
        return []


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


def _report(failures: list[str], done: str, refusals: Sequence[str] = ()) -> int:
    for line in [*failures, *refusals]:
        _say(line)
    if failures:
        _say(f"casi-pipeline: {len(failures)} failure(s)")
        return 1
    print(done)
    return 0


def _warehouse(settings: Settings) -> Warehouse:
    return Warehouse(root=str(settings.warehouse))


def refused_edits(settings: Settings) -> tuple[list[str], set[str]]:
    """Before any run: one line per landed file edited in place, and the release months it stops."""
    edited = ledger.edited_files(
        settings.data_raw, lambda wanted: _warehouse(settings).read_partitions(INGEST.name, wanted)
    )
    lines = [f"{months.range_label(edit.months)} ingest: {edit.error}" for edit in edited]
    return lines, {month for edit in edited for month in edit.months}


def freshness_status(settings: Settings):
    from casi_pipeline.published import freshness  # loads the code location's assets: only for this command

    return freshness.freshness(
        freshness.latest_month(_warehouse(settings).read_table(freshness.HISTORY.name)),
        settings.today or date.today(),
        settings.freshness_day,
    )


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


class Refusals:
    """Files refused by a failed run, and every month they stop (a file is refused whole, at any stage)."""

    def __init__(self, plan: staleness.Plan):
        self.fed_by = plan.months_fed_by()
        self.stopped: dict[str, str] = {}  # month -> why it does not run
        self.refused: set[str] = set()
        self.lines: list[str] = []  # one per refused file or stopped month, for the report

    def refuse(self, failures: list[str], candidates: list[str]) -> bool:
        """Stop every month a file named in the failures feeds (or the month a line names, when it names no file);
        False when nothing new can be left out (the failure is not a refused file: stop retrying)."""
        before = len(self.stopped)
        for name in sorted({name for line in failures for name in self.fed_by if name in line} - self.refused):
            self.refused.add(name)
            stops = [month for month in self.fed_by[name] if month in candidates]
            self.stopped.update((month, f"{name} is refused") for month in stops if month not in self.stopped)
            self.lines.append(
                f"{name}: refused whole: it feeds release months {', '.join(self.fed_by[name])}; "
                f"not run: {', '.join(stops)}"
            )
        if len(self.stopped) == before:
            for line in failures:
                month = line.split(" ", 1)[0]
                if months.is_month_key(month) and month in candidates and month not in self.stopped:
                    self.stopped[month] = line
                    self.lines.append(f"{month}: not run: {line}")
        return len(self.stopped) > before

    def stop_orphans(self, candidates: list[str], stored: Callable[[str], bool]) -> None:
        """A range's first month reads the month before it; left out with no stored table, it stops that month."""
        for month in sorted(candidates):
            previous = months.shift(month, -1)
            if month not in self.stopped and previous in self.stopped and not stored(previous):
                self.stopped[month] = f"reads {previous}"
                self.lines.append(
                    f"{month}: not run: it reads release month {previous}, which is not run and has "
                    f"no normalise table yet"
                )


def run_stale(
    runner: Runner,
    job_name: str,
    plan: staleness.Plan,
    stored: Callable[[str], bool] | None = None,
    stopped: Mapping[str, str] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Run the plan's stale months in as few runs as possible (staleness.blocks: one covering range unless a long
    gap or a month that cannot run splits it). A failed run names the files it refused; their months are left out
    and the rest run again. `stopped`: months left out before any run (month -> why). Returns (failure lines,
    refusal lines, months landed)."""
    refusals, failures, landed = Refusals(plan), [], []
    refusals.stopped.update(stopped or {})
    for _attempt in range(MAX_ATTEMPTS):
        candidates = [month for month in sorted(plan.stale) if month not in landed]
        if stored is not None:
            refusals.stop_orphans(candidates, stored)
        failed = []
        for first, last in staleness.blocks(candidates, set(refusals.stopped)):
            lines = runner.chain_range(job_name, first, last)
            span = [month for month in candidates if first <= month <= last]
            if lines:
                failures += [line for line in lines if line not in failures]
                failed += lines
            else:
                landed += span
        if not failed or not refusals.refuse(failed, candidates):
            break
    return failures, refusals.lines, landed


def _normalise_stored(settings: Settings):
    return lambda month: partition_path(settings.warehouse, "normalise", month).exists()


def run(settings: Settings, rebuild: bool = False, quiet: bool = False) -> int:
    """The release months (and red-team months) that are missing or stale, in one run each for the release and the
    red-team stages, then publishing; nothing at all when nothing is stale. `rebuild` runs every month."""
    release_months = layout.release_months(settings.data_raw)
    redteam_months = redteam_raw.redteam_months(settings.data_raw)
    if not release_months and not redteam_months:
        _say(f"casi-pipeline: no release drops under {settings.data_raw}")
        return 1
    return run_plans(settings, Progress(quiet=quiet), rebuild=rebuild)


def run_plans(settings: Settings, progress: Progress, rebuild: bool = False) -> int:
    with open_instance(settings) as instance:  # its connections closed before the command ends
        return _run_plans(settings, progress, instance, rebuild)


def _run_plans(settings: Settings, progress: Progress, instance: dg.DagsterInstance, rebuild: bool) -> int:
    plans = [
        staleness.plan(instance, settings.data_raw, chain, rebuild=rebuild)
        for chain in (staleness.RELEASE, staleness.REDTEAM)
    ]
    release, redteam = plans
    for line in staleness.describe_deleted(release) + staleness.describe_deleted(redteam):
        progress.line(line)
    # Left out before any run: months before the first release month (no partition) and months fed by a landed file
    # that was edited in place (never published silently).
    first = settings.first_release_month
    failures = layout.before_first_release(settings.data_raw, first, redteam.months)
    edits, edited = refused_edits(settings)
    failures += edits
    stopped = {month: "edited in place" for month in edited} | {
        month: f"before the first release month {first}" for plan in plans for month in plan.months if month < first
    }
    every = sorted({*release.months, *redteam.months} - {month for month in stopped if month < first})
    if not set(release.stale) - set(stopped) and not set(redteam.stale) - set(stopped):
        if failures:
            return _report(failures, "")
        print(
            f"nothing stale: {staleness.count(release.months, 'release month')} up to date"
            + (f", {staleness.count(redteam.months, 'red-team month')}" if redteam.months else "")
        )
        return 0
    for plan in plans:
        for month, why in sorted(plan.stale.items()):
            progress.line(f"stale: {month}{' redteam' if plan.chain is staleness.REDTEAM else ''}: {why}")
    runner = Runner(settings, progress, instance)  # the instance the plans were read from
    release_failures, refusals, landed = run_stale(runner, RELEASE_JOB, release, _normalise_stored(settings), stopped)
    redteam_failures, redteam_refusals, redteam_landed = run_stale(runner, REDTEAM_JOB, redteam, stopped=stopped)
    failures, refusals = failures + release_failures + redteam_failures, refusals + redteam_refusals
    if landed or redteam_landed:
        failures += runner.publish()
    failures += runner.finish()
    progress.done()
    return _report(
        failures,
        f"release months {every[0]}..{every[-1]} ({len(every)}) -> {settings.warehouse}; ran {len(landed)} stale",
        refusals,
    )


def backfill(settings: Settings, first: str, last: str) -> int:
    """One run over the whole range (single-run backfill, as from the UI), then the cross-release tables."""
    for value in (first, last):
        if not months.is_month_key(value):
            print(f"casi-pipeline: {value!r} is not a release month (YYYY-MM)", file=sys.stderr)
            return 2
    newest = months.current_month()
    if first > last or first < settings.first_release_month or last > newest:
        print(
            f"casi-pipeline: range {first}..{last} must lie within {settings.first_release_month}..{newest}",
            file=sys.stderr,
        )
        return 2
    edits, stopped = refused_edits(settings)
    if stopped & set(months.span(first, last)):  # the range lands whole or not at all
        return _report(edits, "")
    with open_instance(settings) as instance:
        runner = Runner(settings, instance=instance)
        for chain in (staleness.RELEASE, staleness.REDTEAM):  # record the drops' versions the run reads
            staleness.plan(instance, settings.data_raw, chain)
        # the red-team stages only over the months in range that have red-team results (one run, first to last)
        redteam = [month for month in redteam_raw.redteam_months(settings.data_raw) if first <= month <= last]
        failures = (
            runner.release_range(first, last)
            or (runner.redteam_range(redteam[0], redteam[-1]) if redteam else [])
            or runner.publish()
        ) + runner.finish()
    return _report(failures, f"backfilled {first}..{last} -> {settings.warehouse}")


def refresh(settings: Settings) -> int:
    """Land the upstream snapshot if it is new or changed, then run every month that is missing or stale, whether or
    not upstream changed (a drop landed before but never run, or whose run failed, is not left behind)."""
    try:
        landed = upstream.refresh(
            settings.data_raw, settings.upstream_url, settings.upstream_timeout, max_bytes=settings.upstream_max_bytes
        )
    except upstream.REFRESH_ERRORS as error:
        _say(f"casi-pipeline refresh: {error}")
        return 1
    if landed is None:
        print(f"upstream unchanged ({settings.upstream_url}): no new drop")
    else:
        print(f"landed {landed.path} ({'restatement, ' if landed.restatement else ''}sha256 {landed.sha256})")
    code = run_plans(settings, Progress())
    _warn_if_late(settings)
    return code


def synthesise(settings: Settings, args: argparse.Namespace) -> int:
    if isinstance(settings.data_raw, ObjectPath):  # its streamed Parquet writer needs a local file
        print(
            f"casi-pipeline synth: writes a local raw root only ({settings.data_raw} is on object storage); "
            f"write it locally, then copy the drop into the bucket",
            file=sys.stderr,
        )
        return 2
    if not months.is_month_key(args.month):
        print(f"casi-pipeline: {args.month!r} is not a release month (YYYY-MM)", file=sys.stderr)
        return 2
    from casi_pipeline.redteam import synth  # pyarrow writers: only for this command

    result = synth.write_drop(
        settings.data_raw,
        args.month,
        models=args.models,
        attacks=args.attacks,
        runs=args.runs,
        campaigns=args.campaigns,
        seed=args.seed,
    )
    print(
        f"wrote {result.attack_rows:,} attack rows and {result.campaign_rows:,} campaign rows into "
        f"{settings.data_raw / args.month} ({len(result.files)} files)"
    )
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="casi-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        help="materialise the release months that are missing or stale, then the history; nothing when nothing changed",
    )
    run_parser.add_argument("--all", dest="rebuild", action="store_true", help="rebuild every release month")
    run_parser.add_argument("--quiet", action="store_true", help="no progress, only the closing line and failures")
    backfill_parser = commands.add_parser("backfill", help="re-run a range of release months as one run")
    backfill_parser.add_argument("--from", dest="first", required=True, metavar="YYYY-MM")
    backfill_parser.add_argument("--to", dest="last", required=True, metavar="YYYY-MM")
    commands.add_parser("refresh", help="download the upstream snapshot; if new or changed, land it and run its months")
    freshness_parser = commands.add_parser(
        "freshness", help=f"is the newest release month on time? exit 0 if so, {STALE_EXIT} if late"
    )
    freshness_parser.add_argument(
        "--as-of",
        dest="as_of",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="judge as of this date instead of today (was it late then?)",
    )
    synth_parser = commands.add_parser("synth", help="write seeded synthetic red-team results into a drop")
    synth_parser.add_argument("--month", required=True, metavar="YYYY-MM")
    synth_parser.add_argument("--models", type=_positive, default=60)
    synth_parser.add_argument("--attacks", type=_positive, default=12_000)
    synth_parser.add_argument(
        "--runs", type=_positive, default=1, help="rows per (model, attack); rows = models x attacks x runs"
    )
    synth_parser.add_argument("--campaigns", type=_positive, default=200, help="agentic campaigns per model")
    synth_parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:  # a bucket that is missing, refuses us or cannot be reached stops here, before anything is written
        check_root(settings.data_raw, f"raw root ({DATA_RAW_ENV})")
        check_root(settings.warehouse, f"warehouse ({WAREHOUSE_ENV})")
    except StorageError as error:
        _say(f"casi-pipeline: {error}")
        return 1
    try:
        with _escaped_warnings():
            if args.command == "run":
                return run(settings, rebuild=args.rebuild, quiet=args.quiet)
            if args.command == "refresh":
                return refresh(settings)
            if args.command == "freshness":
                return check_freshness(replace(settings, today=args.as_of) if args.as_of else settings)
            if args.command == "synth":
                return synthesise(settings, args)
            return backfill(settings, args.first, args.last)
    except InstanceError as error:
        _say(f"casi-pipeline: {error}")
        return 1
