"""The expectation suites as Great Expectations JSON, one file per stage, in casi_pipeline/quality/expectations/.

The suites are built in Python (casi_pipeline.release.suites, casi_pipeline.published.suites) so that every bound
comes from the reference catalogues, one source; the JSON files are their committed, reviewable form, the same JSON a
GX file context writes and `gx.ExpectationSuite(**json.load(f))` reads back. A test fails when a file differs from
what the catalogues give; regenerate them with `python -m casi_pipeline.quality.suite_files`.
"""

from __future__ import annotations

import json
from pathlib import Path

import great_expectations as gx

from casi_pipeline.published.suites import history_suite, models_suite
from casi_pipeline.reference import methodology, metric_catalogue
from casi_pipeline.release import suites
from casi_pipeline.release.tables import INGEST
from casi_pipeline.storage.files import write_text_atomically

FOLDER = Path(__file__).parent / "expectations"


def current_suites() -> list[gx.ExpectationSuite]:
    """Every Great Expectations suite the stages run (the red-team stages check rows in DuckDB instead)."""
    return [
        suites.ingest_suite(INGEST.names, metric_catalogue()),
        suites.validate_suite(metric_catalogue()),
        suites.normalise_suite(metric_catalogue()),
        suites.restatements_suite(metric_catalogue()),
        suites.leaderboard_suite(metric_catalogue(), methodology()),
        models_suite(),
        history_suite(methodology()),
    ]


def suite_json(suite: gx.ExpectationSuite) -> str:
    return json.dumps(suite.to_json_dict(), indent=2) + "\n"


def suite_path(name: str) -> Path:
    return FOLDER / f"{name}.json"


def load(name: str) -> gx.ExpectationSuite:
    """A committed suite, as Great Expectations reads it."""
    return gx.ExpectationSuite(**json.loads(suite_path(name).read_text()))


def write_all() -> list[Path]:
    written = []
    for suite in current_suites():
        write_text_atomically(suite_path(suite.name), suite_json(suite))
        written.append(suite_path(suite.name))
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
