from __future__ import annotations

import io
import json
import zipfile

from docx.oxml.ns import qn

from exporters.registry import get_exporter
from tests.exporters.samples import sample_document
from tests.readers import open_docx


def _export(**options: object) -> object:
    return open_docx(get_exporter("word").export(sample_document(**options)))


def test_headings_use_real_heading_styles() -> None:
    doc = _export()
    headings = [
        (p.style.name, p.text) for p in doc.paragraphs if p.style.name.startswith("Heading")
    ]
    assert headings == [
        ("Heading 1", "用户服务 API接口文档"),
        ("Heading 2", "接口列表"),
        ("Heading 2", "Details"),
    ]


def test_tables_lists_code_and_inline_styles() -> None:
    doc = _export()
    assert len(doc.tables) == 1
    table = doc.tables[0]
    assert [[c.text for c in row.cells] for row in table.rows] == [
        ["方法", "路径"],
        ["GET", "/api/v1/users"],
        ["POST", "/api/v1/users"],
    ]
    assert table.rows[0].cells[0].paragraphs[0].runs[0].bold
    styles = {p.style.name for p in doc.paragraphs}
    assert {"List Bullet", "List Bullet 2", "List Number", "Quote", "Code"} <= styles
    third = [p.style.name for p in doc.paragraphs if "third level" in p.text]
    assert third == ["List Bullet 3", "List Continue 3"]
    intro = next(p for p in doc.paragraphs if p.text.startswith("作者"))
    assert [r.text for r in intro.runs if r.bold] == ["bold"]
    assert [r.text for r in intro.runs if r.italic] == ["italic"]
    assert [r.text for r in intro.runs if r.font.strike] == ["gone"]


def test_east_asian_font_is_set_and_theme_fonts_removed() -> None:
    doc = _export(font="Noto Sans CJK SC")
    for name in ("Normal", "Heading 1", "Heading 2", "List Bullet 3", "List Continue 3"):
        fonts = doc.styles[name].element.rPr.find(qn("w:rFonts"))
        assert fonts.get(qn("w:eastAsia")) == "Noto Sans CJK SC"
        assert fonts.get(qn("w:asciiTheme")) is None


def test_core_properties_and_page_numbers() -> None:
    doc = _export()
    props = doc.core_properties
    assert (props.title, props.author, props.subject, props.version) == (
        "用户服务 API接口文档",
        "平台团队",
        "API接口文档",
        "1.2",
    )
    footer_xml = doc.sections[0].footer._element.xml
    assert "PAGE" in footer_xml and "NUMPAGES" in footer_xml


def test_provenance_is_embedded_as_a_package_part() -> None:
    data = get_exporter("docx").export(sample_document())
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        provenance = json.loads(package.read("docProps/provenance.json"))
        assert "provenance" in package.read("_rels/.rels").decode()
    assert provenance["template"] == "API接口文档"
    assert provenance["fields"][0]["seed"] == 7


def test_toc_field_only_when_asked() -> None:
    body = _export(include_toc=True).element.body.xml
    assert 'TOC \\o "1-3"' in body
    assert "TOC \\o" not in _export().element.body.xml


def test_margins_and_page_size_follow_options() -> None:
    section = _export(margin="15mm", page_size="A4").sections[0]
    assert round(section.left_margin.mm) == 15
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
