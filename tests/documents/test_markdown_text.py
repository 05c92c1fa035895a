"""Values put into Markdown must read back as the same text and never change the structure."""

from __future__ import annotations

import pytest

from documents.markdown_text import (
    code_block,
    code_span,
    code_spans,
    escape_markdown,
    paragraphs,
)
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


def inline(markdown: str) -> list[tuple[str, str]]:
    """(type, text) of the inline nodes of a one-paragraph document."""
    [paragraph] = [n for n in markdown_ast(markdown) if n["type"] != "blank_line"]
    assert paragraph["type"] == "paragraph"
    nodes: list[tuple[str, str]] = []
    for node in paragraph["children"]:
        kind, text = node["type"], plain_text([node])
        if nodes and kind == nodes[-1][0] == "text":  # the parser splits text at escapes
            nodes[-1] = (kind, nodes[-1][1] + text)
        else:
            nodes.append((kind, text))
    return nodes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "New `autoglm validate` command for CI",
            [("text", "New "), ("codespan", "autoglm validate"), ("text", " command for CI")],
        ),
        (
            "`export.format: word` now writes .docx",
            [("codespan", "export.format: word"), ("text", " now writes .docx")],
        ),
        ("run ``a`b`` - then", [("text", "run "), ("codespan", "a`b"), ("text", " - then")]),
        ("an unclosed ` tick and *stars*", [("text", "an unclosed ` tick and *stars*")]),
        ("`` one and ` two", [("text", "`` one and ` two")]),  # runs of other lengths
    ],
)
def test_codespans_makes_backtick_pairs_code_and_keeps_the_rest_literal(
    value: str, expected: list[tuple[str, str]]
) -> None:
    assert inline(code_spans(value)) == expected
    assert inline(render_string("{{ x | codespans }}", {"x": value}, "t")) == expected


def test_codespans_cannot_create_structure() -> None:
    rendered = render_string("Before\n\n{{ v | codespans }}\n\nAfter", {"v": HOSTILE}, "t")
    assert node_types(markdown_ast(rendered)) <= {
        "paragraph",
        "text",
        "codespan",
        "softbreak",
        "blank_line",
    }
    for value in ("- `x` item", "1. `x`", "# `x`", "> `x`"):
        [(kind, _), *_rest] = inline(code_spans(value))
        assert kind == "text"  # the marker is escaped: still one paragraph


def test_a_code_span_with_a_pipe_stays_text_in_a_table_cell() -> None:
    table = render_string(
        "| a | b |\n| - | - |\n| {{ x | codespans }} | 2 |\n", {"x": "`a|b` and `c`"}, "t"
    )
    node = next(n for n in markdown_ast(table) if n["type"] == "table")
    [row] = node["children"][1]["children"]
    cells = [plain_text([cell]) for cell in row["children"]]
    assert cells == ["`a|b` and c", "2"]


def test_paragraphs_keep_code_spans() -> None:
    rendered = paragraphs("Use `autoglm validate` in CI.\n\nThen run `push`.")
    ast = [n for n in markdown_ast(rendered) if n["type"] != "blank_line"]
    assert [[c["type"] for c in p["children"]] for p in ast] == [
        ["text", "codespan", "text"],
        ["text", "codespan", "text"],
    ]
