"""Publishing follows every release: declarative automation rebuilds the cross-release tables and everything
published from them after any run that updated what they read (a release run from the raw-drop sensor, a UI backfill
or the CLI; a red-team run for the reconciliation). The assets requested on one tick are unpartitioned, so they
run as one run; their blocking suites run with them, the `fresh` check (its own schedule) does not."""

import dagster as dg

from casi_pipeline.automation.drop_sensor import INTERVAL_SECONDS

SENSOR_NAME = "publish_after_release"

# eager() without "no dependency missing": the cross-release tables read every release month, and the months before
# the first drop (and the current one until its drop lands) never have tables, so eager() would wait forever.
AFTER_UPSTREAM_UPDATE = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager, across release months without data")
)


def build_publish_sensor(target: dg.AssetSelection) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        SENSOR_NAME,
        target=target,
        default_status=dg.DefaultSensorStatus.RUNNING,
        # as often as the raw-drop sensor (Dagster's default is 30 s): a release is published within one more tick
        minimum_interval_seconds=INTERVAL_SECONDS,
        description="Rebuilds the cross-release tables, then the exports, charts and reports (one run), after each "
        "run that updated the release months or red-team scores they read",
    )
