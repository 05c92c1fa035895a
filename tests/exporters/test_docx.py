"""The Word export read back with python-docx and its XML: styles, lists, tables, TOC, running
text, cover, page breaks, watermark, pictures and properties."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from docx.oxml.ns import qn
from docx.shared import Pt
from lxml import etree  # type: ignore[import-untyped]

from exporters.registry import get_exporter
from tests.exporters.docx_samples import chart_png, rich_document
from tests.exporters.samples import sample_document
from tests.readers import open_docx

NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "v": "urn:schemas-microsoft-com:vml",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
}


def _export(**options: Any) -> Any:
    return open_docx(get_exporter("word").export(sample_document(**options)))


@cache
def _rich_bytes(language: str) -> bytes:
    return get_exporter("docx").export(rich_document(language))


def _rich(language: str = "zh", **options: Any) -> Any:
    """The rich sample (exported once per language), or with ``options`` changed."""
    if not options:
        return open_docx(_rich_bytes(language))
    return open_docx(get_exporter("docx").export(rich_document(language, **options)))


def _xpath(element: Any, path: str) -> list[Any]:
    return list(etree.ElementBase.xpath(element, path, namespaces=NS))


def _breaks_before(doc: Any) -> list[str]:
    return [p.text for p in doc.paragraphs if p.paragraph_format.page_break_before]


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
    doc = _export(font="Noto Serif CJK SC")
    for name in ("Normal", "Heading 1", "Heading 2", "List Bullet 3", "Header", "Footer"):
        fonts = doc.styles[name].element.rPr.find(qn("w:rFonts"))
        assert fonts.get(qn("w:eastAsia")) == "Noto Serif CJK SC"
        assert fonts.get(qn("w:asciiTheme")) is None
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    assert _xpath(defaults, ".//w:rFonts/@w:ascii") == ["Noto Serif CJK SC"]
    assert _xpath(defaults, ".//w:lang/@w:eastAsia") == ["zh-CN"]


def test_base_font_size_sets_normal_and_headings_scale_from_it() -> None:
    doc = _export(font_size="12pt")
    sizes = [doc.styles[n].font.size.pt for n in ("Heading 1", "Heading 2", "Heading 3")]
    assert doc.styles["Normal"].font.size == Pt(12)
    assert sizes == [23.0, 17.5, 14.5]  # 1.9, 1.45 and 1.2 times, to half points
    assert doc.styles["Code"].font.size.pt < 12
    small = _export(font_size="9pt")
    assert small.styles["Normal"].font.size == Pt(9)
    assert small.styles["Heading 1"].font.size.pt == 17.0


def test_core_properties_subject_keywords_and_template() -> None:
    doc = _rich("zh")
    props = doc.core_properties
    assert (props.title, props.author, props.subject, props.version) == (
        "季度运营报告",
        "运营团队",
        "运营",
        "3.1",
    )
    assert props.keywords == "季度, 运营, template=ops-report; version=3.1"
    assert "ops-report" in props.comments
    plain = _export().core_properties
    assert plain.subject == ""
    assert plain.keywords == "template=API接口文档; version=1.2"


def test_provenance_is_embedded_as_a_package_part() -> None:
    data = get_exporter("docx").export(sample_document())
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        provenance = json.loads(package.read("docProps/provenance.json"))
        assert "provenance" in package.read("_rels/.rels").decode()
    assert provenance["template"] == "API接口文档"
    assert provenance["fields"][0]["seed"] == 7


def test_margins_and_page_size_follow_options() -> None:
    section = _export(margin="15mm", page_size="A5").sections[0]
    assert round(section.left_margin.mm) == round(section.top_margin.mm) == 15
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (148, 210)


def test_toc_field_only_when_asked() -> None:
    assert 'TOC \\o "1-3"' in _export(include_toc=True).element.body.xml
    assert "TOC \\o" not in _export().element.body.xml
    off = _export(include_toc=True, toc={"position": "none"})
    assert "TOC \\o" not in off.element.body.xml


def test_toc_is_prefilled_with_entries_linked_to_heading_bookmarks() -> None:
    doc = _rich("en")  # depth 2, custom title
    body = doc.element.body
    assert _xpath(body, "//w:instrText[contains(., 'TOC ')]/text()") == [
        ' TOC \\o "1-2" \\h \\z \\u '
    ]
    entries = [(p.style.style_id, p.text) for p in doc.paragraphs if p.style.style_id[:3] == "TOC"]
    assert entries == [
        ("TOCHeading", "In this report"),
        ("TOC1", "Quarterly Operations Report"),
        ("TOC2", "Overview"),
        ("TOC2", "Release steps"),
        ("TOC2", "Code"),
        ("TOC2", "Chart"),
    ]
    anchors = _xpath(body, "//w:hyperlink/@w:anchor")
    targets = {}
    for paragraph in doc.paragraphs:
        for name in _xpath(paragraph._p, "./w:bookmarkStart/@w:name"):
            targets[name] = paragraph.text
    assert [targets[a] for a in anchors] == [text for _, text in entries[1:]]
    assert "Key figures" in targets.values()  # h3: bookmarked, but deeper than the TOC
    assert _xpath(doc.settings.element, "w:updateFields/@w:val") == ["true"]


def test_toc_title_defaults_to_the_document_language() -> None:
    zh = _rich("zh", toc={"position": "after_title"})
    en = open_docx(
        get_exporter("docx").export(sample_document("# Title\n\n## Part\n", include_toc=True))
    )
    assert [p.text for p in zh.paragraphs if p.style.name == "TOC Heading"] == ["目录"]
    assert [p.text for p in en.paragraphs if p.style.name == "TOC Heading"] == ["Contents"]


def test_toc_comes_after_the_title_block_then_a_page_break() -> None:
    doc = _rich("en", page_break_before="none")
    texts = [p.text for p in doc.paragraphs]
    start = texts.index("In this report")
    assert texts[:start] == [
        "Quarterly Operations Report",
        "This report summarises the third quarter. All figures come from production.",
    ]
    assert _breaks_before(doc) == ["Overview"]  # the first block after the TOC


def test_cover_page_then_toc_each_on_its_own_page() -> None:
    doc = _rich("zh")
    assert _breaks_before(doc) == ["目录", "概述"]
    assert doc.paragraphs[0].text == "季度运营报告"
    no_toc = _rich("zh", toc={"position": "none"})
    assert _breaks_before(no_toc) == ["概述"]


def test_page_break_before_headings_without_empty_pages() -> None:
    doc = _rich("en")  # page_break_before h2, TOC after the title
    h2 = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    assert _breaks_before(doc) == h2
    assert not doc.paragraphs[0].paragraph_format.page_break_before
    assert all(p.text for p in doc.paragraphs if p.paragraph_format.page_break_before)
    first = _rich("en", toc={"position": "none"}, page_break_before="h1")
    assert _breaks_before(first) == []  # the only h1 is the very first block


def test_running_header_and_footer_use_page_fields() -> None:
    doc = _rich("en")
    section = doc.sections[0]
    assert section.header.paragraphs[0].text == "Quarterly Operations Report (internal)"
    footer = section.footer.paragraphs[0]._p
    assert _xpath(footer, ".//w:instrText/text()") == [" PAGE ", " NUMPAGES "]
    texts = _xpath(footer, ".//w:t/text()")
    assert texts[0] == "Page " and " of " in texts
    default = _export()
    assert default.sections[0].header.paragraphs[0].text == "用户服务 API接口文档"
    assert _xpath(default.sections[0].footer._element, ".//w:instrText/text()") == [
        " PAGE ",
        " NUMPAGES ",
    ]


def test_first_page_variants_only_when_set() -> None:
    plain = _export(header="{title}")
    assert not plain.sections[0].different_first_page_header_footer
    doc = _rich("en")  # first_page_footer "" (empty), first_page_header None (as header)
    section = doc.sections[0]
    assert section.different_first_page_header_footer
    assert section.first_page_header.paragraphs[0].text == section.header.paragraphs[0].text
    assert _xpath(section.first_page_footer._element, ".//w:instrText") == []
    assert section.first_page_footer.paragraphs[0].text == ""
    custom = _export(first_page_header="Cover {page}")
    first = custom.sections[0].first_page_header._element
    assert _xpath(first, ".//w:instrText/text()") == [" PAGE "]


def test_cover_has_no_running_text_but_keeps_the_watermark() -> None:
    section = _rich("zh").sections[0]
    assert section.different_first_page_header_footer
    assert section.first_page_header.paragraphs[0].text == ""
    assert section.first_page_footer.paragraphs[0].text == ""
    assert _xpath(section.first_page_footer._element, ".//w:instrText") == []
    for header in (section.header, section.first_page_header):
        assert _xpath(header._element, ".//v:textpath/@string") == ["草稿"]


def test_a_cover_shows_first_page_text_when_the_options_give_it() -> None:
    """As in the PDF: the cover's running text is empty unless first_page_* say otherwise."""
    section = _export(cover=True, first_page_footer="Cover {pages}").sections[0]
    assert section.first_page_header.paragraphs[0].text == ""
    footer = section.first_page_footer._element
    assert _xpath(footer, ".//w:instrText/text()") == [" NUMPAGES "]
    assert section.first_page_footer.paragraphs[0].text.startswith("Cover ")


