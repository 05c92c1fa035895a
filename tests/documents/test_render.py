from __future__ import annotations

from collections.abc import Callable

from documents.loader import LoadedTemplate
from documents.render import render_document, render_prompts
from tests.readers import markdown_headings


def test_prompts_see_inputs(template: Callable[[str], LoadedTemplate]) -> None:
    loaded = template(
        """\
        name: t
        variables: [team, items]
        generate:
          summary: {prompt: "Summarise {{ team }}: {{ items | join('; ') }}"}
        """
    )
    assert render_prompts(loaded, {"team": "Core", "items": ["a", "b"]}) == {
        "summary": "Summarise Core: a; b"
    }


def test_body_sees_inputs_and_generated(template: Callable[[str], LoadedTemplate]) -> None:
    loaded = template(
        """\
        name: t
        version: 2
        variables: [title, author]
        body: |
          # {{ title }}
          {{ generated.summary }}
        """
    )
    doc = render_document(loaded, {"title": "Report", "author": "Ann"}, {"summary": "All good."})
    assert doc.markdown == "# Report\nAll good.\n"
    assert (doc.title, doc.author, doc.template_version) == ("Report", "Ann", "2")


def test_template_without_body_gets_a_default_layout(
    template: Callable[[str], LoadedTemplate],
) -> None:
    loaded = template(
        """\
        name: Status
        description: Daily status.
        variables: [team]
        generate:
          summary: {prompt: p}
          open_risks: {prompt: p, schema: {type: array}}
        """
    )
    doc = render_document(loaded, {"team": "Core"}, {"summary": "Fine.", "open_risks": ["a", "b"]})
    assert markdown_headings(doc.markdown) == [(1, "Status"), (2, "Summary"), (2, "Open risks")]
    assert "| team | Core |" in doc.markdown
    assert "- a\n- b" in doc.markdown


def test_title_comes_from_the_body_heading_without_a_title_input(
    template: Callable[[str], LoadedTemplate],
) -> None:
    loaded = template("name: weekly\nvariables: [team]\nbody: '# {{ team }} report'\n")
    assert render_document(loaded, {"team": "A*B"}, {}).title == "A*B report"
    assert render_document(template("name: weekly\nbody: 'no heading'\n"), {}, {}).title == "weekly"
