"""The reports in the code location: exports, charts and monthly HTML reports, and publish_job, which rebuilds the
cross-release tables and everything published from them."""

import dagster as dg

from casi_pipeline.factory import with_code_references
from casi_pipeline.job_names import PUBLISH_JOB
from casi_pipeline.published import assets as published_assets
from casi_pipeline.published import freshness
from casi_pipeline.reports.assets import GROUP, assets

publish_job = dg.define_asset_job(
    PUBLISH_JOB,
    # the freshness check depends on the date: it runs on its own schedule, and keeps
    # out of the reports' data-quality summary (byte-identical re-runs)
    selection=dg.AssetSelection.groups(published_assets.GROUP, GROUP) - dg.AssetSelection.checks(freshness.fresh_check),
    description="the cross-release tables (models, leaderboard_history, the red-team "
    "reconciliation), then the exports, charts and reports built from them",
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=with_code_references(assets), jobs=[publish_job])
