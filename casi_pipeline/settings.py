"""Where the pipeline reads and writes: the one place that looks at the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from casi_pipeline import months
from casi_pipeline.storage.objects import ObjectPath, open_root

DATA_RAW_ENV = "CASI_DATA_RAW"
WAREHOUSE_ENV = "CASI_WAREHOUSE"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
UPSTREAM_URL_ENV = "CASI_UPSTREAM_URL"
UPSTREAM_TIMEOUT_ENV = "CASI_UPSTREAM_TIMEOUT_SECONDS"
UPSTREAM_MAX_BYTES_ENV = "CASI_UPSTREAM_MAX_BYTES"
FRESHNESS_DAY_ENV = "CASI_FRESHNESS_DAY"
# Where F5 Labs publishes the rolling snapshot.
DEFAULT_UPSTREAM_URL = "https://raw.githubusercontent.com/F5-Labs/ai-leaderboards/main/casi_rolling_12_months.csv"
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 30.0
ALERT_WEBHOOK_ENV = "CASI_ALERT_WEBHOOK_URL"  # a run failed: post to it (automation.failure_alert)
POSTGRES_URL_ENV = "DAGSTER_POSTGRES_URL"  # read by deploy/dagster.yaml: the instance on PostgreSQL
# The file is a few KB today; 10 MiB leaves room for years of growth and still stops a runaway body early.
DEFAULT_UPSTREAM_MAX_BYTES = 10 * 1024 * 1024
# A release month is due by this day of the month after it (the publisher updates early in the month).
DEFAULT_FRESHNESS_DAY = 10
# The first month of the release partitions: extend it to backfill boards published before 2025 (README).
FIRST_RELEASE_MONTH_ENV = "CASI_FIRST_RELEASE_MONTH"

# Telemetry off: this machine has no network, and the instance must not try to reach one.
_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


@dataclass(frozen=True)
class Settings:
    data_raw: Path | ObjectPath  # s3://bucket/prefix roots are ObjectPaths (storage.objects)
    warehouse: Path | ObjectPath
    dagster_home: Path
    upstream_url: str = DEFAULT_UPSTREAM_URL
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT_SECONDS  # per attempt, connecting to last byte
    upstream_max_bytes: int = DEFAULT_UPSTREAM_MAX_BYTES
    freshness_day: int = DEFAULT_FRESHNESS_DAY
    today: date | None = None  # the freshness check's date (`casi-pipeline freshness --as-of`); None: the clock
    alert_webhook_url: str | None = None
    first_release_month: str = months.FIRST_RELEASE_MONTH

    @classmethod
    def from_env(cls, cwd: Path | None = None) -> Settings:
        base = cwd or Path.cwd()
        return cls(
            data_raw=open_root(os.environ.get(DATA_RAW_ENV) or base / "data_raw"),
            warehouse=open_root(os.environ.get(WAREHOUSE_ENV) or base / "warehouse"),
            dagster_home=Path(os.environ.get(DAGSTER_HOME_ENV) or base / ".dagster_home").resolve(),
            upstream_url=os.environ.get(UPSTREAM_URL_ENV) or DEFAULT_UPSTREAM_URL,
            upstream_timeout=float(os.environ.get(UPSTREAM_TIMEOUT_ENV) or DEFAULT_UPSTREAM_TIMEOUT_SECONDS),
            upstream_max_bytes=int(os.environ.get(UPSTREAM_MAX_BYTES_ENV) or DEFAULT_UPSTREAM_MAX_BYTES),
            freshness_day=int(os.environ.get(FRESHNESS_DAY_ENV) or DEFAULT_FRESHNESS_DAY),
            alert_webhook_url=os.environ.get(ALERT_WEBHOOK_ENV) or None,
            first_release_month=first_release_month(),
        )


def first_release_month() -> str:
    """CASI_FIRST_RELEASE_MONTH (YYYY-MM), default 2025-01. Read when the partitions definition is built, at import."""
    value = os.environ.get(FIRST_RELEASE_MONTH_ENV) or months.FIRST_RELEASE_MONTH
    if not months.is_month_key(value):
        raise ValueError(f"{FIRST_RELEASE_MONTH_ENV}={value!r} is not a release month (YYYY-MM)")
    return value


def prepare_dagster_home(home: Path) -> Path:
    """Create DAGSTER_HOME with a dagster.yaml so the CLI, the tests and `dagster dev` share one instance."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(_DAGSTER_YAML)
    return home
