"""Property test of the CSV reader: whatever bytes arrive, the only error is the project's own RawInputError."""

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from casi_pipeline.errors import RawInputError
from casi_pipeline.raw import contracts, csv_reader, layout
from casi_pipeline.release import ingest

from .conftest import add_drop

# Bytes biased towards CSV-looking input (headers, separators, quotes, line ends, numbers), plus arbitrary bytes.
CSV_PIECES = st.sampled_from([
    b"Model", b"provider", b"model", b"casi", b"ars", b"performance", b"input_usd_per_mtok", b"Oct", b"Nov", b"Dec",
    b"Jan", b",", b",,", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", b"\t", b"OpenAI GPT-5", b"95.86", b"-1", b"n/a",
    b"\xef\xbb\xbf", b"\xff", b"\x00", b"\xe9", "é".encode(),
])
RAW_BYTES = st.one_of(st.binary(max_size=200), st.lists(CSV_PIECES, max_size=40).map(b"".join))


def read_everything(root, month: str) -> None:
    """Every reader entry point the pipeline uses on a drop."""
    drop = layout.list_drops(root)[0]
    layout.release_months(root)
    for name in (layout.ROLLING_FILE, layout.METRICS_FILE):
        path = drop.file(name)
        if path is None:
            continue
        raw = csv_reader.read_csv_file(path, root)
        contracts.rolling_months(raw, month) if name == layout.ROLLING_FILE else contracts.metrics_columns(raw)
    for release_month in layout.months_fed(drop, root):
        ingest.ingest_release(root, release_month)


@settings(max_examples=150, deadline=None)
@given(content=RAW_BYTES, name=st.sampled_from([layout.ROLLING_FILE, layout.METRICS_FILE]))
def test_arbitrary_bytes_raise_only_raw_input_errors(content, name):
    with tempfile.TemporaryDirectory() as folder:  # a fresh raw root per example
        root = Path(folder)
        add_drop(root, "2025-11", {name: content})
        try:
            read_everything(root, "2025-11")
        except RawInputError as error:
            message = str(error)
            assert message.startswith(f"{root.name}/2025-11/{name}: ")
            assert "\n" not in message and "\r" not in message  # one line, whatever the file held
