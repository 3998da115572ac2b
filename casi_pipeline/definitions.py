"""The code location: assembles assets, jobs and resources. Logic lives in the concern folders."""

from __future__ import annotations

import dagster as dg

from casi_pipeline.automation.drop_sensor import build_drop_sensor
from casi_pipeline.automation.failure_alert import build_failure_alert_sensor
from casi_pipeline.automation.publish_sensor import build_publish_sensor
from casi_pipeline.automation.refresh_schedule import refresh_job, refresh_schedule
from casi_pipeline.factory import beta_api
from casi_pipeline.published import assets as published_assets
from casi_pipeline.published import freshness
from casi_pipeline.raw.resource import RawDrops
from casi_pipeline.refresh.resource import UpstreamSource
from casi_pipeline.redteam import assets as redteam_assets
from casi_pipeline.release import assets as release_assets
from casi_pipeline.reports import assets as report_assets
from casi_pipeline.settings import Settings
from casi_pipeline.storage.io_manager import hive_parquet_io_manager
from casi_pipeline.storage.warehouse import Warehouse

RELEASE_JOB = "release_job"
PUBLISH_JOB = "publish_job"
REDTEAM_JOB = "redteam_job"

release_job = dg.define_asset_job(RELEASE_JOB, selection=dg.AssetSelection.groups(release_assets.GROUP),
                                  description="ingest -> validate -> normalise -> leaderboard for release months")
publish_job = dg.define_asset_job(PUBLISH_JOB,
                                  # the freshness check depends on the date: it runs on its own schedule, and keeps
                                  # out of the reports' data-quality summary (byte-identical re-runs)
                                  selection=dg.AssetSelection.groups(published_assets.GROUP, report_assets.GROUP)
                                  - dg.AssetSelection.checks(freshness.fresh_check),
                                  description="the cross-release tables (models, leaderboard_history, the red-team "
                                              "reconciliation), then the exports, charts and reports built from them")
redteam_job = dg.define_asset_job(REDTEAM_JOB, selection=dg.AssetSelection.groups(redteam_assets.GROUP),
                                  description="red-team results: ingest -> validate -> normalise -> scores")


def resources(settings: Settings) -> dict:
    return {
        "io_manager": hive_parquet_io_manager,  # stores and loads the tables of the warehouse below
        "warehouse": Warehouse(root=str(settings.warehouse)),
        "raw": RawDrops(root=str(settings.data_raw)),
        "upstream": UpstreamSource(url=settings.upstream_url, timeout_seconds=settings.upstream_timeout,
                                   max_bytes=settings.upstream_max_bytes),
        "calendar": freshness.ReleaseCalendar(due_day=settings.freshness_day,
                                              today=settings.today.isoformat() if settings.today else None),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    with beta_api():  # code references link each asset to its source in the UI
        assets = dg.with_source_code_references([*release_assets.assets, *published_assets.assets,
                                                    *report_assets.assets, *redteam_assets.assets])
    return dg.Definitions(
        assets=assets,
        asset_checks=[freshness.fresh_check],
        jobs=[release_job, publish_job, refresh_job, redteam_job, freshness.freshness_job],
        schedules=[refresh_schedule, freshness.freshness_schedule],
        sensors=[build_drop_sensor(release_job),
                 build_publish_sensor(RELEASE_JOB, set(release_assets.release_stages.keys), publish_job),
                 build_failure_alert_sensor(settings.alert_webhook_url)],
        resources=resources(settings),
        executor=dg.in_process_executor,  # the multiprocess executor re-imports GX (~3.5 s) for every step
    )


defs = build_definitions(Settings.from_env())
