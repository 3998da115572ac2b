"""Each run's validation results as Great Expectations Data Docs, browsable under warehouse/quality/.

`index.html` lists the newest results; each result has its own page,
`validations/<suite>/<run id>/<run time>/<months>.html`, which the check's metadata links to. The results
themselves are kept as GX JSON in `results/`, so the index of a later run still lists them. Data Docs are a log of
runs, not data: they carry run ids and times, change with every run (a refused one too) and are left out of the
byte-identical re-run guarantee. GX's pages load their CSS and scripts from CDNs: offline they are unstyled but
readable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

FOLDER = "quality"  # warehouse/quality/
SITE = "warehouse"
INDEX = "index.html"
RESULTS = "results"
INDEX_LIMIT = 500  # results listed on the index page, newest first; older pages stay on disk
RUN_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # how GX names a run-time folder
WHOLE_TABLE = "all"  # the batch name of an unpartitioned table's result


def folder(warehouse: Path) -> Path:
    return warehouse / FOLDER


@lru_cache(maxsize=8)
def _context(root: str):
    """An in-memory GX context whose validation results and Data Docs site live under `root`."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    backend = {"class_name": "TupleFilesystemStoreBackend"}
    context.delete_store("validation_results_store")
    context.add_store("validation_results_store", {"class_name": "ValidationResultsStore",
                                                   "store_backend": {**backend, "base_directory": f"{root}/{RESULTS}"}})
    context.add_data_docs_site(SITE, {
        "class_name": "SiteBuilder", "show_how_to_buttons": False,
        "store_backend": {**backend, "base_directory": root},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_LIMIT},
    })
    return context


class RunDocs:
    """The validation results of one run: `add` each as it is validated, `build` the pages once at the end (one
    Data Docs build per run, not per suite)."""

    def __init__(self, warehouse: Path, run_id: str):
        self.root = folder(warehouse)
        self.run = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
        self.keys: list[ValidationResultIdentifier] = []

    def add(self, validation, suite: str, release_months: list[str]) -> Path:
        """Store one suite's result; returns the page the build will write for it."""
        batch = (release_months[0] if len(release_months) == 1 else
                 f"{release_months[0]}..{release_months[-1]}") if release_months else WHOLE_TABLE
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=suite), self.run, batch_identifier=batch)
        _context(str(self.root)).validation_results_store.set(key, validation)
        self.keys.append(key)
        return (self.root / "validations" / suite / self.run.run_name
                / self.run.run_time.strftime(RUN_TIME_FORMAT) / f"{batch}.html")

    def build(self) -> None:
        if self.keys:
            _context(str(self.root)).build_data_docs(site_names=[SITE], resource_identifiers=self.keys)