def test_watermark_is_a_word_text_watermark() -> None:
    header = _rich("en").sections[0].header._element
    shapes = _xpath(header, ".//v:shape")
    assert len(shapes) == 1
    assert shapes[0].get("id").startswith("PowerPlusWaterMarkObject")
    assert "rotation:315" in shapes[0].get("style")
    assert _xpath(shapes[0], "v:textpath/@string") == ["DRAFT"]
    assert _xpath(_export().sections[0].header._element, ".//v:shape") == []


def _cell_fill(cell: Any) -> str | None:
    fills = _xpath(cell._tc, "./w:tcPr/w:shd/@w:fill")
    return fills[0] if fills else None


def test_table_header_row_zebra_and_alignment() -> None:
    table = _rich("zh").tables[0]
    rows = table.rows
    assert _xpath(rows[0]._tr, "./w:trPr/w:tblHeader") != []
    assert all(_xpath(r._tr, "./w:trPr/w:tblHeader") == [] for r in rows[1:])
    assert all(_cell_fill(c) for c in rows[0].cells)
    assert all(run.bold for c in rows[0].cells for run in c.paragraphs[0].runs)
    zebra = [_cell_fill(r.cells[0]) is not None for r in rows[1:]]
    assert zebra == [False, True, False, True]
    alignments = [[str(c.paragraphs[0].alignment) for c in r.cells] for r in rows]
    assert all(a == ["None", "RIGHT (2)", "RIGHT (2)"] for a in alignments)
    en = _rich("en").tables[0]
    assert en.rows[1].cells[2].paragraphs[0].alignment == 1  # :---: is centred
    assert _cell_fill(en.rows[2].cells[0]) is None  # no zebra unless asked


