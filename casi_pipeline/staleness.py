"""Which release months are missing or stale, and why, decided from the raw root and the Dagster instance alone.

It is the rule Dagster's own staleness uses (and shows in the UI), evaluated cheaply for the CLI and the sensor
without loading the code location or starting a run:
- the raw source (`raw_drops`, `redteam_raw`) is observed per month: an observation with the month's data version
  (versions.py) and the files behind it is recorded whenever the version differs from the last one observed;
- a month is *missing* when some stage of its chain has never been materialised for it;
- a month is *stale* when the version observed before its last materialisation (Dagster records that observation's
  storage id on the materialisation as `dagster/input_event_pointer/<source>`) differs from the current one, or when
  a stage's recorded `dagster/code_version` differs from the stage's current code version, or when its stages were
  last written by different runs (a run killed between two stages' writes), or by a run that did not finish (killed
  after its writes, before it committed the month).
A drop that was deleted is reported: the months it fed keep their stored tables and published history.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import dagster as dg

# Dagster's own tag names for provenance (not exported at the top level).
from dagster._core.definitions.data_version import CODE_VERSION_TAG, DATA_VERSION_TAG, get_input_event_pointer_tag

from casi_pipeline import months as month_keys
from casi_pipeline import versions
from casi_pipeline.storage.objects import Root

FILES_METADATA = "files"  # on each observation: the files that feed the month, name -> sha256 (JSON)
PREVIOUS_METADATA = "previous_month_files"  # and those of the month before, when the chain reads it
PAGE = 1000
# One run's own cost is worth a few months of stage work (README, "Running it"), so a
# gap of up to 2 fresh months between stale ones is cheaper to re-run inside one run than to pay for a second run.
MAX_COVERED_GAP = 2


@dataclass(frozen=True)
class Chain:
    """A raw source and the partitioned stages built from it, first to last."""

    name: str
    source: str
    stages: tuple[str, ...]
    files_by_month: Callable[[Root], dict[str, dict[str, str]]]
    data_versions: Callable[[Root, dict[str, dict[str, str]]], dict[str, str]]
    reads_previous_month: bool  # the last stage reads the month before (the leaderboard's change since then)

    def previous_files(self, files: dict[str, dict[str, str]], month: str) -> dict[str, str]:
        return files.get(month_keys.shift(month, -1), {}) if self.reads_previous_month else {}


RELEASE = Chain(
    "release",
    "raw_drops",
    ("ingest", "validate", "normalise", "restatements", "leaderboard"),
    versions.files_by_month,
    versions.release_data_versions,
    reads_previous_month=True,
)
REDTEAM = Chain(
    "redteam",
    "redteam_raw",
    ("redteam_ingest", "redteam_validate", "redteam_normalise", "redteam_scores"),
    versions.redteam_files_by_month,
    versions.redteam_data_versions,
    reads_previous_month=False,
)


@dataclass(frozen=True)
class Observed:
    storage_id: int
    version: str
    files: dict[str, str]
    previous_files: dict[str, str]


@dataclass
class Plan:
    chain: Chain
    files: dict[str, dict[str, str]]  # month -> files feeding it (name -> sha256 or fingerprint)
    versions: dict[str, str]  # month -> its current data version
    stale: dict[str, str] = field(default_factory=dict)  # month -> why it must run
    deleted: dict[str, list[str]] = field(default_factory=dict)  # deleted file -> months it fed that remain stored

    @property
    def months(self) -> list[str]:
        return sorted(self.files)

    @property
    def up_to_date(self) -> list[str]:
        return [month for month in self.months if month not in self.stale]

    def months_fed_by(self) -> dict[str, list[str]]:
        """Each file -> the months it feeds (for refusing a file whole)."""
        fed: dict[str, list[str]] = {}
        for month in self.months:
            for name in self.files[month]:
                fed.setdefault(name, []).append(month)
        return fed


def _observations(instance: dg.DagsterInstance, source: str) -> dict[str, list[Observed]]:
    """Every observation of the source with a data version, per month, oldest first."""
    by_month: dict[str, list[Observed]] = {}
    cursor = None
    while True:
        result = instance.fetch_observations(dg.AssetKey(source), limit=PAGE, cursor=cursor, ascending=True)
        for record in result.records:
            observation = record.asset_observation
            version = (observation.tags or {}).get(DATA_VERSION_TAG) if observation else None
            if record.partition_key and version:
                assert observation is not None  # it has a version
                files, previous = (
                    _json(observation.metadata.get(name)) for name in (FILES_METADATA, PREVIOUS_METADATA)
                )
                by_month.setdefault(record.partition_key, []).append(
                    Observed(record.storage_id, version, files, previous)
                )
        if not result.has_more:
            return by_month
        cursor = result.cursor


def _json(entry: dg.MetadataValue | None) -> dict[str, str]:
    # observe() records these entries as JSON objects of file name -> version
    return cast(dict[str, str], entry.value) if isinstance(entry, dg.JsonMetadataValue) else {}


@dataclass(frozen=True)
class Materialised:
    run_id: str
    tags: dict[str, str]


def _latest(instance: dg.DagsterInstance, stage: str, months: list[str]) -> dict[str, Materialised]:
    """Each month's latest materialisation of a stage: its run and tags."""
    key = dg.AssetKey(stage)
    ids = instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(months))
    if not ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())), limit=len(ids)
    ).records
    latest = {}
    for record in records:
        materialization = record.asset_materialization
        # fetched by the storage ids of partitioned materialisations
        assert record.partition_key is not None and materialization is not None
        latest[record.partition_key] = Materialised(record.run_id, dict(materialization.tags or {}))
    return latest


