"""The IO manager: stores each asset as a Parquet table in the warehouse (storage.parquet_io's layout) and loads
it back as an input. Nothing else: reads by stage code and reports, and the run locks, are the warehouse resource's.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow as pa

from casi_pipeline.storage import commits
from casi_pipeline.storage.parquet_io import PARTITION_COLUMN, partition_path, table_path, write_atomically
from casi_pipeline.storage.warehouse import Warehouse


class HiveParquetIOManager(dg.IOManager):
    """Stores each asset as a Parquet table under the warehouse root; partitioned assets split by release month."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def _table(self, context: dg.OutputContext | dg.InputContext) -> str:
        return context.asset_key.path[-1]

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """An unpartitioned table replaces its one file; a month of a partitioned table is staged aside under the
        run's id, and lands when the stage chain commits the month (commit_months), together with its other tables."""
        root, table = self.warehouse.path, self._table(context)
        if not context.has_asset_partitions:
            write_atomically(obj, table_path(root, table))
            return
        # converted to Arrow once and split there: a pandas selection per month copies every column (the same bytes)
        rows = pa.Table.from_pandas(obj.drop(columns=PARTITION_COLUMN), preserve_index=False)
        month_of_row = obj[PARTITION_COLUMN].to_numpy()
        for release_month in context.asset_partition_keys:
            part = rows.filter(pa.array(month_of_row == release_month))
            write_atomically(part, commits.staged_path(partition_path(root, table, release_month), context.run_id))

    def commit_months(self, release_months: list[str], tables: list[str], run_id: str) -> None:
        """Land the tables this run staged for each month: one commit record per month, written last."""
        root = self.warehouse.path
        for release_month in release_months:
            commits.commit(
                root, release_month, {table: partition_path(root, table, release_month) for table in tables}, run_id
            )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = self._table(context)
        if context.has_asset_partitions:
            return self.warehouse.read_partitions(table, list(context.asset_partition_keys))
        return self.warehouse.read_table(table)


# A function-style IO manager: a Pythonic one holding the warehouse as a nested resource sets off a deprecation
# warning inside Dagster 1.13 (InitResourceContext.dagster_run) at every run.
@dg.io_manager(required_resource_keys={"warehouse"})
def hive_parquet_io_manager(context: dg.InitResourceContext) -> HiveParquetIOManager:
    return HiveParquetIOManager(context.resources.warehouse)
