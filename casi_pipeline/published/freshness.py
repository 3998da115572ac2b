"""Freshness of the boards: release month M is due by a set day of month M+1 (CASI_FRESHNESS_DAY, default 10).

A WARN asset check on `leaderboard_history`, evaluated by the daily `freshness_check` schedule, and a line on the
CLI's stderr. WARN, not ERROR: the boards that are published are still right, only a newer month is missing (the
publisher is late or the refresh is broken), and in this project ERROR means a month was refused. The clock is a
resource so that tests fix the date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg

from casi_pipeline import months
from casi_pipeline.published.assets import HISTORY, leaderboard_history

CHECK_NAME = "fresh"
JOB_NAME = "freshness_job"
SCHEDULE_NAME = "freshness_check"
CRON = "0 7 * * *"  # daily, 07:00 UTC: a late month shows up the morning after it was due
LAST_DUE_DAY = 28  # every month has a 28th


class ReleaseCalendar(dg.ConfigurableResource):
    """When a release month is due, and what day it is (tests fix `today`; None is the real clock)."""

    due_day: int
    today: str | None = None  # YYYY-MM-DD

    def date(self) -> date:
        return date.fromisoformat(self.today) if self.today else date.today()


def due_date(release_month: str, due_day: int) -> date:
    """The day by which `release_month` is expected: `due_day` of the month after it."""
    if not 1 <= due_day <= LAST_DUE_DAY:
        raise ValueError(f"the freshness day must be within 1..{LAST_DUE_DAY}, got {due_day}")
    year, month = months.parse(months.shift(release_month, 1))
    return date(year, month, due_day)


def expected_month(today: date, due_day: int) -> str:
    """The newest release month that should be published by `today`."""
    previous = months.shift(months.current_month(today), -1)
    return previous if today >= due_date(previous, due_day) else months.shift(previous, -1)


@dataclass(frozen=True)
class Freshness:
    latest: str | None  # newest release month in leaderboard_history
    expected: str
    due: date  # when the first missing month was (or will be) due
    today: date

    @property
    def passed(self) -> bool:
        return self.latest is not None and self.latest >= self.expected

    @property
    def line(self) -> str:
        if self.passed:
            return f"boards are fresh: newest release month {self.latest}, the next is due by {self.due}"
        newest = f"newest release month {self.latest}" if self.latest else "no release month published"
        return (
            f"boards are late: {newest}, but {self.expected} was due by {self.due} "
            f"({(self.today - self.due).days} day(s) late; is the publisher late or the refresh broken?)"
        )


def freshness(latest: str | None, today: date, due_day: int) -> Freshness:
    expected = expected_month(today, due_day)
    missing = months.shift(latest, 1) if latest else expected
    return Freshness(latest, expected, due_date(missing, due_day), today)


def latest_month(history) -> str | None:
    return None if history.empty else str(history["release_month"].max())


@dg.asset_check(
    asset=leaderboard_history,
    name=CHECK_NAME,
    required_resource_keys={"warehouse", "calendar"},
    description="A new release month is expected by a set day of the next month (CASI_FRESHNESS_DAY)",
)
def fresh_check(context) -> dg.AssetCheckResult:  # no type hint: this module postpones annotations
    calendar: ReleaseCalendar = context.resources.calendar
    status = freshness(
        latest_month(context.resources.warehouse.read_table(HISTORY.name)), calendar.date(), calendar.due_day
    )
    return dg.AssetCheckResult(
        passed=status.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "latest_release_month": status.latest or "",
            "expected_release_month": status.expected,
            "due": str(status.due),
            "today": str(status.today),
            "status": status.line,
        },
    )


freshness_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.checks(fresh_check),
    description="Is a new release month as late as it may be? (the `fresh` check)",
)

freshness_schedule = dg.ScheduleDefinition(
    name=SCHEDULE_NAME,
    job=freshness_job,
    cron_schedule=CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily, 07:00 UTC: check that the newest release month is not overdue",
)
