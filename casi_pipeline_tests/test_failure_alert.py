"""The run-failure webhook: a real failed release run, a real HTTP server on 127.0.0.1 receiving the alert."""

import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from casi_pipeline.automation.failure_alert import SENSOR_NAME, build_failure_alert_sensor
from casi_pipeline.definitions import build_definitions
from casi_pipeline.job_names import RELEASE_JOB

from .conftest import add_drop, serving

BAD_SEPTEMBER = "Model,Sep\nOpenAI GPT-5,108.06\n"  # a CASI value outside 0..100: validate fails


class Webhook(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int):
        super().__init__(("127.0.0.1", 0), WebhookHandler)
        self.status, self.received = status, []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T000/B000/secret-token"


class WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # quiet: the tests assert on what the server received
        pass


def serve(status: int) -> Iterator[Webhook]:
    with serving(Webhook(status)) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    yield from serve(200)


@pytest.fixture
def failing_webhook() -> Iterator[Webhook]:
    yield from serve(500)


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """A real release run that fails its validate suite, in an instance of its own."""
    from casi_pipeline.settings import Settings

    base = tmp_path_factory.mktemp("failed")
    settings = Settings(base / "data_raw", base / "warehouse", base / "home")
    add_drop(settings.data_raw, "2025-09", {"casi_rolling_12_months.csv": BAD_SEPTEMBER})
    instance = dg.DagsterInstance.ephemeral()
    result = build_definitions(settings).resolve_job_def(RELEASE_JOB).execute_in_process(
        instance=instance, partition_key="2025-09", raise_on_error=False)
    assert not result.success
    return instance, result


def evaluate(url: str | None, failed_run):
    instance, result = failed_run
    context = dg.build_run_status_sensor_context(
        sensor_name=SENSOR_NAME, dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run).for_run_failure()
    return build_failure_alert_sensor(url)(context), result.dagster_run


def test_a_failed_run_posts_its_job_run_id_and_failure_to_the_webhook(webhook, failed_run):
    evaluate(webhook.url, failed_run)
    [(path, content_type, body)] = webhook.received
    _, result = failed_run
    assert path == "/services/T000/B000/secret-token" and content_type == "application/json"
    assert set(body) == {"text"}  # what a Slack incoming webhook takes
    first, *failures = body["text"].splitlines()
    assert first == f"casi-pipeline: run {result.run_id} of release_job failed"
    assert failures == ["2025-09 validate: data_raw/2025-09/casi_rolling_12_months.csv row 2 column Sep: "
                        "casi must be within 0..100 (found 108.06)"]


def test_the_alert_is_off_unless_a_webhook_is_configured(webhook, failed_run):
    assert build_failure_alert_sensor(None).default_status == dg.DefaultSensorStatus.STOPPED
    assert build_failure_alert_sensor(webhook.url).default_status == dg.DefaultSensorStatus.RUNNING
    skipped, _ = evaluate(None, failed_run)
    assert isinstance(skipped, dg.SkipReason) and webhook.received == []


def refused_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/hook/secret-token"


@pytest.mark.parametrize("where", ["http 500", "refused", "not a url"])
def test_a_webhook_that_fails_does_not_fail_the_sensor_it_logs_one_line(where, failing_webhook, failed_run, capsys):
    url = {"http 500": failing_webhook.url, "refused": refused_url(), "not a url": "hooks.example/secret-token"}[where]
    capsys.readouterr()
    outcome, run = evaluate(url, failed_run)
    assert outcome is None
    logged = capsys.readouterr()  # the sensor's log goes to the console (and, under the daemon, to the tick's log)
    [line] = [line for line in (logged.out + logged.err).splitlines() if SENSOR_NAME in line]
    assert "WARNING" in line
    line = line[line.index(f"{SENSOR_NAME}: "):]
    assert line.startswith(f"{SENSOR_NAME}: alert for run {run.run_id} not delivered to ")
    assert "\n" not in line and "secret-token" not in line
    expected = {"http 500": "HTTP Error 500", "refused": "Connection refused", "not a url": "unknown url type"}[where]
    assert expected in line
    if where == "http 500":
        assert len(failing_webhook.received) == 1  # it was posted, and the server refused it
