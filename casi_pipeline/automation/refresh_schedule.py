"""The monthly upstream refresh as a Dagster job and schedule. It only lands the drop; the raw-drop sensor then
starts the release run for the months it affects, exactly as for a drop copied in by hand.

(No `from __future__ import annotations` here: Dagster reads the op's context type hint at definition time.)
"""

import dagster as dg

from casi_pipeline.raw.resource import RawDrops
from casi_pipeline.refresh import REFRESH_ERRORS, refresh
from casi_pipeline.refresh.resource import UpstreamSource
from casi_pipeline.release.tables import RAW

REFRESH_JOB = "refresh_job"
SCHEDULE_NAME = "monthly_upstream_refresh"
# 06:00 UTC on the 3rd: the publisher updates early in the month; a few days' margin catches late updates.
CRON = "0 6 3 * *"


@dg.op(description="Download the upstream rolling snapshot; land it as a new or restated drop if it changed.")
def refresh_from_upstream(context: dg.OpExecutionContext, raw: RawDrops, upstream: UpstreamSource) -> None:
    try:
        landed = refresh(raw.path, upstream.url, upstream.timeout_seconds, max_bytes=upstream.max_bytes)
    except REFRESH_ERRORS as error:
        raise dg.Failure(description=str(error)) from None
    if landed is None:
        context.log.info(f"upstream unchanged ({upstream.url}): no new drop")
        return
    context.log_event(
        dg.AssetMaterialization(
            asset_key=RAW,
            description=f"landed {landed.path.name} in drop {landed.month}",
            metadata={
                "drop": landed.month,
                "file": str(landed.path),
                "sha256": landed.sha256,
                "source_url": upstream.url,
                "restatement": landed.restatement,
            },
        )
    )


@dg.job(
    name=REFRESH_JOB,
    executor_def=dg.in_process_executor,
    description="Land the upstream rolling snapshot in data_raw/ when it is new or changed",
)
def refresh_job() -> None:
    refresh_from_upstream()


refresh_schedule = dg.ScheduleDefinition(
    name=SCHEDULE_NAME,
    job=refresh_job,
    cron_schedule=CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Monthly, 06:00 UTC on the 3rd: refresh from the publisher (switch it off here to pause)",
)
