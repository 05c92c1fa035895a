"""Turn a template, validated inputs and generated values into a `Document`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markdown_it import MarkdownIt

from documents.charts import ChartData, chart_data
from documents.document import Document, FieldRecord
from documents.loader import LoadedTemplate
from documents.markdown_text import Markdown, escape_markdown, paragraphs, strip_control
from documents.sandbox import render_string

_COMMONMARK = MarkdownIt("commonmark")


def render_prompts(template: LoadedTemplate, inputs: Mapping[str, Any]) -> dict[str, str]:
    """Prompts of every generated field, filled with the inputs (plain text, not escaped)."""
    spec = template.spec
    return {
        name: render_string(
            field.prompt,
            dict(inputs),
            f"{template.source_name}: generate.{name}.prompt",
            first_line=template.lines.get(f"generate.{name}.prompt"),
            markdown=False,
        )
        for name, field in spec.generate.items()
    }


def render_document(
    template: LoadedTemplate,
    inputs: Mapping[str, Any],
    generated: Mapping[str, Any],
    provenance: tuple[FieldRecord, ...] = (),
) -> Document:
    """Render the body (or the default layout) with inputs, ``generated.*`` and ``charts.*``
    in the sandbox; the charts the Markdown shows are drawn into the assets."""
    spec = template.spec
    charts = _chart_data(template, inputs, generated)
    shown = {name: c.markdown if c else Markdown("") for name, c in charts.items()}
    context = {**inputs, "generated": dict(generated), "charts": shown}
    if spec.body is not None:
        markdown = render_string(
            spec.body,
            context,
            f"{template.source_name}: body",
            first_line=template.lines.get("body"),
        )
        title = str(inputs.get("title") or _first_heading(markdown) or spec.name)
    else:
        title = str(inputs.get("title") or spec.name)
        markdown = default_body(title, inputs, generated, spec.description)
        markdown += "".join(f"\n{image}\n" for image in shown.values() if image)
    author = inputs.get("author") or spec.author
    return Document(
        title=strip_control(title),
        markdown=markdown,
        template_name=spec.name,
        template_version=spec.version,
        options=spec.export.options,
        author=strip_control(str(author)) if author else None,
        category=spec.category,
        provenance=provenance,
        assets=dict(template.assets) | _drawn(charts, markdown),
    )


def _chart_data(
    template: LoadedTemplate, inputs: Mapping[str, Any], generated: Mapping[str, Any]
) -> dict[str, ChartData | None]:
    """Every chart's data, checked now so a bad one fails the render before anything is drawn."""
    found: dict[str, ChartData | None] = {}
    for name, chart in template.spec.charts.items():
        source = chart.data.removeprefix("generated.")
        value = (generated if chart.data.startswith("generated.") else inputs).get(source)
        line = template.lines.get(f"charts.{name}")
        where = f"{template.source_name}: charts.{name}{f' (line {line})' if line else ''}"
        found[name] = chart_data(name, chart, value, where)
    return found


def _drawn(charts: dict[str, ChartData | None], markdown: str) -> dict[str, bytes]:
    """SVG and PNG of each chart the Markdown refers to (a body may leave some out)."""
    assets: dict[str, bytes] = {}
    used = [c for n, c in charts.items() if c is not None and f"](charts/{n}.svg)" in markdown]
    if used:
        from documents.chart_draw import draw  # noqa: PLC0415 (matplotlib: slow to import)

        for chart in used:
            svg, png = draw(chart)
            assets[f"charts/{chart.name}.svg"] = svg
            assets[f"charts/{chart.name}.png"] = png
    return assets


def _first_heading(markdown: str) -> str | None:
    """The text of the first level-1 heading as a reader sees it (the document's title)."""
    tokens = _COMMONMARK.parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1":
            children = tokens[index + 1].children or []
            return "".join(c.content for c in children if c.type in ("text", "code_inline"))
    return None


def default_body(
    title: str, inputs: Mapping[str, Any], generated: Mapping[str, Any], description: str | None
) -> str:
    """A sensible document for a template without a body: title, inputs, one section per field."""
    parts = [f"# {escape_markdown(title)}", ""]
    if description:
        parts += [escape_markdown(description), ""]
    shown = {k: v for k, v in inputs.items() if k != "title" and v not in (None, "", [], {})}
    if shown:
        parts += ["| Input | Value |", "| --- | --- |"]
        parts += [f"| {escape_markdown(k)} | {_cell(v)} |" for k, v in shown.items()]
        parts.append("")
    for name, value in generated.items():
        parts += [f"## {escape_markdown(name.replace('_', ' ').capitalize())}", ""]
        if isinstance(value, list):
            parts += [f"- {escape_markdown(_inline(item))}" for item in value]
        else:
            parts.append(
                escape_markdown(_inline(value)) if isinstance(value, dict) else paragraphs(value)
            )
        parts.append("")
    return "\n".join(parts)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_inline(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_inline(v) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    return escape_markdown(_inline(value))
