"""PDF export with WeasyPrint: page layout, running header, page numbers, TOC, outline, metadata."""

from __future__ import annotations

import gc
import html
from importlib.resources import files

from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration

from documents.document import Document
from exporters.fetcher import ASSET_BASE, AssetOnlyFetcher
from exporters.markdown_tree import Heading, has_cjk, parse, to_html

BASE_CSS = files("exporters").joinpath("pdf.css").read_text(encoding="utf-8")
TOC_DEPTH = 3


def export_pdf(document: Document) -> bytes:
    """Render the document; every URL it references goes through `AssetOnlyFetcher`."""
    fetcher = AssetOnlyFetcher(document.assets)
    fonts = FontConfiguration()  # shared, so @font-face rules with shipped fonts take effect
    stylesheets = [
        CSS(string=BASE_CSS + _page_css(document), url_fetcher=fetcher, font_config=fonts)
    ]
    if document.options.css:
        stylesheets.append(
            CSS(
                string=document.options.css,
                base_url=ASSET_BASE,
                url_fetcher=fetcher,
                font_config=fonts,
            )
        )
    try:
        page = HTML(string=build_html(document), base_url=ASSET_BASE, url_fetcher=fetcher)
        provenance = Attachment(
            string=document.provenance_json(),
            url_fetcher=fetcher,
            name="provenance.json",
            description="How this document was generated",
            relationship="Source",
        )
        return bytes(
            page.write_pdf(stylesheets=stylesheets, font_config=fonts, attachments=[provenance])
        )
    finally:
        gc.collect()  # WeasyPrint keeps large cyclic structures; free them now (DESIGN.md)


def build_html(document: Document) -> str:
    tokens, headings = parse(document.markdown)
    body = to_html(tokens)
    cjk = has_cjk(document.markdown)
    toc = _toc(headings, "目录" if cjk else "Contents") if document.options.include_toc else ""
    meta = {
        "author": document.author,
        "description": f"{document.template_name} {document.template_version}",
        "keywords": document.category,
        "generator": "open-autoglm",
        "dcterms.created": document.created_at.isoformat(),
    }
    meta_tags = "".join(
        f'<meta name="{name}" content="{html.escape(value)}">'
        for name, value in meta.items()
        if value
    )
    return (
        f'<!doctype html><html lang="{"zh" if cjk else "en"}"><head><meta charset="utf-8">'
        f"<title>{html.escape(document.title)}</title>{meta_tags}</head>"
        f"<body>{toc}<main>{body}</main></body></html>"
    )


def _toc(headings: list[Heading], label: str) -> str:
    items = "".join(
        f'<li class="level-{h.level}">'
        f'<a href="#{html.escape(h.anchor)}">{html.escape(h.text)}</a></li>'
        for h in headings
        if h.level <= TOC_DEPTH
    )
    return f'<nav class="toc"><h2>{label}</h2><ul>{items}</ul></nav>'


def _page_css(document: Document) -> str:
    options = document.options
    families = f'{_css_string(options.font)}, "Noto Sans CJK SC", sans-serif'
    return f"""
@page {{
  size: {options.page_size};
  margin: {options.margin};
  @top-center {{ content: {_css_string(document.header)}; font-size: 8pt; color: #57606a; }}
  @bottom-center {{ content: counter(page) " / " counter(pages); font-size: 8pt; color: #57606a; }}
}}
html {{ font-family: {families}; }}
pre, code {{ font-family: "Noto Sans Mono CJK SC", "DejaVu Sans Mono", monospace; }}
"""


def _css_string(text: str) -> str:
    """A CSS string literal that no text can break out of (every unusual char hex-escaped)."""
    escaped = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):06x} " for c in text[:200])
    return f'"{escaped}"'
