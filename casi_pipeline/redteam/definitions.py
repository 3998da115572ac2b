"""The red-team domain in the code location: raw results, their four partitioned stages and the job that runs them,
and the reconciliation with the published boards."""

import dagster as dg

from casi_pipeline.factory import with_code_references
from casi_pipeline.job_names import REDTEAM_JOB
from casi_pipeline.redteam.assets import GROUP, assets

redteam_job = dg.define_asset_job(
    REDTEAM_JOB,
    selection=dg.AssetSelection.groups(GROUP),
    description="red-team results: ingest -> validate -> normalise -> scores",
)


def defs() -> dg.Definitions:
    return dg.Definitions(assets=with_code_references(assets), jobs=[redteam_job])