@pytest.mark.parametrize(
    ("borders", "drawn"),
    [
        ("grid", {"top", "left", "bottom", "right", "insideH", "insideV"}),
        ("rows", {"top", "bottom", "insideH"}),
        ("none", set()),
    ],
)
def test_table_borders(borders: str, drawn: set[str]) -> None:
    table = _export(tables={"borders": borders}).tables[0]
    edges = _xpath(table._tbl, "./w:tblPr/w:tblBorders/*")
    found = {e.tag.split("}")[1] for e in edges if e.get(qn("w:val")) == "single"}
    assert found == drawn


def test_table_without_header_row() -> None:
    table = _export(tables={"header_row": False}).tables[0]
    assert _xpath(table._tbl, ".//w:tblHeader") == []
    assert _cell_fill(table.rows[0].cells[0]) is None
    assert not any(run.bold for run in table.rows[0].cells[0].paragraphs[0].runs)


def _numbering(doc: Any, paragraph: Any) -> tuple[int, int | None]:
    """(numId, its start override) of a numbered paragraph."""
    num_id = int(_xpath(paragraph._p, "./w:pPr/w:numPr/w:numId/@w:val")[0])
    numbering = doc.part.numbering_part.element
    num = numbering.num_having_numId(num_id)
    starts = _xpath(num, "./w:lvlOverride/w:startOverride/@w:val")
    return num_id, int(starts[0]) if starts else None


