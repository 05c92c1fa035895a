from __future__ import annotations

from collections.abc import Callable

import pytest

from documents.errors import InputError
from documents.inputs import inputs_from_text, validate_inputs
from documents.loader import LoadedTemplate

TYPED = """\
name: typed
variables:
  - name: team
    type: string
  - name: count
    type: integer
    default: 3
  - name: ratio
    type: number
    required: false
  - name: draft
    type: boolean
    default: false
  - name: items
    type: list
    default: []
  - name: meta
    type: object
    required: false
  - anything
"""


@pytest.fixture
def typed(template: Callable[[str], LoadedTemplate]) -> LoadedTemplate:
    return template(TYPED)


def test_defaults_are_applied(typed: LoadedTemplate) -> None:
    values = validate_inputs(typed.spec, {"team": "Platform", "anything": {"x": 1}})
    assert values == {
        "team": "Platform",
        "count": 3,
        "ratio": None,
        "draft": False,
        "items": [],
        "meta": None,
        "anything": {"x": 1},
    }


def test_every_problem_is_listed(typed: LoadedTemplate) -> None:
    with pytest.raises(InputError) as caught:
        validate_inputs(typed.spec, {"count": "3", "draft": 1, "items": "a,b", "colour": "red"})
    problems = caught.value.problems
    assert (
        "typed: unknown input 'colour' (declared: team, count, ratio, draft, items, meta, anything)"
        in problems
    )
    assert "typed: missing required input 'team'" in problems
    assert "typed: missing required input 'anything'" in problems
    assert "typed: input 'count': expected integer, got str '3'" in problems
    assert "typed: input 'draft': expected boolean, got int 1" in problems
    assert "typed: input 'items': expected list, got str 'a,b'" in problems


def test_booleans_are_not_numbers(typed: LoadedTemplate) -> None:
    with pytest.raises(InputError, match="'ratio': expected number, got bool"):
        validate_inputs(typed.spec, {"team": "t", "anything": 1, "ratio": True})


def test_text_values_are_converted_by_declared_type(typed: LoadedTemplate) -> None:
    converted = inputs_from_text(
        typed.spec,
        {
            "count": "7",
            "ratio": "0.5",
            "draft": "yes",
            "items": '["a", "b"]',
            "anything": "[1]",
            "team": "[not json]",
            "undeclared": "kept",
        },
    )
    assert converted == {
        "count": 7,
        "ratio": 0.5,
        "draft": True,
        "items": ["a", "b"],
        "anything": [1],
        "team": "[not json]",
        "undeclared": "kept",
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("count", "seven", "expected an integer, got 'seven'"),
        ("ratio", "1/2", "expected a number"),
        ("draft", "maybe", "expected true or false"),
        ("items", "[1,", "not valid JSON"),
    ],
)
def test_bad_text_values(typed: LoadedTemplate, name: str, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        inputs_from_text(typed.spec, {name: text})


def test_explicit_null_takes_the_default(typed: LoadedTemplate) -> None:
    values = validate_inputs(typed.spec, {"team": "t", "anything": 1, "count": None})
    assert values["count"] == 3


def test_deeply_nested_inputs_are_refused(typed: LoadedTemplate) -> None:
    deep: list[object] = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InputError, match="nest deeper than 32 levels"):
        validate_inputs(typed.spec, {"team": "t", "anything": deep})
    with pytest.raises(InputError, match="JSON nests too deeply"):
        inputs_from_text(typed.spec, {"items": "[" * 100_000 + "]" * 100_000})
