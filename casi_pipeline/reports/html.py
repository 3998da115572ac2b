"""The monthly report: one self-contained HTML page (inline CSS, charts as data URIs, no script, no network).

Every text that comes from data goes through escape_html; a Content-Security-Policy forbids anything the page does
not itself contain, so even a label that slipped through could load or run nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from casi_pipeline import months
from casi_pipeline.quality import docs
from casi_pipeline.reference import metric_catalogue, methodology
from casi_pipeline.reports.changes import Changes
from casi_pipeline.reports.charts import CHARTS, TITLES, BoardView
from casi_pipeline.reports.quality import CheckOutcome
from casi_pipeline.safe_text import escape_html

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
main{max-width:1320px;margin:0 auto;padding:24px 32px}
header{background:#102a43;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:26px}
header p{margin:0;color:#bcccdc;font-size:14px}
section{background:#fff;border-radius:8px;padding:16px 24px;margin:0 0 20px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:20px;margin:4px 0 12px}h3{font-size:16px;margin:16px 0 8px}
table{border-collapse:collapse;font-size:14px;margin:0 0 8px}
th,td{padding:5px 12px;border-bottom:1px solid #e4e7eb;text-align:left}th{background:#f0f4f8}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#2f855a}.down{color:#c0392b}.muted{color:#7b8794}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figure img{width:620px;border:1px solid #e4e7eb}
figcaption{font-size:13px;color:#52606d}
.passed{color:#2f855a;font-weight:600}.warned{color:#b7791f;font-weight:600}.failed{color:#c0392b;font-weight:600}
footer{font-size:12px;color:#52606d;padding:0 32px 24px;max-width:1320px;margin:0 auto}code{font-size:12px}
"""
# From warehouse/reports/<YYYY-MM>/report.html to the Data Docs index: a relative link, so the page stays
# byte-identical and works wherever the warehouse is copied.
DATA_DOCS_LINK = f"../../{docs.FOLDER}/{docs.RUNS_PAGE}"
STATUS_MARK = {"passed": "✔ passed", "warned": "⚠ warned", "failed": "✘ failed"}


@dataclass(frozen=True)
class BoardSection:
    view: BoardView
    changes: Changes
    charts: dict[str, bytes]  # chart name -> PNG


def month_title(release_month: str) -> str:
    return f"{months.abbreviation(release_month)} {release_month[:4]}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _number(value, metric: str, signed: bool = False) -> str:
    if pd.isna(value):
        return '<span class="muted">–</span>'
    text = f"{value:{'+' if signed else ''}.{metric_catalogue().metrics[metric].decimals}f}"
    if not signed or value == 0:
        return text
    return f'<span class="{"up" if value > 0 else "down"}">{text}</span>'


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>'
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _board_table(view: BoardView) -> str:
    security = methodology().boards[view.board]
    rows = [[f"{row.rank}{' (tied)' if row.tied else ''}", escape_html(row.label),
             _number(row.security, security), _number(row.security_change, security, signed=True),
             _number(row.performance, "performance"), _number(row.rtp, "rtp"), _number(row.cos_usd, "cos_usd")]
            for row in view.current.itertuples()]
    return _table(["Rank", "Model", view.board, "Change", "Avg performance (%)", "RTP", "CoS (USD)"], rows,
                  numeric={2, 3, 4, 5, 6})


def _names(frame: pd.DataFrame) -> str:
    return ", ".join(escape_html(label) for label in frame["label"]) or '<span class="muted">none</span>'


def _changes(section: BoardSection) -> str:
    changes, board = section.changes, section.view.board
    if changes.previous_month is None:
        before = month_title(months.shift(section.view.release_month, -1))
        return f'<p class="muted">{board}: no {board} board for {before}, nothing to compare with.</p>'
    moves = _table(["Model", "Security change", "Rank"], (
        [escape_html(row.label), _number(row.security_change, methodology().boards[board], signed=True),
         f"{row.previous_rank} → {row.rank}"] for row in changes.moves.itertuples()), numeric={1})
    return (f"<h3>{board} since {month_title(changes.previous_month)}</h3>"
            f"<p><b>New:</b> {_names(changes.new)}</p><p><b>Gone:</b> {_names(changes.gone)}</p>"
            f"<p><b>Biggest moves:</b></p>{moves if not changes.moves.empty else '<p class=muted>none</p>'}")


def _charts(section: BoardSection) -> str:
    figures = [f'<figure><img alt="{section.view.board} {TITLES[name]}" src="{data_uri(section.charts[name])}">'
               f"<figcaption>{section.view.board}: {TITLES[name]}</figcaption></figure>"
               for name in CHARTS if name in section.charts]
    missing = [TITLES[name] for name in CHARTS if name not in section.charts]
    note = (f'<p class="muted">Not drawn (no performance or price figures published for this board and month): '
            f'{"; ".join(missing)}.</p>') if missing else ""
    return f'<div class="charts">{"".join(figures)}</div>{note}'


def _quality(outcomes: list[CheckOutcome]) -> str:
    if not outcomes:
        return '<p class="muted">No check evaluations recorded in the Dagster instance for this month.</p>'
    counts = {status: sum(o.status == status for o in outcomes) for status in STATUS_MARK}
    rows = [[escape_html(o.asset), escape_html(o.check), f'<span class="{o.status}">{STATUS_MARK[o.status]}</span>',
             escape_html(o.detail) + "".join(f"<br><code>{escape_html(text)}</code>" for text in o.found)]
            for o in outcomes]
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"<p>{len(outcomes)} checks: {summary}.</p>" + _table(["Asset", "Check", "Status", "Detail"], rows)


def render_report(release_month: str, sections: list[BoardSection], quality: list[CheckOutcome],
                  sources: pd.DataFrame, methodology_version: str) -> str:
    title = f"AI security leaderboards: {month_title(release_month)}"
    boards = "".join(f'<section id="board-{s.view.board}"><h2>{s.view.board} board, {month_title(release_month)}'
                     f"</h2>{_board_table(s.view)}{_charts(s)}</section>" for s in sections)
    source_rows = "".join(f"<li><code>{escape_html(row.source_file)}</code> sha256 <code>"
                          f"{escape_html(row.source_sha256)}</code></li>" for row in sources.itertuples())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{title}</title><style>{STYLE}</style></head>
<body><header><h1>{title}</h1><p>release month {release_month} · boards: {", ".join(s.view.board for s in sections)}
 · methodology {escape_html(methodology_version)}</p></header><main>
<section id="changes"><h2>What changed</h2>{"".join(_changes(s) for s in sections)}</section>
{boards}
<section id="quality"><h2>Data quality</h2>{_quality(quality)}
<p>Every validation result in full, run by run: <a href="{DATA_DOCS_LINK}">Great Expectations Data Docs</a>
(<code>warehouse/{docs.FOLDER}/</code>; without network access their pages are unstyled but readable).</p>
</section>
</main><footer><p>Data: F5 Labs (CASI and ARS leaderboards), licensed CC BY-NC 4.0; labels merged into canonical
models, ranks and derived figures added by casi-pipeline. Figures of this month come from:</p><ul>{source_rows}</ul>
</footer></body></html>
"""
