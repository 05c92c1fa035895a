"""Markdown export: the rendered CommonMark body plus a provenance comment at the end."""

from __future__ import annotations

import base64
import re

from documents.document import Document
from exporters.markdown_tree import MD

# `![alt](charts/NAME.svg)` as `documents.charts` writes it (the alt is escaped Markdown).
_CHART_IMAGE = re.compile(r"(!\[(?:\\.|[^\\\]])*\])\(charts/([A-Za-z][A-Za-z0-9_]*)\.svg\)")


def export_markdown(document: Document) -> bytes:
    """The body as rendered, then the provenance JSON in an HTML comment (invisible when shown).

    JSON escapes ``>`` inside strings, so no prompt or name can close the comment early.
    """
    text = embed_charts(tidy_blank_lines(document.markdown).rstrip(), document.assets) + "\n"
    provenance = document.provenance_json().replace(">", "\\u003e")
    return (text + f"\n<!-- open-autoglm provenance\n{provenance}\n-->\n").encode("utf-8")


def embed_charts(markdown: str, assets: dict[str, bytes]) -> str:
    """Chart images point at their PNG as a data: URI, since a .md artifact is one file."""

    def inline(match: re.Match[str]) -> str:
        png = assets.get(f"charts/{match.group(2)}.png")
        if png is None:
            return match.group(0)
        return f"{match.group(1)}(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    return _CHART_IMAGE.sub(inline, markdown)


def tidy_blank_lines(markdown: str) -> str:
    """Runs of blank lines (what a body's `{% if %}` and `{% for %}` lines leave) become one,
    so the file reads as a person would write it. Lines inside code blocks are content and
    stay; elsewhere CommonMark treats one blank line as it treats several."""
    in_code: set[int] = set()
    for token in MD.parse(markdown):
        if token.type in ("fence", "code_block") and token.map:
            in_code.update(range(*token.map))
    kept: list[str] = []
    for number, line in enumerate(markdown.split("\n")):
        if number in in_code or line.strip():
            kept.append(line)
        elif kept and kept[-1] != "":
            kept.append("")
    return "\n".join(kept)
