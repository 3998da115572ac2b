"""The raw-drop sensor, the monthly refresh schedule and job, and publishing after a release run."""

import shutil
import uuid

import dagster as dg

from casi_pipeline.automation import drop_sensor, publish_sensor, refresh_schedule
from casi_pipeline.definitions import build_definitions
from casi_pipeline.job_names import RELEASE_JOB
from casi_pipeline.raw import layout
from casi_pipeline.settings import Settings

from .conftest import RANGE, REAL_ROLLING, Sensor, add_drop, add_real_rolling, add_sample, copy_landed, tree_hashes


def test_a_new_drop_requests_one_run_for_its_months_and_a_repeat_evaluation_nothing(settings):
    sensor = Sensor(settings)
    assert sensor.evaluate() == []
    add_real_rolling(settings.data_raw)
    [(first, last, run_key)] = sensor.evaluate()
    assert (first, last) == ("2025-06", "2026-02")
    assert run_key.startswith("2025-06..2026-02:") and run_key.endswith(":1")
    assert sensor.requests[0].tags[drop_sensor.ATTEMPT_TAG] == "1"
    assert sensor.requests[0].tags[drop_sensor.STALE_TAG].startswith("2025-06: never materialised; 2025-07: never")
    assert "2026-02: never materialised" in sensor.requests[0].tags[drop_sensor.STALE_TAG]
    assert sensor.evaluate() == []  # its run has not started yet
    assert sensor.skip_reason == "2025-06..2026-02: attempt 1 not started yet"
    # A sidecar or any other file the pipeline does not read changes nothing.
    (settings.data_raw / "2026-02" / "casi_rolling_12_months.csv.source.json").write_text("{}")
    (settings.data_raw / "notes").mkdir()
    assert sensor.evaluate() == []


def test_a_later_drop_requests_its_months_and_the_month_after_that_reads_them(settings, real_data_run):
    copy_landed(real_data_run, settings)
    sensor = Sensor(settings)
    assert sensor.evaluate() == [] and sensor.skip_reason == "nothing stale: 9 release months up to date"
    add_drop(settings.data_raw, "2025-11", {"metrics.csv": "provider,model,ars\nAnthropic,Claude Sonnet 4.5,80\n"})
    # 2025-12's change since the month before reads 2025-11, so it runs too; nothing else does.
    assert [(first, last) for first, last, _ in sensor.evaluate()] == [("2025-11", "2025-12")]
    assert "data_raw/2025-11/metrics.csv is new" in sensor.requests[0].tags[drop_sensor.STALE_TAG]
    assert sensor.launch(sensor.requests[0])
    assert sensor.evaluate() == [] and sensor.skip_reason == "nothing stale: 9 release months up to date"


def test_a_restatement_requests_the_drop_again_under_a_new_run_key(settings):
    add_real_rolling(settings.data_raw)
    sensor = Sensor(settings)
    [(_, _, first_key)] = sensor.evaluate()
    restated = REAL_ROLLING.read_bytes().replace(b",98.06", b",97.5")
    (settings.data_raw / "2026-02" / layout.restatement_name("20260305T060000Z")).write_bytes(restated)
    [(first, last, run_key)] = sensor.evaluate()
    assert (first, last) == ("2025-06", "2026-02") and run_key != first_key


def record_failed_run(settings: Settings, run_key: str) -> None:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        instance.add_run(dg.DagsterRun(job_name=RELEASE_JOB, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.FAILURE,
                                       tags={drop_sensor.RUN_KEY_TAG: run_key}))


