"""A chart with Chinese labels read back from each format: vector drawing in the PDF (fetched
from the assets, nothing refused), a described picture in the DOCX, a data: PNG in the .md."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from pypdf import PdfReader

from documents.document import Document
from documents.loader import load_template_text
from documents.render import render_document
from exporters import fetcher, pdf
from exporters.markdown_tree import MD
from exporters.registry import get_exporter
from tests.readers import open_docx, pdf_text

TEMPLATE = """\
name: 销售报告
variables:
  - {name: sales, type: list}
charts:
  sales:
    type: bar
    title: 季度销售额
    data: sales
    x: quarter
    y: [revenue, cost]
    y_label: 万元
    alt: 各季度收入与成本_对比
body: |
  # 销售报告

  本季度销售情况如下。

  {{ charts.sales }}

  图后文字。
"""
ALT = "各季度收入与成本_对比"  # `_` is escaped in the Markdown: readers must unescape it
SALES = [{"quarter": f"第{n}季度", "revenue": 10 + n, "cost": 5 + n} for n in range(1, 5)]


@pytest.fixture(scope="module")
def document() -> Document:
    return render_document(load_template_text(TEMPLATE, "t.yaml"), {"sales": SALES}, {})


def test_pdf_draws_the_chart_as_vector_content(
    document: Document, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    fetchers: list[fetcher.AssetOnlyFetcher] = []

    class Recording(fetcher.AssetOnlyFetcher):
        def __init__(self, assets: dict[str, bytes]) -> None:
            super().__init__(assets)
            fetchers.append(self)

    monkeypatch.setattr(pdf, "AssetOnlyFetcher", Recording)
    data = get_exporter("pdf").export(document)
    assert fetchers and all(f.refused == [] for f in fetchers)
    page = PdfReader(io.BytesIO(data)).pages[0]
    assert len(page.images) == 0  # the SVG became drawing operators, not an embedded bitmap
    content = page.get_contents()
    assert content is not None
    operators = content.get_data()
    assert operators.count(b" re\n") >= 8 and b"\nf" in operators  # eight filled bars, at least
    text = pdf_text(data, tmp_path)
    assert "本季度销售情况如下" in text and "图后文字" in text
    assert "季度销售额" not in text  # chart labels are outlines: no font needed for them


def test_docx_embeds_the_png_with_the_alt_text_as_description(document: Document) -> None:
    docx = open_docx(get_exporter("docx").export(document))
    shapes = list(docx.inline_shapes)
    assert len(shapes) == 1
    assert shapes[0]._inline.docPr.get("descr") == ALT
    blob = docx.part.related_parts[
        shapes[0]._inline.graphic.graphicData.pic.blipFill.blip.embed
    ].blob
    assert blob == document.assets["charts/sales.png"]


def test_markdown_inlines_the_png_as_a_data_uri(document: Document) -> None:
    text = get_exporter("md").export(document).decode("utf-8")
    images = [
        child
        for token in MD.parse(text)
        if token.type == "inline"
        for child in token.children or []
        if child.type == "image"
    ]
    assert len(images) == 1
    assert "".join(c.content for c in images[0].children or []) == ALT
    src = str(images[0].attrGet("src"))
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    assert base64.b64decode(src.removeprefix(prefix)) == document.assets["charts/sales.png"]
    assert "charts/sales.svg" not in text
