from __future__ import annotations

import pytest

from documents.errors import RenderError
from documents.sandbox import MAX_OUTPUT_CHARS, escape_markdown, render_string
from tests.readers import markdown_ast, markdown_headings, node_types, plain_text

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{{ self._TemplateReference__context }}",
    "{{ x.__init__.__globals__ }}",
    "{% set l = [] %}{{ l.append(1) }}",
    "{{ x.__dict__ }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused(source: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_string(source, {"x": "text"}, "t.yaml: body")
    assert caught.value.problems[0].startswith("t.yaml: body: ")


def test_missing_variable_is_named() -> None:
    with pytest.raises(RenderError, match=r"t\.yaml: body: 'team' is undefined"):
        render_string("Hello {{ team }}", {}, "t.yaml: body")


def test_output_is_capped() -> None:
    source = "{% for i in range(100000) %}{{ x }}{% endfor %}"
    with pytest.raises(RenderError, match=f"exceeds {MAX_OUTPUT_CHARS} characters"):
        render_string(source, {"x": "y" * 100}, "t.yaml: body")


def test_runtime_errors_are_render_errors() -> None:
    with pytest.raises(RenderError, match="ZeroDivisionError"):
        render_string("{{ 1 / 0 }}", {}, "t.yaml: body")


def test_syntax_error_line_is_the_yaml_line() -> None:
    with pytest.raises(RenderError, match=r"\(line 12\): syntax error"):
        render_string("ok\n{% if %}", {}, "t.yaml: body", first_line=11)


HOSTILE = (
    "# Heading\n    indented code\n- item\n1. one\n> quote\n"
    "[link](http://x) ![img](file:///etc/passwd) <b>html</b> `code` *em* | pipe\n---\n===\n&amp;"
)


def test_inserted_values_cannot_create_structure() -> None:
    rendered = render_string("Before\n\n{{ value }}\n\nAfter", {"value": HOSTILE}, "t")
    ast = markdown_ast(rendered)
    assert [node["type"] for node in ast if node["type"] != "blank_line"] == ["paragraph"] * 3
    assert markdown_headings(rendered) == []
    assert node_types(ast) <= {"paragraph", "text", "softbreak", "blank_line"}


def test_values_stay_readable_after_escaping() -> None:
    assert plain_text(markdown_ast(escape_markdown("a_b * c [d] 1. e"))) == "a_b * c [d] 1. e"


def test_markdown_filter_keeps_trusted_markup() -> None:
    rendered = render_string("{{ notes | markdown }}", {"notes": "## Notes"}, "t")
    assert markdown_headings(rendered) == [(2, "Notes")]


def test_prompts_are_not_escaped() -> None:
    assert render_string("{{ x }}", {"x": "a_b *c*"}, "t", markdown=False) == "a_b *c*"
