"""Every class of bad raw input gives one line naming the file, the place and what is wrong: checked where it is
made, in one materialisation of the month's release stages (nothing written, the raw files untouched). End to end,
a bad drop arriving in a landed warehouse through `casi-pipeline run`: exit 1, the file refused whole with the months
it stops, the raw files and every warehouse file byte-for-byte as they were, the months it does not feed still land.
Harmless variants (BOM, CRLF, trailing blank lines, spaces around labels) give the same tables as the clean file."""

import pandas as pd
import pytest

from casi_pipeline.published.assets import assets as published
from casi_pipeline.release.assets import raw_drops, release_stages

from .conftest import (SAMPLE_RAW, add_drop, copy_landed, failure_lines, materialize, read_table, run_cli,
                       settings_under, tree_hashes)

RELEASE = [raw_drops, release_stages]

ROLLING = "casi_rolling_12_months.csv"
METRICS = "metrics.csv"
NOVEMBER_METRICS = (SAMPLE_RAW / "2025-11" / METRICS).read_text()  # Claude Sonnet 4.5 at 95.86
ROLLING_AT = f"data_raw/2025-11/{ROLLING}"
METRICS_AT = f"data_raw/2025-11/{METRICS}"
ALLOWED = "provider, model, casi, ars, performance, input_usd_per_mtok, output_usd_per_mtok"


def november_rolling(*rows: str, header: str = "Model,Nov") -> bytes:
    return "\n".join([header, *rows, ""]).encode()


GOOD_ROWS = ("Anthropic Claude Sonnet 4.5,95.86", "OpenAI GPT-5,80.31")


def refused(path: str, months: str = "2025-11") -> str:
    """The line naming a refused file once, with the months it stops."""
    return f"{path}: refused whole: it feeds release months {months}; not run: {months}"


@pytest.fixture
def landed(settings, sample_run):
    """A copy of the session's landed bundled sample: 2025-09 and the November drop (2025-10 an empty month)."""
    return copy_landed(sample_run, settings)


def run_refused(settings, capsys) -> list[str]:
    """Run on the changed raw root; it must exit 1 and change neither the raw files nor the warehouse."""
    raw_before = tree_hashes(settings.data_raw)
    capsys.readouterr()
    assert run_cli(settings, "run") == 1
    assert tree_hashes(settings.data_raw) == raw_before
    return capsys.readouterr().err.splitlines()


def refused_by_its_stage(settings, month: str) -> list[str]:
    """The failure lines of one materialisation of the month; it must write nothing and leave the raw files as they
    were."""
    raw_before = tree_hashes(settings.data_raw)
    result = materialize(settings, RELEASE, month)
    assert not result.success
    assert tree_hashes(settings.data_raw) == raw_before
    assert tree_hashes(settings.warehouse) == {}  # nothing but the run lock
    return failure_lines(result)


