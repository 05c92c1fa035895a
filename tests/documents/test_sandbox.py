from __future__ import annotations

import pytest

from documents import sandbox
from documents.errors import RenderError
from documents.sandbox import MAX_OUTPUT_CHARS, render_string

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{{ self._TemplateReference__context }}",
    "{{ x.__init__.__globals__ }}",
    "{% set l = [] %}{{ l.append(1) }}",
    "{{ x.__dict__ }}",
    "{{ '{0.__class__}'.format(x) }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused(source: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_string(source, {"x": "text"}, "t.yaml: body")
    assert caught.value.problems[0].startswith("t.yaml: body (body line 1): ")


RUNAWAY = [
    "{{ 9 ** (9 ** 9) }}",
    "{{ ('x' * 2000000000) | length }}",
    "{{ [1] * 100000000 }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '%.9999f' | format(1) }}",
    "{{ 'x' | center(999999999) }}",
    "{{ 'x' | indent(width=999999999) }}",
]


@pytest.mark.parametrize("source", RUNAWAY)
def test_operations_that_allocate_without_bound_are_refused(source: str) -> None:
    with pytest.raises(RenderError, match="refused unsafe access"):
        render_string(source, {}, "t.yaml: body")


def test_bounded_operations_still_work() -> None:
    source = "{{ 2 ** 10 }} {{ 'ab' * 2 }} {{ '%05.1f' % 3.14159 }} {{ 'x' | center(5) }}|"
    assert render_string(source, {}, "t", markdown=False) == "1024 abab 003.1   x  |"


def test_runaway_loops_hit_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.2)
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(RenderError, match=r"rendering took longer than 0\.2 s"):
        render_string(source, {}, "t.yaml: body")


def test_missing_variable_is_named_with_its_line() -> None:
    with pytest.raises(RenderError, match=r"t\.yaml: body \(line 12\): 'team' is undefined"):
        render_string("# Title\n\nHello {{ team }}", {}, "t.yaml: body", first_line=10)


def test_output_is_capped() -> None:
    source = "{% for i in range(100000) %}{{ x }}{% endfor %}"
    with pytest.raises(RenderError, match=f"exceeds {MAX_OUTPUT_CHARS} characters"):
        render_string(source, {"x": "y" * 100}, "t.yaml: body")


def test_runtime_errors_are_render_errors_with_a_line() -> None:
    with pytest.raises(RenderError, match=r"\(line 6\): ZeroDivisionError"):
        render_string("a\n{{ 1 / 0 }}", {}, "t.yaml: body", first_line=5)


def test_syntax_error_line_is_the_yaml_line() -> None:
    with pytest.raises(RenderError, match=r"\(line 12\): syntax error"):
        render_string("ok\n{% if %}", {}, "t.yaml: body", first_line=11)


def test_macro_output_is_not_escaped_twice() -> None:
    source = "{% macro item(x) %}- {{ x }}{% endmacro %}{{ item('a_b*c') }}"
    assert render_string(source, {}, "t") == "- a\\_b\\*c"


def test_prompts_are_not_escaped() -> None:
    assert render_string("{{ x }}", {"x": "a_b *c*"}, "t", markdown=False) == "a_b *c*"
