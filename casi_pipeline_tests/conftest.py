"""Shared fixtures: real data from ../shared, temporary raw roots, warehouses and Dagster instances."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from casi_pipeline.settings import Settings
from casi_pipeline.storage.parquet_io import LOCKS_FOLDER

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
REAL_ROLLING = SHARED_DATA / "f5-labs-ai-leaderboards" / "casi_rolling_12_months.csv"
PUBLISHED_INPUTS = SHARED_DATA / "published-boards" / "inputs_2025-09_and_2025-11.csv"
SAMPLE_RAW = REPO / "data_raw"


def require_shared() -> None:
    if not REAL_ROLLING.exists():
        pytest.fail(f"the real CASI data is missing: {REAL_ROLLING} (CI lays ../shared beside the clone)")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    raw = tmp_path / "data_raw"
    raw.mkdir()
    return Settings(data_raw=raw, warehouse=tmp_path / "warehouse", dagster_home=tmp_path / "dagster_home")


def add_drop(raw: Path, month: str, files: dict[str, str | bytes]) -> Path:
    """Write a release drop: file name -> text (written as UTF-8) or raw bytes."""
    drop = raw / month
    drop.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (drop / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return drop


def add_real_rolling(raw: Path, month: str = "2026-02") -> Path:
    require_shared()
    drop = raw / month
    drop.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL_ROLLING, drop / "casi_rolling_12_months.csv")
    return drop / "casi_rolling_12_months.csv"


def add_sample(raw: Path) -> None:
    for drop in sorted(SAMPLE_RAW.glob("20??-??")):
        shutil.copytree(drop, raw / drop.name, dirs_exist_ok=True)


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, to prove nothing changed. The warehouse's run locks hold no data."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and LOCKS_FOLDER not in p.relative_to(root).parts}


def copy_landed(template: Settings, settings: Settings) -> dict[str, str]:
    """Give a test its own copy of a landed raw root and warehouse (built once per module); returns the hashes."""
    shutil.copytree(template.data_raw, settings.data_raw, dirs_exist_ok=True)
    shutil.copytree(template.warehouse, settings.warehouse)
    return tree_hashes(settings.warehouse)


def land(base: Path, fill) -> Settings:
    """A raw root filled by `fill(raw)` and run once through `casi-pipeline run`: a module's landed template."""
    settings = Settings(data_raw=base / "data_raw", warehouse=base / "warehouse", dagster_home=base / "dagster_home")
    settings.data_raw.mkdir(parents=True)
    fill(settings.data_raw)
    assert run_cli(settings, "run") == 0
    return settings


def read_table(warehouse: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(warehouse / table)


def run_cli(settings: Settings, *args: str) -> int:
    """`casi-pipeline <args>` in-process, against the given roots and a Dagster instance of its own."""
    from casi_pipeline import cli

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CASI_DATA_RAW", str(settings.data_raw))
        patch.setenv("CASI_WAREHOUSE", str(settings.warehouse))
        patch.setenv("DAGSTER_HOME", str(settings.dagster_home))
        return cli.main(list(args))


@pytest.fixture(scope="session")
def real_data_run(tmp_path_factory) -> Settings:
    """The real rolling CSV as data_raw/2026-02/, run once through `casi-pipeline run`."""
    return land(tmp_path_factory.mktemp("real"), add_real_rolling)
