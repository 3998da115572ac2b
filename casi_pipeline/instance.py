"""Opening the Dagster instance of DAGSTER_HOME: SQLite in the folder by default (through instance_storage's
storages), PostgreSQL with deploy/dagster.yaml.

When the instance cannot be opened (DAGSTER_POSTGRES_URL unset, unparsable, or naming a host, port, database or
password the server refuses), InstanceError carries one line saying what failed, before any run writes anything.

On PostgreSQL, one direct connection comes first, to the URL Dagster resolves from dagster.yaml: a server that answers
with a refusal (wrong password, no such database) is reported at once, where dagster-postgres would retry a certain
failure for about 12 s; a server that cannot be reached (a restart, a network blip) is tried again for
REACH_SECONDS before the line is given.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy.engine
import sqlalchemy.exc
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.ref import InstanceRef
from sqlalchemy.pool import NullPool

from casi_pipeline.instance_storage import with_kept_engines
from casi_pipeline.settings import POSTGRES_URL_ENV

POSTGRES_MODULE = "dagster_postgres"  # imported only for an instance on PostgreSQL (a SQLite one never needs it)


def _open_errors() -> tuple[type[BaseException], ...]:
    """What opening an instance raises when it cannot; dagster-postgres's own error once that module is loaded."""
    postgres = sys.modules.get(f"{POSTGRES_MODULE}.utils")
    return (
        dg.DagsterError,
        sqlalchemy.exc.SQLAlchemyError,
        yaml.YAMLError,
        OSError,
        *((postgres.DagsterPostgresException,) if postgres else ()),
    )


_UNSET_VARIABLE = re.compile(r'environment variable "([^"]+)" which is not set')
_DRIVER_PREFIX = re.compile(r"^\([\w.]+\) ")  # SQLAlchemy's "(psycopg2.OperationalError) " before the server's words

# A server that cannot be reached is tried again for this long (a restart takes seconds), every RETRY_SECONDS.
REACH_SECONDS = 3.0
RETRY_SECONDS = 0.5
# Per attempt: without it libpq waits on the operating system, minutes for a host that drops packets.
CONNECT_TIMEOUT_SECONDS = 10
# libpq puts the server's answer after its severity ("FATAL:  password authentication failed ..."); with none, the
# server was not reached. Of the answers, only "the database system is starting up" (or shutting down, or in
# recovery) goes away by itself.
_SERVER_ANSWER = re.compile(r"\bFATAL:")
_SERVER_NOT_READY = re.compile(r"the database system is (starting up|shutting down|in recovery mode|not yet accepting)")


class InstanceError(Exception):
    pass


def _reason(error: BaseException) -> str:
    """The innermost cause, in one line: the server's own words (which never include the password)."""
    while error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, dg.DagsterInvalidConfigError):
        for config_error in error.errors:
            if unset := _UNSET_VARIABLE.search(config_error.message):
                return f"{unset.group(1)} is not set"
    if isinstance(error, sqlalchemy.exc.ArgumentError):
        return f"{POSTGRES_URL_ENV}: {error} (expected postgresql://user:password@host:port/database)"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return _DRIVER_PREFIX.sub("", lines[0]) if lines else type(error).__name__


@contextmanager
def _quiet_connection_retries() -> Iterator[None]:
    """dagster-postgres logs every connection retry on the root logger, which would print them all; the caller
    reports the outcome once instead."""
    root, placeholder = logging.getLogger(), logging.NullHandler()
    root.addHandler(placeholder)  # keeps logging.warning() from installing a stderr handler (basicConfig)
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        root.removeHandler(placeholder)


def _may_come_back(error: sqlalchemy.exc.OperationalError) -> bool:
    """The server was not reached, or answered that it is not ready yet: trying again may succeed."""
    words = str(error.orig)
    return not _SERVER_ANSWER.search(words) or bool(_SERVER_NOT_READY.search(words))


def check_postgres(ref: InstanceRef) -> None:
    """Connect once to the PostgreSQL of the instance's `storage: postgres` (its URL as Dagster resolves it: the
    environment variable dagster.yaml names, or postgres_db); raise what the connection raised. Other storages:
    nothing to check."""
    data = ref.storage_data
    if data is None or data.module_name != POSTGRES_MODULE:
        return
    try:
        from dagster_postgres import DagsterPostgresStorage
        from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
    except ImportError:  # without the [deploy] extra: Dagster's own error when it opens the storage
        return
    config_type = resolve_to_config_type(DagsterPostgresStorage.config_type())
    resolved = process_config(config_type, data.config_dict)  # as Dagster does when it opens the storage
    config = resolved.value
    if not resolved.success or config is None:
        raise dg.DagsterInvalidConfigError(
            "Errors whilst loading the storage configuration.", resolved.errors, data.config_dict
        )
    url = pg_url_from_config(config)
    timeout = (
        {}
        if "connect_timeout" in sqlalchemy.engine.make_url(url).query
        else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    engine = create_pg_engine(url, get_token_provider_from_config(config), poolclass=NullPool, connect_args=timeout)
    deadline = time.monotonic() + REACH_SECONDS
    try:
        while True:
            try:
                engine.connect().close()
                return
            except sqlalchemy.exc.OperationalError as error:
                if not _may_come_back(error) or time.monotonic() + RETRY_SECONDS > deadline:
                    raise
            time.sleep(RETRY_SECONDS)
    finally:
        engine.dispose()


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance configured by `<home>/dagster.yaml` (DAGSTER_HOME must point at `home`)."""
    try:
        with _quiet_connection_retries():
            # what DagsterInstance.get() opens, its SQLite storage (if so) keeping its engines
            ref = with_kept_engines(InstanceRef.from_dir(str(home)))
            check_postgres(ref)
            return dg.DagsterInstance.from_ref(ref)
    except _open_errors() as error:
        raise InstanceError(f"cannot open the Dagster instance of {home / 'dagster.yaml'}: {_reason(error)}") from error
