"""Where the pipeline reads and writes: the one place that looks at the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from casi_pipeline.storage.objects import ObjectPath, open_root

DATA_RAW_ENV = "CASI_DATA_RAW"
WAREHOUSE_ENV = "CASI_WAREHOUSE"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
UPSTREAM_URL_ENV = "CASI_UPSTREAM_URL"
UPSTREAM_TIMEOUT_ENV = "CASI_UPSTREAM_TIMEOUT_SECONDS"
# Where F5 Labs publishes the rolling snapshot (see ../shared/data/f5-labs-ai-leaderboards/SOURCE.md).
DEFAULT_UPSTREAM_URL = "https://raw.githubusercontent.com/F5-Labs/ai-leaderboards/main/casi_rolling_12_months.csv"
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 30.0
PAUSE_WRITES_ENV = "CASI_TEST_PAUSE_WRITES"  # tests only: a control folder (storage.parquet_io.pause_at)

# Telemetry off: this machine has no network, and the instance must not try to reach one.
_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


@dataclass(frozen=True)
class Settings:
    data_raw: Path | ObjectPath  # s3://bucket/prefix roots are ObjectPaths (storage.objects)
    warehouse: Path | ObjectPath
    dagster_home: Path
    upstream_url: str = DEFAULT_UPSTREAM_URL
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT_SECONDS  # per attempt
    pause_writes: Path | None = None

    @classmethod
    def from_env(cls, cwd: Path | None = None) -> "Settings":
        base = cwd or Path.cwd()
        return cls(
            data_raw=open_root(os.environ.get(DATA_RAW_ENV) or base / "data_raw"),
            warehouse=open_root(os.environ.get(WAREHOUSE_ENV) or base / "warehouse"),
            dagster_home=Path(os.environ.get(DAGSTER_HOME_ENV) or base / ".dagster_home").resolve(),
            upstream_url=os.environ.get(UPSTREAM_URL_ENV) or DEFAULT_UPSTREAM_URL,
            upstream_timeout=float(os.environ.get(UPSTREAM_TIMEOUT_ENV) or DEFAULT_UPSTREAM_TIMEOUT_SECONDS),
            pause_writes=Path(os.environ[PAUSE_WRITES_ENV]) if os.environ.get(PAUSE_WRITES_ENV) else None,
        )


def prepare_dagster_home(home: Path) -> Path:
    """Create DAGSTER_HOME with a dagster.yaml so the CLI, the tests and `dagster dev` share one instance."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(_DAGSTER_YAML)
    return home