# Each bad file joins the November drop; every line below is exactly what `run` prints before the refusal lines.
ROLLING_CASES = {
    "empty file": (b"", f"2025-11 ingest: {ROLLING_AT}: empty file: no header and no rows"),
    "header only": (november_rolling(), f"2025-11 ingest: {ROLLING_AT}: header only: no data rows"),
    "no Model column": (november_rolling(*GOOD_ROWS, header="Name,Nov"),
                        f"2025-11 ingest: {ROLLING_AT}: column 1: first column must be 'Model', found 'Name'"),
    "not a month": (november_rolling("OpenAI GPT-5,78.96,80.31", header="Model,Oct,Novem"),
                    f"2025-11 ingest: {ROLLING_AT}: column 3: 'Novem' is not a month abbreviation (Jan..Dec)"),
    "months not consecutive": (
        november_rolling("OpenAI GPT-5,82.34,80.31", header="Model,Sep,Nov"),
        f"2025-11 ingest: {ROLLING_AT}: column 2: months are not consecutive: 'Sep' where 'Oct' was expected"),
    "last column not the drop's month": (
        november_rolling("OpenAI GPT-5,82.34,78.96", header="Model,Sep,Oct"),
        f"2025-11 ingest: {ROLLING_AT}: column 3: last column is 'Oct' but the drop is 2025-11 ('Nov')"),
    "too many cells": (november_rolling(GOOD_ROWS[0], "OpenAI GPT-5,80.31,1"),
                       f"2025-11 ingest: {ROLLING_AT}: row 3: expected 2 cells as in the header, found 3"),
    "too few cells (truncated download)": (
        november_rolling(GOOD_ROWS[0], "OpenAI GPT-5"),
        f"2025-11 ingest: {ROLLING_AT}: row 3: expected 2 cells as in the header, found 1"),
    "n/a": (november_rolling(GOOD_ROWS[0], "OpenAI GPT-5,n/a"),
            f"2025-11 ingest: {ROLLING_AT} row 3 column Nov: casi is not a number (found 'n/a')"),
    "decimal comma": (november_rolling(GOOD_ROWS[0], 'OpenAI GPT-5,"80,31"'),
                      f"2025-11 ingest: {ROLLING_AT} row 3 column Nov: casi is not a number (found '80,31')"),
    "above 100": (november_rolling(GOOD_ROWS[0], "OpenAI GPT-5,108.06"),
                  f"2025-11 validate: {ROLLING_AT} row 3 column Nov: casi must be within 0..100 (found 108.06)"),
    "negative": (november_rolling(GOOD_ROWS[0], "OpenAI GPT-5,-80.31"),
                 f"2025-11 validate: {ROLLING_AT} row 3 column Nov: casi must be within 0..100 (found -80.31)"),
    "same label twice": (
        november_rolling(*GOOD_ROWS, "OpenAI GPT-5,80.31"),
        f"2025-11 validate: {ROLLING_AT} row 3 column Nov: the same model label appears twice in one file "
        "(found 'OpenAI GPT-5'; 2 row(s) in all)"),
    "control characters in a label": (
        november_rolling(GOOD_ROWS[0], "OpenAI GPT-5\x1b]0;pwned\x07,80.31"),
        f"2025-11 ingest: {ROLLING_AT}: row 3 column 1 (Model): 'OpenAI GPT-5\\x1b]0;pwned\\x07' holds the control "
        "character U+001B; labels must be readable text"),
    "a C1 control in a label": (
        november_rolling(GOOD_ROWS[0], "OpenAI GPT\u009b-5,80.31"),
        f"2025-11 ingest: {ROLLING_AT}: row 3 column 1 (Model): 'OpenAI GPT\\x9b-5' holds the control character "
        "U+009B; labels must be readable text"),
    "not UTF-8": (november_rolling(GOOD_ROWS[0], "OpenAI GPT-5 \xe9,80.31").replace(b"\xc3\xa9", b"\xe9"),
                  f"2025-11 ingest: {ROLLING_AT}: not UTF-8 (byte 0xe9 at offset 57)"),
}

METRICS_HEADER = "provider,model,casi,ars,performance,input_usd_per_mtok,output_usd_per_mtok"
# The landed November metrics.csv is never edited (that is refused as such, see test_immutability.py): a bad
# metrics file arrives as December's drop.
DECEMBER_METRICS_AT = f"data_raw/2025-12/{METRICS}"
METRICS_CASES = {
    "unknown column": ("provider,model,casi,elo\nAnthropic,Claude Sonnet 4.5,95.86,1210\n",
                       f"2025-12 ingest: {DECEMBER_METRICS_AT}: column 4: unknown column 'elo' (allowed: {ALLOWED})"),
    "negative price": (f"{METRICS_HEADER}\nAnthropic,Claude Sonnet 4.5,95.86,,49.6,-3,15\n",
                       f"2025-12 validate: {DECEMBER_METRICS_AT} row 2: input_usd_per_mtok must be >= 0 (found -3.0)"),
    "non-numeric price": (
        f"{METRICS_HEADER}\nAnthropic,Claude Sonnet 4.5,95.86,,49.6,3,$15\n",
        f"2025-12 ingest: {DECEMBER_METRICS_AT} row 2: output_usd_per_mtok is not a number (found '$15')"),
    "provider/model pair twice": (
        f"{METRICS_HEADER}\nAnthropic,Claude Sonnet 4.5,95.86,,49.6,3,15\nAnthropic,Claude Sonnet 4.5,95.86,,49.6,3,15\n",
        f"2025-12 validate: {DECEMBER_METRICS_AT} row 2: the same model label appears twice in one file "
        "(found 'Anthropic Claude Sonnet 4.5'; 2 row(s) in all)"),
    "control characters in a label": (
        f"{METRICS_HEADER}\nAnthropic,Claude \x1b[31mSonnet\x1b[0m 4.5,95.86,,49.6,3,15\n",
        f"2025-12 ingest: {DECEMBER_METRICS_AT}: row 2 column 2 (model): 'Claude \\x1b[31mSonnet\\x1b[0m 4.5' holds "
        "the control character U+001B; labels must be readable text"),
}


@pytest.mark.parametrize("case", ROLLING_CASES)
def test_a_bad_rolling_snapshot_is_refused_with_one_line(settings, case):
    content, line = ROLLING_CASES[case]
    add_drop(settings.data_raw, "2025-11", {METRICS: NOVEMBER_METRICS, ROLLING: content})
    assert refused_by_its_stage(settings, "2025-11") == [line]


