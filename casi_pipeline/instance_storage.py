"""The local instance's storage: Dagster's SQLite storages, each keeping its engines and their connections.

Dagster's SQLite storages build a new engine for every statement (`create_engine(..., poolclass=NullPool)` in
their `connect`): each statement opens the database file, and each new engine sets up SQLAlchemy's dialect on its
first connection. That is most of the cost of storing an event, and a range run stores a few hundred. These
subclasses keep one engine per database file, with SQLAlchemy's connection pool. A pooled connection is returned
rolled back, so between statements it holds no lock: the files, their layout and their locking are Dagster's own,
and the UI, the daemon and a plain `storage: sqlite` instance read and write the same DAGSTER_HOME beside it.

Opening a SQLite database, Dagster checks and stamps its alembic revision (each storage, and each run's event log
database), and alembic reads every migration script of Dagster's for each of those: most of the cost of opening a
fresh instance or a run's database. The local storage reads the scripts once per process (`read_scripts_once`).

dagster.yaml stays Dagster's own: `with_kept_engines` swaps the storage class when the pipeline opens an instance
whose storage is Dagster's SQLite one (the default), and leaves any other (PostgreSQL) as configured.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

SQLITE_STORAGE = ("dagster._core.storage.sqlite_storage", "DagsterSqliteStorage")  # Dagster's default storage
# Engines kept per storage: the event log has one database per run, so a long-lived instance would otherwise keep
# an engine (and its open connections) for every run it ever touched.
KEPT_ENGINES = 64


def _engine(conn_string: str, **connect_args: Any) -> Engine:
    """An engine whose connections do not wait for the disk at every commit (`PRAGMA synchronous=NORMAL`).

    Dagster's databases are in WAL mode; with SQLite's default (FULL) each commit, so each stored event, waits for
    the log to reach the disk. With NORMAL a commit survives a crash of the process, and the database stays
    consistent after a power loss, which may lose the last events (SQLite's own advice for WAL). The published
    tables do not depend on them: their commit records are flushed to disk, and a month whose events were lost is
    seen as stale and run again, to the same bytes."""
    engine = create_engine(conn_string, connect_args=connect_args)
    event.listen(engine, "connect", lambda connection, _record: connection.execute("PRAGMA synchronous=NORMAL"))
    return engine


class Engines:
    """SQLAlchemy engines by connection string, the KEPT_ENGINES most recently used kept; one let go closes its
    connections."""

    def __init__(self, **connect_args: Any):
        self._connect_args = connect_args
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()  # the event log's watcher threads connect too

    def get(self, conn_string: str) -> Engine:
        with self._lock:
            engine = self._engines.pop(conn_string, None) or _engine(conn_string, **self._connect_args)
            self._engines[conn_string] = engine
            if len(self._engines) > KEPT_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def transaction(self, conn_string: str) -> Iterator[Connection]:
        """What Dagster's `connect` yields: a connection inside a transaction, returned to the pool on leaving."""
        with self.get(conn_string).connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        """Close every kept connection (the engines stay usable and reconnect on demand)."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()


class _KeptEngine:
    """`connect` of Dagster's single-database SQLite storages (runs, schedules) through one kept engine."""

    _conn_string: str

    @cached_property
    def _engine(self) -> Engine:
        return _engine(self._conn_string)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        if "_engine" in self.__dict__:
            self._engine.dispose()


class LocalRunStorage(_KeptEngine, SqliteRunStorage):
    pass


class LocalScheduleStorage(_KeptEngine, SqliteScheduleStorage):
    pass


class LocalEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines = Engines(timeout=SQLITE_BUSY_TIMEOUT_SECONDS)  # before Dagster's set-up, which may connect
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """Dagster's `_connect` (one database per run, created on first use) with the shard's kept engine."""
        with self._db_lock:
            conn_string = self.conn_string_for_shard(shard)
            if shard not in self._initialized_dbs:
                self._initdb(self._engines.get(conn_string))
                self._initialized_dbs.add(shard)
            with self._engines.transaction(conn_string) as connection:
                yield connection

    def has_table(self, table_name: str) -> bool:
        """Dagster's check, asked again at every asset event (and building an engine each time), on the index
        database's kept engine. A table found is remembered: migrations only add tables."""
        if table_name in self._tables_found:
            return True
        with self._engines.get(self.conn_string_for_shard(INDEX_SHARD_NAME)).connect() as connection:
            found = bool(connection.dialect.has_table(connection, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    def wipe(self) -> None:
        self._engines.dispose()  # no connection left open on the run databases wipe deletes
        self._tables_found.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


_read_scripts = ScriptDirectory.from_config.__func__  # type: ignore[attr-defined]
_scripts: dict[tuple[type, str | None], ScriptDirectory] = {}
_scripts_lock = threading.Lock()


def _scripts_read_once(cls: type[ScriptDirectory], config: Config) -> ScriptDirectory:
    """alembic's `ScriptDirectory.from_config`, once per script location: the migration scripts installed with
    Dagster do not change while the process runs. Dagster calls it for each revision check and stamp."""
    key = (cls, config.get_main_option("script_location"))
    with _scripts_lock:
        if key not in _scripts:
            _scripts[key] = _read_scripts(cls, config)
        return _scripts[key]


def read_scripts_once() -> None:
    """alembic's `ScriptDirectory.from_config` replaced by `_scripts_read_once`; calling it again changes nothing."""
    ScriptDirectory.from_config = classmethod(_scripts_read_once)  # type: ignore[method-assign,assignment]


class LocalSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` with the storages above: the same files under `base_dir` (DAGSTER_HOME)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        read_scripts_once()
        # DagsterSqliteStorage.__init__ with these classes (calling it would open its own storages first)
        self.base_dir = base_dir
        self._run_storage = LocalRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = LocalEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = LocalScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> LocalSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def with_kept_engines(ref: InstanceRef) -> InstanceRef:
    """`ref` with LocalSqliteStorage in place of Dagster's SQLite storage, on the same base_dir; any other storage
    as configured."""
    data = ref.storage_data
    if data is None or (data.module_name, data.class_name) != SQLITE_STORAGE:
        return ref
    return ref._replace(storage_data=ConfigurableClassData(__name__, LocalSqliteStorage.__name__, data.config_yaml))
