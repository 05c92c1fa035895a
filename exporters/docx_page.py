"""Running header and footer (text with PAGE / NUMPAGES fields), a different first page for
covers, and a text watermark written the way Word writes one, so LibreOffice shows it too."""

from __future__ import annotations

import unicodedata
from xml.sax.saxutils import quoteattr

from docx.document import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.section import _Footer, _Header

from documents.document import Document
from documents.layout import running_parts
from exporters.docx_fields import add_field
from exporters.docx_style import text_area

COUNTER_FIELDS = {"page": "PAGE", "pages": "NUMPAGES"}
VML_NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:v="urn:schemas-microsoft-com:vml" '
    'xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:w10="urn:schemas-microsoft-com:office:word"'
)
# Word's shape type 136 (text along a straight path): the formulas Word itself writes.
TEXT_PATH_FORMULAS = (
    "sum #0 0 10800|prod #0 2 1|sum 21600 0 @1|sum 0 0 @2|sum 21600 0 @3|if @0 @3 0|"
    "if @0 21600 @1|if @0 0 @2|if @0 @4 21600|mid @5 @6|mid @8 @5|mid @7 @8|mid @6 @7|"
    "sum @6 0 @5"
)


def setup_running_text(doc: WordDocument, document: Document) -> None:
    """Header and footer on every page; the first page gets its own when the options give it
    one (`first_page_text`: a cover's is empty by default). The watermark goes into every
    header in use."""
    options = document.options
    section = doc.sections[0]
    _fill(section.header, options.header_text, document.title)
    _fill(section.footer, options.footer_text, document.title)
    headers = [section.header]
    if options.first_page_text is not None:
        header, footer = options.first_page_text
        section.different_first_page_header_footer = True
        _fill(section.first_page_header, header, document.title)
        _fill(section.first_page_footer, footer, document.title)
        headers.append(section.first_page_header)
    if options.watermark:
        area = min(text_area(doc)).pt
        for number, part in enumerate(headers):
            add_watermark(part, options.watermark, options.font, area, number)


def _fill(part: _Header | _Footer, text: str, title: str) -> None:
    """One centred paragraph: literal text as runs, {page} / {pages} as fields."""
    part.is_linked_to_previous = False
    paragraph = part.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for kind, value in running_parts(text, title):
        if kind == "text":
            paragraph.add_run(value)
        else:
            add_field(paragraph, COUNTER_FIELDS[value], "1")


def add_watermark(header: _Header, text: str, font: str, area_pt: float, number: int = 0) -> None:
    """A diagonal, light grey, half-transparent text shape behind the page (Word's
    PowerPlusWaterMarkObject), centred on the margins, sized to the text area ``area_pt``."""
    width, height = _watermark_size(text, area_pt)
    formulas = "".join(f'<v:f eqn="{eqn}"/>' for eqn in TEXT_PATH_FORMULAS.split("|"))
    style = (
        f"position:absolute;margin-left:0;margin-top:0;width:{width:.1f}pt;height:{height:.1f}pt;"
        "rotation:315;z-index:-251657216;mso-position-horizontal:center;"
        "mso-position-horizontal-relative:margin;mso-position-vertical:center;"
        "mso-position-vertical-relative:margin"
    )
    text_style = quoteattr(f'font-family:"{font}";font-size:1pt')
    xml = (
        f"<w:r {VML_NAMESPACES}><w:rPr><w:noProof/></w:rPr><w:pict>"
        '<v:shapetype id="_x0000_t136" coordsize="21600,21600" o:spt="136" adj="10800" '
        'path="m@7,l@8,m@5,21600l@6,21600e">'
        f"<v:formulas>{formulas}</v:formulas>"
        '<v:path textpathok="t" o:connecttype="custom" '
        'o:connectlocs="@9,0;@10,10800;@11,21600;@12,10800" o:connectangles="270,180,90,0"/>'
        '<v:textpath on="t" fitshape="t"/>'
        '<v:handles><v:h position="#0,bottomRight" xrange="6629,14971"/></v:handles>'
        '<o:lock v:ext="edit" text="t" shapetype="t"/></v:shapetype>'
        f'<v:shape id="PowerPlusWaterMarkObject{number + 1}" o:spid="_x0000_s{2049 + number}" '
        'type="#_x0000_t136" '
        f'style="{style}" o:allowincell="f" fillcolor="#d0d0d0" stroked="f">'
        '<v:fill opacity=".5"/>'
        f"<v:textpath style={text_style} string={quoteattr(text)}/>"
        '<w10:wrap anchorx="margin" anchory="margin"/></v:shape></w:pict></w:r>'
    )
    header.paragraphs[0]._p.append(parse_xml(xml))


def _watermark_size(text: str, area_pt: float) -> tuple[float, float]:
    """Width and height of the shape: the text's proportions (a Latin letter about a third as
    wide as high, a CJK character as wide as high), its diagonal within the text area."""
    units = sum(3 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    ratio = max(units / 3, 0.5)  # width / height
    width = 0.9 * area_pt * 2**0.5 / (1 + 1 / ratio)
    height = min(width / ratio, area_pt * 0.28)  # short words: big, not overwhelming
    return height * ratio, height
