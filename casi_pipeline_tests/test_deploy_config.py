"""The deployment files (deploy/, Dockerfile) agree with each other and with what the tests run, and `dg` works on
the project. The containers and the Helm chart cannot run here (no container engine, registry or cluster): these
tests check their syntax and the settings they share."""

import re
import warnings

import dagster as dg
import yaml
from click.testing import CliRunner, Result

from casi_pipeline.definitions import defs
from casi_pipeline.pools import POOLS
from casi_pipeline.settings import ALERT_WEBHOOK_ENV, DATA_RAW_ENV, POSTGRES_URL_ENV, WAREHOUSE_ENV, _DAGSTER_YAML

from .conftest import REPO

DEPLOY = REPO / "deploy"
# Top-level keys of the official chart's values (helm/dagster/schema/schema/charts/dagster/values.py, plus
# `concurrency` from subschema/concurrency.py, dagster-io/dagster) and the daemon's (subschema/daemon.py).
CHART_KEYS = {"dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
              "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
              "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
              "telemetry", "serviceAccount", "global", "retention", "additionalInstanceConfig", "concurrency"}
DAEMON_KEYS = {"enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps", "envSecrets",
               "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
               "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "annotations",
               "runMonitoring", "runRetries", "sensors", "schedules", "schedulerName", "volumeMounts", "volumes"}


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_deploy_instance_puts_storage_in_postgres_queues_runs_limits_pools_and_monitors_runs():
    config = load("dagster.yaml")
    assert config["storage"] == {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    assert config["run_monitoring"]["enabled"] is True
    assert config["telemetry"] == {"enabled": False}


def test_telemetry_is_off_in_every_instance_config():
    assert yaml.safe_load(_DAGSTER_YAML) == {"telemetry": {"enabled": False}}  # the default local instance
    assert load("dagster.yaml")["telemetry"] == {"enabled": False}
    assert load("helm-values.yaml")["telemetry"] == {"enabled": False}


def test_every_step_that_writes_the_warehouse_claims_a_pool():
    pools = {}
    for assets in defs.get_repository_def().assets_defs_by_key.values():
        if assets.is_executable and not assets.is_observable:  # observing the raw drops writes nothing
            pools[assets.node_def.name] = assets.node_def.pool
    assert set(pools.values()) == set(POOLS)
    assert pools["release_stages"] == "casi_release" and pools["redteam_stages"] == "casi_redteam"
    assert {pools[name] for name in ("models", "leaderboard_history", "board_exports", "board_charts",
                                     "board_reports", "redteam_reconciliation")} == {"casi_published"}


def test_dockerfile_is_slim_runs_as_a_non_root_user_and_serves_the_definitions():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert 'pip install ".[deploy]"' in dockerfile
    assert "deploy/dagster.yaml" in dockerfile
    assert re.search(r'^CMD \["dagster", "code-server", "start".*"casi_pipeline\.definitions"', dockerfile, re.M)
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for source in copied.split():
            assert (REPO / source).exists(), source


def test_compose_runs_postgres_s3_code_server_webserver_and_daemon_on_one_instance():
    compose = load("compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "s3", "code", "webserver", "daemon"}
    assert services["webserver"]["ports"] == ["127.0.0.1:3000:3000"]
    assert "-s3" in services["s3"]["command"]
    for name in ("code", "webserver", "daemon"):
        environment = services[name]["environment"]
        assert environment["DAGSTER_POSTGRES_URL"].startswith("postgresql://") and POSTGRES_URL_ENV in environment
        assert {DATA_RAW_ENV, WAREHOUSE_ENV, ALERT_WEBHOOK_ENV, "AWS_ENDPOINT_URL"} <= set(environment)
    # the webserver and the daemon reach the code server over gRPC, on the port the image serves
    workspace = load("workspace.yaml")["load_from"][0]["grpc_server"]
    assert workspace["host"] == "code" and str(workspace["port"]) in (REPO / "Dockerfile").read_text()
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/home/workspace.yaml" in services[name]["command"]
    s3_config = services["s3"]["volumes"][1].split(":")[0]
    assert (DEPLOY / s3_config).exists()


def test_helm_values_use_keys_the_chart_knows_and_mirror_the_instance():
    values = load("helm-values.yaml")
    assert set(values) <= CHART_KEYS
    assert set(values["dagsterDaemon"]) <= DAEMON_KEYS
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert "casi_pipeline.definitions" in deployment["dagsterApiGrpcArgs"]
    instance = load("dagster.yaml")["concurrency"]
    assert values["concurrency"]["pools"] == {"defaultLimit": instance["pools"]["default_limit"],
                                              "granularity": instance["pools"]["granularity"]}
    assert values["concurrency"]["runs"]["maxConcurrentRuns"] == instance["runs"]["max_concurrent_runs"]


def dg_command(tmp_path, monkeypatch, *args: str) -> Result:
    """`dg <args>` from the project root, run in-process (its click command, as the `dg` script calls it): both load
    the definitions in the `dg` process itself, which here has them imported already (a process of its own would pay
    the imports again)."""
    from dagster_dg_cli.cli import cli

    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(_DAGSTER_YAML)
    for name, value in {"DAGSTER_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200",
                        "DAGSTER_IS_DEFS_VALIDATION_CLI": ""}.items():  # `dg check defs` sets the last one
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as in a `dg` process: warnings are printed, not raised
        return CliRunner().invoke(cli, list(args), prog_name="dg")


def test_dg_check_defs_passes(tmp_path, monkeypatch):
    checked = dg_command(tmp_path, monkeypatch, "check", "defs")
    assert checked.exit_code == 0, (checked.output, checked.exception)
    assert "All definitions loaded successfully" in checked.output


def test_dg_list_defs_lists_the_jobs_and_sensors(tmp_path, monkeypatch):
    listed = dg_command(tmp_path, monkeypatch, "list", "defs", "--json")
    assert listed.exit_code == 0, (listed.output, listed.exception)
    text = listed.stdout
    for name in ("release_job", "publish_job", "redteam_job", "raw_drop_sensor", "run_failure_webhook",
                 "monthly_upstream_refresh"):
        assert name in text, name
    assert dg.AssetKey("leaderboard").to_user_string() in text
