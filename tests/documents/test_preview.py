"""The dry-run preview (no model) and the loader's structured problems it is shown with."""

from __future__ import annotations

import json
import textwrap

import pytest

from documents.errors import InputError, RenderError
from documents.loader import InvalidTemplate, Problem, load_template_text, problems_of
from documents.preview import PREVIEW_MODEL, LastText, placeholder_inputs, preview_document

TEMPLATE = textwrap.dedent(
    """\
    name: weekly
    version: "3"
    variables:
      - name: team
        required: true
      - name: week
        type: integer
        required: true
      - name: highlights
        type: list
        default: [shipped]
      - name: tags
        type: list
        required: true
      - name: owner
        required: true
        default: Ops
    generate:
      summary:
        prompt: "Summarise week {{ week }} for {{ team }}: {{ highlights | join('; ') }}"
        max_tokens: 120
      outlook:
        prompt: "What comes next for {{ team }}?"
      risks:
        prompt: "List the risks for {{ team }}."
        schema: {type: array, minItems: 2, items: {type: string}}
      score:
        prompt: "Rate the week."
        schema:
          type: object
          properties:
            value: {type: integer, minimum: 1}
            note: {type: string}
    body: |
      # Week {{ week }} of {{ team }}

      {{ generated.summary }}

      Next: {{ generated.outlook }}

      {% for r in generated.risks %}- {{ r }}
      {% endfor %}
      Score {{ generated.score.value }}: {{ generated.score.note }}. Owner {{ owner }}.
    """
)


def test_every_field_gets_a_marked_placeholder_of_its_shape() -> None:
    preview = preview_document(load_template_text(TEMPLATE), default_max_tokens=256)

    markdown = preview.document.markdown
    assert "⟨summary: generated text, up to 120 tokens⟩" in markdown
    assert "Next: ⟨outlook: generated text, up to 256 tokens⟩" in markdown  # the default
    assert "- ⟨risks\\[0\\]: generated⟩\n- ⟨risks\\[1\\]: generated⟩" in markdown  # minItems 2
    assert "Score 1: ⟨score.note: generated⟩." in markdown  # the schema's minimum
    assert preview.markers == (
        "⟨team⟩",  # a required input without a default
        "⟨summary: generated text, up to 120 tokens⟩",
        "⟨outlook: generated text, up to 256 tokens⟩",
        "⟨risks[0]: generated⟩",
        "⟨risks[1]: generated⟩",
        "⟨score.note: generated⟩",
    )
    assert [(f.name, f.source) for f in preview.fields] == [
        ("summary", "placeholder"),
        ("outlook", "placeholder"),
        ("risks", "placeholder"),
        ("score", "placeholder"),
    ]
    assert preview.prompts["summary"] == "Summarise week 0 for ⟨team⟩: shipped"
    records = {r.name: r for r in preview.document.provenance}
    assert records["summary"].model == PREVIEW_MODEL
    assert records["summary"].finish_reason == "preview: placeholder"
    assert "preview (no model)" in preview.document.provenance_json()


def test_required_variables_without_a_default_get_a_placeholder_of_their_type() -> None:
    spec = load_template_text(TEMPLATE).spec
    assert placeholder_inputs(spec, {}) == {"team": "⟨team⟩", "week": 0, "tags": [], "owner": "Ops"}

    preview = preview_document(
        load_template_text(TEMPLATE), {"team": "Platform", "week": 12}, default_max_tokens=256
    )
    assert preview.inputs == {
        "team": "Platform",
        "week": 12,
        "highlights": ["shipped"],  # an optional variable's default, applied by validation
        "tags": [],
        "owner": "Ops",
    }
    assert preview.document.title == "Week 12 of Platform"
    with pytest.raises(InputError, match="input 'week': expected integer"):
        preview_document(load_template_text(TEMPLATE), {"week": "x"}, default_max_tokens=9)
    with pytest.raises(InputError, match="unknown input 'colour'"):
        preview_document(load_template_text(TEMPLATE), {"colour": 1}, default_max_tokens=9)


