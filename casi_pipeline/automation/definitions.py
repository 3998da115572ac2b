"""What starts runs by itself, in the code location: the monthly upstream refresh, the raw-drop sensor, publishing
after releases, and the run-failure webhook."""

import dagster as dg

from casi_pipeline.automation.drop_sensor import build_drop_sensor
from casi_pipeline.automation.failure_alert import build_failure_alert_sensor
from casi_pipeline.automation.publish_sensor import build_publish_sensor
from casi_pipeline.automation.refresh_schedule import refresh_job, refresh_schedule
from casi_pipeline.published.assets import GROUP as PUBLISHED_GROUP
from casi_pipeline.release.definitions import release_job
from casi_pipeline.reports.assets import GROUP as REPORTS_GROUP


def defs(alert_webhook_url: str | None) -> dg.Definitions:
    return dg.Definitions(
        jobs=[refresh_job],
        schedules=[refresh_schedule],
        sensors=[
            build_drop_sensor(release_job),
            build_publish_sensor(dg.AssetSelection.groups(PUBLISHED_GROUP, REPORTS_GROUP)),
            build_failure_alert_sensor(alert_webhook_url),
        ],
    )
