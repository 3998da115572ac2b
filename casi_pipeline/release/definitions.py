"""The release domain in the code location: the raw drops, the four partitioned stages and the job that runs them."""

import dagster as dg

from casi_pipeline.factory import with_code_references
from casi_pipeline.job_names import RELEASE_JOB
from casi_pipeline.release.assets import GROUP, assets

release_job = dg.define_asset_job(
    RELEASE_JOB,
    selection=dg.AssetSelection.groups(GROUP),
    description="ingest -> validate -> normalise -> leaderboard for release months",
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=with_code_references(assets), jobs=[release_job])