def test_the_last_generated_text_is_reused_where_it_still_fits() -> None:
    last = {
        "summary": LastText("A calm week.\n\nNothing broke.", "job j1 (v2)"),
        "outlook": LastText("", "job j1 (v2)"),  # empty: not worth showing
        "risks": LastText(json.dumps(["late vendor", "one on-call"]), "job j1 (v2)"),
        "score": LastText(json.dumps({"value": "high"}), "job j1 (v2)"),  # schema changed
    }
    preview = preview_document(load_template_text(TEMPLATE), {}, last, default_max_tokens=64)

    markdown = preview.document.markdown
    assert "A calm week. Nothing broke." in markdown  # {{ }} keeps it inline, as in a job
    assert "- late vendor\n- one on-call" in markdown
    assert "⟨outlook: generated text, up to 64 tokens⟩" in markdown
    assert "Score 1: ⟨score.note: generated⟩." in markdown
    sources = {f.name: (f.source, f.origin) for f in preview.fields}
    assert sources == {
        "summary": ("last", "job j1 (v2)"),
        "outlook": ("placeholder", ""),
        "risks": ("last", "job j1 (v2)"),
        "score": ("placeholder", ""),
    }
    records = {r.name: r for r in preview.document.provenance}
    assert records["summary"].finish_reason == "preview: last"
    assert records["summary"].text == "A calm week.\n\nNothing broke."
    assert "⟨summary" not in "".join(preview.markers)


def test_not_json_last_text_of_a_schema_field_is_replaced() -> None:
    last = {"risks": LastText("not json", "job j2")}
    preview = preview_document(load_template_text(TEMPLATE), {}, last, default_max_tokens=8)
    assert "- ⟨risks\\[0\\]: generated⟩" in preview.document.markdown


def test_a_template_without_body_or_fields_still_previews() -> None:
    preview = preview_document(load_template_text("name: bare\n"), default_max_tokens=8)
    assert preview.document.title == "bare"
    assert preview.fields == ()
    assert preview.markers == ()


def test_a_render_error_keeps_its_yaml_line() -> None:
    text = "name: t\nbody: |\n  # Hi\n  {{ nowhere }}\n"
    with pytest.raises(RenderError) as caught:
        preview_document(load_template_text(text), default_max_tokens=8)
    [problem] = problems_of(caught.value, "<template>")
    assert problem.line == 4
    assert problem.path == "body"
    assert problem.message.startswith("'nowhere' is undefined")


def test_the_loader_reports_every_problem_with_its_line_and_unchanged_wording() -> None:
    text = textwrap.dedent(
        """\
        name: t
        colour: blue
        generate:
          summary:
            prompt: "Hello"
            max_tokens: lots
        """
    )
    with pytest.raises(InvalidTemplate) as caught:
        load_template_text(text)
    located = caught.value.located
    assert [(p.line, p.path, p.message) for p in located] == [
        (
            6,
            "generate.summary.max_tokens",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (2, "colour", "unknown field"),
    ]
    assert caught.value.problems == [p.text for p in located]
    assert "<template>: colour (line 2): unknown field" in caught.value.problems


def test_jinja_and_yaml_problems_are_structured_too() -> None:
    jinja = "name: x\ngenerate:\n  f:\n    prompt: |\n      ok\n      {% if %}\n"
    with pytest.raises(InvalidTemplate) as caught:
        load_template_text(jinja)
    [problem] = caught.value.located
    assert (problem.line, problem.path) == (6, "generate.f.prompt")
    assert problem.message.startswith("syntax error:")

    with pytest.raises(InvalidTemplate) as caught:
        load_template_text("name: x\nbody: [unclosed\n")
    [problem] = caught.value.located
    assert problem.line is not None
    assert problem.path == ""
    assert problem.message.startswith("invalid YAML")

    with pytest.raises(InvalidTemplate) as caught:
        load_template_text("name: x\n" + "#" * 2000, max_bytes=1024)
    assert caught.value.located == (
        Problem(
            None,
            "",
            "template is 2008 bytes, over the 1024-byte limit",
            "<template>: template is 2008 bytes, over the 1024-byte limit",
        ),
    )
