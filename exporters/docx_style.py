"""Word styles and page setup: fonts that survive theme overrides, sizes scaled from the base
size, code, TOC and running-text styles, so Word and LibreOffice lay the text out alike."""

from __future__ import annotations

import re

from docx.document import Document as WordDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Length, Mm, Pt, RGBColor
from docx.styles.style import ParagraphStyle

PAGE_SIZES_MM = {
    "A4": (210, 297),
    "A5": (148, 210),
    "A3": (297, 420),
    "Letter": (216, 279),
    "Legal": (216, 356),
}
MAX_LIST_DEPTH = 3  # Word's default template has list styles for three levels
LIST_KINDS = ("List Bullet", "List Number", "List Continue")
HEADING_SCALE = (1.9, 1.45, 1.2, 1.05, 1.0, 1.0)  # as pdf.css, so both exports look alike
HEADING_COLOR = RGBColor(0x0B, 0x3D, 0x62)
MUTED_COLOR = RGBColor(0x57, 0x60, 0x6A)
CODE_STYLE = "Code"
MONO_FONT = "Noto Sans Mono CJK SC"
TOC_LEVELS = 6


def list_style(kind: str, depth: int) -> str:
    """`List Bullet`, `List Bullet 2`, ... with deeper lists kept at the deepest level Word has."""
    depth = min(depth, MAX_LIST_DEPTH)
    return kind if depth <= 1 else f"{kind} {depth}"


STYLED = [
    "Normal",
    "Title",
    "Quote",
    "Header",
    "Footer",
    "TOC Heading",
    *(list_style(kind, depth) for kind in LIST_KINDS for depth in range(1, MAX_LIST_DEPTH + 1)),
    *(f"Heading {n}" for n in range(1, 7)),
]


def toc_style_id(level: int) -> str:
    """Word's own id for the built-in `toc N` style, which the TOC field fills."""
    return f"TOC{level}"


