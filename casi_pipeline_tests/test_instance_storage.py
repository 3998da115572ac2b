"""The local instance's storage (casi_pipeline.instance_storage): Dagster's SQLite files, written with kept engines;
other storages untouched."""

import sqlite3

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster._core.instance.ref import InstanceRef

from casi_pipeline.instance import open_instance
from casi_pipeline.instance_storage import KEPT_ENGINES, Engines, LocalEventLogStorage, LocalRunStorage, with_kept_engines
from casi_pipeline.settings import prepare_dagster_home

from .postgres import DEPLOY_INSTANCE


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
def counted(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"partition": context.partition_key})


def test_the_pipelines_instance_writes_files_a_stock_sqlite_instance_reads(tmp_path):
    home = prepare_dagster_home(tmp_path / "home")
    with open_instance(home) as instance:
        assert isinstance(instance.event_log_storage, LocalEventLogStorage)
        assert isinstance(instance.run_storage, LocalRunStorage)
        runs = [dg.materialize([counted], instance=instance, partition_key=key).run_id for key in ("a", "b")]

    # the same files, opened the way `dagster dev` and the daemon open the home
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as stock:
        assert type(stock.event_log_storage) is SqliteEventLogStorage
        assert {run.run_id for run in stock.get_runs()} == set(runs)
        assert all(stock.get_run_by_id(run_id).is_success for run_id in runs)
        records = stock.fetch_materializations(dg.AssetKey("counted"), limit=10).records
        assert sorted(record.partition_key for record in records) == ["a", "b"]
        assert stock.all_logs(runs[0], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)


def test_engines_and_connections_are_kept_per_database_and_bounded(tmp_path):
    engines = Engines()
    url = f"sqlite:///{tmp_path / 'first.db'}"
    with engines.transaction(url) as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    first = engines.get(url)
    assert first.pool.checkedin() == 1  # its connection kept for the next statement
    with engines.transaction(url) as connection:
        assert connection.engine is first
    for index in range(KEPT_ENGINES):
        engines.get(f"sqlite:///{tmp_path / f'{index}.db'}")
    # the least recently used went, its connection closed; the others stay
    assert first.pool.checkedin() == 0
    assert engines.get(url) is not first
    assert len(engines._engines) == KEPT_ENGINES


def test_disposing_the_instance_closes_every_kept_connection(tmp_path):
    home = prepare_dagster_home(tmp_path / "home")
    with open_instance(home) as instance:
        dg.materialize([counted], instance=instance, partition_key="a")
        storage = instance.event_log_storage
        kept = list(storage._engines._engines.values())
        assert sum(engine.pool.checkedin() for engine in kept) >= 2  # the index and the run's own database
    assert sum(engine.pool.checkedin() for engine in kept) == 0
    assert instance.run_storage._engine.pool.checkedin() == 0


def test_every_kept_connection_commits_without_waiting_for_the_disk_in_wal_mode(tmp_path):
    """synchronous=NORMAL (1) on every database of the instance, which Dagster keeps in WAL mode; SQLite's default
    in a plain connection is FULL (2)."""
    home = prepare_dagster_home(tmp_path / "home")
    with open_instance(home) as instance:
        dg.materialize([counted], instance=instance, partition_key="a")
        engines = [*instance.event_log_storage._engines._engines.values(), instance.run_storage._engine]
        assert len(engines) >= 3  # the event index, the run's own database, the runs
        for engine in engines:
            with engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1, engine.url
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal", engine.url
    with Engines().transaction(f"sqlite:///{tmp_path / 'plain.db'}") as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    assert sqlite3.connect(tmp_path / "plain.db").execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_table_found_is_remembered_and_a_missing_one_asked_again(tmp_path):
    """Dagster asks has_table at every asset event; the answer comes from the index database, and only a table that
    exists is remembered (a migration may add one later; none removes one)."""
    home = prepare_dagster_home(tmp_path / "home")
    with open_instance(home) as instance:
        storage = instance.event_log_storage
        assert storage.has_table("asset_event_tags") and storage.supports_asset_checks
        assert not storage.has_table("added_later")
        index = storage._engines.get(storage.conn_string_for_shard("index"))
        with index.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE added_later (n INTEGER)")
        assert storage.has_table("added_later")
        assert storage._tables_found >= {"asset_event_tags", "asset_check_executions", "added_later"}
        with index.begin() as connection:
            connection.exec_driver_sql("DROP TABLE added_later")
        assert storage.has_table("added_later")  # remembered: no query
        storage.wipe()
        assert not storage.has_table("added_later")


def test_a_statement_that_fails_rolls_back_and_the_engine_still_serves(tmp_path):
    engines = Engines()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with engines.transaction(url) as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    with pytest.raises(Exception, match="no such table"), engines.transaction(url) as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        connection.exec_driver_sql("INSERT INTO missing VALUES (1)")
    with engines.transaction(url) as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0


def test_only_dagsters_sqlite_storage_is_swapped(tmp_path):
    (tmp_path / "dagster.yaml").write_text(DEPLOY_INSTANCE.read_text())
    postgres = InstanceRef.from_dir(str(tmp_path))
    assert with_kept_engines(postgres) is postgres
