"""Escape attempts are refused when a template is loaded, with their YAML line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from documents.errors import TemplateError
from documents.loader import LoadedTemplate


@pytest.mark.parametrize(
    ("expression", "refused"),
    [
        ("{{ x.__class__ }}", "'__class__'"),
        ("{{ x['__globals__'] }}", "'__globals__'"),
        ("{{ x | attr('__dict__') }}", "'__dict__'"),
        ("{{ g.gi_frame }}", "'gi_frame'"),
        ("{{ '{0.__class__}'.format(x) }}", "'__class__'"),
        ("{% for c in ''.__class__.__mro__ %}{% endfor %}", "'__mro__'"),
    ],
)
def test_escape_attempts_are_refused_at_load(
    template: Callable[[str], LoadedTemplate], expression: str, refused: str
) -> None:
    with pytest.raises(TemplateError) as error:
        template(f"name: x\nbody: |\n  # Title\n  {expression}\n")
    assert f"body (line 4): refused: {refused} is not allowed in templates" in str(error.value)


def test_prompts_are_checked_too(template: Callable[[str], LoadedTemplate]) -> None:
    with pytest.raises(TemplateError, match=r"generate.f.prompt \(line 4\): refused"):
        template('name: x\ngenerate:\n  f:\n    prompt: "{{ x.__init__ }}"\n')


@pytest.mark.parametrize(
    "expression",
    ["{{ item.format }}", "{{ row._note }}", "{{ x['name'] }}", "{{ '%s' | format(x) }}"],
)
def test_ordinary_expressions_load(
    template: Callable[[str], LoadedTemplate], expression: str
) -> None:
    assert template(f'name: x\nbody: "{expression}"\n').spec.body == expression
