"""The data-quality summary of a board: the check evaluations the Dagster instance recorded for the run that landed it.

Read from the instance rather than copied into a table, so the report shows exactly what the UI shows. No run ids
or times go into the summary: a re-run that finds the same gives the same report, byte for byte.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import dagster as dg

PASSED, WARNED, FAILED = "passed", "warned", "failed"
FOUND_SHOWN = 5  # WARN findings listed per check; the full list is in the check's metadata in the UI


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    check: str
    status: str  # PASSED, WARNED or FAILED
    detail: str  # what was checked, or what was found
    found: tuple[str, ...] = ()  # the first WARN findings, as text


def _status(evaluation: dg.AssetCheckEvaluation) -> str:
    if evaluation.passed:
        return PASSED
    return WARNED if evaluation.severity == dg.AssetCheckSeverity.WARN else FAILED


def _value(metadata: dict, key: str):
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _outcome(evaluation: dg.AssetCheckEvaluation) -> CheckOutcome:
    metadata = evaluation.metadata
    total = _value(metadata, "expectations_total")
    if total is not None:
        failed = _value(metadata, "expectations_failed") or 0
        detail = f"{total - failed} of {total} expectations met"
        found: list = []
    else:
        found = _value(metadata, "found") or []
        detail = f"{_value(metadata, 'count') or 0} found"
    shown = tuple(", ".join(f"{key}: {value}" for key, value in row.items()) if isinstance(row, dict) else str(row)
                  for row in found[:FOUND_SHOWN])
    return CheckOutcome(evaluation.asset_key.to_user_string(), evaluation.check_name, _status(evaluation), detail, shown)


def landed_with(instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None,
                assets: Collection[str] | None = None) -> list[CheckOutcome]:
    """The checks of `assets` (default: `asset_key` alone) evaluated in the run that last materialised `asset_key`
    (that partition of it), in the order they ran."""
    wanted = set(assets) if assets is not None else {asset_key.to_user_string()}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1,
    ).records
    if not records:
        return []
    latest = {}
    for entry in instance.all_logs(records[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.asset_check_evaluation_data
        asset = evaluation.asset_key.to_user_string()
        if asset in wanted:  # a check evaluated twice in one run keeps its last evaluation
            latest[(asset, evaluation.check_name)] = _outcome(evaluation)
    return list(latest.values())
