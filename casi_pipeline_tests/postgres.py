"""A real PostgreSQL server on 127.0.0.1 for the tests: Debian's `postgresql` binaries, a throw-away cluster in a
temporary folder, a free port, stopped by its process id when the session ends (also on failure)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml

from .conftest import free_ports

USER = "casi"
PASSWORD = "casi-test-password"
START_SECONDS = 60  # bound for a loaded machine
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
DEPLOY_INSTANCE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


def _binaries() -> Path | None:
    found = sorted(Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/")), key=lambda path: int(path.parent.name))
    return found[-1] if found and (found[-1] / "initdb").exists() else None


class PostgresServer:
    def __init__(self, binaries: Path, base: Path):
        self.binaries, self.base = binaries, base
        self.data, self.sockets = base / "data", base / "sockets"
        self.port = free_ports(1)[0]
        # The server refuses to run as root: as root, run it as the system's postgres user.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.process: subprocess.Popen | None = None

    def url(self, database: str, *, password: str = PASSWORD, host: str = "127.0.0.1", port: int | None = None) -> str:
        return f"postgresql://{USER}:{password}@{host}:{port or self.port}/{database}"

    def start(self) -> None:
        self.sockets.mkdir(parents=True)
        password_file = self.base / "password"
        password_file.write_text(PASSWORD)
        if self.as_owner:
            shutil.chown(self.base, "postgres")
            for path in (self.sockets, password_file):
                shutil.chown(path, "postgres")
        subprocess.run([*self.as_owner, str(self.binaries / "initdb"), "-D", str(self.data), "-U", USER,
                        f"--pwfile={password_file}", "--auth-host=scram-sha-256", "--auth-local=trust",
                        "--encoding=UTF8", "--no-sync"], check=True, capture_output=True)
        with (self.base / "server.log").open("wb") as log:  # the server keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [*self.as_owner, str(self.binaries / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sockets}",
                 "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + START_SECONDS
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start: {(self.base / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)

    def _accepts(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url("postgres"), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def create_database(self, prefix: str = "casi") -> str:
        """A new empty database; its URL."""
        import psycopg2

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        connection = psycopg2.connect(self.url("postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def stop(self) -> None:
        if self.process is None:
            return
        pid_file = self.data / "postmaster.pid"
        # runuser forks: the server's own pid is the first line of postmaster.pid. SIGINT = fast shutdown.
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else self.process.pid
        try:
            os.kill(pid, signal.SIGINT)
            self.process.wait(timeout=START_SECONDS)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if self.process.poll() is None:
                os.kill(pid, signal.SIGKILL)
                self.process.wait(timeout=START_SECONDS)
        self.process = None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    binaries = _binaries()
    if binaries is None:
        message = f"PostgreSQL is not installed (no {POSTGRES_BIN_GLOB}/initdb; .ci/run installs postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="casi-postgres-"))
    server = PostgresServer(binaries, base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def deploy_home(home: Path, **run_monitoring) -> Path:
    """DAGSTER_HOME with deploy/dagster.yaml, as a deployment copies it (run monitoring settings overridden)."""
    home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    config["run_monitoring"].update(run_monitoring)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def runs_in_postgres(url: str) -> list[tuple[str, str]]:
    """(job, status) of every run, straight from the database's runs table."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
            return cursor.fetchall()
    finally:
        connection.close()