def css_length(value: str) -> Length:
    """Convert a validated CSS length ('2cm', '15mm', '1in', '12pt', '96px') to docx units."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(mm|cm|in|pt|px|pc)", value)
    if match is None:
        raise ValueError(f"not a CSS length: {value!r}")
    number, unit = float(match[1]), match[2]
    points_per_unit = {
        "mm": 72 / 25.4,
        "cm": 72 / 2.54,
        "in": 72.0,
        "pt": 1.0,
        "px": 0.75,
        "pc": 12.0,
    }
    return Pt(number * points_per_unit[unit])


def points(size: str) -> float:
    """'10.5pt' -> 10.5 (ExportOptions has validated the form)."""
    return float(size.removesuffix("pt"))


def half_points(value: float) -> Pt:
    """Word stores sizes in half points; round so Word and LibreOffice agree."""
    return Pt(round(value * 2) / 2)


def set_run_fonts(r_pr: BaseOxmlElement, font: str) -> None:
    """Name ``font`` for every script, East Asian included; drop theme fonts that override it."""
    fonts = r_pr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        r_pr.insert(0, fonts)
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), font)


def shade(properties: BaseOxmlElement, fill: str) -> None:
    """A plain background (w:shd) on paragraph, run or cell properties."""
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    properties.append(shading)


def setup_styles(doc: WordDocument, font: str, font_size: str) -> None:
    """Apply ``font`` and the base size to the styles we use; headings scale from the base."""
    base = points(font_size)
    _set_defaults(doc, font)
    for name in STYLED:
        set_run_fonts(doc.styles[name].element.get_or_add_rPr(), font)
    normal = doc.styles["Normal"]
    normal.font.size = half_points(base)
    normal.paragraph_format.space_after = half_points(base * 0.6)
    normal.paragraph_format.line_spacing = 1.3
    for level, scale in enumerate(HEADING_SCALE, start=1):
        heading = doc.styles[f"Heading {level}"]
        heading.font.size = half_points(base * scale)
        heading.font.color.rgb = HEADING_COLOR
        heading.font.italic = False
        heading.paragraph_format.space_before = half_points(base * scale * 0.9)
        heading.paragraph_format.space_after = half_points(base * 0.5)
        heading.paragraph_format.line_spacing = 1.15
    _bottom_border(doc.styles["Heading 1"], "0B3D62", 12)
    _bottom_border(doc.styles["Heading 2"], "D0D7DE", 4)
    for name in ("Header", "Footer"):
        doc.styles[name].font.size = half_points(base * 0.8)
        doc.styles[name].font.color.rgb = MUTED_COLOR
    doc.styles["Quote"].font.color.rgb = MUTED_COLOR
    for kind in LIST_KINDS:  # items close together, nested or not; the writer spaces the list
        for depth in range(1, MAX_LIST_DEPTH + 1):
            doc.styles[list_style(kind, depth)].paragraph_format.space_after = Pt(2)
    _add_code_style(doc, base)
    _add_toc_styles(doc, font)


def _set_defaults(doc: WordDocument, font: str) -> None:
    """Document defaults name ``font`` too (table styles and others we do not list use them);
    Chinese as the East Asian language, so readers pick Chinese glyph forms and punctuation."""
    r_pr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    set_run_fonts(r_pr, font)
    r_pr.find(qn("w:lang")).set(qn("w:eastAsia"), "zh-CN")
    theme_lang = doc.settings.element.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:eastAsia"), "zh-CN")


def _bottom_border(style: ParagraphStyle, color: str, size: int) -> None:
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", str(size)), ("space", "2"), ("color", color)):
        bottom.set(qn(f"w:{key}"), value)
    borders.append(bottom)
    p_pr = style.element.get_or_add_pPr()
    p_pr.insert_element_before(borders, "w:shd", "w:tabs", "w:spacing", "w:ind", "w:outlineLvl")


def _add_code_style(doc: WordDocument, base: float) -> None:
    """One shaded, boxed paragraph per code line; consecutive lines share the box."""
    code = doc.styles.add_style(CODE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    code.base_style = doc.styles["Normal"]
    code.font.size = half_points(base * 0.85)
    code.paragraph_format.space_after = Pt(0)
    code.paragraph_format.line_spacing = 1.15
    code.paragraph_format.left_indent = Pt(4)
    code.paragraph_format.right_indent = Pt(4)
    set_run_fonts(code.element.get_or_add_rPr(), MONO_FONT)
    p_pr = code.element.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        edge = OxmlElement(f"w:{side}")
        for key, value in (("val", "single"), ("sz", "4"), ("space", "4"), ("color", "D0D7DE")):
            edge.set(qn(f"w:{key}"), value)
        borders.append(edge)
    p_pr.insert_element_before(borders, "w:spacing", "w:ind")
    shade(p_pr, "F6F8FA")
    p_pr.insert_element_before(p_pr.find(qn("w:shd")), "w:spacing", "w:ind")


def _add_toc_styles(doc: WordDocument, font: str) -> None:
    """Word's built-in `toc 1`..`toc 6` (ids TOC1..), indented per level, dot leader to the
    page number at the right margin."""
    right = text_width(doc)
    for level in range(1, TOC_LEVELS + 1):
        style = doc.styles.add_style(f"toc {level}", WD_STYLE_TYPE.PARAGRAPH)
        style.element.set(qn("w:styleId"), toc_style_id(level))
        style.base_style = doc.styles["Normal"]
        style.next_paragraph_style = doc.styles["Normal"]
        style.paragraph_format.left_indent = Pt(12 * (level - 1))
        style.paragraph_format.space_after = Pt(2)
        style.paragraph_format.tab_stops.add_tab_stop(
            right, WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS
        )
        set_run_fonts(style.element.get_or_add_rPr(), font)


def setup_page(doc: WordDocument, page_size: str, margin: str) -> None:
    width, height = PAGE_SIZES_MM[page_size]
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(width), Mm(height)
    length = css_length(margin)
    section.left_margin = section.right_margin = length
    section.top_margin = section.bottom_margin = length
    section.header_distance = section.footer_distance = Length(int(length * 0.45))


def text_area(doc: WordDocument) -> tuple[Length, Length]:
    """Width and height inside the margins (setup_page has set all four)."""
    section = doc.sections[0]
    width, height = section.page_width or Mm(210), section.page_height or Mm(297)
    left, right = section.left_margin or 0, section.right_margin or 0
    top, bottom = section.top_margin or 0, section.bottom_margin or 0
    return Length(width - left - right), Length(height - top - bottom)


def text_width(doc: WordDocument) -> Length:
    return text_area(doc)[0]
