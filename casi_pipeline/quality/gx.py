"""Run a Great Expectations 1.x suite on a DataFrame and turn the result into a Dagster check and one-line errors."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from casi_pipeline.json_values import json_safe
from casi_pipeline.safe_text import escape_markdown

# GX turns on logging.captureWarnings at import, which sends every Python warning in the process to a silent
# logger. Undo it so warnings stay visible.
logging.captureWarnings(False)

SAMPLE_SIZE = 5


@lru_cache(maxsize=1)
def _whole_frame():
    """One batch definition for every frame validated, each passed as a batch parameter: the data source's
    `read_dataframe` would add an asset and save the context's configuration for each frame."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("casi_pipeline").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole frame")


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    description: str
    success: bool
    unexpected_count: int | None
    sample_values: list[Any]
    sample_locations: list[dict[str, Any]]
    observed_value: Any
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "description": self.description,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "sample_values": self.sample_values,
            "sample_locations": self.sample_locations,
            "observed_value": self.observed_value,
            "error": self.error,
        }


def _where(location: dict[str, Any], locate: tuple[str, ...]) -> str:
    parts = []
    for column in locate:
        value = location.get(column)
        if value is None or column == "release_month":
            continue
        parts.append(str(value) if column == "source_file" else f"{column.removeprefix('source_')} {value}")
    return " ".join(parts)


def _shown(value: Any, locate: tuple[str, ...]) -> Any:
    """A multi-column sample (a dict) without the columns the location already names."""
    if not isinstance(value, dict):
        return value
    rest = {column: cell for column, cell in value.items() if column not in locate}
    return next(iter(rest.values())) if len(rest) == 1 else rest


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]
    locate: tuple[str, ...]
    validation: Any = None  # GX's own result (ExpectationSuiteValidationResult), for the Data Docs

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    def failure_lines(self, stage: str) -> list[str]:
        """One line per failed expectation and release month: `<month> <stage>: <file row column>: <what> (found X)`."""
        lines = []
        for outcome in self.failed:
            if outcome.error:
                lines.append(f"{stage}: {outcome.description}: expectation raised {outcome.error}")
                continue
            if not outcome.sample_locations:
                lines.append(f"{stage}: {outcome.description} (observed {outcome.observed_value!r})")
                continue
            seen_months = set()
            # In a run over several months, count each month's own rows when the sample holds them all.
            per_month = Counter(location.get("release_month") for location in outcome.sample_locations)
            complete = len(outcome.sample_locations) >= (outcome.unexpected_count or 0)
            for location, value in zip(outcome.sample_locations, outcome.sample_values, strict=False):
                month = location.get("release_month")
                if month in seen_months:
                    continue
                seen_months.add(month)
                prefix = f"{month} {stage}" if month else stage
                where = _where(location, self.locate)
                count = per_month[month] if complete else (outcome.unexpected_count or 0)
                more = f"; {count} row(s) in all" if count > 1 else ""
                lines.append(f"{prefix}: {where}: {outcome.description} (found {_shown(value, self.locate)!r}{more})")
        return lines

    def check_result(
        self, check_name: str, asset_key: dg.AssetKey, data_docs: Path | None = None
    ) -> dg.AssetCheckResult:
        def row(o: ExpectationOutcome) -> str:
            count = o.unexpected_count if o.unexpected_count is not None else ""
            samples = escape_markdown(", ".join(map(repr, o.sample_values))) if not o.success else ""  # from outside
            return f"| {'✅' if o.success else '❌'} | {o.description} | {count} | {samples} |"

        rows = "\n".join(row(o) for o in self.outcomes)
        summary = "| | expectation | unexpected | sample |\n|---|---|---|---|\n" + rows
        return dg.AssetCheckResult(
            check_name=check_name,
            asset_key=asset_key,
            passed=self.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "suite": self.suite,
                "expectations_total": len(self.outcomes),
                "expectations_failed": len(self.failed),
                "failed": dg.MetadataValue.json([o.as_json() for o in self.failed]),
                "summary": dg.MetadataValue.md(summary),
                # the full results as Great Expectations Data Docs (a page under warehouse/quality/)
                **({"data_docs": dg.MetadataValue.path(str(data_docs))} if data_docs else {}),
            },
        )


def _exception_message(info: Any) -> str | None:
    """GX reports an expectation that crashed either flat or keyed by metric; find the message in both shapes."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for nested in info.values():
        message = _exception_message(nested)
        if message:
            return message
    return None


def run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite, locate: tuple[str, ...]) -> SuiteReport:
    """Validate every row of `frame`; samples of bad values carry the `locate` columns so errors can name a place.

    A first pass asks only for outcomes and counts (GX's BASIC format computes fewer metrics); a suite that fails
    is validated again for its samples and their locations, which only failure lines and check metadata show."""
    batch = _whole_frame().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "BASIC"})
    if not result.success:
        located: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        present = [column for column in locate if column in frame.columns]
        if present:
            located.update(unexpected_index_column_names=present, return_unexpected_index_query=False)
        result = batch.validate(suite, result_format=located)
    outcomes = []
    for item in result.results:
        details = json_safe(item.to_json_dict().get("result") or {})
        config = item.expectation_config
        error = _exception_message(item.exception_info)
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                description=config.description or config.type,
                success=bool(item.success),
                unexpected_count=details.get("unexpected_count"),
                sample_values=details.get("partial_unexpected_list", [])[:SAMPLE_SIZE],
                sample_locations=details.get("partial_unexpected_index_list", [])[:SAMPLE_SIZE],
                observed_value=details.get("observed_value"),
                error=error,
            )
        )
    return SuiteReport(suite.name, bool(result.success), outcomes, tuple(locate), result)


def metadata_json(value: Any) -> dg.MetadataValue:
    return dg.MetadataValue.json(json.loads(json.dumps(json_safe(value), default=str)))
