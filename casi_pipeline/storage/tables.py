"""Declared table schemas: one list of columns feeds the stored dtypes, the UI's column schema and column lineage."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pandas as pd

PANDAS_DTYPES = {"str": "str", "int": "int64", "float": "float64", "bool": "bool"}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # one of PANDAS_DTYPES
    description: str
    # (asset, column) pairs this column is computed from; `*` in the asset stands for "same column name".
    lineage: tuple[tuple[str, str], ...] = ()


IDENTITY = (
    ("model_id", "canonical model id"),
    ("provider", "canonical provider"),
    ("model", "canonical model display name"),
)


def model_identity(upstream: str) -> tuple[Column, ...]:
    """The canonical model columns, each copied from the same column of `upstream`."""
    return tuple(Column(name, "str", description, ((upstream, name),)) for name, description in IDENTITY)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Exactly the declared columns, in order, with the declared dtypes (also for an empty frame)."""
        out = pd.DataFrame(index=frame.index)
        for column in self.columns:
            values = frame[column.name] if column.name in frame else pd.Series(None, index=frame.index, dtype=object)
            out[column.name] = values.astype(PANDAS_DTYPES[column.dtype])
        return out.reset_index(drop=True)

    def empty(self) -> pd.DataFrame:
        return self.conform(pd.DataFrame())

    def schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[dg.TableColumn(name=c.name, type=c.dtype, description=c.description) for c in self.columns]
        )

    def column_lineage(self) -> dg.TableColumnLineage:
        return dg.TableColumnLineage(
            deps_by_column={
                c.name: [
                    dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=column) for asset, column in c.lineage
                ]
                for c in self.columns
                if c.lineage
            }
        )
