"""Labels from outside are made inert in CSV cells, Markdown and HTML."""

import sys
import warnings

import pytest

from casi_pipeline import cli
from casi_pipeline.safe_text import escape_html, escape_markdown, escape_unprintable, neutralise_formula

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


def test_terminal_text_shows_control_characters_escaped():
    assert escape_unprintable("OpenAI \x1b[31mGPT-5\x9b\u202e\n") == "OpenAI \\x1b[31mGPT-5\\x9b\\u202e\\n"
    assert escape_unprintable("Mistral Médium 3 (Air)") == "Mistral Médium 3 (Air)"


def test_a_third_party_warning_quoting_a_label_reaches_the_terminal_escaped(capsys):
    with cli._escaped_warnings(), warnings.catch_warnings():
        warnings.simplefilter("always")
        # print as Python does outside pytest (which records warnings instead): through warnings.formatwarning
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        warnings.warn("could not parse 'OpenAI \x1b[2J\x1b[31mGPT-5'", UserWarning)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "OpenAI \\x1b[2J\\x1b[31mGPT-5" in err
