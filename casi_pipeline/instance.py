"""Opening the Dagster instance of DAGSTER_HOME: SQLite in the folder by default, PostgreSQL with deploy/dagster.yaml.

When the instance cannot be opened (DAGSTER_POSTGRES_URL unset, unparsable, or naming a host, port, database or
password the server refuses), InstanceError carries one line saying what failed, before any run writes anything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy.exc
import yaml

from casi_pipeline.settings import POSTGRES_URL_ENV

try:
    from dagster_postgres.utils import DagsterPostgresException

    _POSTGRES_ERRORS: tuple[type[Exception], ...] = (DagsterPostgresException,)
except ImportError:  # without the [deploy] extra the instance cannot be on PostgreSQL, so this is never raised
    _POSTGRES_ERRORS = ()

OPEN_ERRORS: tuple[type[BaseException], ...] = (
    dg.DagsterError,
    *_POSTGRES_ERRORS,
    sqlalchemy.exc.SQLAlchemyError,
    yaml.YAMLError,
    OSError,
)
_UNSET_VARIABLE = re.compile(r'environment variable "([^"]+)" which is not set')
_DRIVER_PREFIX = re.compile(r"^\([\w.]+\) ")  # SQLAlchemy's "(psycopg2.OperationalError) " before the server's words


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


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance configured by `<home>/dagster.yaml` (DAGSTER_HOME must point at `home`)."""
    try:
        with _quiet_connection_retries():
            return dg.DagsterInstance.get()
    except OPEN_ERRORS as error:
        raise InstanceError(f"cannot open the Dagster instance of {home / 'dagster.yaml'}: {_reason(error)}") from error
