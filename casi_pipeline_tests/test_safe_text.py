"""Labels from outside are made inert in CSV cells, Markdown and HTML."""

import pytest

from casi_pipeline.storage.safe_text import escape_html, escape_markdown, neutralise_formula

HOSTILE = ['=HYPERLINK("http://x","y") M', "<script>alert(1)</script> M", "+cmd|calc M", "-2+3 M", "@SUM(A1) M",
           "\tTab M", "\rCR M"]


@pytest.mark.parametrize("label", HOSTILE)
def test_formula_cells_are_prefixed(label):
    cell = neutralise_formula(label)
    if label[0] in "=+-@\t\r":
        assert cell == "'" + label
    else:
        assert cell == label


def test_plain_labels_are_unchanged():
    assert neutralise_formula("OpenAI GPT-5") == "OpenAI GPT-5"


def test_markdown_and_html_escape_tags_and_table_pipes():
    assert "<script>" not in escape_markdown("<script>alert(1)</script> M")
    assert escape_markdown("+cmd|calc M") == "\\+cmd\\|calc M"
    assert escape_html('<script>alert("1")</script>') == "&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;"
