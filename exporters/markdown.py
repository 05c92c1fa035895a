"""Markdown export: the rendered CommonMark body plus a provenance comment at the end."""

from __future__ import annotations

import base64
import re

from documents.document import Document

# `![alt](charts/NAME.svg)` as `documents.charts` writes it (the alt is escaped Markdown).
_CHART_IMAGE = re.compile(r"(!\[(?:\\.|[^\\\]])*\])\(charts/([A-Za-z][A-Za-z0-9_]*)\.svg\)")


def export_markdown(document: Document) -> bytes:
    """The body as rendered, then the provenance JSON in an HTML comment (invisible when shown).

    JSON escapes ``>`` inside strings, so no prompt or name can close the comment early.
    """
    text = embed_charts(document.markdown.rstrip(), document.assets) + "\n"
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
