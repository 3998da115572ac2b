"""After a successful release run (from the sensor, a UI backfill or the CLI), rebuild the cross-release tables."""

import dagster as dg

SENSOR_NAME = "publish_after_release"


def build_publish_sensor(release_job_name: str, release_keys: set[dg.AssetKey],
                         publish_job) -> dg.RunStatusSensorDefinition:
    @dg.run_status_sensor(name=SENSOR_NAME, run_status=dg.DagsterRunStatus.SUCCESS, request_job=publish_job,
                          default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Runs publish_job (models, leaderboard_history) after each successful run "
                                      "that materialised release months")
    def publish_after_release(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if run.job_name != release_job_name and not release_keys & set(run.asset_selection or ()):
            return dg.SkipReason(f"run {run.run_id} ({run.job_name}) materialised no release months")
        return dg.RunRequest(run_key=f"after-{run.run_id}")

    return publish_after_release