def test_each_numbered_list_restarts_and_honours_its_start() -> None:
    doc = _rich("zh")
    numbered = [p for p in doc.paragraphs if p.style.name == "List Number"]
    assert [p.text for p in numbered] == [
        "冻结代码",
        "运行迁移",
        "通知用户",
        "备份数据库",
        "升级服务",
        "第三项",
        "第四项",
    ]
    numbers = [_numbering(doc, p) for p in numbered]
    first, second, third = numbers[0], numbers[3], numbers[5]
    assert numbers[:3] == [first] * 3 and numbers[3:5] == [second] * 2
    assert len({first[0], second[0], third[0]}) == 3
    assert (first[1], second[1], third[1]) == (1, 1, 3)
    style_num = doc.styles["List Number"].element.pPr.numPr.numId.val
    numbering = doc.part.numbering_part.element
    abstract = numbering.num_having_numId(style_num).abstractNumId.val
    assert {numbering.num_having_numId(n).abstractNumId.val for n, _ in numbers} == {abstract}


def test_nested_bullets_use_deeper_list_styles() -> None:
    doc = _rich("zh")
    items = {p.text: p.style.name for p in doc.paragraphs if p.style.name.startswith("List B")}
    assert items == {
        "前端": "List Bullet",
        "升级框架": "List Bullet 2",
        "第三层": "List Bullet 3",
        "缩小包体积": "List Bullet 2",
        "后端": "List Bullet",
    }


def test_code_block_keeps_lines_blank_lines_and_stays_together() -> None:
    doc = _rich("zh")
    code = [p for p in doc.paragraphs if p.style.name == "Code"]
    assert [p.text for p in code] == [
        "def total(values):",
        "    result = 0",
        "",
        "    for value in values:",
        "        result += value",
        "    return result",
    ]
    assert [bool(p.paragraph_format.keep_with_next) for p in code] == [True] * 5 + [False]
    long_code = "```\n" + "\n".join(f"line {n}" for n in range(40)) + "\n```\n"
    long_doc = open_docx(get_exporter("docx").export(sample_document(long_code)))
    assert not any(p.paragraph_format.keep_with_next for p in long_doc.paragraphs)
    mono = doc.styles["Code"].element.rPr.find(qn("w:rFonts")).get(qn("w:ascii"))
    assert "Mono" in mono


def test_asset_picture_is_embedded_scaled_with_its_alt_text() -> None:
    doc = _rich("en")
    assert len(doc.inline_shapes) == 1
    shape = doc.inline_shapes[0]
    section = doc.sections[0]
    assert shape.width == section.page_width - section.left_margin - section.right_margin
    assert abs(shape.width / shape.height - 2.0) < 0.01  # the PNG is 1200 x 600
    doc_pr = shape._inline.docPr
    assert (doc_pr.get("descr"), doc_pr.get("title")) == ("Requests per week", "Weekly requests")
    image_parts = [p for p in doc.part.package.parts if p.content_type == "image/png"]
    assert [p.blob for p in image_parts] == [chart_png()]
    paragraph = next(p for p in doc.paragraphs if _xpath(p._p, ".//wp:inline"))
    assert paragraph.text == "" and paragraph.alignment == 1  # centred, no alt text shown


@pytest.mark.parametrize(
    "src",
    ["missing.png", "charts/other.svg", "https://example.com/x.png", "../secret.png", "notes.txt"],
)
def test_images_that_are_not_usable_assets_keep_their_alt_text(src: str) -> None:
    document = sample_document(f"# T\n\n![the alt text]({src})\n")
    assets = {"notes.txt": b"plain text", "secret.png": chart_png(), "missing.svg": b"<svg/>"}
    doc = open_docx(get_exporter("docx").export(replace(document, assets=assets)))
    assert len(doc.inline_shapes) == 0
    assert "the alt text" in [p.text for p in doc.paragraphs]


def test_small_picture_keeps_its_size() -> None:
    document = rich_document("en")
    small = {**document.assets, "charts/requests.png": chart_png(200, 100)}
    doc = open_docx(get_exporter("docx").export(replace(document, assets=small)))
    width = doc.sections[0].page_width - doc.sections[0].left_margin - doc.sections[0].right_margin
    assert doc.inline_shapes[0].width < width


def test_picture_in_a_table_cell_fits_its_column() -> None:
    markdown = "| Chart | Note |\n| --- | --- |\n| ![c](c.png) | a fairly long note about it |\n"
    document = replace(sample_document(markdown), assets={"c.png": chart_png()})
    doc = open_docx(get_exporter("docx").export(document))
    table = doc.tables[0]
    assert len(doc.inline_shapes) == 1
    assert doc.inline_shapes[0].width < table.columns[0].width
