"""Word styles and fields: fonts that survive theme overrides, code style, TOC, page numbers."""

from __future__ import annotations

import re

from docx.document import Document as WordDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Length, Mm, Pt
from docx.text.paragraph import Paragraph

PAGE_SIZES_MM = {
    "A4": (210, 297),
    "A5": (148, 210),
    "A3": (297, 420),
    "Letter": (216, 279),
    "Legal": (216, 356),
}
MAX_LIST_DEPTH = 3  # Word's default template has list styles for three levels
LIST_KINDS = ("List Bullet", "List Number", "List Continue")


def list_style(kind: str, depth: int) -> str:
    """`List Bullet`, `List Bullet 2`, ... with deeper lists kept at the deepest level Word has."""
    depth = min(depth, MAX_LIST_DEPTH)
    return kind if depth <= 1 else f"{kind} {depth}"


STYLED = [
    "Normal",
    "Title",
    "Quote",
    *(list_style(kind, depth) for kind in LIST_KINDS for depth in range(1, MAX_LIST_DEPTH + 1)),
    *(f"Heading {n}" for n in range(1, 7)),
]
CODE_STYLE = "Code"
MONO_FONT = "Noto Sans Mono CJK SC"


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


def setup_styles(doc: WordDocument, font: str) -> None:
    """Apply ``font`` to the styles we use and add a monospace paragraph style for code."""
    for name in STYLED:
        style = doc.styles[name]
        set_run_fonts(style.element.get_or_add_rPr(), font)
    code = doc.styles.add_style(CODE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    code.base_style = doc.styles["Normal"]
    code.font.size = Pt(9)
    code.paragraph_format.space_after = Pt(0)
    set_run_fonts(code.element.get_or_add_rPr(), MONO_FONT)
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:fill"), "F3F4F6")
    code.element.get_or_add_pPr().append(shading)


def setup_page(doc: WordDocument, page_size: str, margin: str) -> None:
    width, height = PAGE_SIZES_MM[page_size]
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(width), Mm(height)
    length = css_length(margin)
    section.left_margin = section.right_margin = length
    section.top_margin = section.bottom_margin = length


def add_field(paragraph: Paragraph, instruction: str, placeholder: str = "") -> None:
    """Insert a complex field (PAGE, NUMPAGES, TOC ...); Word fills it when fields update."""

    def char(kind: str) -> BaseOxmlElement:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    begin_run, instr_run, sep_run, text_run, end_run = (paragraph.add_run() for _ in range(5))
    begin_run._r.append(char("begin"))
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    instr_run._r.append(instr)
    sep_run._r.append(char("separate"))
    text_run.text = placeholder
    end_run._r.append(char("end"))


def add_page_numbers(doc: WordDocument, header_text: str) -> None:
    section = doc.sections[0]
    header = section.header.paragraphs[0]
    header.text = header_text
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    add_field(footer, "PAGE", "1")
    footer.add_run(" / ")
    add_field(footer, "NUMPAGES", "1")


def request_field_update(doc: WordDocument) -> None:
    """Ask Word to refresh fields (the TOC) when the file opens."""
    update = OxmlElement("w:updateFields")
    update.set(qn("w:val"), "true")
    doc.settings.element.append(update)
