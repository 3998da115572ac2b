"""Each run's validation results as Great Expectations Data Docs, browsable under warehouse/quality/.

GX's `index.html` lists the newest GX_INDEX_LIMIT results; each result has its own page,
`validations/<suite>/<run id>/<run time>/<months>.html`, which the check's metadata links to. The results
themselves are kept as GX JSON in `results/`, so the index of a later run still lists them. GX's pages load their
CSS and scripts from CDNs: offline a result page is unstyled but readable, while the index's list is drawn by a
script and stays empty; so `runs.html` lists the same results with no script and no network (newest first, from
`runs.jsonl`, one line per result), and the monthly report links to it.

Data Docs are a log of runs, not data: they carry run ids and times, change with every run (a refused one too)
and are left out of the byte-identical re-run guarantee.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import great_expectations as gx
import jinja2
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

from casi_pipeline import workers
from casi_pipeline.safe_text import escape_html
from casi_pipeline.storage.files import write_text_atomically
from casi_pipeline.storage.warehouse import DATA_DOCS_FOLDER as FOLDER

SITE = "warehouse"
INDEX = "index.html"
RUNS_PAGE = "runs.html"  # readable without network access
RUNS_LOG = "runs.jsonl"
RESULTS = "results"
# GX rebuilds its index from every result it lists, at every build, so the cost grows with the list: keep it
# bounded. runs.html lists many more, one log line each.
GX_INDEX_LIMIT = 20
RUNS_LIMIT = 1000
RUN_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # how GX names a run-time folder
WHOLE_TABLE = "all"  # the batch name of an unpartitioned table's result


def folder(warehouse: Path) -> Path:
    return warehouse / FOLDER


class _CompiledTemplates(jinja2.BytecodeCache):
    """GX's page templates, compiled once per process and kept in memory."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)  # a changed template's checksum no longer matches: compiled again

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


class _KeptTemplates:
    """GX gives each view a new jinja Environment, and each build new views: without a shared bytecode cache every
    Data Docs build compiles every page template again."""

    env: jinja2.Environment

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = _COMPILED


class ResultPageView(_KeptTemplates, DefaultJinjaPageView):
    """GX's view of a validation result page, its templates compiled once per process."""


class IndexPageView(_KeptTemplates, DefaultJinjaIndexPageView):
    """GX's view of the index page, its templates compiled once per process."""


def _view(view: type) -> dict[str, str]:
    return {"module_name": __name__, "class_name": view.__name__}


@lru_cache(maxsize=8)
def _context(root: str):
    """An in-memory GX context whose validation results and Data Docs site live under `root`."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    backend = {"class_name": "TupleFilesystemStoreBackend"}
    context.delete_store("validation_results_store")
    context.add_store(
        "validation_results_store",
        {"class_name": "ValidationResultsStore", "store_backend": {**backend, "base_directory": f"{root}/{RESULTS}"}},
    )
    context.add_data_docs_site(
        SITE,
        {
            # GX's DataDocsSiteConfigTypedDict lacks show_how_to_buttons, which SiteBuilder takes
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,  # type: ignore[typeddict-unknown-key]
            "store_backend": {**backend, "base_directory": root},
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "validation_results_limit": GX_INDEX_LIMIT,
                "view": _view(IndexPageView),
            },
            "site_section_builders": {"validations": {"view": _view(ResultPageView)}},  # merged into GX's defaults
        },
    )
    return context


class RunDocs:
    """The validation results of one run: `add` each as it is validated, `build` the pages once at the end (one
    Data Docs build per run, not per suite)."""

    def __init__(self, warehouse: Path, run_id: str):
        self.root = folder(warehouse)
        self.run = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
        self.keys: list[ValidationResultIdentifier] = []
        self.entries: list[dict] = []  # for runs.jsonl

    def add(self, validation, suite: str, release_months: list[str]) -> Path:
        """Store one suite's result; returns the page the build will write for it."""
        batch = (
            (release_months[0] if len(release_months) == 1 else f"{release_months[0]}..{release_months[-1]}")
            if release_months
            else WHOLE_TABLE
        )
        # what the page shows as its run and its data (GX leaves both empty for an in-memory batch)
        validation.meta.update(run_id=self.run, batch_kwargs={"data_asset_name": f"{suite} {batch}"})
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=suite), self.run, batch_identifier=batch)
        _context(str(self.root)).validation_results_store.set(key, validation)
        self.keys.append(key)
        page = (
            self.root
            / "validations"
            / suite
            / self.run.run_name
            / self.run.run_time.strftime(RUN_TIME_FORMAT)
            / f"{batch}.html"
        )
        self.entries.append(
            {
                "time": self.run.run_time.isoformat(timespec="seconds"),
                "run": self.run.run_name,
                "suite": suite,
                "months": batch,
                "passed": bool(validation.success),
                "page": page.relative_to(self.root).as_posix(),
            }
        )
        return page

    def build(self) -> None:
        """The run's pages, the index and the log. In the command, on one of the early workers (casi_pipeline.workers)
        while the next run goes on; builds take turns (each rewrites the index and appends to the log), and the
        command waits for the last one (`finish_builds`) before it reports."""
        global _pending
        if not self.keys:
            return
        finish_builds()
        _pending = workers.submit_early(build_pages, self.root, self.keys, self.entries)
        if _pending is None:
            build_pages(self.root, self.keys, self.entries)


_pending: Future[None] | None = None  # the build running on an early worker


def finish_builds() -> None:
    """Wait for the build running on an early worker, if any; its error is raised here."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        pending.result()


def build_pages(root: Path, keys: list[ValidationResultIdentifier], entries: list[dict]) -> None:
    """Data Docs pages of these stored results, the index, and their lines in the log and the runs page."""
    _context(str(root)).build_data_docs(site_names=[SITE], resource_identifiers=keys)
    with (root / RUNS_LOG).open("a", encoding="utf-8") as log:  # one short write per result: appends
        log.writelines(json.dumps(entry) + "\n" for entry in entries)  # of two runs do not interleave
    write_text_atomically(root / RUNS_PAGE, runs_page(root / RUNS_LOG))


def runs_page(log: Path) -> str:
    """The newest RUNS_LIMIT results, newest first: one self-contained page, no script, no network."""
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = "".join(
        f"<tr><td>{escape_html(e['time'])}</td><td><code>{escape_html(e['run'][:8])}</code></td>"
        f"<td>{escape_html(e['suite'])}</td><td>{escape_html(e['months'])}</td>"
        f"<td class={'passed' if e['passed'] else 'failed'}>{'passed' if e['passed'] else 'FAILED'}</td>"
        f'<td><a href="{escape_html(e["page"])}">results</a></td></tr>'
        for e in reversed(entries[-RUNS_LIMIT:])
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Validation results</title><style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#1f2933}}table{{border-collapse:collapse;font-size:14px}}
th,td{{padding:4px 12px;border-bottom:1px solid #e4e7eb;text-align:left}}th{{background:#f0f4f8}}
.passed{{color:#2f855a}}.failed{{color:#c0392b;font-weight:600}}</style></head>
<body><h1>Validation results, newest first</h1>
<p>Each stage's Great Expectations suite, run by run. The result pages are Great Expectations Data Docs
(<a href="{INDEX}">their own index</a> needs network access to draw its list).</p>
<table><thead><tr><th>Run time (UTC)</th><th>Run</th><th>Suite</th><th>Release months</th><th>Result</th><th></th>
</tr></thead><tbody>{rows}</tbody></table></body></html>
"""