@pytest.mark.parametrize("case", METRICS_CASES)
def test_a_bad_metrics_file_is_refused_with_one_line(settings, case):
    content, line = METRICS_CASES[case]
    add_drop(settings.data_raw, "2025-11", {METRICS: NOVEMBER_METRICS})
    add_drop(settings.data_raw, "2025-12", {METRICS: content})
    assert refused_by_its_stage(settings, "2025-12") == [line]


# End to end: what `run` prints around a stage's line, and that a refused drop changes nothing.


def test_metrics_that_disagree_with_the_rolling_snapshot_of_the_drop_are_refused(settings, landed, capsys):
    """Both files of the drop are refused whole; the landed warehouse is byte-for-byte as it was."""
    add_drop(settings.data_raw, "2025-11", {ROLLING: november_rolling("Anthropic Claude Sonnet 4.5,95.68")})
    assert run_refused(settings, capsys) == [
        "2025-11 normalise: model_id anthropic/claude-sonnet-4.5: one drop gives two different values for one model "
        f"(found 'files of one drop disagree: {ROLLING_AT} row 2: casi=95.68 vs {METRICS_AT} row 2: casi=95.86')",
        refused(ROLLING_AT), refused(METRICS_AT), "casi-pipeline: 1 failure(s)"]
    assert tree_hashes(settings.warehouse) == landed


def test_months_the_bad_file_does_not_feed_still_land(settings, landed, capsys):
    add_drop(settings.data_raw, "2025-10", {METRICS: "provider,model,casi\nOpenAI,GPT-5,78.96\n"})  # a new month
    add_drop(settings.data_raw, "2025-12", {ROLLING: b"Model,Dec\nOpenAI GPT-5,n/a\n"})  # feeds December only
    assert run_refused(settings, capsys) == [
        "2025-12 ingest: data_raw/2025-12/casi_rolling_12_months.csv row 2 column Dec: casi is not a number "
        "(found 'n/a')", refused("data_raw/2025-12/casi_rolling_12_months.csv", "2025-12"),
        "casi-pipeline: 1 failure(s)"]
    after = tree_hashes(settings.warehouse)
    # The cross-release tables and what is published from them are rebuilt with October, and October's (empty) month
    # tables with its drop; the other months stay as they were (November re-ran: the same).
    rebuilt = ("models/", "leaderboard_history/", "exports/", "reports/")
    kept = {path: digest for path, digest in landed.items()
            if not path.startswith(rebuilt) and "release_month=2025-10" not in path}
    assert {path: after[path] for path in kept} == kept
    october = "leaderboard/release_month=2025-10/part-0.parquet"
    assert after[october] != landed[october]
    assert not any("2025-12" in path for path in after)
    history = read_table(settings.warehouse, "leaderboard_history").query("release_month >= '2025-10'")
    assert history[["release_month", "model"]].values.tolist() == [["2025-10", "GPT-5"],
                                                                   ["2025-11", "Claude Sonnet 4.5"]]


# --- harmless variants -------------------------------------------------------------------------------------------

CLEAN = {ROLLING: "Model,Oct,Nov\nAnthropic Claude Sonnet 4.5,,95.86\nOpenAI GPT-5,78.96,80.31\n",
         METRICS: NOVEMBER_METRICS}
VARIANTS = {
    "byte-order mark": lambda name, text: "\ufeff" + text,
    "CRLF": lambda name, text: text.replace("\n", "\r\n"),
    "trailing blank lines": lambda name, text: text + "\n\r\n\n",
    "spaces around labels": lambda name, text: (
        text.replace("Anthropic,Claude Sonnet 4.5,", " Anthropic ,  Claude Sonnet 4.5 ,") if name == METRICS
        else text.replace("OpenAI GPT-5,", "  OpenAI GPT-5 ,")),
}
COMPARED = ["validate", "normalise", "restatements", "leaderboard", "models", "leaderboard_history"]


def tables_without_file_hashes(settings, files: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The release stages of the months November's drop feeds, and the cross-release tables, built from `files`, as a
    variant must reproduce them; only the raw files' sha256 may differ (ingest keeps the text as written)."""
    add_drop(settings.data_raw, "2025-11", files)
    assert materialize(settings, RELEASE, "2025-10", last="2025-11").success  # the snapshot feeds both
    assert materialize(settings, [*RELEASE, *published], selection=published).success
    return {name: read_table(settings.warehouse, name).filter(regex=r"^(?!.*sha256$)") for name in COMPARED}


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory):
    return tables_without_file_hashes(settings_under(tmp_path_factory.mktemp("clean")), CLEAN)


@pytest.mark.parametrize("variant", VARIANTS)
def test_harmless_variants_give_the_same_tables(settings, clean_tables, variant):
    change = VARIANTS[variant]
    variant_tables = tables_without_file_hashes(settings, {name: change(name, text) for name, text in CLEAN.items()})
    for name, table in variant_tables.items():
        pd.testing.assert_frame_equal(table, clean_tables[name], obj=name)
