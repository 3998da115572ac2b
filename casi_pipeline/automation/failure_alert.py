"""A run failed: post one message to a webhook (CASI_ALERT_WEBHOOK_URL). A Slack incoming webhook takes the JSON body
{"text": ...} as it is; any other service that accepts a JSON POST works the same way.

Off unless the variable is set (the sensor is then stopped by default and skips). A webhook that fails (refused,
timeout, HTTP error) never fails the sensor: one warning line in the sensor's log, without the URL's secret path.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

import dagster as dg

from casi_pipeline.settings import ALERT_WEBHOOK_ENV

SENSOR_NAME = "run_failure_webhook"
POST_TIMEOUT_SECONDS = 10.0


def step_failure_lines(events: Iterable[dg.DagsterEvent], what: str) -> list[str]:
    """One line per failure: the stage's own lines when it failed a check, else the step and the error."""
    lines = []
    for event in events:
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            lines.extend(data.user_failure_data.description.splitlines())
        elif data.error is not None:
            lines.append(
                f"{what} {event.step_key}: {data.error.cls_name}: {data.error.message.strip().splitlines()[0]}"
            )
    return lines


def alert_text(job_name: str, run_id: str, failures: list[str]) -> str:
    return "\n".join([f"casi-pipeline: run {run_id} of {job_name} failed", *failures])


def post_alert(url: str, text: str, timeout: float = POST_TIMEOUT_SECONDS) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def _where(url: str) -> str:
    """The webhook without its path: a Slack webhook's path is its secret."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the webhook (not a URL)"


def build_failure_alert_sensor(webhook_url: str | None) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=SENSOR_NAME,
        default_status=dg.DefaultSensorStatus.RUNNING if webhook_url else dg.DefaultSensorStatus.STOPPED,
        description="Posts the job, run id and failure lines of every failed run to CASI_ALERT_WEBHOOK_URL "
        "(a Slack incoming webhook or any URL taking a JSON POST); off when it is not set",
    )
    def run_failure_webhook(context: dg.RunFailureSensorContext):
        if not webhook_url:
            return dg.SkipReason(f"{ALERT_WEBHOOK_ENV} is not set")
        run = context.dagster_run
        failures = step_failure_lines(context.get_step_failure_events(), run.job_name) or [
            context.failure_event.message or "the run failed"
        ]
        try:
            post_alert(webhook_url, alert_text(run.job_name, run.run_id, failures))
        except (urllib.error.URLError, OSError, ValueError) as error:  # HTTPError is a URLError; ValueError: bad URL
            reason = str(error).replace(webhook_url, _where(webhook_url))  # urllib may quote the whole URL
            context.log.warning(
                f"{SENSOR_NAME}: alert for run {run.run_id} not delivered to {_where(webhook_url)}: {reason}"
            )
        return None

    return run_failure_webhook