def _changes(before: dict[str, str], now: dict[str, str]) -> str:
    changed = [f"{name} is new" for name in sorted(now.keys() - before.keys())]
    changed += [f"{name} changed" for name in sorted(now.keys() & before.keys()) if now[name] != before[name]]
    changed += [f"{name} was removed" for name in sorted(before.keys() - now.keys())]
    return "; ".join(changed) or "its drops changed"


def observe(
    instance: dg.DagsterInstance,
    chain: Chain,
    files: dict[str, dict[str, str]],
    current: dict[str, str],
    observed: dict[str, list[Observed]],
) -> list[str]:
    """Record an observation of each month whose version differs from the last one observed; returns them."""
    changed = [
        month
        for month, version in sorted(current.items())
        if not observed.get(month) or observed[month][-1].version != version
    ]
    for month in changed:
        instance.report_runless_asset_event(
            dg.AssetObservation(
                asset_key=chain.source,
                partition=month,
                tags={DATA_VERSION_TAG: current[month]},
                metadata={
                    FILES_METADATA: dg.MetadataValue.json(files[month]),
                    PREVIOUS_METADATA: dg.MetadataValue.json(chain.previous_files(files, month)),
                },
            )
        )
    return changed


def plan(instance: dg.DagsterInstance, root: Root, chain: Chain, *, rebuild: bool = False) -> Plan:
    """Observe the source, then work out which months are missing or stale, and why."""
    files = chain.files_by_month(root)
    current = chain.data_versions(root, files)
    observed = _observations(instance, chain.source)
    observe(instance, chain, files, current, observed)
    result = Plan(chain, files, current)
    months = sorted(current)
    latest = {stage: _latest(instance, stage, months) for stage in chain.stages}
    statuses: dict[str, bool] = {}

    def finished(run_id: str) -> bool:
        if run_id not in statuses:
            run = instance.get_run_by_id(run_id)
            statuses[run_id] = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        return statuses[run_id]

    pointer_tag = get_input_event_pointer_tag(dg.AssetKey(chain.source))
    for month in months:
        if rebuild:
            result.stale[month] = "rebuild requested (--all)"
            continue
        missing = [stage for stage in chain.stages if month not in latest[stage]]
        if missing:
            result.stale[month] = (
                "never materialised" if len(missing) == len(chain.stages) else f"not materialised: {', '.join(missing)}"
            )
            continue
        tags = {stage: latest[stage][month].tags for stage in chain.stages}
        last_run = latest[chain.stages[0]][month].run_id
        behind = [stage for stage in chain.stages if latest[stage][month].run_id != last_run]
        if behind:  # a run that stopped between two stages' writes (killed): its month is not complete
            result.stale[month] = f"run {last_run} did not complete it ({', '.join(behind)} older)"
            continue
        if not finished(last_run):  # killed after its writes, before its month was committed and published
            result.stale[month] = f"run {last_run} did not finish"
            continue
        at_run = _observed_at(observed.get(month, []), tags[chain.stages[0]].get(pointer_tag))
        if at_run is None or at_run.version != current[month]:
            before = {**at_run.previous_files, **at_run.files} if at_run else {}
            result.stale[month] = _changes(before, {**chain.previous_files(files, month), **files[month]})
            continue
        code = [
            f"{stage} code version {tags[stage].get(CODE_VERSION_TAG)} -> {versions.code_version(stage)}"
            for stage in chain.stages
            if tags[stage].get(CODE_VERSION_TAG) != versions.code_version(stage)
        ]
        if code:
            result.stale[month] = "; ".join(code)
    result.deleted = _deleted(observed, files)
    return result


def _observed_at(history: list[Observed], pointer: str | None) -> Observed | None:
    """The month's last observation at or before the storage id a materialisation recorded."""
    if not pointer or not pointer.isdigit():
        return None
    position = bisect.bisect_right([entry.storage_id for entry in history], int(pointer))
    return history[position - 1] if position else None


def _deleted(observed: dict[str, list[Observed]], files: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Files once observed that no drop holds any more -> the months they fed (whose stored tables and published
    history stay; rows no current drop produces are kept in leaderboard_history with in_current_data = false)."""
    present = {name for month_files in files.values() for name in month_files}
    gone: dict[str, set[str]] = {}
    for month, history in observed.items():
        for name in history[-1].files:
            if name not in present:
                gone.setdefault(name, set()).add(month)
    return {name: sorted(months) for name, months in sorted(gone.items())}


def count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def describe_deleted(plan: Plan) -> list[str]:
    """One line per deleted file, for the CLI and the sensor."""
    return [
        f"{name} was deleted: release months {', '.join(months)} keep their published history "
        f"(rows no drop produces any more stay, in_current_data = false)"
        for name, months in plan.deleted.items()
    ]


def blocks(months: list[str], refused: set[str]) -> list[tuple[str, str]]:
    """Contiguous ranges covering `months`, one run each: a gap of up to MAX_COVERED_GAP months between two stale
    months is covered (its months re-run and write identical tables), a longer gap or a refused month splits."""
    ranges: list[tuple[str, str]] = []
    for month in sorted(months):
        if month in refused:
            continue
        gap = month_keys.span(ranges[-1][1], month)[1:-1] if ranges else []
        if ranges and len(gap) <= MAX_COVERED_GAP and not refused.intersection(gap):
            ranges[-1] = (ranges[-1][0], month)
        else:
            ranges.append((month, month))
    return ranges
