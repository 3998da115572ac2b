"""The code location: each domain's definitions (its definitions.py), merged, with the shared resources and the
executor."""

from __future__ import annotations

import dagster as dg

from casi_pipeline.automation import definitions as automation
from casi_pipeline.published import definitions as published
from casi_pipeline.published import freshness
from casi_pipeline.raw.resource import RawDrops
from casi_pipeline.redteam import definitions as redteam
from casi_pipeline.refresh.resource import UpstreamSource
from casi_pipeline.release import definitions as release
from casi_pipeline.reports import definitions as reports
from casi_pipeline.settings import Settings
from casi_pipeline.storage.io_manager import hive_parquet_io_manager
from casi_pipeline.storage.warehouse import Warehouse


def resources(settings: Settings) -> dict:
    return {
        "io_manager": hive_parquet_io_manager,  # stores and loads the tables of the warehouse below
        "warehouse": Warehouse(root=str(settings.warehouse)),
        "raw": RawDrops(root=str(settings.data_raw)),
        "upstream": UpstreamSource(
            url=settings.upstream_url, timeout_seconds=settings.upstream_timeout, max_bytes=settings.upstream_max_bytes
        ),
        "calendar": freshness.ReleaseCalendar(
            due_day=settings.freshness_day, today=settings.today.isoformat() if settings.today else None
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        release.defs(),
        published.defs(),
        reports.defs(),
        redteam.defs(),
        automation.defs(settings.alert_webhook_url),
        # the multiprocess executor would re-import Great Expectations for every step
        dg.Definitions(resources=resources(settings), executor=dg.in_process_executor),
    )


defs = build_definitions(Settings.from_env())
