from __future__ import annotations

import io
import json
from pathlib import Path

from pypdf import PdfReader

from exporters.registry import get_exporter
from tests.exporters.samples import long_markdown, sample_document
from tests.readers import pdf_fonts, pdf_text, squash


def test_chinese_text_and_table_render_with_embedded_cjk_font(tmp_path: Path) -> None:
    data = get_exporter("pdf").export(sample_document())
    text = squash(pdf_text(data, tmp_path))
    for expected in ("用户服务API接口文档", "作者：平台团队", "/api/v1/users", 'print("hello")'):
        assert squash(expected) in text
    fonts = pdf_fonts(data, tmp_path)
    assert any("CJK" in f["name"] and f["emb"] == "yes" for f in fonts)
    assert all(f["emb"] == "yes" for f in fonts)


def test_long_document_has_toc_page_numbers_and_outline(tmp_path: Path) -> None:
    doc = sample_document(markdown=long_markdown(), include_toc=True, margin="2cm")
    data = get_exporter("pdf").export(doc)
    reader = PdfReader(io.BytesIO(data))
    pages = len(reader.pages)
    assert pages >= 5
    first = reader.pages[0].extract_text()
    assert "Contents" in first and "Section 12" in first
    assert f"1 / {pages}" in first  # page number footer
    last_page_of_section_12 = next(
        n for n, page in enumerate(reader.pages[1:], start=2) if "Section 12" in page.extract_text()
    )
    toc_line = next(line for line in first.splitlines() if "Section 12" in line)
    assert toc_line.rstrip().endswith(str(last_page_of_section_12))
    outline_titles = [item.title for item in reader.outline if not isinstance(item, list)]
    assert outline_titles[0] == "Long report"
    assert "Contents" not in outline_titles


def test_metadata_and_running_header(tmp_path: Path) -> None:
    data = get_exporter("pdf").export(sample_document(header="Internal — do not share"))
    meta = PdfReader(io.BytesIO(data)).metadata
    assert meta is not None
    assert (meta.title, meta.author) == ("用户服务 API接口文档", "平台团队")
    assert "Internal — do not share" in pdf_text(data, tmp_path)
    attached = PdfReader(io.BytesIO(data)).attachments["provenance.json"][0]
    assert json.loads(attached)["fields"][0]["finish_reason"] == "stop"


def test_page_size_and_margins_follow_options() -> None:
    a4 = PdfReader(io.BytesIO(get_exporter("pdf").export(sample_document(page_size="A4"))))
    box = a4.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)
