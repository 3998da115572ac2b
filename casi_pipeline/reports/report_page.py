"""The monthly report: one self-contained HTML page (inline CSS, charts as data URIs, no script, no network).

Rendered from templates/report.html with autoescape on, so every value from data is escaped (with escape_html, the
project's one spelling of HTML entities); a Content-Security-Policy forbids anything the page does not itself
contain, so even a label that slipped through could load or run nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

import jinja2
import pandas as pd
from markupsafe import Markup

from casi_pipeline import months
from casi_pipeline.quality import docs
from casi_pipeline.reference import methodology, metric_catalogue
from casi_pipeline.reports.changes import Changes
from casi_pipeline.reports.charts import CHARTS, TITLES, BoardView
from casi_pipeline.reports.quality import CheckOutcome
from casi_pipeline.safe_text import escape_html

TEMPLATES = "templates"  # beside this module: report.html and the parts it imports
# From warehouse/reports/<YYYY-MM>/report.html to the Data Docs index: a relative link, so the page stays
# byte-identical and works wherever the warehouse is copied.
DATA_DOCS_LINK = f"../../{docs.FOLDER}/{docs.RUNS_PAGE}"
STATUS_MARK = {"passed": "✔ passed", "warned": "⚠ warned", "failed": "✘ failed"}


@dataclass(frozen=True)
class BoardSection:
    view: BoardView
    changes: Changes
    charts: dict[str, bytes]  # chart name -> PNG

    @property
    def metric(self) -> str:
        """The board's security metric (its decimals format the scores)."""
        return methodology().boards[self.view.board]

    @property
    def drawn(self) -> list[tuple[str, bytes]]:
        return [(TITLES[name], self.charts[name]) for name in CHARTS if name in self.charts]

    @property
    def not_drawn(self) -> list[str]:
        return [TITLES[name] for name in CHARTS if name not in self.charts]


def month_title(release_month: str) -> str:
    return f"{months.abbreviation(release_month)} {release_month[:4]}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _decimals(value: float, metric: str, signed: bool = False) -> str:
    return f"{value:{'+' if signed else ''}.{metric_catalogue().metrics[metric].decimals}f}"


def _escaped(value: object) -> Markup:
    """Every `{{ value }}` passes here before autoescape: markup the templates made stays, anything else is escaped
    with escape_html (autoescape's own entities would be spelled differently: `&#34;` for `&quot;`)."""
    return value if isinstance(value, Markup) else Markup(escape_html(str(value)))


@cache
def _page() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, TEMPLATES),
        autoescape=True,
        finalize=_escaped,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        month_title=month_title,
        month_before=lambda month: months.shift(month, -1),
        data_uri=data_uri,
        decimals=_decimals,
    )
    environment.tests["na"] = pd.isna
    environment.globals.update(status_marks=STATUS_MARK, data_docs_link=DATA_DOCS_LINK, data_docs_folder=docs.FOLDER)
    return environment.get_template("report.html")


def render_report(
    release_month: str,
    sections: list[BoardSection],
    quality: list[CheckOutcome],
    sources: pd.DataFrame,
    methodology_version: str,
) -> str:
    return _page().render(
        release_month=release_month,
        sections=sections,
        outcomes=quality,
        sources=list(sources.itertuples()),
        methodology_version=methodology_version,
        boards=", ".join(section.view.board for section in sections),
    )
