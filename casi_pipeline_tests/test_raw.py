"""Reading release drops: which months a drop feeds, values as written, and structural errors named precisely."""

import pytest

from casi_pipeline.errors import RawInputError
from casi_pipeline.raw import layout
from casi_pipeline.release import ingest

from .conftest import add_drop, add_real_rolling

ROLLING = "casi_rolling_12_months.csv"
SMALL = "Model,Jan,Feb\nOpenAI GPT-5,81.98,\nAnthropic Claude Sonnet 4.5,97.76,98.06\n"


def test_real_snapshot_feeds_nine_months(tmp_path):
    add_real_rolling(tmp_path)
    assert layout.release_months(tmp_path) == [
        "2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]


def test_ingest_keeps_values_as_written_with_provenance(tmp_path):
    add_drop(tmp_path, "2026-02", {ROLLING: SMALL})
    frame = ingest.ingest_release(tmp_path, "2026-01")
    # The file feeding the month comes whole: every value, each with the month it belongs to.
    assert frame[["value_month", "label", "casi", "source_row", "source_column"]].values.tolist() == [
        ["2026-01", "OpenAI GPT-5", "81.98", 2, "Jan"],
        ["2026-01", "Anthropic Claude Sonnet 4.5", "97.76", 3, "Jan"],
        ["2026-02", "Anthropic Claude Sonnet 4.5", "98.06", 3, "Feb"],  # an empty cell gives no row, never 0
    ]
    assert set(frame["release_month"]) == {"2026-01"}
    assert set(frame["source_file"]) == {f"{tmp_path.name}/2026-02/{ROLLING}"}
    assert frame["source_sha256"].str.len().eq(64).all()


def test_older_drops_are_not_read_for_newer_months(tmp_path):
    add_drop(tmp_path, "2025-09", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,82.34\n"})
    add_drop(tmp_path, "2025-10", {"metrics.csv": "provider,model,casi\nOpenAI,GPT-5,78.96\n"})
    assert ingest.ingest_release(tmp_path, "2025-10")["casi"].tolist() == ["78.96"]
    assert ingest.ingest_release(tmp_path, "2025-09")["casi"].tolist() == ["82.34"]  # metrics feed their own month
    assert layout.release_months(tmp_path) == ["2025-09", "2025-10"]


def test_folders_that_are_not_months_are_never_read(tmp_path):
    add_drop(tmp_path, "2026-02", {ROLLING: SMALL})
    add_drop(tmp_path, "2026-13", {ROLLING: SMALL})
    add_drop(tmp_path, "2026-2", {ROLLING: SMALL})
    add_drop(tmp_path, "latest", {ROLLING: SMALL})
    assert [d.month for d in layout.list_drops(tmp_path)] == ["2026-02"]


@pytest.mark.parametrize("variant", [
    lambda text: "\ufeff" + text,                            # byte-order mark
    lambda text: text.replace("\n", "\r\n"),                 # CRLF
    lambda text: text + "\n\n\r\n",                          # trailing blank lines
])
def test_harmless_variants_read_the_same(tmp_path, variant):
    add_drop(tmp_path / "a", "2026-02", {ROLLING: SMALL})
    add_drop(tmp_path / "b", "2026-02", {ROLLING: variant(SMALL)})
    clean = ingest.ingest_release(tmp_path / "a", "2026-01")
    other = ingest.ingest_release(tmp_path / "b", "2026-01")
    assert other[["label", "casi", "source_row"]].equals(clean[["label", "casi", "source_row"]])


@pytest.mark.parametrize("content, message", [
    (b"", r"2026-02/casi_rolling_12_months.csv: empty file"),
    (b"Model,Jan,Feb\n", r"header only: no data rows"),
    (b"Name,Jan,Feb\nA B,1,2\n", r"column 1: first column must be 'Model', found 'Name'"),
    (b"Model,Jan,Foo\nA B,1,2\n", r"column 3: 'Foo' is not a month abbreviation"),
    (b"Model,Dec,Feb\nA B,1,2\n", r"column 2: months are not consecutive: 'Dec' where 'Jan' was expected"),
    (b"Model,Dec,Jan\nA B,1,2\n", r"column 3: last column is 'Jan' but the drop is 2026-02"),
    (b"Model,Jan,Feb\nA B,1\n", r"row 2: expected 3 cells as in the header, found 2"),
    (b"Model,Jan,Feb\nA B,1,2,3\n", r"row 2: expected 3 cells as in the header, found 4"),
    (b"Model,Jan,Feb\nA \xff B,1,2\n", r"not UTF-8 \(byte 0xff at offset 16\)"),
])
def test_structural_faults_name_file_and_place(tmp_path, content, message):
    add_drop(tmp_path, "2026-02", {ROLLING: content})
    with pytest.raises(RawInputError, match=message):
        ingest.ingest_release(tmp_path, "2026-02")


def test_metrics_unknown_column_is_refused(tmp_path):
    add_drop(tmp_path, "2025-09", {"metrics.csv": "provider,model,casi,elo\nA,B,1,2\n"})
    with pytest.raises(RawInputError, match=r"metrics\.csv: column 4: unknown column 'elo'"):
        ingest.ingest_release(tmp_path, "2025-09")


def test_metrics_blank_means_unknown(tmp_path):
    add_drop(tmp_path, "2025-09", {"metrics.csv": "provider,model,casi,ars\nOpenAI,GPT-5,82.34,\n"})
    frame = ingest.ingest_release(tmp_path, "2025-09")
    assert frame["casi"].tolist() == ["82.34"] and frame["ars"].isna().all()
    assert frame["label"].tolist() == ["OpenAI GPT-5"]


def test_broken_header_still_reports_its_own_month(tmp_path):
    add_drop(tmp_path, "2026-02", {ROLLING: b"Model,Jan,Foo\nA B,1,2\n"})
    assert layout.release_months(tmp_path) == ["2026-02"]


@pytest.mark.parametrize("file, content, where, shown, code", [
    (ROLLING, "Model,Feb\nOpenAI \x1b[31mGPT-5\x1b[0m,80.31\n", "row 2 column 1 (Model)",
     "'OpenAI \\x1b[31mGPT-5\\x1b[0m'", "001B"),
    (ROLLING, "Model,Feb\nOpenAI GPT-5\u202e,80.31\n", "row 2 column 1 (Model)", "'OpenAI GPT-5\\u202e'", "202E"),
    ("metrics.csv", "provider,model,casi\nOpen\x08AI,GPT-5,80.31\n", "row 2 column 1 (provider)", "'Open\\x08AI'",
     "0008"),
    ("benchmarks.csv", "provider,model,benchmark,score\nOpenAI,GPT-5,GPQA\x85Diamond,85.2\n",
     "row 2 column 3 (benchmark)", "'GPQA\\x85Diamond'", "0085"),
], ids=["escape-sequence", "bidi-override", "backspace-in-metrics", "c1-in-benchmarks"])
def test_a_label_with_control_characters_is_refused_naming_file_and_row(tmp_path, file, content, where, shown, code):
    add_drop(tmp_path, "2026-02", {file: content})
    with pytest.raises(RawInputError) as refused:
        ingest.ingest_release(tmp_path, "2026-02")
    assert str(refused.value) == (f"{tmp_path.name}/2026-02/{file}: {where}: {shown} holds the control character "
                                  f"U+{code}; labels must be readable text")
    assert str(refused.value).isprintable()  # the message itself shows the label escaped


def test_labels_with_spaces_and_non_ascii_letters_are_readable_text(tmp_path):
    add_drop(tmp_path, "2026-02", {ROLLING: "Model,Feb\nMistral Mistral Médium 3,80.31\nZhipu GLM-4.5 (Air),70\n"})
    assert ingest.ingest_release(tmp_path, "2026-02")["label"].tolist() == ["Mistral Mistral Médium 3",
                                                                             "Zhipu GLM-4.5 (Air)"]