def test_a_failed_run_is_retried_on_later_ticks_at_most_three_times_per_drop_contents(settings):
    add_drop(settings.data_raw, "2025-11", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,80.31\n"})
    sensor = Sensor(settings)
    keys = []
    for attempt in (1, 2, 3):
        [(_, _, run_key)] = sensor.evaluate()
        assert run_key.endswith(f":{attempt}")
        assert sensor.requests[0].tags[drop_sensor.ATTEMPT_TAG] == str(attempt)
        if attempt > 1:  # the reason is on the run, visible in the UI
            assert sensor.requests[0].tags[drop_sensor.PREVIOUS_FAILURE_TAG].endswith("failure")
        keys.append(run_key)
        record_failed_run(settings, run_key)  # the run failed (a crash: no file named)
    assert sensor.evaluate() == []
    assert sensor.skip_reason.startswith("2025-11..2025-11: 3 attempts failed for these drop contents")
    # A changed drop starts again at attempt 1.
    add_drop(settings.data_raw, "2025-11", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,80.32\n"})
    [(_, _, run_key)] = sensor.evaluate()
    assert run_key.endswith(":1") and run_key not in keys


def test_a_run_that_refuses_a_file_leaves_out_its_months_and_runs_the_others(settings):
    add_drop(settings.data_raw, "2025-10", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,78.96\n"})
    add_drop(settings.data_raw, "2025-12", {"casi_rolling_12_months.csv": "Model,Nov,Dec\nOpenAI GPT-5,80.31,n/a\n"})
    sensor = Sensor(settings)
    [request] = [sensor.requests[0] for _ in sensor.evaluate()]
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2025-10", "2025-12")
    assert not sensor.launch(request)
    # The snapshot is refused whole: November and December wait for a changed file; October runs.
    assert [(first, last) for first, last, _ in sensor.evaluate()] == [("2025-10", "2025-10")]
    assert sensor.launch(sensor.requests[0])
    assert sensor.evaluate() == []
    assert sensor.skip_reason == ("data_raw/2025-12/casi_rolling_12_months.csv: refused whole: release months "
                                  "2025-11, 2025-12 wait for a changed file")
    add_drop(settings.data_raw, "2025-12", {"casi_rolling_12_months.csv": "Model,Nov,Dec\nOpenAI GPT-5,80.31,84.08\n"})
    assert [(first, last) for first, last, _ in sensor.evaluate()] == [("2025-11", "2025-12")]


def test_a_deleted_drop_is_reported_by_the_sensor(settings, sample_run):
    copy_landed(sample_run, settings)
    shutil.rmtree(settings.data_raw / "2025-09")
    sensor = Sensor(settings)
    assert sensor.evaluate() == []
    assert sensor.skip_reason == ("data_raw/2025-09/metrics.csv was deleted: release months 2025-09 keep their "
                                  "published history (rows no drop produces any more stay, in_current_data = false)")


def test_the_sensor_is_on_by_default_and_targets_the_release_job():
    definitions = build_definitions(Settings.from_env())
    sensor = definitions.resolve_sensor_def(drop_sensor.SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.job_name == RELEASE_JOB
    publish = definitions.resolve_sensor_def(publish_sensor.SENSOR_NAME)
    assert publish.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_refresh_schedule_is_monthly_on_the_third_at_six_utc_and_on():
    definitions = build_definitions(Settings.from_env())
    schedule = definitions.resolve_schedule_def(refresh_schedule.SCHEDULE_NAME)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 3 * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == refresh_schedule.REFRESH_JOB


def refresh_job_run(settings: Settings, url: str) -> dg.ExecuteInProcessResult:
    settings = Settings(settings.data_raw, settings.warehouse, settings.dagster_home, upstream_url=url,
                        upstream_timeout=1.0)
    job = build_definitions(settings).resolve_job_def(refresh_schedule.REFRESH_JOB)
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def test_the_refresh_job_lands_the_drop_and_records_it_on_raw_drops(settings, upstream):
    result = refresh_job_run(settings, upstream.url("/casi_rolling_12_months.csv"))
    assert result.success
    assert (settings.data_raw / "2026-02" / "casi_rolling_12_months.csv").read_bytes() == REAL_ROLLING.read_bytes()
    [materialization] = result.asset_materializations_for_node("refresh_from_upstream")
    assert materialization.asset_key == dg.AssetKey("raw_drops")
    assert materialization.metadata["drop"].value == "2026-02"
    # The sensor then asks for exactly that drop's months.
    assert [(first, last) for first, last, _ in Sensor(settings).evaluate()] == [("2025-06", "2026-02")]


def test_a_failed_refresh_job_fails_in_one_line_and_writes_nothing(settings, upstream):
    result = refresh_job_run(settings, upstream.url("/missing.csv"))
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data.description == \
        f"{upstream.url('/missing.csv')}: HTTP 404 Not Found"
    assert tree_hashes(settings.data_raw) == {}


PUBLISHED = {dg.AssetKey(name) for name in ["models", "leaderboard_history", "redteam_reconciliation", "board_exports",
                                            "board_charts", "board_reports"]}


def test_a_release_run_is_followed_by_publishing_once(settings):
    """The publish sensor's automation conditions, evaluated as its ticks do: a run that updated release months
    (whoever started it: the raw-drop sensor, a UI backfill, the CLI) asks for the cross-release tables and everything
    published from them, once. (test_ui.py: the daemon runs them as one run, without the `fresh` check.)"""
    add_sample(settings.data_raw)
    sensor = Sensor(settings)
    publish = sensor.definitions.resolve_sensor_def(publish_sensor.SENSOR_NAME)

    def tick(cursor=None) -> dg.EvaluateAutomationConditionsResult:
        with sensor.instance() as instance:
            return dg.evaluate_automation_conditions(sensor.definitions, instance, cursor=cursor,
                                                     asset_selection=publish.asset_selection)

    before = tick()
    assert before.total_requested == 0  # nothing was released: nothing to publish
    # The stale months are one run covering the range: 2025-09 and 2025-11, one run over 2025-09..2025-11 costs
    # less than two.
    assert [(first, last) for first, last, _ in sensor.evaluate()] == [("2025-09", "2025-11")]
    assert sensor.launch(sensor.requests[0])
    after = tick(before.cursor)
    assert {key for key in PUBLISHED if after.get_requested_partitions(key) == {None}} == PUBLISHED
    assert after.total_requested == len(PUBLISHED)
    assert tick(after.cursor).total_requested == 0
