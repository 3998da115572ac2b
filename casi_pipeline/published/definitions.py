"""The cross-release tables in the code location: models and leaderboard_history, and their daily freshness check."""

import dagster as dg

from casi_pipeline.factory import with_code_references
from casi_pipeline.published import freshness
from casi_pipeline.published.assets import assets


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=with_code_references(assets),
        asset_checks=[freshness.fresh_check],
        jobs=[freshness.freshness_job],
        schedules=[freshness.freshness_schedule],
    )
