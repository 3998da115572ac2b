"""The data-quality summary of a board: the check evaluations the Dagster instance recorded for the run that landed it.

Read from the instance rather than copied into a table, so the report shows exactly what the UI shows. No run ids
or times go into the summary: a re-run that finds the same gives the same report, byte for byte.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

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


def _value(metadata: Mapping[str, Any], key: str) -> Any:
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
    shown = tuple(
        ", ".join(f"{key}: {value}" for key, value in row.items()) if isinstance(row, dict) else str(row)
        for row in found[:FOUND_SHOWN]
    )
    return CheckOutcome(
        evaluation.asset_key.to_user_string(), evaluation.check_name, _status(evaluation), detail, shown
    )


def _evaluated_in(
    instance: dg.DagsterInstance, run_id: str, assets: Collection[str]
) -> dict[dg.AssetCheckKey, CheckOutcome]:
    """The checks of `assets` evaluated in the run, from its event log, in the order they ran."""
    latest = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        assert entry.dagster_event is not None  # of_type: only events of that type
        evaluation = entry.dagster_event.asset_check_evaluation_data
        if evaluation.asset_key.to_user_string() in assets:  # evaluated twice in one run: its last evaluation
            latest[evaluation.asset_check_key] = _outcome(evaluation)
    return latest


def landed_with(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    partition: str | None = None,
    assets: Collection[str] | None = None,
) -> list[CheckOutcome]:
    """The checks of `assets` (default: `asset_key` alone) evaluated in the run that last materialised `asset_key`
    (that partition of it), in the order they ran."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records:
        return []
    wanted = set(assets) if assets is not None else {asset_key.to_user_string()}
    return list(_evaluated_in(instance, records[0].run_id, wanted).values())


RUNS_LOOKED_AT = 10_000  # evaluations per check read at once; a run further back is read from its own log


class LandedChecks:
    """`landed_with` for many months at once: the latest materialisation of each partition in one query, and the
    evaluations of the given checks from the instance's check index (one query per check) instead of opening each
    run's event log. Same outcomes, in the order of `check_keys`."""

    def __init__(self, instance: dg.DagsterInstance, asset_key: dg.AssetKey, check_keys: Iterable[dg.AssetCheckKey]):
        self.instance, self.check_keys = instance, list(check_keys)
        storage = instance.event_log_storage
        latest = storage.get_latest_storage_id_by_partition(asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION)
        records = (
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=list(latest.values())), limit=len(latest) or 1
            ).records
            if latest
            else []
        )
        self.run_of = {record.partition_key: record.run_id for record in records}
        self.by_run: dict[str, dict[dg.AssetCheckKey, CheckOutcome]] = {}
        histories = [
            storage.get_asset_check_execution_history(
                key, limit=RUNS_LOOKED_AT, status=COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
            )
            for key in self.check_keys
        ]
        for key, history in zip(self.check_keys, histories, strict=True):
            for record in reversed(history):  # oldest first: a check evaluated twice in a run keeps its last
                if record.event is not None and record.event.dagster_event is not None:
                    self.by_run.setdefault(record.run_id, {})[key] = _outcome(
                        record.event.dagster_event.asset_check_evaluation_data
                    )
        self.read_all = all(len(history) < RUNS_LOOKED_AT for history in histories)

    def of(self, partition: str) -> list[CheckOutcome]:
        """The checks evaluated in the run that last materialised the partition, in the order of `check_keys`."""
        run_id = self.run_of.get(partition)
        if run_id is None:
            return []
        found = self.by_run.get(run_id)
        if found is None and not self.read_all:  # a run further back than what was read at once
            found = _evaluated_in(self.instance, run_id, {key.asset_key.to_user_string() for key in self.check_keys})
        if found is None:
            return []
        return [found[key] for key in self.check_keys if key in found]
