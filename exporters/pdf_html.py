"""The HTML that WeasyPrint lays out: title block or cover, TOC, body, watermark, metadata.

Tables get column widths computed here from their text (`table-layout: fixed`), because
WeasyPrint's automatic table layout measures every cell's min/max content width with the line
breaker, which was a sixth of the export time of a 10-page report (bench/pdf.py).
"""

from __future__ import annotations

import html
import re

from markdown_it.token import Token

from documents.document import Document
from exporters.markdown_tree import (
    Heading,
    column_weights,
    has_cjk,
    parse,
    title_block_end,
    to_html,
)

ALIGN = re.compile(r"^text-align:(left|right|center)$")


def build_html(document: Document) -> str:
    options = document.options
    tokens, headings = parse(document.markdown)
    _prepare_tables(tokens)
    title_end = title_block_end(tokens)
    title_block, body = to_html(tokens[:title_end]), to_html(tokens[title_end:])
    cjk = has_cjk(document.markdown)
    toc = options.toc_options
    contents = ""
    if toc.position != "none":
        listed = headings[1:] if title_end else headings  # the title is not a section
        contents = _toc(listed, toc.title_for(cjk), toc.depth)
    if options.cover:
        title_block = f'<section class="cover">{title_block}</section>'
    elif title_block:
        title_block = f'<header class="title-block">{title_block}</header>'
    watermark = (
        f'<div class="watermark" aria-hidden="true">{html.escape(options.watermark)}</div>'
        if options.watermark
        else ""
    )
    classes = " ".join(_body_classes(document))
    return (
        f'<!doctype html><html lang="{"zh" if cjk else "en"}"><head><meta charset="utf-8">'
        f"<title>{html.escape(document.title)}</title>{_meta_tags(document)}</head>"
        f'<body class="{classes}">{watermark}{title_block}{contents}<main>{body}</main>'
        "</body></html>"
    )


def _toc(headings: list[Heading], label: str, depth: int) -> str:
    """A two-column table (entry, page): as cheap to lay out as text, unlike `leader()`."""
    rows = "".join(
        f'<tr class="level-{h.level}"><td><a href="#{html.escape(h.anchor)}">'
        f'{html.escape(h.text)}</a></td><td><a class="page" href="#{html.escape(h.anchor)}">'
        "</a></td></tr>"
        for h in headings
        if h.level <= depth
    )
    return (
        f'<nav class="toc"><h2>{html.escape(label)}</h2>'
        f'<table class="toc-entries"><colgroup><col><col style="width: 3.5em"></colgroup>'
        f"{rows}</table></nav>"
    )


def _body_classes(document: Document) -> list[str]:
    options = document.options
    classes = [f"tables-{options.tables.borders}"]
    if options.tables.zebra:
        classes.append("tables-zebra")
    if not options.tables.header_row:
        classes.append("tables-plain-header")
    if options.page_break_before != "none":
        classes.append(f"break-before-{options.page_break_before}")
    return classes


def _meta_tags(document: Document) -> str:
    metadata = document.options.metadata
    keywords = metadata.keywords or ([document.category] if document.category else [])
    meta = {
        "author": document.author,
        "description": metadata.subject or f"{document.template_name} {document.template_version}",
        "keywords": ", ".join(keywords),
        "generator": "open-autoglm",
        "dcterms.created": document.created_at.isoformat(),
    }
    return "".join(
        f'<meta name="{name}" content="{html.escape(value)}">'
        for name, value in meta.items()
        if value
    )


def _prepare_tables(tokens: list[Token]) -> None:
    """Give every table a `<colgroup>` with widths from its longest cell texts, mark its even
    body rows, and turn the cells' `style="text-align:…"` into classes. Classes because
    WeasyPrint parses every style attribute on its own (a tenth of the export time of a
    report with eight tables) and matches `:nth-child()` by walking the siblings."""
    body_row = 0  # rows of the tbody we are in; 0 outside one
    for index, token in enumerate(tokens):
        align = ALIGN.match(str(token.attrs.get("style", "")))
        if token.type in ("th_open", "td_open") and align:
            del token.attrs["style"]
            token.attrSet("class", f"align-{align[1]}")
        elif token.type in ("tbody_open", "tbody_close"):
            body_row = 1 if token.type == "tbody_open" else 0
        elif token.type == "tr_open" and body_row:
            if body_row % 2 == 0:
                token.attrSet("class", "even")
            body_row += 1
        elif token.type == "table_open":
            widths = column_weights(tokens, index)
            total = sum(widths) or 1
            cols = "".join(f'<col style="width: {100 * w / total:.1f}%">' for w in widths)
            token.meta["colgroup"] = f"<colgroup>{cols}</colgroup>"
