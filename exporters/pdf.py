"""PDF export with WeasyPrint: layout from the template's options, provenance attached,
optionally PDF/A-3 (archival) or tagged / PDF/UA-1 (accessible).

The stylesheets are parsed once per process (exporters/pdf_style.py) and, without template
CSS, one `FontConfiguration` serves every document. The cyclic garbage collector is held off
while WeasyPrint builds its trees and run on the young generation once after: a full
collection per document, or the many automatic ones during layout, cost more than a tenth of
the export time (bench/pdf.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration

from documents.document import Document
from exporters.fetcher import ASSET_BASE, AssetOnlyFetcher
from exporters.pdf_html import build_html
from exporters.pdf_style import base_stylesheet, page_css, page_stylesheet

TAGGED_VARIANTS = frozenset({"pdf/a-3a", "pdf/ua-1"})


def export_pdf(document: Document) -> bytes:
    """Render the document; every URL it references goes through `AssetOnlyFetcher`."""
    options = document.options
    fetcher = AssetOnlyFetcher(document.assets)
    with _collector_held():
        if options.css:  # template CSS may declare @font-face: keep its fonts to this document
            fonts = FontConfiguration()
            stylesheets = [
                base_stylesheet(),
                CSS(string=page_css(options, document.title), font_config=fonts),
                CSS(
                    string=options.css,
                    base_url=ASSET_BASE,
                    url_fetcher=fetcher,
                    font_config=fonts,
                ),
            ]
        else:
            fonts = shared_fonts()
            stylesheets = [base_stylesheet(), page_stylesheet(page_css(options, document.title))]
        page = HTML(string=build_html(document), base_url=ASSET_BASE, url_fetcher=fetcher)
        provenance = Attachment(
            string=document.provenance_json(),
            url_fetcher=fetcher,
            name="provenance.json",
            description="How this document was generated",
            relationship="Source",
        )
        return bytes(
            page.write_pdf(
                stylesheets=stylesheets,
                font_config=fonts,
                attachments=[provenance],
                pdf_variant=options.pdf_variant,
                pdf_tags=options.tagged or options.pdf_variant in TAGGED_VARIANTS,
                uncompressed_pdf=False,
            )
        )


@lru_cache(maxsize=1)
def shared_fonts() -> FontConfiguration:
    """One font configuration for documents without their own @font-face rules."""
    return FontConfiguration()


@contextmanager
def _collector_held() -> Iterator[None]:
    """No automatic collections during the render; then collect what the render left.

    Everything WeasyPrint allocated stays in the young generation while the collector is
    off, so a young collection afterwards frees its cycles without walking the whole heap.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect(0)
