"""Layout options of the PDF exporter, each read back from the PDF by poppler or pypdf."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from documents.document import Document
from exporters.pdf import export_pdf
from tests.exporters.samples import sample_document
from tests.readers import pdf_fonts, pdf_pages, pdf_words, squash

PARAGRAPH = "Ordinary prose about the system fills the page. " * 14


def report(sections: int = 4) -> str:
    parts = ["# 季度报告 Quarterly report", "", "Prepared by the platform team.", ""]
    for n in range(1, sections + 1):
        parts += [f"## Section {n}", "", PARAGRAPH, "", f"### Detail {n}", "", PARAGRAPH, ""]
    parts += [
        "## Figures",
        "",
        "| Item | Count |",
        "|---|---:|",
        *(f"| item {n} | {10**n} |" for n in range(1, 7)),
        "",
    ]
    return "\n".join(parts)


def export(**options: object) -> bytes:
    return export_pdf(sample_document(markdown=report(), **options))


def test_toc_after_title_lists_sections_to_its_depth_with_page_numbers(tmp_path: Path) -> None:
    data = export(toc={"position": "after_title", "depth": 2, "title": "Inhalt"})
    pages = pdf_pages(data, tmp_path)
    first = pages[0]
    assert first.index("Quarterly report") < first.index("Inhalt")  # after the title block
    assert "Section 4" in first and "Detail 1" not in first  # depth 2 lists ## only
    entry = next(w for w in pdf_words(data, tmp_path) if w.page == 1 and w.text == "4")
    number = max(
        (w for w in pdf_words(data, tmp_path) if w.page == 1 and abs(w.y_min - entry.y_min) < 1),
        key=lambda w: w.x_max,
    )
    page_of_section_4 = next(n for n, p in enumerate(pages[1:], 2) if "\nSection 4\n" in p)
    assert number.text == str(page_of_section_4) and number.x_min > entry.x_max + 100
    assert "Quarterly report" not in first[first.index("Inhalt") :]  # the title is not listed


def test_no_toc_when_position_is_none(tmp_path: Path) -> None:
    first = pdf_pages(export(toc={"position": "none"}, include_toc=True), tmp_path)[0]
    assert "Contents" not in first and "目录" not in first


def test_cover_page_has_the_title_block_only_and_no_running_text(tmp_path: Path) -> None:
    pages = pdf_pages(export(cover=True, include_toc=True, footer="p{page}"), tmp_path)
    assert "Quarterly report" in pages[0] and "Prepared by the platform team." in pages[0]
    assert "Section 1" not in pages[0] and "p1" not in pages[0]
    assert "目录" in pages[1] and "p2" in pages[1]  # CJK text: the Chinese TOC title


def test_header_and_footer_counters_in_any_language(tmp_path: Path) -> None:
    data = export(header="机密 {title}", footer="第 {page} 页 / 共 {pages} 页")
    pages = pdf_pages(data, tmp_path)
    total = len(pages)
    assert total >= 3
    for number, text in enumerate(pages, start=1):
        assert squash(f"第 {number} 页 / 共 {total} 页") in squash(text)
        assert squash("机密 用户服务 API接口文档") in squash(text)


def test_first_page_has_its_own_header_and_footer(tmp_path: Path) -> None:
    data = export(header="Running", first_page_header="", first_page_footer="Cover {pages}")
    pages = pdf_pages(data, tmp_path)
    assert "Running" not in pages[0] and f"Cover {len(pages)}" in pages[0]
    assert "Running" in pages[1] and f"2/{len(pages)}" in squash(pages[1])


def test_page_break_before_each_top_level_section(tmp_path: Path) -> None:
    words = pdf_words(export(page_break_before="h2", header=""), tmp_path)
    section_pages = {w.page for w in words if w.text == "Section"}
    assert len(section_pages) == 4  # each section on a page of its own
    for page in section_pages:
        top = min((w for w in words if w.page == page), key=lambda w: (w.y_min, w.x_min))
        assert top.text == "Section", f"page {page} starts with {top.text!r}"


def test_table_columns_follow_markdown_alignment(tmp_path: Path) -> None:
    words = [w for w in pdf_words(export(), tmp_path) if re.fullmatch(r"10+", w.text)]
    assert len(words) == 6
    right_edges = {round(w.x_max) for w in words}
    left_edges = {round(w.x_min) for w in words}
    assert max(right_edges) - min(right_edges) <= 1  # right-aligned: same right edge
    assert len(left_edges) > 3


def _fill_colours(data: bytes) -> set[str]:
    """Non-stroking RGB colours set on the pages (`r g b rg`), as written by WeasyPrint."""
    reader = PdfReader(io.BytesIO(data))
    content = b"".join(page.get_contents().get_data() for page in reader.pages)  # type: ignore[union-attr]
    found = re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) rg", content.decode("latin-1"))
    return {" ".join(colour) for colour in found}


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _has_colour(colours: set[str], hex_colour: str) -> bool:
    want = _rgb(hex_colour)
    for colour in colours:
        values = [float(v) for v in colour.split()]
        if all(abs(a - b) < 0.01 for a, b in zip(values, want, strict=True)):
            return True
    return False


def test_table_styles_zebra_rows_and_plain_header() -> None:
    default = _fill_colours(export())
    assert _has_colour(default, "eef2f6") and not _has_colour(default, "f6f8fa")
    styled = _fill_colours(export(tables={"zebra": True, "header_row": False}))
    assert _has_colour(styled, "f6f8fa") and not _has_colour(styled, "eef2f6")


def test_base_font_size_and_font_family(tmp_path: Path) -> None:
    def height(data: bytes) -> float:
        word = next(w for w in pdf_words(data, tmp_path) if w.text == "Ordinary")
        return word.y_max - word.y_min

    small, large = export(font_size="9pt"), export(font_size="14pt")
    assert height(large) / height(small) == pytest.approx(14 / 9, rel=0.05)
    serif = export_pdf(sample_document(font="Noto Serif CJK SC"))
    assert any("Noto-Serif-CJK-SC" in f["name"] for f in pdf_fonts(serif, tmp_path))


def test_watermark_on_every_page() -> None:
    pages = PdfReader(io.BytesIO(export(watermark="内部资料"))).pages
    assert len(pages) >= 3 and all("内部资料" in page.extract_text() for page in pages)
    assert "内部资料" not in PdfReader(io.BytesIO(export())).pages[0].extract_text()


def test_metadata_subject_and_keywords() -> None:
    data = export(metadata={"subject": "Quarterly numbers", "keywords": ["finance", "季度"]})
    meta = PdfReader(io.BytesIO(data)).metadata
    assert meta is not None
    assert meta.subject == "Quarterly numbers"
    assert str(meta["/Keywords"]) == "finance, 季度"


def _pdfinfo(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "info.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout


def test_pdf_a_3b_attaches_provenance_as_associated_file(tmp_path: Path) -> None:
    data = export(pdf_variant="pdf/a-3b")
    reader = PdfReader(io.BytesIO(data))
    root: Any = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    spec = root["/AF"][0].get_object()
    assert spec["/AFRelationship"] == "/Source" and spec["/F"] == "provenance.json"
    stream = spec["/EF"]["/F"].get_object()
    assert b'"generator": "open-autoglm"' in stream.get_data()
    assert "ModDate" in str(stream["/Params"])
    assert all(f["emb"] == "yes" for f in pdf_fonts(data, tmp_path))


def test_tagged_pdf_and_pdf_ua(tmp_path: Path) -> None:
    assert "Tagged:          no" in _pdfinfo(export(), tmp_path)
    for options in ({"tagged": True}, {"pdf_variant": "pdf/ua-1"}):
        data = export(**options)
        assert "Tagged:          yes" in _pdfinfo(data, tmp_path)
        root: Any = PdfReader(io.BytesIO(data)).trailer["/Root"]
        assert root["/MarkInfo"]["/Marked"] == True  # noqa: E712 (a pypdf BooleanObject)
        kinds = str(root["/StructTreeRoot"].get_object())
        assert "/Document" in kinds or "/K" in kinds
        assert root["/Lang"] in ("zh", "en")


def test_running_text_refuses_unknown_placeholders() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{date\}"):
        sample_document(footer="{date}")
    doc: Document = sample_document(footer="{{literal}} {page}")
    assert doc.options.footer_text == "{{literal}} {page}"


@pytest.mark.parametrize("variant", ["pdf/a-3b", "pdf/ua-1", None])
def test_variants_pass_verapdf(variant: str | None, tmp_path: Path) -> None:
    """veraPDF, the reference validator, checks every rule of the declared flavour (a plain
    PDF, checked as PDF/A-3b, must fail: the validator really looks)."""
    path = tmp_path / "variant.pdf"
    path.write_bytes(export(pdf_variant=variant, cover=True, include_toc=True, watermark="DRAFT"))
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(root / "scripts" / "verapdf"), "--format", "text", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if variant is None:
        assert result.returncode == 1 and result.stdout.startswith("FAIL"), result.stdout
        return
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS")
