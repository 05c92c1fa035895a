"""Values put into Markdown must read back as the same text and never change the structure."""

from __future__ import annotations

import pytest

from documents.markdown_text import code_block, code_span, escape_markdown, paragraphs
from documents.sandbox import render_string
from tests.readers import markdown_ast, markdown_headings, node_types, plain_text

HOSTILE = (
    "# Heading\n    indented code\n- item\n1. one\n> quote\n\n"
    "[link](http://x) ![img](file:///etc/passwd) <b>html</b> `code` *em* | pipe\n---\n===\n&amp;"
)


def test_inserted_values_cannot_create_structure() -> None:
    rendered = render_string("Before\n\n{{ value }}\n\nAfter", {"value": HOSTILE}, "t")
    ast = markdown_ast(rendered)
    assert node_types(ast) <= {"paragraph", "text", "softbreak", "blank_line"}
    assert markdown_headings(rendered) == []


@pytest.mark.parametrize(
    ("body", "value", "expected_headings"),
    [
        ("# {{ t }}\n", "Release #", [(1, "Release #")]),
        ("# {{ t }}\n", "A\n# B", [(1, "A # B")]),
        ("## {{ t }} ##\n", "x", [(2, "x")]),
    ],
)
def test_headings_keep_their_text(body: str, value: str, expected_headings: list[object]) -> None:
    assert markdown_headings(render_string(body, {"t": value}, "t")) == expected_headings


def test_a_value_cannot_add_table_rows_or_end_a_list() -> None:
    table = render_string("| a | b |\n| - | - |\n| {{ x }} | 2 |\n", {"x": "v\n| evil | row"}, "t")
    rows = next(n for n in markdown_ast(table) if n["type"] == "table")["children"][1]["children"]
    assert len(rows) == 1
    listing = render_string("- {{ x }}\n- last\n", {"x": "a\n\nb"}, "t")
    lists = [n for n in markdown_ast(listing) if n["type"] == "list"]
    assert len(lists) == 1 and len(lists[0]["children"]) == 2


def test_values_read_back_unchanged() -> None:
    for value in ("a_b * c [d] 1. e", "50% of #3 <x> & y | z ~w~ !", "- starts like a list"):
        assert plain_text(markdown_ast(escape_markdown(value))) == value


def test_control_characters_are_dropped() -> None:
    assert escape_markdown("a\x01b\x7fc") == "abc"


def test_paragraphs_keep_paragraph_breaks_only() -> None:
    rendered = paragraphs("First *one*\nstill first\n\n# Second")
    ast = [n for n in markdown_ast(rendered) if n["type"] != "blank_line"]
    assert [n["type"] for n in ast] == ["paragraph", "paragraph"]
    assert plain_text(ast[1:]) == "# Second"


def test_code_span_and_block_cannot_be_closed_from_inside() -> None:
    span = code_span("a `` b")
    assert [n["type"] for n in markdown_ast(span)[0]["children"]] == ["codespan"]
    block = code_block("x = a_b[0]\n```\n# not a heading", "python")
    ast = markdown_ast(block)
    assert [n["type"] for n in ast] == ["block_code"]
    assert ast[0]["raw"] == "x = a_b[0]\n```\n# not a heading\n"
    assert ast[0]["attrs"]["info"] == "python"
