"""The code location: assembles assets, jobs and resources. Logic lives in the concern folders."""

from __future__ import annotations

import dagster as dg

from casi_pipeline.factory import beta_api
from casi_pipeline.published import assets as published_assets
from casi_pipeline.raw.resource import RawDrops
from casi_pipeline.redteam import assets as redteam_assets
from casi_pipeline.release import assets as release_assets
from casi_pipeline.settings import Settings
from casi_pipeline.storage.parquet_io import HiveParquetIOManager

RELEASE_JOB = "release_job"
PUBLISH_JOB = "publish_job"
REDTEAM_JOB = "redteam_job"

release_job = dg.define_asset_job(RELEASE_JOB, selection=dg.AssetSelection.groups(release_assets.GROUP),
                                  description="ingest -> validate -> normalise -> leaderboard for release months")
publish_job = dg.define_asset_job(PUBLISH_JOB, selection=dg.AssetSelection.groups(published_assets.GROUP),
                                  description="the cross-release tables: models, leaderboard_history and the "
                                              "red-team reconciliation")
redteam_job = dg.define_asset_job(REDTEAM_JOB, selection=dg.AssetSelection.groups(redteam_assets.GROUP),
                                  description="red-team results: ingest -> validate -> normalise -> scores")


def resources(settings: Settings) -> dict:
    return {
        "io_manager": HiveParquetIOManager(root=str(settings.warehouse)),
        "raw": RawDrops(root=str(settings.data_raw)),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    with beta_api():  # code references link each asset to its source in the UI
        assets = dg.with_source_code_references([*release_assets.assets, *published_assets.assets,
                                                   *redteam_assets.assets])
    return dg.Definitions(
        assets=assets,
        jobs=[release_job, publish_job, redteam_job],
        resources=resources(settings),
        executor=dg.in_process_executor,  # the multiprocess executor re-imports GX (~3.5 s) for every step
    )


defs = build_definitions(Settings.from_env())
